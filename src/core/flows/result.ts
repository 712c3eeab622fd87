import type { Job, ResultDocument } from "../job.ts";
import { alarmEnds } from "../steps/alarm.ts";
import { polled } from "../steps/poll.ts";
import { storeTried } from "../steps/result.ts";
import type { LifecycleConfig, PollOutcome } from "../lifecycle.ts";
import { ask, load, log, now, perform, rearm, type Flow } from "./io.ts";
import { savesFirst } from "./perform.ts";

/** Whether two readings of a job are on the same proof: attempt, prover and prover job. */
const sameProof = (a: Job, b: Job) =>
  a.attempt === b.attempt && a.prover.url === b.prover.url && a.prover.jobId === b.prover.jobId;

/**
 * The alarm's result write: the document is written once (`If-None-Match: *`); the core decides
 * what came of it, for the job as it is once R2 has answered. Still proving this proof: the poll
 * is applied to it again (whatever changed meanwhile, a delivery counted, is kept), then the
 * write. Moved on (cancelled, ended, a new attempt): the proof is no longer this job's, and a
 * document this write put in R2 is taken back, so that it never answers for the job (after its
 * record is cleared, `archived` would).
 */
export function* storeFlow(
  base: Job,
  outcome: PollOutcome,
  document: ResultDocument,
  polledAt: number,
  startedAt: number,
  cfg: LifecycleConfig,
): Flow<void> {
  const { jobId } = base;
  const attempt = yield* ask({ kind: "writeResult", jobId, document });
  const at = yield* now();
  const current = yield* load();
  if (!current) return;
  const again = polled(current, outcome, startedAt, polledAt, cfg);
  if (again.next.kind === "store" && sameProof(current, base)) {
    const step = storeTried(again.job!, document, attempt, at, cfg);
    const ends = alarmEnds(current, step.job, at, cfg);
    return yield* perform(jobId, savesFirst([...again.effects, ...step.effects, ...ends]));
  }
  if (attempt.kind === "written" && current.status !== "succeeded") {
    try {
      yield* ask({ kind: "deleteResult", jobId });
    } catch (e) {
      yield* log(jobId, "error", { event: "result_take_back_failed", jobId, error: String(e) });
    }
    const { status } = current;
    yield* log(jobId, "info", { event: "result_discarded", jobId, attempt: base.attempt, status });
  }
  yield* rearm(jobId, cfg);
}
