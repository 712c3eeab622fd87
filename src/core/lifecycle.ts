import type { Config } from "./config.ts";
import type { JobError, ReceiptCheck } from "./job.ts";
import {
  isTerminal,
  unsubmitted,
  type AttemptSummary,
  type Job,
  type Journal,
  type TapeInfo,
} from "./job.ts";
import { fail } from "./ending.ts";
import { abandonProverJob } from "./prover-cleanup.ts";
import { rebuild } from "./recovery.ts";

/**
 * The job lifecycle as pure functions of (job, event, now, config) → job: the events, a job's
 * start and its deadlines here; the prover's answers in prover-answers.ts, a finished proof's
 * checks in result-checks.ts, how an attempt ends without a proof in ending.ts, and when things
 * happen in job-timing.ts. src/core/steps composes them into the
 * steps of the job's flows (src/core/flows), and `effects.ts` says what each change requires of
 * the outside world.
 */

/** The vars the lifecycle rules read. */
export type LifecycleConfig = Pick<
  Config,
  | "pollIntervalMs"
  | "pollMinIntervalMs"
  | "pollBudgetMs"
  | "pollTimeoutMs"
  | "stallWindowMs"
  | "maxRecoveries"
  | "dispatchWatchdogMs"
  | "maxJobWallTimeMs"
  | "completedJobRetentionMs"
  | "retryMinDelaySeconds"
  | "retryMaxDelaySeconds"
  | "segmentLimitPo2"
  | "requestTimeoutMs"
  | "circuitFailures"
  | "verifyReceipts"
  | "receiptKind"
>;

/** How many earlier attempts a job remembers. */
export const HISTORY_LENGTH = 5;

/** What the prover said to a submission, classified once by the prover client. */
export type SubmitOutcome =
  | { kind: "accepted"; proverJobId: string }
  /** 429 prover_busy / no_slots / at_capacity: back-pressure, the prover will take it later. */
  | { kind: "busy"; error: JobError }
  /**
   * 400: the prover refuses this tape or these options (a lie when the gateway's own parser
   * accepted the tape: src/core/verdicts.ts).
   */
  | { kind: "rejected"; error: JobError }
  /** network error, timeout, 401, 5xx, unreadable reply: try again later. */
  | { kind: "transient"; error: JobError };

/** What a status read of the prover job said, classified once by the prover client. */
export type PollOutcome =
  | { kind: "pending"; status: "queued" | "running" }
  | {
      kind: "succeeded";
      journal: Journal | null;
      receiptKind: string;
      segments: number | null;
      elapsedMs: number | null;
      /** The prover's whole status document (journal, receipt, stats): stored as the result. */
      document: unknown;
      /**
       * Its receipt as the Worker verified it (src/verify/receipt.ts), attached by the job's
       * object when VERIFY_RECEIPTS=groth16; absent: not checked.
       */
      receipt?: ReceiptCheck;
    }
  | { kind: "failed"; error: JobError }
  /** 404 job_not_found: the prover restarted or swept the job. */
  | { kind: "lost" }
  | { kind: "transient"; error: JobError };

/** What the queue consumer does with the message that carried a dispatch. */
export type MessageAction = { ack: true } | { ack: false; retryDelaySeconds: number };

/** What the dispatcher said when a delivered job asked for a prover. */
export type Admission =
  /**
   * Submit now, to `proverUrl`; `msPer1000Frames`: the speed measured for that prover (its own
   * median, else the fleet's: `speedFor`), from which the proof's polls are scheduled; null or
   * absent: nothing measured yet (polls spread out from the acceptance instead).
   */
  | { kind: "granted"; proverUrl: string; msPer1000Frames?: number | null }
  | { kind: "waiting"; ahead: number };

/** Where a waiting job's watchdog found it. */
export type Whereabouts =
  /** In the dispatcher's line: the dispatcher will send it when a prover is free. */
  | "waiting"
  /** A delivery of it is handing the tape to the prover right now. */
  | "submitting"
  /** It holds a prover slot, but no delivery has come to use it (the grant's message was lost). */
  | "holding"
  /** Neither in line nor holding a slot: its queue message was lost before any delivery. */
  | "absent";

/** The counts of an attempt nothing has happened to yet. */
export const noAttempts = (): Job["attempts"] => ({
  deliveries: 0,
  submissions: 0,
  polls: 0,
  recoveries: 0,
  proverRebuilds: 0,
  rejections: 0,
  redispatches: 0,
});

export function newJob(
  jobId: string,
  tape: TapeInfo,
  now: number,
  cfg: LifecycleConfig,
  cancelTokenHash: string | null = null,
  client: string | null = null,
): Job {
  return {
    jobId,
    status: "queued",
    detail: "Accepted; waiting to be sent to the prover.",
    createdAt: now,
    updatedAt: now,
    attempt: 1,
    attemptStartedAt: now,
    wallDeadlineAt: now + cfg.maxJobWallTimeMs,
    finishedAt: null,
    tape,
    prover: unsubmitted(cfg.segmentLimitPo2),
    attempts: noAttempts(),
    watchdogCheckedAt: null,
    lastRecovery: null,
    result: null,
    error: null,
    cleanup: [],
    cancelTokenHash,
    client,
    history: [],
  };
}

/**
 * Whether posting the same tape again starts a new attempt (only after `failed` or `cancelled`).
 */
export const startsNewAttempt = (job: Job) => job.status === "failed" || job.status === "cancelled";

/**
 * The same tape posted again after its job failed or was cancelled: a fresh attempt on the
 * same content-addressed job, with its own wall-time cap, place in line and cancel token.
 * The ended attempt joins the job's short history; pending prover clean-ups carry over.
 */
export function newAttempt(
  job: Job,
  now: number,
  cfg: LifecycleConfig,
  cancelTokenHash: string | null,
  client: string | null = job.client ?? null,
): Job {
  const ended: AttemptSummary = {
    attempt: job.attempt,
    startedAt: job.attemptStartedAt,
    finishedAt: job.finishedAt,
    status: job.status,
    error: job.error,
    recoveries: job.attempts.recoveries,
  };
  const fresh = newJob(job.jobId, job.tape, now, cfg, cancelTokenHash, client);
  return {
    ...fresh,
    createdAt: job.createdAt,
    attempt: job.attempt + 1,
    detail: `Attempt ${job.attempt + 1} accepted; waiting to be sent to the prover.`,
    cleanup: job.cleanup,
    history: [...job.history, ended].slice(-HISTORY_LENGTH),
  };
}

/**
 * Applies the two deadlines that hold whatever else happens. A job exactly at a deadline is
 * still inside it.
 * - The wall-time cap (from the attempt's POST) ends any job: `wall_time_exceeded`.
 * - The absolute poll deadline (from the prover's acceptance) ends the wait on that prover
 *   job: it is abandoned (and deleted on the prover) and the tape resubmitted while
 *   recoveries remain, else the job fails with `poll_timeout`.
 */
export function expire(job: Job, now: number, cfg: LifecycleConfig): Job {
  if (isTerminal(job.status)) return job;
  if (now > job.wallDeadlineAt) {
    return fail(
      abandonProverJob(job, "wall_time_exceeded", now, cfg),
      {
        code: "wall_time_exceeded",
        message: `The job ran past its wall-time cap of ${job.wallDeadlineAt - job.attemptStartedAt} ms without a proof.`,
      },
      now,
    );
  }
  if (
    job.status === "proving" &&
    job.prover.pollDeadlineAt !== null &&
    now > job.prover.pollDeadlineAt
  ) {
    return rebuild(
      job,
      {
        code: "poll_timeout",
        message: `The prover did not finish within ${job.prover.pollDeadlineAt - job.prover.acceptedAt!} ms of accepting the tape.`,
      },
      now,
      cfg,
      { cleanup: true, exhaustedCode: "poll_timeout" },
    );
  }
  return job;
}

/** Whether a queue delivery should send the tape to the prover now. */
export function shouldSubmit(job: Job): boolean {
  return job.status === "queued";
}

/** A queue delivery reached the job (before any submit). */
export function onDelivery(job: Job, now: number): Job {
  return {
    ...job,
    attempts: { ...job.attempts, deliveries: job.attempts.deliveries + 1 },
    updatedAt: now,
  };
}

/** The dispatcher put the job in line behind `ahead` others (a busy prover is not a failure). */
export function onWaiting(job: Job, ahead: number, now: number): Job {
  const detail =
    ahead === 0
      ? "Next in line; waiting for the prover to be free."
      : `Waiting for the prover: ${ahead} job${ahead === 1 ? "" : "s"} ahead in line.`;
  return job.detail === detail ? job : { ...job, detail, updatedAt: now };
}

/**
 * The watchdog looked for a queued job that nothing has moved for `DISPATCH_WATCHDOG_MS`.
 * The Durable Object, not the queue message, is the source of truth: a job that is neither in
 * line nor being submitted lost its message (or the runtime died before delivering it), and
 * is sent again. Deliveries are idempotent, so a message that was only slow does no harm.
 */
export function onWatchdog(
  job: Job,
  where: Whereabouts,
  now: number,
): { job: Job; redispatch: boolean } {
  if (job.status !== "queued") return { job, redispatch: false };
  const checked = { ...job, watchdogCheckedAt: now };
  if (where === "waiting" || where === "submitting") return { job: checked, redispatch: false };
  return {
    job: {
      ...checked,
      attempts: { ...job.attempts, redispatches: (job.attempts.redispatches ?? 0) + 1 },
      detail: "Re-sent to the prover queue: the earlier message was not picked up in time.",
      updatedAt: now,
    },
    redispatch: true,
  };
}
