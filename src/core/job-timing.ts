import { isTerminal, type Job } from "./job.ts";
import type { LifecycleConfig, MessageAction } from "./lifecycle.ts";
import { nextCleanupAt } from "./prover-cleanup.ts";
import { pollWaitMs } from "./speed.ts";

/**
 * When a job's next thing happens: its polls inside and across alarm invocations, its dispatch
 * watchdog, its one alarm, its submit lock and the end of its retention. Pure functions of the
 * job, the clock and the config.
 */

/**
 * Inside one alarm invocation: poll again after a sleep while the per-alarm budget allows,
 * else re-arm the alarm. Never sleeps past a deadline, so deadlines are enforced on time.
 */
export function nextPoll(
  job: Job,
  alarmStartedAt: number,
  now: number,
  cfg: LifecycleConfig,
): { sleepMs: number } | { alarmAt: number } {
  // Clean-ups wait for the next alarm invocation: it runs them before it polls.
  const at = Math.min(now + pollWait(job, now, cfg), nextDeadline(job));
  if (at - alarmStartedAt <= cfg.pollBudgetMs) return { sleepMs: Math.max(0, at - now) };
  return { alarmAt: at };
}

/**
 * The pause before a proving job's next status read: adaptive (src/core/speed.ts), closing in on
 * the end its prover's measured speed predicts, within PROVER_POLL_MIN_INTERVAL_MS and
 * PROVER_POLL_INTERVAL_MS.
 */
export const pollWait = (job: Job, now: number, cfg: LifecycleConfig) =>
  pollWaitMs(
    // Nothing measured to expect: the proof may end any time, so reads spread out from its
    // acceptance (floor, 2×, 4× … up to the ceiling) rather than trust a guess.
    job.prover.expectedEndAt ?? job.prover.acceptedAt ?? null,
    job.prover.consecutivePollFailures > 0,
    now,
    cfg,
  );

/** The earliest deadline after which `expire` acts (+1: a job at its deadline is inside). */
function nextDeadline(job: Job): number {
  return Math.min(job.wallDeadlineAt, job.prover.pollDeadlineAt ?? Infinity) + 1;
}

/** The watchdog of a job that waits in line looks at most this many DISPATCH_WATCHDOG_MS apart. */
export const WATCHDOG_MAX_SPACING = 16;

/**
 * When the watchdog of a queued job looks for it: `DISPATCH_WATCHDOG_MS` after it last moved
 * (was accepted, delivered, submitted, rebuilt, re-sent). Once it has been found waiting in line
 * (the dispatcher will send it when a prover is free, and re-sends a grant whose message was
 * lost: see `holderCheck`), the checks spread out: each waits as long as the job had waited at
 * the last one (so 1, 2, 4, 8 … intervals after it moved), at most WATCHDOG_MAX_SPACING
 * intervals apart. A long line thus costs the dispatcher a few calls per job, not one per
 * interval. Null when the job is not queued.
 */
export function watchdogAt(job: Job, cfg: LifecycleConfig): number | null {
  if (job.status !== "queued") return null;
  const w = cfg.dispatchWatchdogMs;
  const checked = job.watchdogCheckedAt;
  if (checked === null || checked < job.updatedAt) return job.updatedAt + w;
  const waited = checked - job.updatedAt;
  return checked + Math.min(WATCHDOG_MAX_SPACING * w, Math.max(w, waited));
}

/**
 * The one alarm a job's Durable Object keeps armed, derived from stored state:
 * - queued: the dispatch watchdog (`watchdogAt`), never later than the wall-time cap;
 * - proving: the next poll;
 * - terminal: clean-up once the retention period has passed;
 * and never later than the next pending prover clean-up.
 */
export function alarmAt(job: Job, now: number, cfg: LifecycleConfig): number {
  const cleanup = nextCleanupAt(job);
  if (isTerminal(job.status))
    return Math.min(cleanup, (job.finishedAt ?? now) + cfg.completedJobRetentionMs);
  if (job.status === "queued") return Math.min(cleanup, nextDeadline(job), watchdogAt(job, cfg)!);
  return Math.min(cleanup, now + pollWait(job, now, cfg), nextDeadline(job));
}

/**
 * The alarm a polling invocation sets for itself as it starts: if it dies mid-loop, polling
 * resumes after it. Past the loop's own end (its budget plus one last request), so it never
 * fires while the loop is still running.
 */
export function crashWatchdogAt(alarmStartedAt: number, cfg: LifecycleConfig): number {
  return alarmStartedAt + cfg.pollBudgetMs + cfg.requestTimeoutMs + 1_000;
}

/** How long the submit lock outlives the longest submit request (R2 read and saving included). */
export const SUBMIT_LOCK_MARGIN_MS = 10_000;

/** Until when a delivery that starts submitting now holds the job's submit lock. */
export function submitLockUntil(now: number, cfg: LifecycleConfig): number {
  return now + cfg.requestTimeoutMs + SUBMIT_LOCK_MARGIN_MS;
}

/** Whether another delivery holds the submit lock (`lockUntil`: the stored lock, or null). */
export const isLocked = (lockUntil: number | null, now: number) =>
  lockUntil !== null && lockUntil > now;

/** A delivery that found the lock held comes back once the lock must have been dropped. */
export function lockedRetry(lockUntil: number, now: number): MessageAction {
  return { ack: false, retryDelaySeconds: Math.ceil((lockUntil - now) / 1000) };
}

/** Whether an ended job's Durable Object may be cleared: retention over, no clean-up pending. */
export function retentionOver(job: Job, now: number, cfg: LifecycleConfig): boolean {
  return (
    isTerminal(job.status) &&
    job.cleanup.length === 0 &&
    now >= (job.finishedAt ?? now) + cfg.completedJobRetentionMs
  );
}
