import type { Job } from "../job.ts";
import {
  cancelStep,
  deadLetter,
  holderCheck,
  holderResent,
  needsProver,
  read,
  type Canceller,
} from "../steps/reads.ts";
import type { LifecycleConfig } from "../lifecycle.ts";
import { deadLetterApplies, type DeadLetter } from "../../queue/message.ts";
import { load, lock, log, now, perform, unchanged, type Flow } from "./io.ts";
import { resend } from "./watchdog.ts";

/** `get`: the job as stored, with its deadlines applied (and saved) on read; null if none. */
export function* readFlow(cfg: LifecycleConfig): Flow<Job | null> {
  const stored = yield* load();
  if (!stored) return null;
  const step = read(stored, yield* now(), cfg);
  yield* perform(stored.jobId, step.effects);
  // As it is now: the read's effects await the index and the sockets.
  return yield* load();
}

export type CancelOutcome =
  | { kind: "not_found" }
  | { kind: "forbidden" }
  | { kind: "cancelled"; job: Job }
  | { kind: "ended"; job: Job };

/** `cancel`: cancels the job if `who` may; ended jobs stay as they are. */
export function* cancelFlow(who: Canceller, cfg: LifecycleConfig): Flow<CancelOutcome> {
  const stored = yield* load();
  if (!stored) return { kind: "not_found" };
  const step = cancelStep(stored, who, yield* now(), cfg);
  yield* perform(stored.jobId, step.effects);
  return step.kind === "forbidden" ? { kind: "forbidden" } : { kind: step.kind, job: step.job };
}

/**
 * `deadLetter`: the deliveries of attempt `letter.attempt` ran out. A dead letter of another
 * attempt than the job's current one changes nothing (`deadLetterApplies`); without a letter
 * (an operator, a test) the current attempt is meant.
 */
export function* deadLetterFlow(
  letter: DeadLetter | undefined,
  cfg: LifecycleConfig,
): Flow<Job | null> {
  const stored = yield* load();
  if (!stored) return null;
  if (letter && !deadLetterApplies(stored, letter)) {
    const { jobId, attempt } = stored;
    const line = { event: "dead_letter_stale", jobId, attempt, letterAttempt: letter.attempt };
    yield* log(jobId, "info", line);
    return stored;
  }
  const step = deadLetter(stored, yield* now(), cfg);
  yield* perform(stored.jobId, step.effects);
  return step.job;
}

/**
 * `needsProver`, the dispatcher's holder check: does this job still wait for, or hold, a prover?
 * A queued holder that nothing is submitting is sent again (its grant's message was lost).
 */
export function* holderFlow(cfg: LifecycleConfig): Flow<boolean> {
  const job = yield* readFlow(cfg);
  const at = yield* now();
  const check = holderCheck(job, yield* lock(), at);
  if (!check.resend) return check.needed;
  const sent = yield* resend(check.resend);
  // What the send did is recorded only on the job it was decided for: a cancel (or anything
  // else) that landed while the queue answered stays, and the answer is the job's as it is now.
  if (!(yield* unchanged(job!))) return needsProver(yield* load());
  yield* perform(job!.jobId, holderResent(job!, sent, at, cfg));
  return check.needed;
}
