import { describe, expect, it } from "vitest";
import { unsubmitted, type Job, type Journal } from "../../src/core/job.ts";
import { expire, newJob, onWaiting, type SubmitOutcome } from "../../src/core/lifecycle.ts";
import { journalMismatch, onResultInvalid, onResultStored } from "../../src/core/result-checks.ts";
import { onPoll, onSubmit } from "../../src/core/prover-answers.ts";
import { RULES_DIGEST_AST3 } from "../../src/core/tape.ts";
import { CONFIGS, T0, URL_A, URL_B } from "../support/configs.ts";
import {
  JOB_ID,
  tape,
  journal,
  transient,
  running,
  succeededPoll,
  busy,
  kit,
} from "../support/lifecycle-kit.ts";

/**
 * What the prover said to a submission and to a status read (src/core/prover-answers.ts), and the
 * checks of a finished proof (src/core/result-checks.ts).
 *
 * Every boundary here is derived from the parsed config, and every timing suite runs twice:
 * with the committed wrangler.jsonc vars and with the scaled-down workerd test vars. A number
 * that only happens to match one of them breaks under the other.
 */

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
