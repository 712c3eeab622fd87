import { describe, expect, it } from "vitest";
import type { Config } from "../../src/core/config.ts";
import { unsubmitted, type Job, type JobStatus, type Journal } from "../../src/core/job.ts";
import {
  alarmAt,
  startsNewAttempt,
  cancel,
  expire,
  HISTORY_LENGTH,
  journalMismatch,
  newAttempt,
  newJob,
  nextPoll,
  onDeadLetter,
  onDelivery,
  onPoll,
  onResultInvalid,
  onResultStored,
  onSubmit,
  onWaiting,
  onWatchdog,
  pollWait,
  shouldSubmit,
  watchdogAt,
  WATCHDOG_MAX_SPACING,
  type PollOutcome,
  type SubmitOutcome,
} from "../../src/core/lifecycle.ts";
import { RULES_DIGEST_AST3 } from "../../src/core/tape.ts";
import { CONFIGS, T0, URL_A, URL_B } from "../support/configs.ts";
import { SAMPLE_TAPE, SAMPLE_JOURNAL } from "../support/sample-job.ts";

/**
 * Every boundary here is derived from the parsed config, and every timing suite runs twice:
 * with the committed wrangler.jsonc vars and with the scaled-down workerd test vars. A number
 * that only happens to match one of them breaks under the other.
 */
const JOB_ID = "a".repeat(64);
const tape = SAMPLE_TAPE;
const journal = SAMPLE_JOURNAL;
const transient = { kind: "transient", error: { code: "prover_timeout", message: "t" } } as const;
const running = { kind: "pending", status: "running" } as const;
const succeededPoll = (): PollOutcome => ({
  kind: "succeeded",
  journal,
  receiptKind: "groth16",
  segments: 4,
  elapsedMs: 88,
  document: {},
});
const busy: SubmitOutcome = { kind: "busy", error: { code: "prover_busy", message: "busy" } };

/** Job builders bound to one config. */
function kit(cfg: Config) {
  const cap = T0 + cfg.maxJobWallTimeMs;
  const queued = (at = T0, token: string | null = "hash-1") => newJob(JOB_ID, tape, at, cfg, token);
  const accept = (job: Job, at: number, proverJobId = "p1", url = URL_A) =>
    onSubmit(job, { kind: "accepted", proverJobId }, url, at, cfg).job;
  /**
   * Accepted half-way between the POST and the last moment the poll deadline still fits under the
   * wall cap.
   */
  const midAccept = T0 + Math.floor((cfg.maxJobWallTimeMs - cfg.pollTimeoutMs) / 2);
  const proving = (acceptedAt = midAccept) => accept(queued(), acceptedAt);
  const withRecoveries = (job: Job, recoveries: number): Job => ({
    ...job,
    attempts: { ...job.attempts, recoveries },
  });
  const succeeded = (at = midAccept + 1) =>
    onResultStored(
      proving(),
      { key: "k", receiptKind: "groth16", segments: 1, proverElapsedMs: 1, journal },
      at,
      cfg,
    );
  const failed = () => expire(queued(), cap + 1, cfg);
  const cancelled = () => cancel(queued(), T0 + 1, cfg);
  return { cap, queued, accept, midAccept, proving, withRecoveries, succeeded, failed, cancelled };
}

describe.each(CONFIGS)("a new job (%s)", (_name, cfg) => {
  const k = kit(cfg);
  it("is queued with its wall-time cap from the POST and the configured segment limit", () => {
    expect(k.queued()).toEqual({
      jobId: JOB_ID,
      status: "queued",
      detail: expect.any(String),
      createdAt: T0,
      updatedAt: T0,
      attempt: 1,
      attemptStartedAt: T0,
      wallDeadlineAt: T0 + cfg.maxJobWallTimeMs,
      finishedAt: null,
      tape,
      prover: unsubmitted(cfg.segmentLimitPo2),
      attempts: {
        deliveries: 0,
        submissions: 0,
        polls: 0,
        recoveries: 0,
        proverRebuilds: 0,
        rejections: 0,
        redispatches: 0,
      },
      watchdogCheckedAt: null,
      lastRecovery: null,
      result: null,
      error: null,
      cleanup: [],
      cancelTokenHash: "hash-1",
      client: null,
      history: [],
    });
  });
  it("a delivery is counted; only a queued job is submitted", () => {
    const d = onDelivery(onDelivery(k.queued(), T0 + 1), T0 + 2);
    expect(d).toMatchObject({ attempts: { deliveries: 2 }, updatedAt: T0 + 2, status: "queued" });
    expect(shouldSubmit(k.queued())).toBe(true);
    for (const j of [k.proving(), k.succeeded(), k.failed(), k.cancelled()])
      expect(shouldSubmit(j)).toBe(false);
  });
});

describe.each(CONFIGS)("submitting (%s)", (_name, cfg) => {
  const k = kit(cfg);
  /**
   * A queued job that already went through a busy answer, an OOM rebuild and a failed poll streak.
   */
  const seasoned = (): Job => {
    const q = k.queued();
    return {
      ...q,
      attempts: { ...q.attempts, submissions: 2 },
      prover: {
        ...q.prover,
        url: URL_A,
        segmentLimitPo2: cfg.segmentLimitPo2 - 1,
        consecutivePollFailures: 4,
        firstFailedPollAt: T0 + 5,
        lastPolledAt: T0 + 6,
        lastError: { code: "prover_busy", message: "busy" },
      },
    };
  };

  it("accepted → proving on the granted prover (not the configured one), deadline from now, stall tracking reset", () => {
    const now = T0 + 7;
    const r = onSubmit(seasoned(), { kind: "accepted", proverJobId: "p9" }, URL_B, now, cfg);
    expect(r.message).toEqual({ ack: true });
    expect(r.line).toBeNull();
    expect(r.job).toMatchObject({
      status: "proving",
      attempts: { submissions: 3 },
      error: null,
      updatedAt: now,
    });
    expect(r.job.prover).toEqual({
      url: URL_B,
      jobId: "p9",
      status: "queued",
      acceptedAt: now,
      pollDeadlineAt: now + cfg.pollTimeoutMs,
      // No speed measured for that prover yet: polls keep the ceiling.
      expectedEndAt: null,
      lastPolledAt: null,
      consecutivePollFailures: 0,
      firstFailedPollAt: null,
      // The lowered limit is what the prover was just given: it stays.
      segmentLimitPo2: cfg.segmentLimitPo2 - 1,
      lastError: null,
    });
  });

  it("busy (429) is back-pressure: still queued, message acked, the dispatcher is told", () => {
    for (const at of [T0 + 9, T0 + 90]) {
      const before = seasoned();
      const r = onSubmit(before, busy, URL_B, at, cfg);
      expect(r.message).toEqual({ ack: true });
      expect(r.line).toBe("busy");
      expect(r.job).toMatchObject({
        status: "queued",
        error: null,
        finishedAt: null,
        attempts: { submissions: before.attempts.submissions + 1, recoveries: 0 },
        prover: {
          jobId: null,
          acceptedAt: null,
          pollDeadlineAt: null,
          lastError: { code: "prover_busy" },
        },
      });
    }
  });

  it("busy answers are each counted as a submission, and never end the job", () => {
    let j = k.queued();
    for (let i = 1; i <= 3; i++) {
      j = onSubmit(
        j,
        { kind: "busy", error: { code: "no_slots", message: `busy ${i}` } },
        URL_A,
        T0 + i,
        cfg,
      ).job;
      expect(j).toMatchObject({
        status: "queued",
        attempts: { submissions: i },
        prover: { lastError: { code: "no_slots", message: `busy ${i}` } },
      });
    }
  });

  it("transient → the prover's fault: still queued, the problem recorded, the message acked, the dispatcher told", () => {
    for (const code of [
      "prover_unavailable",
      "prover_unreachable",
      "prover_timeout",
      "prover_bad_reply",
      "prover_unauthorized",
    ]) {
      const problem: SubmitOutcome = { kind: "transient", error: { code, message: code } };
      const r = onSubmit(k.queued(), problem, URL_A, T0, cfg);
      expect(r.line).toBe("fault");
      expect(r.message).toEqual({ ack: true });
      expect(r.job).toMatchObject({
        status: "queued",
        error: null,
        attempts: { submissions: 1, recoveries: 0 },
        prover: { jobId: null, lastError: { code } },
      });
      expect(r.job.detail).toMatch(/head of the line/);
    }
  });

  it("transient, however many times: never ends the job and never uses an error budget", () => {
    let j = k.queued();
    for (let i = 1; i <= 50; i++) j = onSubmit(j, transient, URL_A, T0 + i, cfg).job;
    expect(j).toMatchObject({ status: "queued", attempts: { submissions: 50, recoveries: 0 } });
  });

  it.each([
    "invalid_tape",
    "tape_empty",
    "tape_too_large",
    "invalid_max_frames",
    "invalid_segment_limit",
    "zero_score_not_allowed",
    "bad_request",
  ])(
    "rejected (400 %s) for a tape this gateway parsed as valid is a lie: still queued, back for another prover, acked",
    (code) => {
      const r = onSubmit(
        k.queued(),
        { kind: "rejected", error: { code, message: "bad header" } },
        URL_A,
        T0 + 3,
        cfg,
      );
      expect(r.message).toEqual({ ack: true });
      expect(r.line).toBe("lied");
      expect(r.job).toMatchObject({
        status: "queued",
        error: null,
        finishedAt: null,
        attempts: { submissions: 1, recoveries: 0 },
        lastRecovery: { code: "prover_lied" },
        verdicts: [{ url: URL_A, code, kind: "lied", at: T0 + 3 }],
        prover: { url: null, jobId: null },
        cleanup: [],
      });
      expect(r.job.lastRecovery!.message).toContain(code);
      expect(r.job.lastRecovery!.message).toContain("bad header");
      expect(r.job.detail).toMatch(/another prover/);
    },
  );

  it("rejected (400) for a tape this gateway finds unprovable too (a zero score) → failed prover_rejected, acked", () => {
    const zero = newJob(JOB_ID, { ...tape, finalScore: 0 }, T0, cfg);
    const r = onSubmit(
      zero,
      { kind: "rejected", error: { code: "zero_score_not_allowed", message: "score 0" } },
      URL_A,
      T0 + 3,
      cfg,
    );
    expect(r.message).toEqual({ ack: true });
    expect(r.line).toBeNull();
    expect(r.job).toMatchObject({
      status: "failed",
      finishedAt: T0 + 3,
      error: { code: "prover_rejected" },
      attempts: { submissions: 1 },
      cleanup: [],
    });
    expect(r.job.error!.message).toContain("zero_score_not_allowed");
    expect(r.job.error!.message).toContain("score 0");
  });

  it("waiting in line tells the player how many are ahead (and changes nothing when that did not change)", () => {
    expect(onWaiting(k.queued(), 3, T0).detail).toMatch(/3 jobs ahead/);
    expect(onWaiting(k.queued(), 1, T0).detail).toMatch(/1 job ahead/);
    const next = onWaiting(k.queued(), 0, T0 + 1);
    expect(next.detail).toMatch(/Next in line/);
    expect(onWaiting(next, 0, T0 + 2)).toBe(next);
  });
});

describe.each(CONFIGS)("polling (%s)", (_name, cfg) => {
  const k = kit(cfg);
  it.each(["queued", "running"] as const)(
    "pending %s keeps waiting, records the prover status, counts the poll",
    (status) => {
      const now = k.midAccept + cfg.pollIntervalMs;
      expect(onPoll(k.proving(), { kind: "pending", status }, now, cfg)).toMatchObject({
        job: { status: "proving", prover: { status, lastPolledAt: now }, attempts: { polls: 1 } },
        next: { kind: "wait" },
      });
    },
  );
  it("succeeded asks the shell to verify and store; the job is not done until it is stored", () => {
    const r = onPoll(k.proving(), succeededPoll(), k.midAccept + 1, cfg);
    expect(r.next).toEqual({ kind: "store" });
    expect(r.job).toMatchObject({ status: "proving", prover: { status: "succeeded" } });
    const stored = onResultStored(
      r.job,
      { key: "k", receiptKind: "groth16", segments: 4, proverElapsedMs: 88, journal },
      k.midAccept + 2,
      cfg,
    );
    expect(stored).toMatchObject({
      status: "succeeded",
      finishedAt: k.midAccept + 2,
      error: null,
      result: { key: "k" },
    });
  });
});

describe.each(CONFIGS)("the stall window: every poll failing (%s)", (_name, cfg) => {
  const k = kit(cfg);
  const first = k.midAccept + cfg.pollIntervalMs;
  const failing = () => onPoll(k.proving(), transient, first, cfg).job;

  it("the first failed poll starts the window; failures are counted", () => {
    const r = onPoll(k.proving(), transient, first, cfg);
    expect(r.next).toEqual({ kind: "wait" });
    expect(r.job).toMatchObject({
      status: "proving",
      prover: {
        consecutivePollFailures: 1,
        firstFailedPollAt: first,
        lastError: { code: "prover_timeout" },
      },
    });
  });

  it("just inside the window (now − first failure = PROVER_STALL_WINDOW_MS) failures are ridden out and counted", () => {
    const mid = onPoll(failing(), transient, first + Math.floor(cfg.stallWindowMs / 2), cfg).job;
    const r = onPoll(mid, transient, first + cfg.stallWindowMs, cfg);
    expect(r.next).toEqual({ kind: "wait" });
    expect(r.job).toMatchObject({
      status: "proving",
      attempts: { recoveries: 0, polls: 3 },
      prover: { jobId: "p1", consecutivePollFailures: 3, firstFailedPollAt: first },
      cleanup: [],
    });
  });

  it("just outside it the prover job counts as lost: rebuilt prover_stalled, and deleted on the prover", () => {
    const inside = onPoll(failing(), transient, first + cfg.stallWindowMs, cfg).job;
    const now = first + cfg.stallWindowMs + 1;
    const r = onPoll(inside, transient, now, cfg);
    expect(r.next).toEqual({ kind: "done" });
    expect(r.job).toMatchObject({
      status: "queued",
      error: null,
      finishedAt: null,
      attempts: { recoveries: 0, proverRebuilds: 1 },
      lastRecovery: { code: "prover_stalled" },
    });
    expect(r.job.prover).toEqual(unsubmitted(cfg.segmentLimitPo2, r.job.lastRecovery));
    expect(r.job.cleanup).toEqual([
      {
        url: URL_A,
        proverJobId: "p1",
        reason: "prover_stalled",
        nextAt: now,
        until: now + cfg.pollTimeoutMs,
        tries: 0,
      },
    ]);
  });

  it("the window counts from the first failure of the streak, not from the last one", () => {
    let j = failing();
    const step = Math.max(1, Math.floor(cfg.stallWindowMs / 4));
    for (let t = first + step; t <= first + cfg.stallWindowMs; t += step)
      j = onPoll(j, transient, t, cfg).job;
    expect(j.status).toBe("proving");
    expect(onPoll(j, transient, first + cfg.stallWindowMs + 1, cfg).job.status).toBe("queued");
  });

  it.each([
    ["pending", running],
    ["succeeded", succeededPoll()],
  ] as const)("a %s poll ends the streak: the next failure starts a new window", (_kind, good) => {
    const ok = onPoll(failing(), good, first + 1, cfg).job;
    expect(ok.prover).toMatchObject({
      consecutivePollFailures: 0,
      firstFailedPollAt: null,
      lastError: null,
    });
    // Past the old window: without the reset this would be a stall.
    const later = first + cfg.stallWindowMs + 1;
    const r = onPoll(ok, transient, later, cfg);
    expect(r.next).toEqual({ kind: "wait" });
    expect(r.job.prover).toMatchObject({ consecutivePollFailures: 1, firstFailedPollAt: later });
  });

  it("a stall is the prover's fault: with every recovery used it is still rebuilt (none used), and the prover job deleted", () => {
    const used = k.withRecoveries(failing(), cfg.maxRecoveries);
    const now = first + cfg.stallWindowMs + 1;
    const j = onPoll(used, transient, now, cfg).job;
    expect(j).toMatchObject({
      status: "queued",
      error: null,
      attempts: { recoveries: cfg.maxRecoveries, proverRebuilds: 1 },
      lastRecovery: { code: "prover_stalled" },
    });
    expect(j.cleanup).toEqual([
      expect.objectContaining({ proverJobId: "p1", reason: "prover_stalled" }),
    ]);
  });
});

describe.each(CONFIGS)(
  "the absolute poll deadline, from the prover's acceptance (%s)",
  (_name, cfg) => {
    const k = kit(cfg);
    const accepted = k.midAccept;
    const deadline = accepted + cfg.pollTimeoutMs;

    it("is set at acceptance (not at the POST) and stays below the wall cap here", () => {
      expect(k.proving(accepted).prover.pollDeadlineAt).toBe(deadline);
      expect(deadline + 1).toBeLessThanOrEqual(k.cap);
    });
    it("exactly at the deadline the job keeps proving, untouched", () => {
      const j = k.proving(accepted);
      expect(expire(j, deadline, cfg)).toBe(j);
    });
    it("1 ms later the prover job is abandoned (deleted on the prover) and the tape resubmitted while recoveries remain", () => {
      const j = expire(k.proving(accepted), deadline + 1, cfg);
      expect(j).toMatchObject({
        status: "queued",
        finishedAt: null,
        error: null,
        attempts: { recoveries: 1 },
        lastRecovery: { code: "poll_timeout" },
      });
      expect(j.lastRecovery!.message).toContain(String(cfg.pollTimeoutMs));
      expect(j.prover).toEqual(unsubmitted(cfg.segmentLimitPo2, j.lastRecovery));
      expect(j.cleanup).toEqual([
        {
          url: URL_A,
          proverJobId: "p1",
          reason: "poll_timeout",
          nextAt: deadline + 1,
          until: deadline + 1 + cfg.pollTimeoutMs,
          tries: 0,
        },
      ]);
    });
    it("the last allowed recovery (PROVER_MAX_RECOVERIES − 1 used) still rebuilds", () => {
      const j = expire(
        k.withRecoveries(k.proving(accepted), cfg.maxRecoveries - 1),
        deadline + 1,
        cfg,
      );
      expect(j).toMatchObject({
        status: "queued",
        attempts: { recoveries: cfg.maxRecoveries },
        lastRecovery: { code: "poll_timeout" },
      });
    });
    it("with every recovery used it fails poll_timeout (not recovery_exhausted), and still deletes the prover job", () => {
      const j = expire(k.withRecoveries(k.proving(accepted), cfg.maxRecoveries), deadline + 1, cfg);
      expect(j).toMatchObject({
        status: "failed",
        finishedAt: deadline + 1,
        error: { code: "poll_timeout" },
        attempts: { recoveries: cfg.maxRecoveries },
      });
      expect(j.cleanup).toEqual([
        expect.objectContaining({ proverJobId: "p1", url: URL_A, reason: "poll_timeout" }),
      ]);
    });
    it("PROVER_MAX_RECOVERIES = 0: the first poll timeout fails the job", () => {
      const none = { ...cfg, maxRecoveries: 0 };
      expect(expire(k.proving(accepted), deadline + 1, none)).toMatchObject({
        status: "failed",
        error: { code: "poll_timeout" },
      });
    });
    it("does not apply to a queued job (the prover never accepted it)", () => {
      const q = k.queued();
      expect(expire(q, deadline + 1, cfg)).toBe(q);
    });
  },
);

describe.each(CONFIGS)("the wall-time cap, from the attempt's POST (%s)", (_name, cfg) => {
  const k = kit(cfg);
  const cap = k.cap;

  it("a queued job exactly at the cap is still alive; 1 ms later it fails wall_time_exceeded, nothing to delete", () => {
    const q = k.queued();
    expect(expire(q, cap, cfg)).toBe(q);
    const ended = expire(q, cap + 1, cfg);
    expect(ended).toMatchObject({
      status: "failed",
      error: { code: "wall_time_exceeded" },
      finishedAt: cap + 1,
      cleanup: [],
    });
    expect(ended.error!.message).toContain(String(cfg.maxJobWallTimeMs));
  });
  it("a proving job: alive at the cap; 1 ms later failed, and its prover job is to be deleted", () => {
    // Accepted so late that its own poll deadline (cap + 1) has not passed at cap + 1.
    const late = k.proving(cap - cfg.pollTimeoutMs + 1);
    expect(expire(late, cap, cfg)).toBe(late);
    const ended = expire(late, cap + 1, cfg);
    expect(ended).toMatchObject({
      status: "failed",
      error: { code: "wall_time_exceeded" },
      finishedAt: cap + 1,
    });
    expect(ended.cleanup).toEqual([
      {
        url: URL_A,
        proverJobId: "p1",
        reason: "wall_time_exceeded",
        nextAt: cap + 1,
        until: cap + 1 + cfg.pollTimeoutMs,
        tries: 0,
      },
    ]);
  });
  it("a rebuilt queued job keeps the clean-ups it already had, and adds none", () => {
    const rebuilt = expire(k.proving(T0), T0 + cfg.pollTimeoutMs + 1, cfg);
    expect(rebuilt.cleanup).toHaveLength(1);
    expect(expire(rebuilt, cap + 1, cfg)).toMatchObject({
      status: "failed",
      error: { code: "wall_time_exceeded" },
      cleanup: rebuilt.cleanup,
    });
  });
  it("wins over the poll deadline when both have passed (and only then)", () => {
    const early = k.proving(T0); // poll deadline T0 + PROVER_POLL_TIMEOUT_MS < cap
    expect(expire(early, cap, cfg)).toMatchObject({
      status: "queued",
      lastRecovery: { code: "poll_timeout" },
    });
    expect(expire(early, cap + 1, cfg)).toMatchObject({
      status: "failed",
      error: { code: "wall_time_exceeded" },
    });
    expect(expire(k.withRecoveries(early, cfg.maxRecoveries), cap + 1, cfg).error?.code).toBe(
      "wall_time_exceeded",
    );
  });
  it("never touches an ended job", () => {
    for (const d of [k.succeeded(), k.failed(), k.cancelled()])
      expect(expire(d, cap + cfg.maxJobWallTimeMs, cfg)).toBe(d);
  });
});

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

describe("the journal must match the tape", () => {
  const cfg = CONFIGS[0]![1];
  it("accepts an identical journal", () =>
    expect(journalMismatch(tape, journal, RULES_DIGEST_AST3)).toBeNull());
  it("refuses a missing journal", () =>
    expect(journalMismatch(tape, null, RULES_DIGEST_AST3)).toMatch(/no journal/));
  it.each(Object.keys(journal) as (keyof Journal)[])("refuses a wrong %s", (field) => {
    expect(
      journalMismatch(tape, { ...journal, [field]: journal[field] + 1 }, RULES_DIGEST_AST3),
    ).toContain(field);
  });
  it("a result that is not a proof of this tape rebuilds the job (result_mismatch, reason kept)", () => {
    const j = onResultInvalid(kit(cfg).proving(), "journal seed is 2, expected 1", T0 + 3000, cfg);
    expect(j).toMatchObject({
      status: "queued",
      attempts: { recoveries: 0, proverRebuilds: 1 },
      lastRecovery: { code: "result_mismatch" },
    });
    expect(j.cleanup).toEqual([expect.objectContaining({ reason: "result_mismatch" })]);
    expect(j.lastRecovery!.message).toContain("journal seed is 2, expected 1");
  });
});

describe.each(CONFIGS)("cancellation (%s)", (_name, cfg) => {
  const k = kit(cfg);
  it("a queued job is cancelled and nothing is left for the prover", () => {
    expect(cancel(k.queued(), T0 + 1, cfg)).toMatchObject({
      status: "cancelled",
      finishedAt: T0 + 1,
      updatedAt: T0 + 1,
      error: null,
      cleanup: [],
    });
  });
  it("a queued job that was rebuilt keeps its earlier clean-up and adds none", () => {
    const rebuilt = expire(k.proving(T0), T0 + cfg.pollTimeoutMs + 1, cfg);
    const c = cancel(rebuilt, T0 + cfg.pollTimeoutMs + 2, cfg);
    expect(c.status).toBe("cancelled");
    expect(c.cleanup).toEqual(rebuilt.cleanup);
  });
  it("a proving job is cancelled and its prover job is to be deleted, at once", () => {
    const now = k.midAccept + 1;
    const c = cancel(k.proving(), now, cfg);
    expect(c).toMatchObject({ status: "cancelled", finishedAt: now, error: null });
    expect(c.cleanup).toEqual([
      {
        url: URL_A,
        proverJobId: "p1",
        reason: "cancelled",
        nextAt: now,
        until: now + cfg.pollTimeoutMs,
        tries: 0,
      },
    ]);
  });
  it("ended jobs stay as they are", () => {
    for (const d of [k.succeeded(), k.failed(), k.cancelled()])
      expect(cancel(d, k.cap, cfg)).toBe(d);
  });
});

describe.each(CONFIGS)("a new attempt after failed or cancelled (%s)", (_name, cfg) => {
  const k = kit(cfg);
  /**
   * Attempt 1: a poll timeout (clean-up left), a proof_timeout (smaller segments), then the wall
   * cap.
   */
  const eventful = (): Job => {
    let j = k.proving(T0 + 1);
    j = expire(j, T0 + 1 + cfg.pollTimeoutMs + 1, cfg);
    j = k.accept(j, T0 + cfg.pollTimeoutMs + 3, "p2");
    j = onPoll(
      j,
      { kind: "failed", error: { code: "proof_timeout", message: "slow" } },
      T0 + cfg.pollTimeoutMs + 4,
      cfg,
    ).job;
    j = onDelivery(j, T0 + cfg.pollTimeoutMs + 5);
    j = expire(j, k.cap + 1, cfg);
    expect(j).toMatchObject({
      status: "failed",
      error: { code: "wall_time_exceeded" },
      attempts: { recoveries: 2 },
      prover: { segmentLimitPo2: cfg.segmentLimitPo2 - 1 },
    });
    // Both prover jobs are to be deleted: the timed-out one and the failed one.
    expect(j.cleanup.map((c) => c.reason)).toEqual(["poll_timeout", "proof_timeout"]);
    return j;
  };

  it("only failed and cancelled jobs can be retried", () => {
    const cases: [JobStatus, Job][] = [
      ["queued", k.queued()],
      ["proving", k.proving()],
      ["succeeded", k.succeeded()],
      ["failed", k.failed()],
      ["cancelled", k.cancelled()],
    ];
    for (const [status, j] of cases) {
      expect(j.status).toBe(status);
      expect(startsNewAttempt(j)).toBe(status === "failed" || status === "cancelled");
    }
  });

  it("starts fresh (own wall cap, counters, recoveries, segment limit, token), keeps createdAt and the pending clean-ups", () => {
    const ended = eventful();
    const t1 = k.cap + 1000;
    const next = newAttempt(ended, t1, cfg, "hash-2");
    expect(next).toEqual({
      ...ended,
      status: "queued",
      detail: expect.stringContaining("Attempt 2"),
      createdAt: T0,
      updatedAt: t1,
      attempt: 2,
      attemptStartedAt: t1,
      wallDeadlineAt: t1 + cfg.maxJobWallTimeMs,
      finishedAt: null,
      prover: unsubmitted(cfg.segmentLimitPo2),
      attempts: {
        deliveries: 0,
        submissions: 0,
        polls: 0,
        recoveries: 0,
        proverRebuilds: 0,
        rejections: 0,
        redispatches: 0,
      },
      watchdogCheckedAt: null,
      lastRecovery: null,
      result: null,
      error: null,
      cleanup: ended.cleanup,
      cancelTokenHash: "hash-2",
      history: [
        {
          attempt: 1,
          startedAt: T0,
          finishedAt: k.cap + 1,
          status: "failed",
          error: ended.error,
          recoveries: 2,
        },
      ],
    });
  });

  it("the new attempt's wall cap counts from its own start: inside at it, outside 1 ms later", () => {
    const t1 = k.cap + 1000;
    const next = newAttempt(k.failed(), t1, cfg, "hash-2");
    expect(expire(next, t1 + cfg.maxJobWallTimeMs, cfg)).toBe(next);
    expect(expire(next, t1 + cfg.maxJobWallTimeMs + 1, cfg).error?.code).toBe("wall_time_exceeded");
  });

  it("a cancelled attempt joins the history with its own end", () => {
    const c = cancel(k.proving(), k.midAccept + 5, cfg);
    const next = newAttempt(c, k.midAccept + 10, cfg, null);
    expect(next.history).toEqual([
      {
        attempt: 1,
        startedAt: T0,
        finishedAt: k.midAccept + 5,
        status: "cancelled",
        error: null,
        recoveries: 0,
      },
    ]);
    expect(next.cleanup).toEqual(c.cleanup);
    expect(next.cancelTokenHash).toBeNull();
  });

  const endedAttempts = (n: number) => {
    let j = k.queued();
    for (let i = 0; i < n; i++) j = newAttempt(cancel(j, T0 + i, cfg), T0 + i, cfg, `h${i}`);
    return j;
  };
  it(`remembers up to ${HISTORY_LENGTH} ended attempts: with exactly that many the first is still there`, () => {
    const j = endedAttempts(HISTORY_LENGTH);
    expect(j.attempt).toBe(HISTORY_LENGTH + 1);
    expect(j.history.map((h) => h.attempt)).toEqual(
      Array.from({ length: HISTORY_LENGTH }, (_, i) => i + 1),
    );
  });
  it(`one more ended attempt drops the oldest`, () => {
    const j = endedAttempts(HISTORY_LENGTH + 1);
    expect(j.attempt).toBe(HISTORY_LENGTH + 2);
    expect(j.history.map((h) => h.attempt)).toEqual(
      Array.from({ length: HISTORY_LENGTH }, (_, i) => i + 2),
    );
  });
});

describe.each(CONFIGS)("dead letters (%s)", (_name, cfg) => {
  const k = kit(cfg);
  it("end a queued job retries_exhausted, naming the deliveries and the last problem", () => {
    let j = k.queued();
    for (let i = 1; i <= 3; i++) j = onDelivery(j, T0 + i);
    j = onSubmit(j, transient, URL_A, T0 + 4, cfg).job;
    const dead = onDeadLetter(j, T0 + 5);
    expect(dead).toMatchObject({
      status: "failed",
      finishedAt: T0 + 5,
      error: { code: "retries_exhausted" },
    });
    expect(dead.error!.message).toContain("3 deliveries");
    expect(dead.error!.message).toContain("prover_timeout");
  });
  it("leave every job that is not queued alone", () => {
    for (const j of [k.proving(), k.succeeded(), k.failed(), k.cancelled()])
      expect(onDeadLetter(j, k.cap)).toBe(j);
  });
});

describe("purity", () => {
  const cfg = CONFIGS[1]![1];
  const deepFreeze = <T>(o: T): T => {
    if (o && typeof o === "object") {
      for (const v of Object.values(o)) deepFreeze(v);
      Object.freeze(o);
    }
    return o;
  };
  it("no transition mutates the job it is given", () => {
    const k = kit(cfg);
    const p = deepFreeze(k.proving());
    const d = p.prover.pollDeadlineAt!;
    expect(() => {
      onPoll(p, transient, d - 1, cfg);
      onPoll(deepFreeze(onPoll(p, transient, k.midAccept + 1, cfg).job), transient, d, cfg);
      onPoll(p, { kind: "lost" }, d, cfg);
      onPoll(
        p,
        { kind: "failed", error: { code: "proof_error", message: "out of memory" } },
        d,
        cfg,
      );
      expire(p, d + 1, cfg);
      expire(p, k.cap + 1, cfg);
      cancel(p, d, cfg);
      alarmAt(p, d, cfg);
      newAttempt(deepFreeze(cancel(p, d, cfg)), d, cfg, null);
      onSubmit(deepFreeze(k.queued()), busy, URL_A, T0, cfg);
    }).not.toThrow();
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
