import { spawn } from "node:child_process";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { readWranglerConfig } from "../../tools/ops/wrangler-config.ts";
import { isDeadLetterQueue } from "../../src/queue/message.ts";
import { FIXTURE_NAMES, fixture, receiptFixture, type FixtureName } from "./fixtures.ts";
import { TEST_WEBHOOK_SECRET } from "./test-vars.ts";

const wrangler = readWranglerConfig(
  fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url)),
);

/** `max_retries` of the jobs queue consumer, from the committed wrangler.jsonc. */
function jobsQueueMaxRetries(): number {
  const consumers = wrangler.queues?.consumers ?? [];
  return consumers.find((c) => !isDeadLetterQueue(c.queue))!.max_retries ?? 3;
}

/** One request the webhook receiver got, as GET /deliveries lists it. */
interface WebhookDelivery {
  path: string;
  id: string | null;
  timestamp: string | null;
  contentType: string | null;
  /** Some `v1,` signature of `webhook-signature` is the HMAC of id.timestamp.body with the secret. */
  signatureValid: boolean;
  body: string;
  /** What the receiver answered (null: it never did). */
  status: number | null;
}

declare module "vitest" {
  export interface ProvidedContext {
    /** Origin of the webhook receiver (see startWebhookReceiver). */
    webhookUrl: string;
  }
}

/** Verifies a Standard Webhooks signature header the way a receiver would, with node:crypto. */
function signatureValid(
  secret: string,
  id: string,
  timestamp: string,
  body: string,
  header: string,
) {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  return header.split(" ").some((sig) => {
    if (!sig.startsWith("v1,")) return false;
    const got = Buffer.from(sig.slice(3), "base64");
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

/**
 * A real HTTP webhook receiver on loopback for the workerd webhook tests. It records every
 * request (and whether its signature verifies with `secret`) and answers by path:
 * `POST /hook` refuses the first delivery of each webhook-id (500) and accepts the later ones
 * (204); `/redirect` answers 302 to `/redirect-target` (which answers 200, so a followed redirect
 * would be seen); `/hang` never answers. Control: `GET /deliveries` (the list), `POST /reset`.
 */
async function startWebhookReceiver(secret: string) {
  let deliveries: WebhookDelivery[] = [];
  let seen = new Set<string>();
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://receiver").pathname;
      if (req.method === "GET" && path === "/deliveries") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(deliveries));
        return;
      }
      if (req.method === "POST" && path === "/reset") {
        deliveries = [];
        seen = new Set();
        for (const r of hanging) r.destroy();
        hanging.clear();
        res.writeHead(204).end();
        return;
      }
      const body = Buffer.concat(chunks).toString("utf8");
      const header = (name: string) => {
        const v = req.headers[name];
        return typeof v === "string" ? v : null;
      };
      const id = header("webhook-id");
      const timestamp = header("webhook-timestamp");
      const signature = header("webhook-signature");
      const delivery: WebhookDelivery = {
        path,
        id,
        timestamp,
        contentType: header("content-type"),
        signatureValid:
          id !== null &&
          timestamp !== null &&
          signature !== null &&
          signatureValid(secret, id, timestamp, body, signature),
        body,
        status: null,
      };
      deliveries.push(delivery);
      const answer = (status: number, headers: Record<string, string> = {}) => {
        delivery.status = status;
        res.writeHead(status, headers).end(status === 204 ? undefined : "receiver says hello");
      };
      if (path === "/hook") {
        if (id !== null && !seen.has(id)) {
          seen.add(id);
          answer(500);
        } else answer(204);
      } else if (path === "/redirect") {
        answer(302, { location: "/redirect-target" });
      } else if (path === "/redirect-target") {
        answer(200);
      } else if (path === "/hang") {
        hanging.add(res);
        res.on("close", () => hanging.delete(res));
      } else answer(404);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Dev provers on demand, in a child process (test/support/prover-host.ts): every POST to the
 * returned origin starts a fresh set. Each workerd test file asks for its own set when its runtime
 * starts (vitest.config.ts), so files share no prover and can run side by side.
 */
async function startProverHost() {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("./prover-host.ts", import.meta.url))],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve((JSON.parse(out.slice(0, nl)) as { url: string }).url);
    });
    child.once("exit", (code) => reject(new Error(`dev prover host exited (${code})`)));
  });
  return {
    url,
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/**
 * Starts the dev prover factory (one set of provers per test file) and a webhook receiver on
 * loopback for the workerd tests and provides their URLs.
 */
export default async function setup(project: TestProject) {
  const sets = await startProverHost();
  project.provide("proverSetsUrl", sets.url);
  const webhooks = await startWebhookReceiver(TEST_WEBHOOK_SECRET);
  project.provide("webhookUrl", webhooks.url);
  project.provide("realReceipt", receiptFixture("proof-real-game-groth16"));
  project.provide("queueMaxRetries", jobsQueueMaxRetries());
  project.provide(
    "intakeRateLimit",
    wrangler.ratelimits!.find((r) => r.name === "INTAKE_RATE_LIMITER")!.simple,
  );
  project.provide(
    "fixtures",
    Object.fromEntries(
      FIXTURE_NAMES.map((n) => [n, Buffer.from(fixture(n)).toString("base64")]),
    ) as Record<FixtureName, string>,
  );
  return async () => {
    await Promise.all([sets, webhooks].map((p) => p.close()));
  };
}
