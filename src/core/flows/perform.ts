import type { Effect } from "../effects.ts";
import type { Job } from "../job.ts";
import { ask, load, type Flow } from "./io.ts";

/** Effects that put the job back in the dispatcher's line. */
const BACK_IN_LINE: ReadonlySet<Effect["kind"]> = new Set(["requeue", "busy", "submitFailed"]);

/** Whether the job is queued (in attempt `attempt`, when given). */
const waits = (job: Job | null, attempt: number | null) =>
  job?.status === "queued" && (attempt === null || job.attempt === attempt);

/**
 * How the shell performs one step's effects (a `perform` request): in order, each one an
 * `effect` request with the failure rule src/core/effects.ts states. Back in line only while the
 * job still waits there: a cancel that landed during an earlier effect's await has released it,
 * and a stale requeue would hand it a prover. Every saved change then reaches the job's sockets.
 */
export function* performEffects(jobId: string, effects: Effect[]): Flow<void> {
  let attempt: number | null = null;
  for (const effect of effects) {
    if (effect.kind === "save") attempt = effect.job.attempt;
    if (BACK_IN_LINE.has(effect.kind) && !waits(yield* load(), attempt)) {
      const line = { event: "back_in_line_skipped", jobId, effect: effect.kind };
      yield* ask({ kind: "effect", jobId, effect: { kind: "log", level: "info", line } });
      continue;
    }
    yield* ask({ kind: "effect", jobId, effect });
  }
  if (effects.some((e) => e.kind === "save")) yield* ask({ kind: "broadcast" });
}

/** The job's saves first, the rest in order: nothing is awaited between a read and its save. */
export const savesFirst = (effects: Effect[]): Effect[] => [
  ...effects.filter((e) => e.kind === "save"),
  ...effects.filter((e) => e.kind !== "save"),
];
