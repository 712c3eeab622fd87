import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { startDevProver } from "../../src/dev/prover-server.ts";
import { readWranglerConfig } from "../../src/ops/wrangler-config.ts";
import { isDeadLetterQueue } from "../../src/queue/message.ts";
import { FIXTURE_NAMES, fixture, receiptFixture, type FixtureName } from "./fixtures.ts";
import { TEST_API_KEY, TEST_PROOF_MS } from "./test-vars.ts";

const wrangler = readWranglerConfig(
  fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url)),
);

/** `max_retries` of the jobs queue consumer, from the committed wrangler.jsonc. */
function jobsQueueMaxRetries(): number {
  const consumers = wrangler.queues?.consumers ?? [];
  return consumers.find((c) => !isDeadLetterQueue(c.queue))!.max_retries ?? 3;
}

/** Starts three real HTTP dev provers on loopback for the workerd tests and provides their URLs. */
export default async function setup(project: TestProject) {
  const start = () =>
    startDevProver({ port: 0, apiKey: TEST_API_KEY, proofMs: TEST_PROOF_MS, queuedMs: 20 });
  // The configured prover, and two more that fleet tests add at runtime.
  const [prover, ...more] = await Promise.all([start(), start(), start()]);
  project.provide("proverUrl", prover!.url);
  project.provide(
    "fleetUrls",
    more.map((p) => p.url),
  );
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
    await Promise.all([prover!, ...more].map((p) => p.close()));
  };
}
