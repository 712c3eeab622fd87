import type { Config } from "./config.ts";
import type { JobError, ReceiptCheck } from "./job.ts";
import {
  isTerminal,
  unsubmitted,
  type AttemptSummary,
  type Job,
  type Journal,
  type ResultSummary,
  type TapeInfo,
} from "./job.ts";
import { abandonProverJob, nextCleanupAt } from "./prover-cleanup.ts";
import { pollWaitMs } from "./speed.ts";
import { RULES_DIGEST_AST3 } from "./tape.ts";
import { failureAction, rebuild } from "./recovery.ts";
import { onLie, onRefusal, tapeProvable } from "./verdicts.ts";

/**
 * The job lifecycle as pure functions of (job, event, now, config) → job. Every transition and
 * timeout rule of a job lives here; `job-steps.ts` composes them into the steps the Durable
 * Object runs, and `effects.ts` says what each change requires of the outside world.
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
 * The prover answered a submission.
 * - accepted: proving; the poll deadline starts now.
 * - busy (429): back-pressure, not failure. The job goes back in line (the dispatcher offers
 *   that prover again after a poll interval) and the message is acked: no error retry is used.
 * - transient (network, timeout, 5xx, 401, bad reply): the prover's fault, not the job's. The job
 *   goes straight back to its place at the head of the line for the next available prover (the
 *   dispatcher charges the prover's circuit); the message is acked, so a flaky prover never
 *   dead-letters a job, and no slot is held while anything backs off.
 * - rejected (400): for a tape the gateway's own parser accepted (with options it chose) the
 *   verdict is false: the job stays queued and goes back to the head of the line for another
 *   prover, and the prover is charged (`line: "lied"`). For a tape the gateway finds unprovable
 *   too (a zero score), it stands: `prover_rejected`.
 */
export function onSubmit(
  job: Job,
  outcome: SubmitOutcome,
  proverUrl: string,
  now: number,
  cfg: LifecycleConfig,
  expectedProofMs: number | null = null,
): { job: Job; message: MessageAction; line: "busy" | "fault" | "lied" | null } {
  if (job.status !== "queued") return { job, message: { ack: true }, line: null };
  const attempts = { ...job.attempts, submissions: job.attempts.submissions + 1 };
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
            url: proverUrl,
            jobId: outcome.proverJobId,
            status: "queued",
            acceptedAt: now,
            pollDeadlineAt: now + cfg.pollTimeoutMs,
            expectedEndAt: expectedProofMs === null ? null : now + expectedProofMs,
            lastPolledAt: null,
            consecutivePollFailures: 0,
            firstFailedPollAt: null,
            lastError: null,
          },
          updatedAt: now,
        },
        message: { ack: true },
        line: null,
      };
    case "busy":
      return {
        job: {
          ...job,
          attempts,
          detail: "The prover is busy with another proof; next in line.",
          prover: { ...job.prover, lastError: outcome.error },
          updatedAt: now,
        },
        message: { ack: true },
        line: "busy",
      };
    case "transient":
      return {
        job: {
          ...job,
          attempts,
          detail: `The prover could not take the tape (${outcome.error.code}); back at the head of the line for the next available prover.`,
          prover: { ...job.prover, lastError: outcome.error },
          updatedAt: now,
        },
        message: { ack: true },
        line: "fault",
      };
    case "rejected": {
      const said = `${outcome.error.message} (${outcome.error.code})`;
      if (!tapeProvable(job.tape)) {
        const message = `The prover refused the tape: ${said}; this gateway reads it as unprovable too.`;
        return {
          job: fail({ ...job, attempts }, { code: "prover_rejected", message }, now),
          message: { ack: true },
          line: null,
        };
      }
      const cause = {
        code: "prover_lied",
        message: `The prover refused a tape this gateway parsed as valid, with options it chose: ${said}. That verdict is false.`,
      };
      const lied = onLie({ ...job, attempts }, proverUrl, outcome.error.code, cause, now, cfg);
      return {
        job: {
          ...lied,
          detail: `${cause.message} Back at the head of the line for another prover.`,
        },
        message: { ack: true },
        line: "lied",
      };
    }
  }
}

/** What the alarm loop does after a poll has been applied. */
export type AfterPoll =
  /** The proof is in: verify it against the tape and store it, then call `onResultStored`. */
  | { kind: "store" }
  /** Keep waiting on the prover. */
  | { kind: "wait" }
  /** The job left `proving`: it ended, or went back in line to be rebuilt. */
  | { kind: "done" };

/**
 * Applies one status read of the prover job:
 * - pending: keep polling;
 * - transient: ridden out, unless every poll has failed for longer than the stall window —
 *   then the prover job counts as lost and is rebuilt;
 * - lost (404), or failed with server_restarted / internal_error: rebuilt;
 *   proof_timeout or out of memory: rebuilt with smaller segments;
 * - failed with a verdict against the tape (src/core/verdicts.ts): zero_score_not_allowed for a
 *   non-zero score is a lie (rebuilt for another prover); a guest refusal (proof_error) or an
 *   unknown code asks another prover, and ends the job only when a second prover agrees.
 */
export function onPoll(
  job: Job,
  outcome: PollOutcome,
  now: number,
  cfg: LifecycleConfig,
): { job: Job; next: AfterPoll } {
  if (job.status !== "proving") return { job, next: { kind: "done" } };
  const polled = {
    ...job,
    attempts: { ...job.attempts, polls: job.attempts.polls + 1 },
    prover: { ...job.prover, lastPolledAt: now },
    updatedAt: now,
  };
  const done = (j: Job) => ({ job: j, next: { kind: "done" } as const });
  switch (outcome.kind) {
    case "pending":
      return {
        job: {
          ...polled,
          detail:
            outcome.status === "running"
              ? "The prover is proving the tape."
              : "The prover accepted the tape; waiting for it to start.",
          prover: {
            ...polled.prover,
            status: outcome.status,
            consecutivePollFailures: 0,
            firstFailedPollAt: null,
            lastError: null,
          },
        },
        next: { kind: "wait" },
      };
    case "transient": {
      const since = polled.prover.firstFailedPollAt ?? now;
      const failing = {
        ...polled,
        detail: `Could not read the proof's status (${outcome.error.code}); will try again.`,
        prover: {
          ...polled.prover,
          consecutivePollFailures: polled.prover.consecutivePollFailures + 1,
          firstFailedPollAt: since,
          lastError: outcome.error,
        },
      };
      if (now - since <= cfg.stallWindowMs) return { job: failing, next: { kind: "wait" } };
      return done(
        rebuild(
          failing,
          {
            code: "prover_stalled",
            message: `Every status read of the prover job failed for ${now - since} ms (last: ${outcome.error.code}).`,
          },
          now,
          cfg,
          { cleanup: true },
        ),
      );
    }
    case "succeeded":
      return {
        job: {
          ...polled,
          prover: {
            ...polled.prover,
            status: "succeeded",
            consecutivePollFailures: 0,
            firstFailedPollAt: null,
            lastError: null,
          },
        },
        next: { kind: "store" },
      };
    case "failed": {
      // The prover's job is over: tell it to forget it (it keeps finished jobs, at most max_jobs).
      const failed = abandonProverJob(
        {
          ...polled,
          prover: { ...polled.prover, status: "failed" as const, lastError: outcome.error },
        },
        outcome.error.code,
        now,
        cfg,
      );
      const why = `The prover failed the proof: ${outcome.error.message} (${outcome.error.code}).`;
      const action = failureAction(outcome.error);
      const url = job.prover.url ?? "";
      if (action === "zero_score") {
        if (!tapeProvable(job.tape)) {
          const message = `${why} This gateway reads the tape's score as 0 too.`;
          return done(fail(failed, { code: "prover_rejected", message }, now));
        }
        const cause = {
          code: "prover_lied",
          message: `${why} The tape's final score is ${job.tape.finalScore}: that verdict is false.`,
        };
        return done(onLie(failed, url, outcome.error.code, cause, now, cfg));
      }
      if (action === "guest_refused" || action === "unknown")
        return done(onRefusal(failed, url, outcome.error, why, now, cfg));
      return done(
        rebuild(failed, { code: outcome.error.code, message: why }, now, cfg, {
          smaller: action === "rebuild_smaller",
        }),
      );
    }
    case "lost":
      return done(
        rebuild(
          polled,
          {
            code: "prover_job_lost",
            message: "The prover no longer knows this job (it restarted or swept it).",
          },
          now,
          cfg,
        ),
      );
  }
}

/**
 * Checks a finished proof against the tape it was made from. Returns the reason it is not
 * a valid proof for this tape, or null when every journal field agrees.
 */
export function journalMismatch(
  tape: TapeInfo,
  journal: Journal | null,
  rulesDigest: number,
): string | null {
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
  return wrong.length === 0
    ? null
    : `journal ${wrong.map((k) => `${k} is ${journal[k]}, expected ${want[k]}`).join("; ")}`;
}

/**
 * The prover claimed success with a result that is not a proof of this tape: a lie
 * (src/core/verdicts.ts), rebuilt for another prover (and that prover job deleted).
 */
export function onResultInvalid(job: Job, reason: string, now: number, cfg: LifecycleConfig): Job {
  if (job.status !== "proving") return job;
  const message = `The prover's result does not match the tape: ${reason}.`;
  const cause = { code: "result_mismatch", message };
  return onLie(job, job.prover.url ?? "", "result_mismatch", cause, now, cfg, { cleanup: true });
}

/**
 * What is wrong with a finished proof's receipt, or null when it may be stored: with
 * VERIFY_RECEIPTS=groth16 the receipt must verify and commit exactly this tape's journal.
 */
export function receiptProblem(
  job: Job,
  outcome: Extract<PollOutcome, { kind: "succeeded" }>,
  cfg: Pick<LifecycleConfig, "verifyReceipts">,
): string | null {
  if (cfg.verifyReceipts === "off") return null;
  const check = outcome.receipt;
  if (!check) return "its receipt was not verified";
  if (!check.ok) return check.reason;
  const wrong = journalMismatch(job.tape, check.journal, RULES_DIGEST_AST3);
  return wrong ? `the receipt commits another journal (${wrong})` : null;
}

/**
 * The prover claimed success with a receipt that does not verify (a forgery, a dev-mode fake, a
 * broken box): a lie, which quarantines that prover at once. Nothing is stored; the job is rebuilt
 * for another prover and that prover job deleted.
 */
export function onReceiptInvalid(job: Job, reason: string, now: number, cfg: LifecycleConfig): Job {
  if (job.status !== "proving") return job;
  const cause = {
    code: "receipt_invalid",
    message: `The prover's receipt does not verify: ${reason}.`,
  };
  return onLie(job, job.prover.url ?? "", "receipt_invalid", cause, now, cfg, { cleanup: true });
}

/**
 * The verified result is in R2: the job succeeded. The prover's finished job is deleted there
 * (the prover keeps finished jobs for a day, at most `max_jobs`, then answers 429 at_capacity).
 */
export function onResultStored(
  job: Job,
  result: ResultSummary,
  now: number,
  cfg: LifecycleConfig,
): Job {
  if (job.status !== "proving") return job;
  return {
    ...abandonProverJob(job, "result_stored", now, cfg),
    status: "succeeded",
    detail: "The proof is ready.",
    result,
    error: null,
    finishedAt: now,
    updatedAt: now,
  };
}

/**
 * The proof is in and verified, but writing it to R2 failed: the job is not done until it is
 * stored, so it keeps `proving` and the next poll (the prover still has the proof) stores it.
 */
export function onResultStoreFailed(job: Job, message: string, now: number): Job {
  if (job.status !== "proving") return job;
  return {
    ...job,
    detail: "The proof is done; storing it failed and will be retried.",
    prover: { ...job.prover, lastError: { code: "result_store_failed", message } },
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

/**
 * Inside one alarm invocation: poll again after a sleep while the per-alarm budget allows,
 * else re-arm the alarm. Never sleeps past a deadline, so deadlines are enforced on time.
 */
export function nextPoll(
  job: Job,
  alarmStartedAt: number,
  now: number,
  cfg: LifecycleConfig,
): { sleepMs: number } | { alarmAt: number } {
  // Clean-ups wait for the next alarm invocation: it runs them before it polls.
  const at = Math.min(now + pollWait(job, now, cfg), nextDeadline(job));
  if (at - alarmStartedAt <= cfg.pollBudgetMs) return { sleepMs: Math.max(0, at - now) };
  return { alarmAt: at };
}

/**
 * The pause before a proving job's next status read: adaptive (src/core/speed.ts), closing in on
 * the end its prover's measured speed predicts, within PROVER_POLL_MIN_INTERVAL_MS and
 * PROVER_POLL_INTERVAL_MS.
 */
export const pollWait = (job: Job, now: number, cfg: LifecycleConfig) =>
  pollWaitMs(
    // Nothing measured to expect: the proof may end any time, so reads spread out from its
    // acceptance (floor, 2×, 4× … up to the ceiling) rather than trust a guess.
    job.prover.expectedEndAt ?? job.prover.acceptedAt ?? null,
    job.prover.consecutivePollFailures > 0,
    now,
    cfg,
  );

/** The earliest deadline after which `expire` acts (+1: a job at its deadline is inside). */
function nextDeadline(job: Job): number {
  return Math.min(job.wallDeadlineAt, job.prover.pollDeadlineAt ?? Infinity) + 1;
}

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

/** The watchdog of a job that waits in line looks at most this many DISPATCH_WATCHDOG_MS apart. */
export const WATCHDOG_MAX_SPACING = 16;

/**
 * When the watchdog of a queued job looks for it: `DISPATCH_WATCHDOG_MS` after it last moved
 * (was accepted, delivered, submitted, rebuilt, re-sent). Once it has been found waiting in line
 * (the dispatcher will send it when a prover is free, and re-sends a grant whose message was
 * lost: see `holderCheck`), the checks spread out: each waits as long as the job had waited at
 * the last one (so 1, 2, 4, 8 … intervals after it moved), at most WATCHDOG_MAX_SPACING
 * intervals apart. A long line thus costs the dispatcher a few calls per job, not one per
 * interval. Null when the job is not queued.
 */
export function watchdogAt(job: Job, cfg: LifecycleConfig): number | null {
  if (job.status !== "queued") return null;
  const w = cfg.dispatchWatchdogMs;
  const checked = job.watchdogCheckedAt;
  if (checked === null || checked < job.updatedAt) return job.updatedAt + w;
  const waited = checked - job.updatedAt;
  return checked + Math.min(WATCHDOG_MAX_SPACING * w, Math.max(w, waited));
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

/**
 * The one alarm a job's Durable Object keeps armed, derived from stored state:
 * - queued: the dispatch watchdog (`watchdogAt`), never later than the wall-time cap;
 * - proving: the next poll;
 * - terminal: clean-up once the retention period has passed;
 * and never later than the next pending prover clean-up.
 */
export function alarmAt(job: Job, now: number, cfg: LifecycleConfig): number {
  const cleanup = nextCleanupAt(job);
  if (isTerminal(job.status))
    return Math.min(cleanup, (job.finishedAt ?? now) + cfg.completedJobRetentionMs);
  if (job.status === "queued") return Math.min(cleanup, nextDeadline(job), watchdogAt(job, cfg)!);
  return Math.min(cleanup, now + pollWait(job, now, cfg), nextDeadline(job));
}

/**
 * The alarm a polling invocation sets for itself as it starts: if it dies mid-loop, polling
 * resumes after it. Past the loop's own end (its budget plus one last request), so it never
 * fires while the loop is still running.
 */
export function crashWatchdogAt(alarmStartedAt: number, cfg: LifecycleConfig): number {
  return alarmStartedAt + cfg.pollBudgetMs + cfg.requestTimeoutMs + 1_000;
}

/** How long the submit lock outlives the longest submit request (R2 read and saving included). */
export const SUBMIT_LOCK_MARGIN_MS = 10_000;

/** Until when a delivery that starts submitting now holds the job's submit lock. */
export function submitLockUntil(now: number, cfg: LifecycleConfig): number {
  return now + cfg.requestTimeoutMs + SUBMIT_LOCK_MARGIN_MS;
}

/** Whether another delivery holds the submit lock (`lockUntil`: the stored lock, or null). */
export const isLocked = (lockUntil: number | null, now: number) =>
  lockUntil !== null && lockUntil > now;

/** A delivery that found the lock held comes back once the lock must have been dropped. */
export function lockedRetry(lockUntil: number, now: number): MessageAction {
  return { ack: false, retryDelaySeconds: Math.ceil((lockUntil - now) / 1000) };
}

/** Whether an ended job's Durable Object may be cleared: retention over, no clean-up pending. */
export function retentionOver(job: Job, now: number, cfg: LifecycleConfig): boolean {
  return (
    isTerminal(job.status) &&
    job.cleanup.length === 0 &&
    now >= (job.finishedAt ?? now) + cfg.completedJobRetentionMs
  );
}
