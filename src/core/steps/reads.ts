import { settle, type Effect, type Step } from "../effects.ts";
import { isTerminal, type Job } from "../job.ts";
import { isLocked } from "../job-timing.ts";
import { expire, type LifecycleConfig } from "../lifecycle.ts";
import { cancel, onDeadLetter } from "../ending.ts";
import { watchdogFound, type WatchdogStep } from "./alarm.ts";

/** A read, a cancel, a dead letter and the dispatcher's holder check. */

/** A read: the deadlines are applied (and saved) on every read, and a lost alarm re-armed. */
export function read(stored: Job, now: number, cfg: LifecycleConfig): Step {
  const job = expire(stored, now, cfg);
  return { job, effects: settle(stored, job, "read", now, cfg) };
}

/** Who asks to cancel: the hash of the bearer token they showed, or the admin. */
export type Canceller = { tokenHash: string | null } | { admin: true };

export const mayCancel = (job: Job, who: Canceller) =>
  "admin" in who ||
  (who.tokenHash !== null && job.cancelTokenHash !== null && who.tokenHash === job.cancelTokenHash);

export type CancelStep =
  | { kind: "forbidden"; job: Job; effects: [] }
  /** Already succeeded or failed: it stays as it is. */
  | { kind: "ended"; job: Job; effects: Effect[] }
  | { kind: "cancelled"; job: Job; effects: Effect[] };

export function cancelStep(
  stored: Job,
  who: Canceller,
  now: number,
  cfg: LifecycleConfig,
): CancelStep {
  if (!mayCancel(stored, who)) return { kind: "forbidden", job: stored, effects: [] };
  const job = expire(stored, now, cfg);
  if (job.status === "succeeded" || job.status === "failed") {
    return { kind: "ended", job, effects: settle(stored, job, "read", now, cfg) };
  }
  const cancelled = cancel(job, now, cfg);
  return {
    kind: "cancelled",
    job: cancelled,
    effects: settle(stored, cancelled, "cancel", now, cfg),
  };
}

/** The DLQ consumer: the job's deliveries ran out before the prover took it. */
export function deadLetter(stored: Job, now: number, cfg: LifecycleConfig): Step {
  const job = onDeadLetter(expire(stored, now, cfg), now);
  return { job, effects: settle(stored, job, "dead_letter", now, cfg) };
}

/** For the dispatcher's holder check: does the job still wait for, or hold, a prover? */
export const needsProver = (job: Job | null) => job !== null && !isTerminal(job.status);

/**
 * The dispatcher's holder check (a poll budget after it granted the job a prover, and every
 * poll budget after): the job still needs it while it has not ended. A job that holds its prover
 * yet is still queued and not being submitted lost the grant's queue message (or its delivery
 * failed inside the gateway): it is sent again now, so that the prover does not sit idle until
 * the job's own, spread-out watchdog looks.
 */
export function holderCheck(
  job: Job | null,
  lockUntil: number | null,
  now: number,
): { needed: boolean; resend: WatchdogStep | null } {
  if (!needsProver(job)) return { needed: false, resend: null };
  if (job!.status !== "queued" || isLocked(lockUntil, now)) return { needed: true, resend: null };
  return { needed: true, resend: watchdogFound(job!, "holding", now) };
}

/** After the holder check re-sent the job (`sent`: as it then stands): save it, re-arm. */
export const holderResent = (job: Job, sent: Job, now: number, cfg: LifecycleConfig) =>
  settle(job, sent, "holder_check", now, cfg);
