import type { Job } from "./job.ts";
import type { NewAttemptInput } from "./steps/intake.ts";
import type { JobView } from "./view.ts";
import { startsNewAttempt } from "./lifecycle.ts";

/**
 * What a tape arriving for a job does, from the job as it stands (its deadlines applied): the one
 * decision behind a player's `POST /api/proofs/jobs` (src/http/intake.ts, src/core/flows/intake.ts),
 * the intake step of the job (`create`, src/core/steps/intake.ts) and an operator's redrive
 * (src/http/admin.ts). Pure.
 */
export type IntakeDecision =
  /**
   * No job: a new one, unless a kept proof answers for the tape (its record cleared after its
   * retention, its result still in R2).
   */
  | { kind: "new_job" }
  /** The job failed or was cancelled: the tape starts its next attempt. */
  | { kind: "new_attempt"; job: Job }
  /** Queued, proving or succeeded: the job answers as it is, nothing new starts. */
  | { kind: "existing"; job: Job };

export function decideIntake(job: Job | null): IntakeDecision {
  if (!job) return { kind: "new_job" };
  return startsNewAttempt(job) ? { kind: "new_attempt", job } : { kind: "existing", job };
}

/** Whether the decision starts an attempt (and so counts against the posting client). */
export const startsAttempt = (d: IntakeDecision) => d.kind !== "existing";

/** A tape arriving for its job: a player's POST, or an operator's redrive of the stored tape. */
export interface IntakeInput extends NewAttemptInput {
  /** The posting client's key (null: an operator; the attempt keeps the job's client). */
  client: string | null;
  claimant: string | null;
  /** MAX_WAITING_PER_CLIENT as the front door read it (null: counted, never refused). */
  cap: number | null;
  /**
   * Whether the front door stored the tape in R2 (it does before asking: the tape is durable
   * before any attempt exists). Not stored: only an existing job or a kept proof can answer.
   */
  tapeStored: boolean;
}

/** A client's place for a new attempt (its ClientQuota, src/objects/client-quota.ts). */
export type Reservation = { ok: true } | { ok: false; live: number };

export type IntakeResult =
  /** Queued, proving or succeeded (also: created meanwhile by an identical post): 200. */
  | { kind: "existing"; job: Job; view: JobView | null }
  /** Proved before, its record since cleared: the kept proof answers (200). */
  | { kind: "kept"; view: JobView }
  /** A new job, or a new attempt after failed/cancelled: 202 with the cancel token. */
  | { kind: "created"; job: Job; view: JobView | null }
  /** The client already has `live` attempts not ended (429 too_many_waiting). */
  | { kind: "too_many_waiting"; live: number }
  /** It would start an attempt, but the tape is not stored: nothing accepted (503). */
  | { kind: "tape_not_stored" }
  /** The queue refused the new attempt: nothing kept, its place given back (503). */
  | { kind: "enqueue_failed"; message: string };
