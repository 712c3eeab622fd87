import { create, createUndone, type CreateStep, type NewAttemptInput } from "../steps/intake.ts";
import type { LifecycleConfig } from "../lifecycle.ts";
import { decideIntake, type IntakeInput, type IntakeResult, type Reservation } from "../intake.ts";
import type { JobView } from "../view.ts";
import { ask, load, log, now, perform, unchanged, type Flow } from "./io.ts";
import { readFlow } from "./reads.ts";
import { viewFlow, type ViewConfig } from "./view.ts";

/** What `create` answers: the step (a new attempt, or the existing job), or the queue's refusal. */
export type CreateOutcome = CreateStep | { kind: "enqueue_failed"; message: string };

/**
 * `create`: registers a new job (or a new attempt) and sends it through the queue, or answers the
 * existing one. A queue that refuses undoes the new attempt, unless something changed it while
 * the queue answered (an admin's cancel in that window stays).
 */
export function* createFlow(input: NewAttemptInput, cfg: LifecycleConfig): Flow<CreateOutcome> {
  const at = yield* now();
  const stored = yield* load();
  const step = create(stored, input, at, cfg);
  yield* perform(input.jobId, step.effects);
  if (step.kind === "exists") return step;
  try {
    yield* ask({ kind: "enqueue", jobId: input.jobId, attempt: step.job.attempt });
  } catch (e) {
    if (yield* unchanged(step.job)) {
      yield* perform(input.jobId, createUndone(stored, yield* now(), cfg));
    }
    return { kind: "enqueue_failed", message: e instanceof Error ? e.message : String(e) };
  }
  return step;
}

/**
 * `intake`: the whole intake of a tape inside its job's object, in one call from the front door
 * (a player's POST or an operator's redrive): decide (src/core/intake.ts), let a kept proof
 * answer, take the client's place (its ClientQuota shard, not the dispatcher: the dispatcher
 * learns of the job when its queue message is delivered), create the attempt and enqueue it, and
 * return what the answer shows. A place taken is given back when the attempt is not accepted
 * after all (a failure, or the queue's refusal).
 */
export function* intakeFlow(input: IntakeInput, cfg: ViewConfig): Flow<IntakeResult> {
  const decision = decideIntake(yield* readFlow(cfg));
  if (decision.kind === "existing") {
    return { kind: "existing", job: decision.job, view: yield* bestView(cfg) };
  }
  if (decision.kind === "new_job" && (yield* ask({ kind: "archived" }))) {
    const view = yield* viewFlow(cfg);
    if (view) return { kind: "kept", view };
  }
  if (!input.tapeStored) return { kind: "tape_not_stored" };
  const { jobId } = input;
  const client =
    input.client ?? (decision.kind === "new_attempt" ? (decision.job.client ?? null) : null);
  if (client) {
    const place = yield* reservePlace(client, jobId, input.cap);
    if (!place.ok) return { kind: "too_many_waiting", live: place.live };
  }
  let created: CreateOutcome;
  try {
    created = yield* createFlow(input, cfg);
  } catch (e) {
    yield* ask({ kind: "releasePlace", client, jobId });
    throw e;
  }
  switch (created.kind) {
    case "enqueue_failed":
      yield* ask({ kind: "releasePlace", client, jobId });
      return created;
    case "exists":
      // An identical post created it meanwhile: the place is that attempt's (same job id).
      return { kind: "existing", job: created.job, view: yield* bestView(cfg) };
    case "created":
      return { kind: "created", job: created.job, view: yield* bestView(cfg) };
  }
}

/**
 * The client's place for the attempt. If its count cannot be read, the tape is let through (as
 * with the rate limiter: a player's proof matters more than a perfect count).
 */
function* reservePlace(client: string, jobId: string, cap: number | null): Flow<Reservation> {
  try {
    return yield* ask({ kind: "reservePlace", client, jobId, cap });
  } catch (e) {
    yield* log(jobId, "error", { event: "reserve_failed", jobId, error: String(e) });
    return { ok: true };
  }
}

/** The job's view for its ETA (best effort: an intake never fails for want of one). */
function* bestView(cfg: ViewConfig): Flow<JobView | null> {
  try {
    return yield* viewFlow(cfg);
  } catch {
    return null;
  }
}
