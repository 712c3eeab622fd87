import { describe, expect, it } from "vitest";
import { unsubmitted, type Job, type JobStatus } from "../../src/core/job.ts";
import {
  startsNewAttempt,
  expire,
  HISTORY_LENGTH,
  newAttempt,
  onDelivery,
  shouldSubmit,
} from "../../src/core/lifecycle.ts";
import { alarmAt } from "../../src/core/job-timing.ts";
import { cancel, onDeadLetter } from "../../src/core/ending.ts";
import { onPoll, onSubmit } from "../../src/core/prover-answers.ts";
import { CONFIGS, T0, URL_A } from "../support/configs.ts";
import { JOB_ID, tape, transient, busy, kit } from "../support/lifecycle-kit.ts";

/**
 * A job's start, its wall-time cap, cancels, dead letters and a new attempt after an end
 * (src/core/lifecycle.ts, src/core/ending.ts).
 *
 * Every boundary here is derived from the parsed config, and every timing suite runs twice:
 * with the committed wrangler.jsonc vars and with the scaled-down workerd test vars. A number
 * that only happens to match one of them breaks under the other.
 */

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
