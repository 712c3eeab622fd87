import type { Job } from "./job.ts";
import { startsNewAttempt } from "./lifecycle.ts";

/**
 * What a tape arriving for a job does, from the job as it stands (its deadlines applied): the one
 * decision behind a player's `POST /api/proofs/jobs` (src/http/intake.ts, src/objects/job-intake.ts),
 * the intake step of the job (`create`, src/core/job-steps.ts) and an operator's redrive
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
