import { HELD_UNTIL_DELETED, record, settle, type Effect, type Step } from "../effects.ts";
import { isTerminal, type Job } from "../job.ts";
import { alarmAt, crashWatchdogAt, isLocked, retentionOver, watchdogAt } from "../job-timing.ts";
import { expire, onWatchdog, type LifecycleConfig, type Whereabouts } from "../lifecycle.ts";
import { onCleanup, type CleanupOutcome } from "../prover-cleanup.ts";

/**
 * An alarm invocation's steps around its polls: the due prover clean-ups, what the job needs
 * (cleared, looked for, polled), the dispatch watchdog, and the end that re-arms the alarm.
 */

/**
 * One prover clean-up answered (the alarm sends the due ones first). Saved, no alarm change. The
 * deletion of a proof a cancelled or timed-out job left running tells the dispatcher, which
 * holds that prover until the proof ends, what the prover said (`proofEnded`).
 */
export function cleanedUp(
  current: Job,
  entry: Job["cleanup"][number],
  outcome: CleanupOutcome,
  now: number,
  cfg: LifecycleConfig,
): Step {
  const stored =
    current.cleanup.find((e) => e.proverJobId === entry.proverJobId && e.url === entry.url) ??
    entry;
  const job = onCleanup(current, stored, outcome, now, cfg.pollIntervalMs);
  const line = {
    event: "prover_cleanup",
    jobId: current.jobId,
    proverJobId: entry.proverJobId,
    reason: entry.reason,
    outcome,
    tries: entry.tries + 1,
  };
  const effects: Effect[] = [
    ...record(current, job, "cleanup"),
    { kind: "log", level: "info", line },
  ];
  if (HELD_UNTIL_DELETED.has(entry.reason)) {
    const kept = job.cleanup.some(
      (e) => e.proverJobId === entry.proverJobId && e.url === entry.url,
    );
    const said =
      outcome === "deleted" || outcome === "gone" || !kept
        ? "ended"
        : outcome === "active"
          ? "alive"
          : "unreachable";
    effects.push({ kind: "proofEnded", url: entry.url, outcome: said });
  }
  return { job, effects };
}

export type AlarmStep = Step & {
  next:
    /** Nothing more in this invocation. */
    | { kind: "end" }
    /**
     * Ask the dispatcher where this waiting job is (unless the lock says it is being submitted),
     * then `watchdogFound`.
     */
    | { kind: "watchdog"; job: Job }
    /**
     * Poll the prover job (`job.prover`), then `polled`; the crash-watchdog alarm is among the
     * effects.
     */
    | { kind: "poll"; job: Job }
    /** The job needs nothing now: `alarmEnds`. */
    | { kind: "settle"; job: Job };
};

/**
 * An alarm invocation, after the due clean-ups: an ended job is cleared once its retention is
 * over; a queued job nothing moved for DISPATCH_WATCHDOG_MS is looked for; a proving job is polled.
 */
export function alarmBegins(
  stored: Job,
  alarmStartedAt: number,
  now: number,
  cfg: LifecycleConfig,
): AlarmStep {
  if (isTerminal(stored.status)) {
    if (retentionOver(stored, now, cfg))
      return { job: null, effects: [{ kind: "forget" }], next: { kind: "end" } };
    return {
      job: stored,
      effects: [{ kind: "alarm", at: alarmAt(stored, now, cfg), onlyIfNone: false }],
      next: { kind: "end" },
    };
  }
  const job = expire(stored, now, cfg);
  if (job.status === "queued" && now >= watchdogAt(job, cfg)!)
    return { job, effects: [], next: { kind: "watchdog", job } };
  return afterWatchdog(job, alarmStartedAt, cfg);
}

/** Whether the alarm loop polls this job (again): it is proving on a prover job it knows. */
export const pollsAgain = (job: Job) =>
  job.status === "proving" && job.prover.jobId !== null && job.prover.url !== null;

/** What the alarm does once the watchdog (if any) has looked: poll a proving job, else settle. */
export function afterWatchdog(job: Job, alarmStartedAt: number, cfg: LifecycleConfig): AlarmStep {
  if (pollsAgain(job)) {
    return {
      job,
      effects: [{ kind: "alarm", at: crashWatchdogAt(alarmStartedAt, cfg), onlyIfNone: false }],
      next: { kind: "poll", job },
    };
  }
  return { job, effects: [], next: { kind: "settle", job } };
}

export interface WatchdogStep {
  job: Job;
  /** Send the job through the queue; if that fails, carry on with `ifSendFails` instead. */
  resend: { ifSendFails: Job; line: Record<string, unknown> } | null;
}

/**
 * The watchdog found a queued job `where`. Neither in line nor being submitted: its message was
 * lost (or the runtime died before delivering it), so it is sent again; deliveries are
 * idempotent, so a message that was only slow does no harm. A failed send looks again one
 * interval later.
 */
export function watchdogFound(job: Job, where: Whereabouts, now: number): WatchdogStep {
  const checked = onWatchdog(job, where, now);
  if (!checked.redispatch) return { job: checked.job, resend: null };
  const line = {
    event: "watchdog_redispatch",
    jobId: job.jobId,
    attempt: job.attempt,
    where,
    idleMs: now - job.updatedAt,
  };
  return { job: checked.job, resend: { ifSendFails: { ...job, watchdogCheckedAt: now }, line } };
}

/** Where the watchdog looks when the lock is held: being submitted right now. */
export const whereLocked = (lockUntil: number | null, now: number): Whereabouts | null =>
  isLocked(lockUntil, now) ? "submitting" : null;

/** The end of an alarm invocation: save what it changed and re-arm the alarm from the new state. */
export function alarmEnds(stored: Job, job: Job, now: number, cfg: LifecycleConfig): Effect[] {
  return settle(stored, job, "alarm", now, cfg, true);
}
