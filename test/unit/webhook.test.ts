import { createHmac, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, publicConfig } from "../../src/core/config.ts";
import type { Job } from "../../src/core/job.ts";
import { newJob } from "../../src/core/lifecycle.ts";
import { MAX_WEBHOOK_RETRY_WINDOW_MS } from "../../src/core/vars.ts";
import {
  signWebhook,
  webhookEventFor,
  webhookGivesUp,
  webhookKey,
  webhookRetryDelaySeconds,
  WEBHOOKS_QUEUE_NAME,
} from "../../src/core/webhook.ts";
import { readWranglerConfig } from "../../tools/ops/wrangler-config.ts";
import { SAMPLE_JOURNAL, SAMPLE_TAPE } from "../support/sample-job.ts";

const IMAGE = "30cb1dceaa1c626ed7eb906e1567347806eefed4b759b829a3ca3696573b7090";
const base = { PROVER_BASE_URL: "https://prover.example", PROVER_EXPECTED_IMAGE_ID: IMAGE };
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const hooks = {
  ...base,
  WEBHOOK_URL: "https://settlement.example/hooks/proofs",
  WEBHOOK_SECRET: SECRET,
  PUBLIC_BASE_URL: "https://gateway.example",
};
const errorOf = (raw: Record<string, unknown>) => {
  try {
    parseConfig(raw);
    return null;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
};

describe("signWebhook", () => {
  it("matches the Standard Webhooks libraries' own test vector", async () => {
    // standard-webhooks/standard-webhooks libraries/javascript/src/webhook.test.ts "sign function works"
    expect(
      await signWebhook(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
      ),
    ).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("equals an HMAC-SHA256 over id.timestamp.body recomputed with node:crypto", async () => {
    const body = JSON.stringify({ type: "proof.succeeded", data: { note: "ünïcode ✓" } });
    const id = "msg_abc_1_succeeded";
    const key = Buffer.from(SECRET.slice("whsec_".length), "base64");
    const expected = createHmac("sha256", key).update(`${id}.1700000000.${body}`).digest("base64");
    expect(await signWebhook(SECRET, id, 1700000000, body)).toBe(`v1,${expected}`);
    // Any change to the signed parts changes it.
    expect(await signWebhook(SECRET, id, 1700000001, body)).not.toBe(`v1,${expected}`);
  });

  it("refuses a secret that is not whsec_ + base64 of 24..64 bytes", async () => {
    const b64 = (n: number) => Buffer.alloc(n, 7).toString("base64");
    expect(webhookKey(`whsec_${b64(24)}`)).toHaveLength(24);
    expect(webhookKey(`whsec_${b64(64)}`)).toHaveLength(64);
    for (const bad of [
      b64(32),
      `whsec_${b64(23)}`,
      `whsec_${b64(65)}`,
      "whsec_not base64!",
      `whsec_${b64(32).slice(1)}`,
      "whsec_",
    ]) {
      expect(webhookKey(bad), bad).toBeNull();
    }
    await expect(signWebhook("whsec_short", "msg_x", 1, "{}")).rejects.toThrow(/WEBHOOK_SECRET/);
  });
});

describe("webhookEventFor", () => {
  const cfg = parseConfig(hooks);
  const JOB_ID = "b".repeat(64);
  const T0 = 1_700_000_000_000;
  const FINISHED = T0 + 42_000;
  const ended = (patch: Partial<Job>): Job => ({
    ...newJob(JOB_ID, { ...SAMPLE_TAPE, sha256: JOB_ID }, T0, cfg),
    attempt: 2,
    finishedAt: FINISHED,
    updatedAt: FINISHED,
    claimant: "GCLAIMANTADDRESS",
    ...patch,
  });
  const result = {
    key: `results/${JOB_ID}.json`,
    receiptKind: "groth16",
    segments: 3,
    proverElapsedMs: 1000,
    journal: SAMPLE_JOURNAL,
    verified: true,
    seal: "73c457ba" + "ab".repeat(256),
    imageId: IMAGE,
  };

  it("a succeeded job: the journal, the on-chain seal, the image and where its result is", () => {
    const e = webhookEventFor(ended({ status: "succeeded", result }), cfg, T0 + 99_000);
    expect(e).toEqual({
      id: `msg_${JOB_ID}_2_succeeded`,
      payload: {
        type: "proof.succeeded",
        timestamp: new Date(FINISHED).toISOString(),
        data: {
          job_id: JOB_ID,
          attempt: 2,
          status: "succeeded",
          claimant: "GCLAIMANTADDRESS",
          journal: SAMPLE_JOURNAL,
          seal: result.seal,
          image_id: IMAGE,
          result_url: `https://gateway.example/api/proofs/jobs/${JOB_ID}/result`,
        },
      },
    });
    // 260 bytes: selector ‖ Groth16 seal.
    expect(e!.payload.data.status === "succeeded" && e!.payload.data.seal!.length).toBe(520);
  });

  it("a result stored without a verified seal, and a job with no claimant: nulls", () => {
    const { seal: _s, imageId: _i, ...older } = result;
    const job = ended({ status: "succeeded", result: older });
    delete job.claimant;
    expect(webhookEventFor(job, cfg, T0)!.payload.data).toMatchObject({
      claimant: null,
      seal: null,
      image_id: null,
    });
  });

  it("a failed job: its error", () => {
    const error = { code: "tape_rejected", message: "The prover refused the tape." };
    expect(webhookEventFor(ended({ status: "failed", error }), cfg, T0)).toEqual({
      id: `msg_${JOB_ID}_2_failed`,
      payload: {
        type: "proof.failed",
        timestamp: new Date(FINISHED).toISOString(),
        data: {
          job_id: JOB_ID,
          attempt: 2,
          status: "failed",
          claimant: "GCLAIMANTADDRESS",
          error,
        },
      },
    });
  });

  it("a cancelled job: nothing more", () => {
    expect(webhookEventFor(ended({ status: "cancelled", claimant: null }), cfg, T0)).toEqual({
      id: `msg_${JOB_ID}_2_cancelled`,
      payload: {
        type: "proof.cancelled",
        timestamp: new Date(FINISHED).toISOString(),
        data: { job_id: JOB_ID, attempt: 2, status: "cancelled", claimant: null },
      },
    });
  });

  it("the same ended job saved again yields the same event, byte for byte, whatever the clock", () => {
    const job = ended({ status: "succeeded", result });
    const a = webhookEventFor(job, cfg, T0 + 1);
    const b = webhookEventFor({ ...job, updatedAt: T0 + 5_000_000 }, cfg, T0 + 5_000_000);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    // Another attempt's end is another event.
    expect(webhookEventFor({ ...job, attempt: 3 }, cfg, T0)!.id).toBe(`msg_${JOB_ID}_3_succeeded`);
  });

  it("the id carries no dot (it is signed as id.timestamp.body)", () => {
    expect(webhookEventFor(ended({ status: "cancelled" }), cfg, T0)!.id).toMatch(
      /^msg_[A-Za-z0-9_]+$/,
    );
  });

  it("none for a job that has not ended, nor when webhooks are off", () => {
    expect(webhookEventFor(ended({ status: "queued", finishedAt: null }), cfg, T0)).toBeNull();
    expect(webhookEventFor(ended({ status: "proving", finishedAt: null }), cfg, T0)).toBeNull();
    const off = parseConfig(base);
    expect(off.webhookUrl).toBeUndefined();
    expect(webhookEventFor(ended({ status: "succeeded", result }), off, T0)).toBeNull();
  });
});

describe("the retry schedule", () => {
  it("5 s, then doubling, capped at 1 h (under the Queues cap of 43 200 s)", () => {
    expect([1, 2, 3, 4, 5, 6].map(webhookRetryDelaySeconds)).toEqual([5, 10, 20, 40, 80, 160]);
    expect(webhookRetryDelaySeconds(10)).toBe(2560);
    expect(webhookRetryDelaySeconds(11)).toBe(3600);
    expect(webhookRetryDelaySeconds(100)).toBe(3600);
    expect(webhookRetryDelaySeconds(10_000)).toBe(3600);
    // A nonsense count is read as the first failure.
    expect(webhookRetryDelaySeconds(0)).toBe(5);
  });

  it("gives up once WEBHOOK_RETRY_WINDOW_MS has passed since the first send: just inside retries, at it gives up", () => {
    const cfg = parseConfig(base);
    const window = cfg.webhookRetryWindowMs;
    expect(window).toBe(86_400_000);
    const first = 1_700_000_000_000;
    expect(webhookGivesUp(first, first, cfg)).toBe(false);
    expect(webhookGivesUp(first, first + window - 1, cfg)).toBe(false);
    expect(webhookGivesUp(first, first + window, cfg)).toBe(true);
    expect(webhookGivesUp(first, first + window + 1, cfg)).toBe(true);
  });

  it("the webhooks queue's max_retries outlasts the longest window, so the window always ends a failing event", () => {
    const w = readWranglerConfig(fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url)));
    const producer = w.queues!.producers!.find((p) => p.binding === "WEBHOOKS_QUEUE");
    expect(producer?.queue).toBe(WEBHOOKS_QUEUE_NAME);
    const consumer = w.queues!.consumers!.find((c) => c.queue === WEBHOOKS_QUEUE_NAME)!;
    const retries = consumer.max_retries!;
    expect(retries).toBeLessThanOrEqual(100);
    // Only the pauses count (each delivery takes time too, so the real span is longer still).
    const span = (n: number) =>
      Array.from({ length: n }, (_, i) => webhookRetryDelaySeconds(i + 1)).reduce(
        (a, b) => a + b,
        0,
      );
    expect(span(retries) * 1000).toBeGreaterThanOrEqual(MAX_WEBHOOK_RETRY_WINDOW_MS);
    // The default window (one day) is over well before: about 33 retries.
    expect(span(33) * 1000).toBeGreaterThanOrEqual(86_400_000);
  });
});

describe("webhook config", () => {
  it("off by default; valid with a URL, a secret and the public origin", () => {
    expect(parseConfig(base)).toMatchObject({
      webhookUrl: undefined,
      webhookSecret: undefined,
      publicBaseUrl: undefined,
      webhookTimeoutMs: 10_000,
      webhookRetryWindowMs: 86_400_000,
      settlementToken: undefined,
    });
    expect(
      parseConfig({
        ...hooks,
        PUBLIC_BASE_URL: "https://gateway.example/",
        SETTLEMENT_TOKEN: "s".repeat(16),
      }),
    ).toMatchObject({
      webhookUrl: "https://settlement.example/hooks/proofs",
      webhookSecret: SECRET,
      publicBaseUrl: "https://gateway.example",
      settlementToken: "s".repeat(16),
    });
  });

  it("plain http only on loopback, whatever ALLOW_INSECURE_PROVER_URL says", () => {
    for (const url of ["http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]:1/h"]) {
      expect(parseConfig({ ...hooks, WEBHOOK_URL: url }).webhookUrl).toBe(url);
    }
    for (const extra of [{}, { ALLOW_INSECURE_PROVER_URL: "1" }]) {
      const e = errorOf({ ...hooks, ...extra, WEBHOOK_URL: "http://settlement.example/hook" });
      expect(e?.vars).toEqual(["WEBHOOK_URL"]);
      expect(e?.message).toMatch(/WEBHOOK_URL must be https/);
    }
    expect(errorOf({ ...hooks, WEBHOOK_URL: "ftp://settlement.example/" })?.vars).toEqual([
      "WEBHOOK_URL",
    ]);
  });

  it.each([
    ["without WEBHOOK_SECRET", { WEBHOOK_SECRET: undefined }, ["WEBHOOK_URL", "WEBHOOK_SECRET"]],
    ["with a blank WEBHOOK_SECRET", { WEBHOOK_SECRET: " " }, ["WEBHOOK_URL", "WEBHOOK_SECRET"]],
    [
      "with a secret that is not whsec_",
      { WEBHOOK_SECRET: randomBytes(32).toString("base64") },
      ["WEBHOOK_SECRET", "WEBHOOK_URL"],
    ],
    [
      "with a key too short",
      { WEBHOOK_SECRET: `whsec_${randomBytes(16).toString("base64")}` },
      ["WEBHOOK_SECRET", "WEBHOOK_URL"],
    ],
    ["without PUBLIC_BASE_URL", { PUBLIC_BASE_URL: "" }, ["WEBHOOK_URL", "PUBLIC_BASE_URL"]],
  ])("WEBHOOK_URL %s: a config error naming %j", (_name, patch, vars) => {
    const e = errorOf({ ...hooks, ...patch });
    expect(e?.vars).toEqual(vars);
    for (const v of vars) expect(e!.message).toContain(v);
  });

  it("a bad secret or origin is refused even with webhooks off; a secret never appears in an error", () => {
    const bad = `whsec_${Buffer.alloc(10, 1).toString("base64")}`;
    const e = errorOf({ ...base, WEBHOOK_SECRET: bad });
    expect(e?.vars).toEqual(["WEBHOOK_SECRET"]);
    expect(e!.message).not.toContain(bad.slice(6));
    expect(errorOf({ ...base, PUBLIC_BASE_URL: "https://gateway.example/app" })?.vars).toEqual([
      "PUBLIC_BASE_URL",
    ]);
  });

  it.each([
    ["WEBHOOK_TIMEOUT_MS", "49", "at least 50"],
    ["WEBHOOK_TIMEOUT_MS", "60001", "at most 60000"],
    ["WEBHOOK_RETRY_WINDOW_MS", String(MAX_WEBHOOK_RETRY_WINDOW_MS + 1), "at most"],
    ["WEBHOOK_RETRY_WINDOW_MS", "-1", "at least 0"],
    ["SETTLEMENT_TOKEN", "short-token", "at least 16 characters"],
  ])("%s=%s is refused (%s)", (name, value, message) => {
    const e = errorOf({ ...base, [name]: value });
    expect(e?.vars).toEqual([name]);
    expect(e!.message).toContain(message);
  });

  it("publicConfig says whether the secrets are set, never what they are, and only the receiver's origin", () => {
    const token = "settlement-token-0123456789";
    const shown = publicConfig(parseConfig({ ...hooks, SETTLEMENT_TOKEN: token }));
    const text = JSON.stringify(shown);
    expect(text).not.toContain(SECRET.slice(6));
    expect(text).not.toContain(token);
    expect(text).not.toContain("/hooks/proofs");
    expect(shown).toMatchObject({
      webhookUrl: "https://settlement.example",
      webhookSecretSet: true,
      settlementTokenSet: true,
      publicBaseUrl: "https://gateway.example",
    });
    expect(publicConfig(parseConfig(base))).toMatchObject({
      webhookSecretSet: false,
      settlementTokenSet: false,
    });
  });
});
