import type { Config } from "./config.ts";
import type { JobError } from "./errors.ts";
import { isTerminal, type Job, type Journal, type ResultSummary, type TapeInfo } from "./job.ts";
import { retryDelaySeconds } from "./retries.ts";

/**
 * The job lifecycle as pure functions of (job, event, now, config). The Durable Object, the
 * queue consumers and the routes load the job, call one of these, perform what it asks
 * (fetch, R2, setAlarm, ack/retry) and save. Every timeout rule of the gateway lives here.
 */

type Cfg = Pick<
  Config,
  | "pollIntervalMs"
  | "pollBudgetMs"
  | "pollTimeoutMs"
  | "maxJobWallTimeMs"
  | "completedJobRetentionMs"
  | "retryMinDelaySeconds"
  | "retryMaxDelaySeconds"
>;

/** What the prover said to a submission, classified once by the prover client. */
export type SubmitOutcome =
  | { kind: "accepted"; proverJobId: string }
  /** 429 prover_busy / no_slots / at_capacity: back-pressure, the prover will take it later. */
  | { kind: "busy"; error: JobError }
  /** 400: the prover refuses this tape or these options; resubmitting is pointless. */
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
    }
  | { kind: "failed"; error: JobError }
  /** 404 job_not_found: the prover restarted or swept the job. */
  | { kind: "lost" }
  | { kind: "transient"; error: JobError };

/** What the queue consumer does with the message that carried a dispatch. */
export type MessageAction = { ack: true } | { ack: false; retryDelaySeconds: number };

export function newJob(jobId: string, tape: TapeInfo, now: number, cfg: Cfg): Job {
  return {
    jobId,
    status: "queued",
    detail: "Accepted; waiting to be sent to the prover.",
    createdAt: now,
    updatedAt: now,
    wallDeadlineAt: now + cfg.maxJobWallTimeMs,
    finishedAt: null,
    tape,
    prover: {
      jobId: null,
      status: null,
      acceptedAt: null,
      pollDeadlineAt: null,
      lastPolledAt: null,
      consecutivePollFailures: 0,
      lastError: null,
    },
    attempts: { deliveries: 0, submissions: 0, polls: 0 },
    result: null,
    error: null,
  };
}

export function fail(job: Job, error: JobError, now: number): Job {
  return { ...job, status: "failed", detail: error.message, error, finishedAt: now, updatedAt: now };
}

/**
 * Applies the two deadlines that end a job whatever else happens: the wall-time cap (from
 * creation; checked on delivery, in the alarm and on read) and the absolute poll deadline
 * (from the prover's acceptance). A job exactly at a deadline is still inside it.
 */
export function expire(job: Job, now: number): Job {
  if (isTerminal(job.status)) return job;
  if (now > job.wallDeadlineAt) {
    return fail(
      job,
      {
        code: "wall_time_exceeded",
        message: `The job ran past its wall-time cap of ${job.wallDeadlineAt - job.createdAt} ms without a proof.`,
      },
      now,
    );
  }
  if (job.status === "proving" && job.prover.pollDeadlineAt !== null && now > job.prover.pollDeadlineAt) {
    return fail(
      job,
      {
        code: "poll_timeout",
        message: `The prover did not finish within ${job.prover.pollDeadlineAt - job.prover.acceptedAt!} ms of accepting the tape.`,
      },
      now,
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
  return { ...job, attempts: { ...job.attempts, deliveries: job.attempts.deliveries + 1 }, updatedAt: now };
}

/**
 * The prover answered a submission. `deliveryAttempt` is the queue message's attempt number
 * (1 for the first delivery) and drives the backoff of a retry.
 */
export function onSubmit(
  job: Job,
  outcome: SubmitOutcome,
  now: number,
  deliveryAttempt: number,
  cfg: Cfg,
  random: () => number = Math.random,
): { job: Job; message: MessageAction } {
  const attempts = { ...job.attempts, submissions: job.attempts.submissions + 1 };
  const retry = (error: JobError, detail: string) => {
    const delay = retryDelaySeconds(deliveryAttempt, cfg, random);
    return {
      job: { ...job, attempts, detail: `${detail} Next try in about ${delay} s.`, prover: { ...job.prover, lastError: error }, updatedAt: now },
      message: { ack: false, retryDelaySeconds: delay } as const,
    };
  };
  switch (outcome.kind) {
    case "accepted":
      return {
        job: {
          ...job,
          attempts,
          status: "proving",
          detail: "The prover accepted the tape; waiting for it to start.",
          prover: {
            ...job.prover,
            jobId: outcome.proverJobId,
            status: "queued",
            acceptedAt: now,
            pollDeadlineAt: now + cfg.pollTimeoutMs,
            consecutivePollFailures: 0,
            lastError: null,
          },
          updatedAt: now,
        },
        message: { ack: true },
      };
    case "busy":
      return retry(outcome.error, "The prover is busy with another proof.");
    case "transient":
      return retry(outcome.error, `Could not reach the prover (${outcome.error.code}).`);
    case "rejected":
      return {
        job: fail(
          { ...job, attempts },
          { code: "prover_rejected", message: `The prover refused the tape: ${outcome.error.message} (${outcome.error.code}).` },
          now,
        ),
        message: { ack: true },
      };
  }
}

/** What the alarm loop does after a poll has been applied. */
export type AfterPoll =
  /** The proof is in: verify it against the tape and store it, then call `onResultStored`. */
  | { kind: "store" }
  /** Keep waiting on the prover. */
  | { kind: "wait" }
  /** The job ended. */
  | { kind: "done" };

export function onPoll(job: Job, outcome: PollOutcome, now: number): { job: Job; next: AfterPoll } {
  const polled = {
    ...job,
    attempts: { ...job.attempts, polls: job.attempts.polls + 1 },
    prover: { ...job.prover, lastPolledAt: now },
    updatedAt: now,
  };
  switch (outcome.kind) {
    case "pending":
      return {
        job: {
          ...polled,
          detail:
            outcome.status === "running" ? "The prover is proving the tape." : "The prover accepted the tape; waiting for it to start.",
          prover: { ...polled.prover, status: outcome.status, consecutivePollFailures: 0, lastError: null },
        },
        next: { kind: "wait" },
      };
    case "transient":
      return {
        job: {
          ...polled,
          detail: `Could not read the proof's status (${outcome.error.code}); will try again.`,
          prover: {
            ...polled.prover,
            consecutivePollFailures: polled.prover.consecutivePollFailures + 1,
            lastError: outcome.error,
          },
        },
        next: { kind: "wait" },
      };
    case "succeeded":
      return {
        job: { ...polled, prover: { ...polled.prover, status: "succeeded", consecutivePollFailures: 0, lastError: null } },
        next: { kind: "store" },
      };
    case "failed":
      return {
        job: fail(
          { ...polled, prover: { ...polled.prover, status: "failed", lastError: outcome.error } },
          {
            code: outcome.error.code === "zero_score_not_allowed" ? "prover_rejected" : "prover_failed",
            message: `The prover failed the proof: ${outcome.error.message} (${outcome.error.code}).`,
          },
          now,
        ),
        next: { kind: "done" },
      };
    case "lost":
      return {
        job: fail(
          polled,
          { code: "prover_job_lost", message: "The prover no longer knows this job (it restarted or swept it)." },
          now,
        ),
        next: { kind: "done" },
      };
  }
}

/**
 * Checks a finished proof against the tape it was made from. Returns the reason it is not
 * a valid proof for this tape, or null when every journal field agrees.
 */
export function journalMismatch(tape: TapeInfo, journal: Journal | null, rulesDigest: number): string | null {
  if (!journal) return "the result carries no journal";
  const want: Journal = {
    seed: tape.seed,
    frame_count: tape.frameCount,
    final_score: tape.finalScore,
    final_rng_state: tape.finalRngState,
    tape_checksum: tape.checksum,
    rules_digest: rulesDigest,
  };
  const wrong = (Object.keys(want) as (keyof Journal)[]).filter((k) => journal[k] !== want[k]);
  return wrong.length === 0 ? null : `journal ${wrong.map((k) => `${k} is ${journal[k]}, expected ${want[k]}`).join("; ")}`;
}

export function onResultInvalid(job: Job, reason: string, now: number): Job {
  return fail(job, { code: "result_mismatch", message: `The prover's result does not match the tape: ${reason}.` }, now);
}

export function onResultStored(job: Job, result: ResultSummary, now: number): Job {
  return {
    ...job,
    status: "succeeded",
    detail: "The proof is ready.",
    result,
    error: null,
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
        job.prover.lastError ? `${job.prover.lastError.message} (${job.prover.lastError.code})` : "none recorded"
      }).`,
    },
    now,
  );
}

/**
 * Inside one alarm invocation: poll again after a sleep while the per-alarm budget allows,
 * else re-arm the alarm. Never sleeps past a deadline, so deadlines are enforced on time.
 */
export function nextPoll(job: Job, alarmStartedAt: number, now: number, cfg: Cfg): { sleepMs: number } | { alarmAt: number } {
  const at = Math.min(now + cfg.pollIntervalMs, nextDeadline(job));
  if (at - alarmStartedAt <= cfg.pollBudgetMs) return { sleepMs: Math.max(0, at - now) };
  return { alarmAt: at };
}

/** The earliest deadline after which `expire` ends the job (+1: a job at its deadline is inside). */
function nextDeadline(job: Job): number {
  return Math.min(job.wallDeadlineAt, job.prover.pollDeadlineAt ?? Infinity) + 1;
}

/**
 * The one alarm a job's Durable Object keeps armed, derived from stored state:
 * - queued: a watchdog at the wall-time cap (the queue normally dispatches long before);
 * - proving: the next poll;
 * - terminal: clean-up once the retention period has passed.
 */
export function alarmAt(job: Job, now: number, cfg: Cfg): number {
  if (isTerminal(job.status)) return (job.finishedAt ?? now) + cfg.completedJobRetentionMs;
  if (job.status === "queued") return nextDeadline(job);
  return Math.min(now + cfg.pollIntervalMs, nextDeadline(job));
}
