import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/core/config.ts";
import { newJob, onDelivery } from "../../src/core/lifecycle.ts";
import { cancel } from "../../src/core/ending.ts";
import { transitionLine } from "../../src/core/log.ts";
import { SAMPLE_TAPE } from "../support/sample-job.ts";

const cfg = parseConfig({ PROVER_BASE_URL: "http://127.0.0.1:1", VERIFY_RECEIPTS: "off" });
const T0 = 1_700_000_000_000;
const tape = SAMPLE_TAPE;

// The line `record` (src/core/effects.ts) logs with every saved status change.
describe("transition logs", () => {
  it("one JSON line per status change: ids, states, reason, code, attempt, counters and durations", () => {
    const job = newJob(tape.sha256, tape, T0, cfg, "secret-token-hash");
    const cancelled = cancel(job, T0 + 250, cfg);
    const lines = [transitionLine(null, job, "accepted"), transitionLine(job, cancelled, "cancel")]
      .filter((l) => l !== null)
      .map((l) => JSON.stringify(l));
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => JSON.parse(l));
    expect(first).toMatchObject({
      event: "job_transition",
      jobId: tape.sha256,
      from: null,
      to: "queued",
      reason: "accepted",
      attempt: 1,
      sinceLastUpdateMs: 0,
      ageMs: 0,
    });
    expect(second).toMatchObject({
      from: "queued",
      to: "cancelled",
      reason: "cancel",
      code: null,
      attempt: 1,
      sinceLastUpdateMs: 250,
      attemptMs: 250,
      ageMs: 250,
    });
    for (const key of ["submissions", "deliveries", "recoveries", "redispatches"])
      expect(second[key]).toBe(0);
  });

  it("no line when neither the job's nor the prover's status changed; never the token hash or tape facts", () => {
    const job = newJob(tape.sha256, tape, T0, cfg, "secret-token-hash");
    expect(transitionLine(job, onDelivery(job, T0 + 1), "delivery")).toBeNull();
    const line = JSON.stringify(transitionLine(null, job, "accepted"));
    expect(line).not.toContain("secret-token-hash");
    expect(Object.keys(JSON.parse(line))).not.toContain("tape");
  });
});
