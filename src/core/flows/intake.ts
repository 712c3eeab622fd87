import { create, createUndone, type CreateStep, type NewAttemptInput } from "../steps/intake.ts";
import type { LifecycleConfig } from "../lifecycle.ts";
import { ask, load, now, perform, unchanged, type Flow } from "./io.ts";

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
