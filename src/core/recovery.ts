import type { Config } from "./config.ts";
import type { JobError } from "./job.ts";
import { unsubmitted, type Job } from "./job.ts";
import { abandonProverJob } from "./prover-cleanup.ts";

/**
 * Rebuilding: when the prover loses or spoils a job, the gateway forgets that prover job and
 * submits the tape again, fresh — never polls a poisoned prover job again. Bounded by
 * PROVER_MAX_RECOVERIES (and, like everything, by the wall-time cap).
 */

export type RebuildConfig = Pick<Config, "maxRecoveries" | "pollTimeoutMs">;

export const MIN_SEGMENT_LIMIT_PO2 = 16;

/** What a `failed` report from the prover means for the job. */
export type FailureAction =
  /** The prover broke, not the tape: submit again as it was. */
  | "rebuild"
  /** Out of GPU memory or too slow: submit again with smaller segments. */
  | "rebuild_smaller"
  /**
   * The guest refused the tape (a `proof_error` that is not out-of-memory: a forged score, a
   * replay that does not reach the footer): a verdict the gateway cannot check, a question for
   * another prover (src/core/verdicts.ts); two provers saying so end the job `tape_rejected`.
   */
  | "guest_refused"
  /**
   * The replay scored 0: checked against the gateway's own reading of the tape. A lie when it
   * read a non-zero score; else the gateway agrees and the job ends `prover_rejected`.
   */
  | "zero_score"
  /**
   * A failure this gateway does not know: a verdict it cannot check, a question for another
   * prover; two provers saying so end the job `prover_failed`.
   */
  | "unknown";

const OUT_OF_MEMORY = /out of memory|allocation failed/i;

/**
 * Classifies by `error_code`; the message is read only to tell out-of-memory from other proof
 * errors.
 */
export function failureAction(error: JobError): FailureAction {
  switch (error.code) {
    case "server_restarted":
    case "internal_error":
      return "rebuild";
    case "proof_error":
      return OUT_OF_MEMORY.test(error.message) ? "rebuild_smaller" : "guest_refused";
    case "proof_timeout":
      return "rebuild_smaller";
    case "zero_score_not_allowed":
      return "zero_score";
    default:
      return "unknown";
  }
}

/**
 * Rebuilds the prover caused: it lost the job (404, `server_restarted`), broke inside
 * (`internal_error`), stopped answering for the stall window, claimed a result that is not a
 * proof of the tape, or said something else false about it (`prover_lied`, src/core/verdicts.ts).
 * They cost the job only time: they do not use PROVER_MAX_RECOVERIES, which
 * is there to stop a tape that itself keeps failing (`proof_error`, out of memory,
 * `proof_timeout`, `poll_timeout`); only the wall-time cap bounds them.
 */
export const PROVER_FAULT_CODES: ReadonlySet<string> = new Set([
  "prover_job_lost",
  "server_restarted",
  "internal_error",
  "prover_stalled",
  "result_mismatch",
  "receipt_invalid",
  "prover_lied",
]);

export interface RebuildOptions {
  /** Submit the next time with `segment_limit_po2` one lower (floor 16). */
  smaller?: boolean;
  /** The abandoned prover job may still be running: tell the prover to delete it. */
  cleanup?: boolean;
  /** The failure code when no recovery is left (default `recovery_exhausted`). */
  exhaustedCode?: string;
  /**
   * A prover refused the tape: this retry is its one second opinion (`attempts.rejections`), not
   * a recovery.
   */
  rejection?: boolean;
  /** Count it as the prover's fault whatever `cause.code` says (`attempts.proverRebuilds`). */
  proverFault?: boolean;
}

/**
 * How many times a tape a prover refused is tried again (on another prover; on the same one only
 * when no other can be had) before a second refusal ends it.
 */
export const MAX_REJECTION_RETRIES = 1;

/**
 * Forgets the current prover job and puts the job back in line for a fresh submission, or
 * fails it when its recoveries are used up. `cause` says what went wrong, for the player.
 */
export function rebuild(
  job: Job,
  cause: JobError,
  now: number,
  cfg: RebuildConfig,
  opts: RebuildOptions = {},
): Job {
  const withCleanup = opts.cleanup ? abandonProverJob(job, cause.code, now, cfg) : job;
  const proverFault = opts.proverFault ?? PROVER_FAULT_CODES.has(cause.code);
  const rejection = opts.rejection ?? false;
  if (!proverFault && !rejection && job.attempts.recoveries >= cfg.maxRecoveries) {
    const code = opts.exhaustedCode ?? "recovery_exhausted";
    return {
      ...withCleanup,
      status: "failed",
      detail: `${cause.message} No recovery left (${job.attempts.recoveries} of ${cfg.maxRecoveries} used).`,
      error: {
        code,
        message: `${cause.message} (${cause.code}); the tape was already resubmitted ${job.attempts.recoveries} time(s), the most PROVER_MAX_RECOVERIES allows.`,
      },
      finishedAt: now,
      updatedAt: now,
    };
  }
  const segmentLimitPo2 = opts.smaller
    ? Math.max(MIN_SEGMENT_LIMIT_PO2, job.prover.segmentLimitPo2 - 1)
    : job.prover.segmentLimitPo2;
  return {
    ...withCleanup,
    status: "queued",
    detail: `${cause.message} Submitting the tape again${segmentLimitPo2 !== job.prover.segmentLimitPo2 ? ` with smaller segments (2^${segmentLimitPo2})` : ""}.`,
    prover: unsubmitted(segmentLimitPo2, cause),
    attempts: proverFault
      ? { ...job.attempts, proverRebuilds: (job.attempts.proverRebuilds ?? 0) + 1 }
      : rejection
        ? { ...job.attempts, rejections: (job.attempts.rejections ?? 0) + 1 }
        : { ...job.attempts, recoveries: job.attempts.recoveries + 1 },
    lastRecovery: cause,
    updatedAt: now,
  };
}
