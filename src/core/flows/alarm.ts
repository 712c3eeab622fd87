import type { Config } from "../config.ts";
import type { Job } from "../job.ts";
import { afterWatchdog, alarmBegins, alarmEnds, cleanedUp, pollsAgain } from "../steps/alarm.ts";
import { polled } from "../steps/poll.ts";
import { expire, type LifecycleConfig, type PollOutcome } from "../lifecycle.ts";
import { dueCleanups } from "../prover-cleanup.ts";
import { ask, load, now, perform, rearm, unchanged, type Flow } from "./io.ts";
import { savesFirst } from "./perform.ts";
import { storeFlow } from "./result.ts";
import { watchdog } from "./watchdog.ts";

/** The vars the alarm reads: the lifecycle's, and how receipts are verified. */
export type AlarmConfig = LifecycleConfig & Pick<Config, "proverExpectedImageId">;

/**
 * `alarm`: tells the prover to forget abandoned jobs, then, by the job's state, clears an ended
 * job after its retention, looks for a queued one that nothing moved (the dispatch watchdog), or
 * polls a proving one within the per-alarm budget (and stores its proof once it is in).
 */
export function* alarmFlow(cfg: AlarmConfig): Flow<void> {
  const startedAt = yield* now();
  const first = yield* load();
  if (!first) return;
  const { jobId } = first;
  for (const entry of dueCleanups(first, startedAt)) {
    const { url, proverJobId } = entry;
    const outcome = yield* ask({ kind: "deleteProverJob", url, proverJobId });
    const current = yield* load();
    if (!current) return;
    yield* perform(jobId, cleanedUp(current, entry, outcome, yield* now(), cfg).effects);
  }
  let stored = yield* load();
  if (!stored) return;
  let at = yield* now();
  let step = alarmBegins(stored, startedAt, at, cfg);
  yield* perform(jobId, step.effects);
  if (step.next.kind === "watchdog") {
    const found = yield* watchdog(stored, step.next.job, at);
    // The job moved while the dispatcher or the queue answered: that step re-armed its alarm.
    if (!found) return yield* rearm(jobId, cfg);
    step = afterWatchdog(found, startedAt, cfg);
    yield* perform(jobId, step.effects);
  }
  if (step.next.kind === "end") return;
  let job = step.next.job;
  while (step.next.kind === "poll" && pollsAgain(job)) {
    const outcome = yield* pollProver(job, cfg);
    at = yield* now();
    const current = yield* load();
    if (!current) return; // deleted meanwhile: nothing left to do
    stored = current;
    const poll = polled(stored, outcome, startedAt, at, cfg);
    // The write, then the poll applied again to the job as it then is (`storeFlow`).
    if (poll.next.kind === "store") {
      return yield* storeFlow(stored, outcome, poll.next.document, at, startedAt, cfg);
    }
    if (poll.next.kind === "settle") {
      // The job left `proving`: saved at once, before the dispatcher is told anything.
      const ends = alarmEnds(stored, poll.job!, at, cfg);
      return yield* perform(jobId, savesFirst([...poll.effects, ...ends]));
    }
    yield* perform(jobId, savesFirst(poll.effects));
    if (poll.next.kind === "rearmed") return;
    yield* ask({ kind: "sleep", ms: poll.next.ms });
    at = yield* now();
    const woken = yield* load();
    if (!woken) return;
    stored = woken;
    job = expire(stored, at, cfg);
  }
  // Only the job's own storage was awaited since `stored` was read (the watchdog checked its
  // own awaits): still, nothing is saved over a change.
  if (!(yield* unchanged(stored))) return yield* rearm(jobId, cfg);
  yield* perform(jobId, alarmEnds(stored, job, at, cfg));
}

/** One status read of a proving job; a finished proof's receipt verified when the config says. */
function* pollProver(job: Job, cfg: AlarmConfig): Flow<PollOutcome> {
  const outcome = yield* ask({
    kind: "status",
    url: job.prover.url!,
    proverJobId: job.prover.jobId!,
  });
  if (outcome.kind !== "succeeded" || cfg.verifyReceipts !== "groth16") return outcome;
  const imageId = cfg.proverExpectedImageId!;
  const receipt = yield* ask({ kind: "verify", document: outcome.document, imageId });
  return { ...outcome, receipt };
}
