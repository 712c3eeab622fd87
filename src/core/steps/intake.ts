import { settle, type Effect } from "../effects.ts";
import type { Job, TapeInfo } from "../job.ts";
import { expire, newAttempt, newJob, type LifecycleConfig } from "../lifecycle.ts";
import { alarmAt } from "../job-timing.ts";
import { decideIntake } from "../intake.ts";

/** A tape posted: a new job, a new attempt after `failed`/`cancelled`, or the existing job. */

export interface NewAttemptInput {
  jobId: string;
  tape: TapeInfo;
  cancelTokenHash: string;
  why: "post" | "redrive";
  /** The posting client's hash (null: unknown, e.g. an operator's redrive). */
  client?: string | null;
  /**
   * The Stellar address the poster claims for (null: none). A redrive keeps the attempt's own; a
   * new post after `failed`/`cancelled` is its poster's, with or without one.
   */
  claimant?: string | null;
}

export type CreateStep =
  /** Identical bytes already have a live or succeeded job: nothing new. */
  | { kind: "exists"; job: Job; effects: Effect[] }
  /**
   * A new job, or a new attempt after failed/cancelled: after the effects, send it through the
   * queue.
   */
  | { kind: "created"; job: Job; effects: Effect[] };

export function create(
  stored: Job | null,
  input: NewAttemptInput,
  now: number,
  cfg: LifecycleConfig,
): CreateStep {
  const decision = decideIntake(stored ? expire(stored, now, cfg) : null);
  if (decision.kind === "existing") {
    const { job } = decision;
    return { kind: "exists", job, effects: settle(stored, job, "read", now, cfg) };
  }
  const existing = decision.kind === "new_attempt" ? decision.job : null;
  const client = input.client ?? existing?.client ?? null;
  const claimant =
    input.why === "redrive" ? (existing?.claimant ?? null) : (input.claimant ?? null);
  const job = existing
    ? { ...newAttempt(existing, now, cfg, input.cancelTokenHash, client), claimant }
    : { ...newJob(input.jobId, input.tape, now, cfg, input.cancelTokenHash, client), claimant };
  const reason = !existing ? "accepted" : input.why === "redrive" ? "redrive" : "new_attempt";
  return { kind: "created", job, effects: settle(stored, job, reason, now, cfg) };
}

/**
 * The queue refused the new attempt: put back what was stored, so that a retried POST starts
 * afresh.
 */
export function createUndone(stored: Job | null, now: number, cfg: LifecycleConfig): Effect[] {
  if (!stored) return [{ kind: "forget" }];
  return [
    { kind: "save", job: stored, reason: "undo" },
    { kind: "alarm", at: alarmAt(stored, now, cfg), onlyIfNone: false },
    { kind: "index", job: stored },
  ];
}
