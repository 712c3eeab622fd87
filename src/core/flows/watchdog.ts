import type { Job } from "../job.ts";
import { watchdogFound, whereLocked, type WatchdogStep } from "../steps/alarm.ts";
import type { Whereabouts } from "../lifecycle.ts";
import { ask, lock, log, unchanged, type Flow } from "./io.ts";

/**
 * Where a waiting job is, for its watchdog; it is sent again if it was lost. `job` is `base`
 * (as stored) with its deadlines applied. Null when the job changed while the dispatcher or the
 * queue answered: what was found is about a job that is no longer there.
 */
export function* watchdog(base: Job, job: Job, at: number): Flow<Job | null> {
  let where: Whereabouts | null = whereLocked(yield* lock(), at);
  if (where === null) {
    try {
      where = yield* ask({ kind: "whereIs", jobId: job.jobId });
    } catch {
      where = "absent"; // the delivery will ask the dispatcher again
    }
  }
  if (!(yield* unchanged(base))) return null;
  const found = yield* resend(watchdogFound(job, where, at));
  return (yield* unchanged(base)) ? found : null;
}

/** Sends the job through the queue when the watchdog step says so; the job as it then stands. */
export function* resend(found: WatchdogStep): Flow<Job> {
  if (!found.resend) return found.job;
  const { jobId, attempt } = found.job;
  try {
    yield* ask({ kind: "enqueue", jobId, attempt });
  } catch (e) {
    yield* log(jobId, "error", { event: "watchdog_send_failed", jobId, error: String(e) });
    return found.resend.ifSendFails;
  }
  yield* log(jobId, "info", found.resend.line);
  return found.job;
}
