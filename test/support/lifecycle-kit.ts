import type { Config } from "../../src/core/config.ts";
import type { Job } from "../../src/core/job.ts";
import { expire, newJob, type PollOutcome, type SubmitOutcome } from "../../src/core/lifecycle.ts";
import { cancel } from "../../src/core/ending.ts";
import { onResultStored } from "../../src/core/result-checks.ts";
import { onSubmit } from "../../src/core/prover-answers.ts";
import { T0, URL_A } from "./configs.ts";
import { SAMPLE_JOURNAL, SAMPLE_TAPE } from "./sample-job.ts";

/**
 * The jobs and outcomes the lifecycle suites (test/unit/lifecycle*.test.ts and the prover-answers
 * and job-timing suites) build on.
 */

export const JOB_ID = "a".repeat(64);
export const tape = SAMPLE_TAPE;
export const journal = SAMPLE_JOURNAL;
export const transient = {
  kind: "transient",
  error: { code: "prover_timeout", message: "t" },
} as const;
export const running = { kind: "pending", status: "running" } as const;
export const succeededPoll = (): PollOutcome => ({
  kind: "succeeded",
  journal,
  receiptKind: "groth16",
  segments: 4,
  elapsedMs: 88,
  document: {},
});
export const busy: SubmitOutcome = {
  kind: "busy",
  error: { code: "prover_busy", message: "busy" },
};

/** Job builders bound to one config. */
export function kit(cfg: Config) {
  const cap = T0 + cfg.maxJobWallTimeMs;
  const queued = (at = T0, token: string | null = "hash-1") => newJob(JOB_ID, tape, at, cfg, token);
  const accept = (job: Job, at: number, proverJobId = "p1", url = URL_A) =>
    onSubmit(job, { kind: "accepted", proverJobId }, url, at, cfg).job;
  /**
   * Accepted half-way between the POST and the last moment the poll deadline still fits under the
   * wall cap.
   */
  const midAccept = T0 + Math.floor((cfg.maxJobWallTimeMs - cfg.pollTimeoutMs) / 2);
  const proving = (acceptedAt = midAccept) => accept(queued(), acceptedAt);
  const withRecoveries = (job: Job, recoveries: number): Job => ({
    ...job,
    attempts: { ...job.attempts, recoveries },
  });
  const succeeded = (at = midAccept + 1) =>
    onResultStored(
      proving(),
      { key: "k", receiptKind: "groth16", segments: 1, proverElapsedMs: 1, journal },
      at,
      cfg,
    );
  const failed = () => expire(queued(), cap + 1, cfg);
  const cancelled = () => cancel(queued(), T0 + 1, cfg);
  return { cap, queued, accept, midAccept, proving, withRecoveries, succeeded, failed, cancelled };
}
