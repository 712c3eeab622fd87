import type { Config } from "./config.ts";
import type { Job, ProverCleanup } from "./job.ts";

/**
 * Telling the prover to forget jobs the gateway abandoned. The prover answers
 * `DELETE /api/jobs/{id}` with 409 `job_active` until the proof ends (it cannot stop a running
 * proof), so a cleanup is retried with backoff until it succeeds, the prover no longer knows
 * the job, or the prover's own limit must have ended it (`until`). Best effort: a cleanup
 * never holds a job back.
 */

export type CleanupConfig = Pick<Config, "pollTimeoutMs">;

/** What `DELETE /api/jobs/{id}` said. */
export type CleanupOutcome = "deleted" | "gone" | "active" | "error";

export const MAX_BACKOFF_MS = 60_000;

export function addCleanup(
  job: Job,
  c: { url: string; proverJobId: string; reason: string },
  now: number,
  cfg: CleanupConfig,
): Job {
  if (job.cleanup.some((e) => e.proverJobId === c.proverJobId && e.url === c.url)) return job;
  // The prover ends any proof by its own timeout; a proof started after acceptance cannot run
  // longer than the poll deadline the gateway gave it, so that bounds the retries too.
  const entry: ProverCleanup = { ...c, nextAt: now, until: now + cfg.pollTimeoutMs, tries: 0 };
  return { ...job, cleanup: [...job.cleanup, entry], updatedAt: now };
}

/** The job gives up its current prover job (if the prover has one): schedule its deletion. */
export function abandonProverJob(job: Job, reason: string, now: number, cfg: CleanupConfig): Job {
  const { url, jobId } = job.prover;
  return url && jobId ? addCleanup(job, { url, proverJobId: jobId, reason }, now, cfg) : job;
}

/** Cleanups whose time has come. */
export const dueCleanups = (job: Job, now: number) => job.cleanup.filter((e) => e.nextAt <= now);

/**
 * Applies the prover's answer to one cleanup: done, or tried again later (doubling, from
 * `firstDelayMs`).
 */
export function onCleanup(
  job: Job,
  entry: ProverCleanup,
  outcome: CleanupOutcome,
  now: number,
  firstDelayMs: number,
): Job {
  const rest = job.cleanup.filter(
    (e) => e !== entry && !(e.proverJobId === entry.proverJobId && e.url === entry.url),
  );
  if (outcome === "deleted" || outcome === "gone") return { ...job, cleanup: rest, updatedAt: now };
  const tries = entry.tries + 1;
  const nextAt = now + Math.min(MAX_BACKOFF_MS, firstDelayMs * 2 ** Math.min(tries - 1, 20));
  if (nextAt > entry.until) return { ...job, cleanup: rest, updatedAt: now };
  return { ...job, cleanup: [...rest, { ...entry, tries, nextAt }], updatedAt: now };
}

/** When the next cleanup is due (Infinity when none is pending). */
export const nextCleanupAt = (job: Job) => Math.min(Infinity, ...job.cleanup.map((e) => e.nextAt));
