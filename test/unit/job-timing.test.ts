import { describe, expect, it } from "vitest";
import type { Job } from "../../src/core/job.ts";
import { expire, onWatchdog } from "../../src/core/lifecycle.ts";
import {
  alarmAt,
  nextPoll,
  pollWait,
  watchdogAt,
  WATCHDOG_MAX_SPACING,
} from "../../src/core/job-timing.ts";
import { cancel } from "../../src/core/ending.ts";
import { CONFIGS, T0 } from "../support/configs.ts";
import { kit } from "../support/lifecycle-kit.ts";

/**
 * When things happen: the per-alarm poll budget, the one alarm and the dispatch watchdog
 * (src/core/job-timing.ts).
 *
 * Every boundary here is derived from the parsed config, and every timing suite runs twice:
 * with the committed wrangler.jsonc vars and with the scaled-down workerd test vars. A number
 * that only happens to match one of them breaks under the other.
 */

describe.each(CONFIGS)("the per-alarm poll budget (%s)", (_name, cfg) => {
  const k = kit(cfg);
  const job = k.proving();
  const start = k.midAccept + cfg.pollIntervalMs;

  it("sleeps and polls again while the next poll stays inside the budget", () => {
    const lastInside = start + cfg.pollBudgetMs - cfg.pollIntervalMs;
    expect(nextPoll(job, start, lastInside, cfg)).toEqual({ sleepMs: cfg.pollIntervalMs });
  });
  it("re-arms the alarm once the next poll would pass the budget", () => {
    const firstOutside = start + cfg.pollBudgetMs - cfg.pollIntervalMs + 1;
    expect(nextPoll(job, start, firstOutside, cfg)).toEqual({
      alarmAt: firstOutside + cfg.pollIntervalMs,
    });
  });
  it("never sleeps past the poll deadline: the next poll lands just after it", () => {
    const deadline = job.prover.pollDeadlineAt!;
    const gap = Math.floor(cfg.pollIntervalMs / 2);
    expect(nextPoll(job, deadline - gap, deadline - gap, cfg)).toEqual({ sleepMs: gap + 1 });
    // The same poll counted against the budget: inside sleeps, outside re-arms at deadline + 1.
    expect(nextPoll(job, deadline + 1 - cfg.pollBudgetMs, deadline - gap, cfg)).toEqual({
      sleepMs: gap + 1,
    });
    expect(nextPoll(job, deadline - cfg.pollBudgetMs, deadline - gap, cfg)).toEqual({
      alarmAt: deadline + 1,
    });
  });
  it("never sleeps past the wall cap either", () => {
    // poll deadline cap + 1: the wall cap comes first
    const late = k.proving(k.cap - cfg.pollTimeoutMs + 1);
    const gap = Math.floor(cfg.pollIntervalMs / 2);
    expect(nextPoll(late, k.cap - gap, k.cap - gap, cfg)).toEqual({ sleepMs: gap + 1 });
  });
  it("a pending clean-up does not make the loop poll sooner (the next alarm runs it)", () => {
    const withCleanup = cancel(job, start, cfg);
    const stillProving = { ...withCleanup, status: "proving" as const };
    expect(stillProving.cleanup).toHaveLength(1);
    expect(nextPoll(stillProving, start, start, cfg)).toEqual({ sleepMs: cfg.pollIntervalMs });
  });
});

describe.each(CONFIGS)("the one alarm, derived from state (%s)", (_name, cfg) => {
  const k = kit(cfg);
  /** Moves the job's (only) clean-up to `at`. */
  const cleanupAt = (job: Job, at: number): Job => {
    expect(job.cleanup).toHaveLength(1);
    return { ...job, cleanup: [{ ...job.cleanup[0]!, nextAt: at }] };
  };
  /** A proving job that still has the prover job of an earlier, abandoned submission to delete. */
  const provingWithCleanup = () => {
    const rebuilt = expire(k.proving(T0), T0 + cfg.pollTimeoutMs + 1, cfg);
    return k.accept(rebuilt, T0 + cfg.pollTimeoutMs + 2, "p2");
  };

  it("queued: the dispatch watchdog DISPATCH_WATCHDOG_MS after the job last moved, whatever the time", () => {
    expect(alarmAt(k.queued(), T0, cfg)).toBe(T0 + cfg.dispatchWatchdogMs);
    expect(alarmAt(k.queued(), T0 + cfg.pollIntervalMs, cfg)).toBe(T0 + cfg.dispatchWatchdogMs);
  });
  it("queued: never later than just after the wall cap", () => {
    const late = { ...k.queued(), updatedAt: k.cap - cfg.dispatchWatchdogMs + 2 };
    expect(alarmAt(late, late.updatedAt, cfg)).toBe(k.cap + 1);
    const inTime = { ...k.queued(), updatedAt: k.cap - cfg.dispatchWatchdogMs };
    expect(alarmAt(inTime, inTime.updatedAt, cfg)).toBe(k.cap);
  });
  it("proving: the next poll while it comes before the next deadline", () => {
    const j = k.proving();
    const d = j.prover.pollDeadlineAt!;
    // Nothing measured: one floor after the acceptance, then as long as it has run, up to the ceiling.
    const floor = Math.min(cfg.pollMinIntervalMs, cfg.pollIntervalMs);
    expect(alarmAt(j, k.midAccept, cfg)).toBe(k.midAccept + floor);
    const later = k.midAccept + cfg.pollIntervalMs - 1;
    expect(alarmAt(j, later, cfg)).toBe(later + Math.max(floor, cfg.pollIntervalMs - 1));
    const long = k.midAccept + 3 * cfg.pollIntervalMs;
    expect(alarmAt(j, long, cfg)).toBe(long + cfg.pollIntervalMs);
    expect(alarmAt(j, d - cfg.pollIntervalMs, cfg)).toBe(d);
    expect(alarmAt(j, d + 1 - cfg.pollIntervalMs, cfg)).toBe(d + 1);
  });
  it("proving: just after the poll deadline once that comes first", () => {
    const j = k.proving();
    const d = j.prover.pollDeadlineAt!;
    expect(alarmAt(j, d + 2 - cfg.pollIntervalMs, cfg)).toBe(d + 1);
    expect(alarmAt(j, d, cfg)).toBe(d + 1);
  });
  it("proving: just after the wall cap when it comes before the poll deadline", () => {
    const late = k.proving(k.cap - cfg.pollTimeoutMs + 1);
    expect(alarmAt(late, k.cap - 1, cfg)).toBe(k.cap + 1);
  });
  it.each([
    ["succeeded (its prover job deleted)", () => ({ ...kit(cfg).succeeded(), cleanup: [] })],
    ["failed", () => kit(cfg).failed()],
    ["cancelled", () => kit(cfg).cancelled()],
  ] as const)("%s: clean-up after the retention period, whatever the time", (_s, make) => {
    const j = make();
    expect(j.cleanup).toEqual([]);
    expect(alarmAt(j, j.finishedAt!, cfg)).toBe(j.finishedAt! + cfg.completedJobRetentionMs);
    expect(alarmAt(j, T0, cfg)).toBe(j.finishedAt! + cfg.completedJobRetentionMs);
  });
  it("succeeded: the prover's finished job is deleted there at once, then the retention period", () => {
    const j = k.succeeded();
    expect(j.cleanup).toEqual([
      expect.objectContaining({ proverJobId: "p1", reason: "result_stored", nextAt: j.finishedAt }),
    ]);
    expect(alarmAt(j, j.finishedAt!, cfg)).toBe(j.finishedAt!);
  });
  it("a pending clean-up pulls the alarm earlier in every state, and only when it is earlier", () => {
    // queued (rebuilt): the clean-up against the wall-cap watchdog
    const rebuilt = expire(k.proving(T0), T0 + cfg.pollTimeoutMs + 1, cfg);
    expect(rebuilt.status).toBe("queued");
    expect(alarmAt(rebuilt, T0 + cfg.pollTimeoutMs + 1, cfg)).toBe(T0 + cfg.pollTimeoutMs + 1);
    const dog = Math.min(k.cap + 1, watchdogAt(rebuilt, cfg)!);
    expect(alarmAt(cleanupAt(rebuilt, dog - 1), T0, cfg)).toBe(dog - 1);
    expect(alarmAt(cleanupAt(rebuilt, dog + 1), T0, cfg)).toBe(dog);
    // proving: the clean-up against the next poll
    const p = provingWithCleanup();
    const now = T0 + cfg.pollTimeoutMs + 3;
    expect(p.status).toBe("proving");
    expect(alarmAt(p, now, cfg)).toBe(p.cleanup[0]!.nextAt);
    const next = now + pollWait(p, now, cfg);
    expect(alarmAt(cleanupAt(p, next - 1), now, cfg)).toBe(next - 1);
    expect(alarmAt(cleanupAt(p, next + 1), now, cfg)).toBe(next);
    // terminal: the clean-up against the retention period
    const c = cancel(k.proving(), k.midAccept + 1, cfg);
    const keep = c.finishedAt! + cfg.completedJobRetentionMs;
    expect(alarmAt(c, c.finishedAt!, cfg)).toBe(c.finishedAt!);
    expect(alarmAt(cleanupAt(c, keep - 1), c.finishedAt!, cfg)).toBe(keep - 1);
    expect(alarmAt(cleanupAt(c, keep + 1), c.finishedAt!, cfg)).toBe(keep);
  });
});

describe.each(CONFIGS)("the dispatch watchdog (%s)", (_name, cfg) => {
  const k = kit(cfg);
  const W = cfg.dispatchWatchdogMs;
  it("is due DISPATCH_WATCHDOG_MS after the job last moved or was last looked for, and only while queued", () => {
    const q = { ...k.queued(), updatedAt: T0 + 5 };
    expect(watchdogAt(q, cfg)).toBe(T0 + 5 + W);
    expect(watchdogAt({ ...q, watchdogCheckedAt: T0 + 10 }, cfg)).toBe(T0 + 10 + W);
    expect(watchdogAt({ ...q, watchdogCheckedAt: T0 }, cfg)).toBe(T0 + 5 + W);
    expect(watchdogAt(k.proving(), cfg)).toBeNull();
    expect(watchdogAt(cancel(q, T0 + 6, cfg), cfg)).toBeNull();
  });
  it("re-sends a job that is neither in line nor being submitted, and counts it", () => {
    const q = k.queued();
    for (const where of ["absent", "holding"] as const) {
      const r = onWatchdog(q, where, T0 + W);
      expect(r.redispatch).toBe(true);
      expect(r.job).toMatchObject({
        status: "queued",
        updatedAt: T0 + W,
        watchdogCheckedAt: T0 + W,
        attempts: { redispatches: 1 },
      });
      expect(watchdogAt(r.job, cfg)).toBe(T0 + 2 * W);
    }
  });
  it("leaves a job in line or being submitted where it is, and looks again one interval later", () => {
    const q = k.queued();
    for (const where of ["waiting", "submitting"] as const) {
      const r = onWatchdog(q, where, T0 + W);
      expect(r.redispatch).toBe(false);
      expect(r.job).toEqual({ ...q, watchdogCheckedAt: T0 + W });
      expect(watchdogAt(r.job, cfg)).toBe(T0 + 2 * W);
    }
  });
  it("spreads its checks while the job waits in line: 1, 2, 4, 8 … intervals after it moved, at most WATCHDOG_MAX_SPACING apart", () => {
    let q = k.queued(); // moved at T0
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      const at = watchdogAt(q, cfg)!;
      seen.push((at - T0) / W);
      q = onWatchdog(q, "waiting", at).job;
    }
    expect(seen).toEqual([1, 2, 4, 8, 16, 32, 48, 64]);
    expect(WATCHDOG_MAX_SPACING).toBe(16);
    // Just inside the spacing cap and just past it, measured from the last look.
    const last = q.watchdogCheckedAt!;
    expect(watchdogAt(q, cfg)! - last).toBe(WATCHDOG_MAX_SPACING * W);
    const young = { ...q, watchdogCheckedAt: T0 + (WATCHDOG_MAX_SPACING - 1) * W };
    expect(watchdogAt(young, cfg)! - young.watchdogCheckedAt).toBe((WATCHDOG_MAX_SPACING - 1) * W);
  });
  it("a job that moves starts the spacing again from one interval", () => {
    const q = onWatchdog(onWatchdog(k.queued(), "waiting", T0 + W).job, "waiting", T0 + 2 * W).job;
    expect(watchdogAt(q, cfg)).toBe(T0 + 4 * W);
    const moved = { ...q, updatedAt: T0 + 3 * W };
    expect(watchdogAt(moved, cfg)).toBe(T0 + 4 * W);
    const lookedJustBefore = { ...q, updatedAt: T0 + 2 * W + 1 };
    expect(watchdogAt(lookedJustBefore, cfg)).toBe(T0 + 3 * W + 1);
  });
  it("does nothing to a job that is no longer queued", () => {
    for (const j of [k.proving(), cancel(k.queued(), T0 + 1, cfg)])
      expect(onWatchdog(j, "absent", T0 + W)).toEqual({ job: j, redispatch: false });
  });
});
