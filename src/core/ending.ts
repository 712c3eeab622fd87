import type { JobError } from "./job.ts";
import { isTerminal, type Job } from "./job.ts";
import type { LifecycleConfig } from "./lifecycle.ts";
import { abandonProverJob } from "./prover-cleanup.ts";

/** How an attempt ends without a proof: it fails, its deliveries run out, or it is cancelled. */

export function fail(job: Job, error: JobError, now: number): Job {
  return {
    ...job,
    status: "failed",
    detail: error.message,
    error,
    finishedAt: now,
    updatedAt: now,
  };
}

/** The DLQ received the job's message: its deliveries ran out before the prover took it. */
export function onDeadLetter(job: Job, now: number): Job {
  if (job.status !== "queued") return job;
  return fail(
    job,
    {
      code: "retries_exhausted",
      message: `The tape could not be handed to the prover after ${job.attempts.deliveries} deliveries (last problem: ${
        job.prover.lastError
          ? `${job.prover.lastError.message} (${job.prover.lastError.code})`
          : "none recorded"
      }).`,
    },
    now,
  );
}

/**
 * The submitter (or the admin) cancels. A waiting job never reaches the prover; a proving job
 * stops being polled and its prover job is deleted on the prover (best effort, see
 * prover-cleanup.ts). Ended jobs are left as they are.
 */
export function cancel(job: Job, now: number, cfg: LifecycleConfig): Job {
  if (isTerminal(job.status)) return job;
  return {
    ...abandonProverJob(job, "cancelled", now, cfg),
    status: "cancelled",
    detail: "Cancelled by the submitter.",
    finishedAt: now,
    updatedAt: now,
  };
}
