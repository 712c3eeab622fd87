import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.ts";
import type { Job, Journal } from "../../src/job.ts";
import {
  alarmAt,
  canRetry,
  cancel,
  expire,
  HISTORY_LENGTH,
  journalMismatch,
  newAttempt,
  newJob,
  nextPoll,
  onDeadLetter,
  onPoll,
  onResultInvalid,
  onResultStored,
  onSubmit,
  onWaiting,
  type PollOutcome,
} from "../../src/lifecycle.ts";
import { RULES_DIGEST_AST3 } from "../../src/tape.ts";

const cfg = parseConfig({ PROVER_BASE_URL: "https://prover.example" });
const URL_A = "https://prover.example";
const T0 = 1_700_000_000_000;
const tape = { sizeBytes: 40, seed: 1, frameCount: 12, finalScore: 90, finalRngState: 7, checksum: 99, sha256: "a".repeat(64) };
const journal: Journal = { seed: 1, frame_count: 12, final_score: 90, final_rng_state: 7, tape_checksum: 99, rules_digest: RULES_DIGEST_AST3 };

const queued = () => newJob("a".repeat(64), tape, T0, cfg, "hash-1");
const proving = (acceptedAt = T0 + 1000, from: Job = queued()): Job =>
  onSubmit(from, { kind: "accepted", proverJobId: "p1" }, URL_A, acceptedAt, 1, cfg).job;
const succeeded = (): PollOutcome => ({ kind: "succeeded", journal, receiptKind: "groth16", segments: 4, elapsedMs: 88, document: {} });
const done = () => onResultStored(proving(), { key: "k", receiptKind: "groth16", segments: 1, proverElapsedMs: 1, journal }, T0 + 5000);
const transient = { kind: "transient", error: { code: "prover_timeout", message: "t" } } as const;

describe("the wall-time cap (from the attempt's POST)", () => {
  const cap = T0 + cfg.maxJobWallTimeMs;
  it("a queued job exactly at the cap is still alive, 1 ms later it fails", () => {
    expect(expire(queued(), cap, cfg).status).toBe("queued");
    const ended = expire(queued(), cap + 1, cfg);
    expect(ended).toMatchObject({ status: "failed", error: { code: "wall_time_exceeded" }, finishedAt: cap + 1, cleanup: [] });
  });
  it("applies to a proving job too, and its prover job is to be deleted", () => {
    const late = proving(cap - cfg.pollTimeoutMs + 1);
    expect(expire(late, cap, cfg).status).toBe("proving");
    const ended = expire(late, cap + 1, cfg);
    expect(ended.error?.code).toBe("wall_time_exceeded");
    expect(ended.cleanup).toEqual([expect.objectContaining({ proverJobId: "p1", url: URL_A, reason: "wall_time_exceeded" })]);
  });
  it("wins over the poll deadline when both have passed", () => {
    expect(expire(proving(T0), cap + cfg.pollTimeoutMs, cfg).error?.code).toBe("wall_time_exceeded");
  });
  it("never touches a terminal job", () => {
    const d = done();
    expect(expire(d, cap + 1_000_000, cfg)).toBe(d);
  });
});

describe("the absolute poll deadline (from the prover's acceptance, not per alarm)", () => {
  const accepted = T0 + 5000;
  const deadline = accepted + cfg.pollTimeoutMs;
  it("is set at acceptance", () => expect(proving(accepted).prover.pollDeadlineAt).toBe(deadline));
  it("exactly at the deadline the job keeps proving", () => {
    expect(expire(proving(accepted), deadline, cfg).status).toBe("proving");
  });
  it("1 ms later the prover job is abandoned (and deleted) and the tape resubmitted while recoveries remain", () => {
    const j = expire(proving(accepted), deadline + 1, cfg);
    expect(j).toMatchObject({ status: "queued", attempts: { recoveries: 1 }, lastRecovery: { code: "poll_timeout" }, error: null });
    expect(j.prover).toMatchObject({ jobId: null, url: null, pollDeadlineAt: null });
    expect(j.cleanup).toEqual([expect.objectContaining({ proverJobId: "p1", reason: "poll_timeout" })]);
  });
  it("with no recovery left it fails poll_timeout (not recovery_exhausted)", () => {
    const used = { ...proving(accepted), attempts: { ...proving(accepted).attempts, recoveries: cfg.maxRecoveries } };
    const j = expire(used, deadline + 1, cfg);
    expect(j).toMatchObject({ status: "failed", error: { code: "poll_timeout" } });
    expect(j.cleanup).toHaveLength(1);
  });
  it("does not apply to a queued job (the prover never accepted it)", () => {
    expect(expire(queued(), deadline + 1, cfg).status).toBe("queued");
  });
});

describe("the per-alarm poll budget", () => {
  const job = proving(T0);
  it("sleeps and polls again while the next poll stays inside the budget", () => {
    const start = T0 + 10_000;
    const lastInside = start + cfg.pollBudgetMs - cfg.pollIntervalMs;
    expect(nextPoll(job, start, lastInside, cfg)).toEqual({ sleepMs: cfg.pollIntervalMs });
  });
  it("re-arms the alarm once the next poll would pass the budget", () => {
    const start = T0 + 10_000;
    const firstOutside = start + cfg.pollBudgetMs - cfg.pollIntervalMs + 1;
    expect(nextPoll(job, start, firstOutside, cfg)).toEqual({ alarmAt: firstOutside + cfg.pollIntervalMs });
  });
  it("never sleeps past a deadline: the next poll lands just after it", () => {
    const deadline = job.prover.pollDeadlineAt!;
    const now = deadline - 10;
    expect(nextPoll(job, now, now, cfg)).toEqual({ sleepMs: 11 });
  });
  it("a pending clean-up does not make the loop poll sooner (the next alarm runs it)", () => {
    const withCleanup = cancel(proving(T0), T0 + 1, cfg);
    const stillProving = { ...withCleanup, status: "proving" as const };
    expect(nextPoll(stillProving, T0 + 10, T0 + 10, cfg)).toEqual({ sleepMs: cfg.pollIntervalMs });
  });
});

describe("submitting", () => {
  it("accepted → proving on the granted prover, message acked, deadline from now", () => {
    const r = onSubmit(queued(), { kind: "accepted", proverJobId: "p1" }, URL_A, T0 + 1, 1, cfg);
    expect(r).toMatchObject({ message: { ack: true }, busy: false });
    expect(r.job).toMatchObject({
      status: "proving",
      prover: { url: URL_A, jobId: "p1", status: "queued", acceptedAt: T0 + 1, pollDeadlineAt: T0 + 1 + cfg.pollTimeoutMs, firstFailedPollAt: null },
      attempts: { submissions: 1 },
    });
  });
  it("busy (429) is back-pressure: still queued, message acked (no retry used), the dispatcher is told", () => {
    for (const attempt of [1, 2, 50]) {
      const r = onSubmit(queued(), { kind: "busy", error: { code: "prover_busy", message: "busy" } }, URL_A, T0, attempt, cfg);
      expect(r).toMatchObject({ job: { status: "queued", error: null, prover: { lastError: { code: "prover_busy" } } }, message: { ack: true }, busy: true });
    }
  });
  it("transient → still queued, retried with backoff inside the configured bounds, the problem recorded", () => {
    for (const attempt of [1, 2, 5, 50]) {
      const r = onSubmit(queued(), { kind: "transient", error: { code: "prover_unavailable", message: "503" } }, URL_A, T0, attempt, cfg);
      expect(r.job).toMatchObject({ status: "queued", prover: { lastError: { code: "prover_unavailable" } } });
      expect(r.busy).toBe(false);
      expect(r.message.ack).toBe(false);
      if (!r.message.ack) {
        expect(r.message.retryDelaySeconds).toBeGreaterThanOrEqual(cfg.retryMinDelaySeconds);
        expect(r.message.retryDelaySeconds).toBeLessThanOrEqual(cfg.retryMaxDelaySeconds);
      }
    }
  });
  it("rejected (400) → failed prover_rejected, acked", () => {
    const r = onSubmit(queued(), { kind: "rejected", error: { code: "invalid_tape", message: "bad" } }, URL_A, T0, 1, cfg);
    expect(r.job).toMatchObject({ status: "failed", error: { code: "prover_rejected" } });
    expect(r.message).toEqual({ ack: true });
  });
  it("waiting in line tells the player how many are ahead", () => {
    expect(onWaiting(queued(), 3, T0).detail).toMatch(/3 jobs ahead/);
    expect(onWaiting(queued(), 0, T0).detail).toMatch(/Next in line/);
  });
});

describe("polling", () => {
  it("queued/running keep waiting and record the prover status", () => {
    expect(onPoll(proving(), { kind: "pending", status: "running" }, T0 + 2000, cfg)).toMatchObject({
      job: { status: "proving", prover: { status: "running" }, attempts: { polls: 1 } },
      next: { kind: "wait" },
    });
  });
  it("succeeded asks the shell to verify and store", () => {
    expect(onPoll(proving(), succeeded(), T0 + 2000, cfg).next).toEqual({ kind: "store" });
  });
});

describe("the stall window (every poll failing)", () => {
  const first = T0 + 2000;
  const failing = () => onPoll(proving(), transient, first, cfg).job;
  it("the first failed poll starts the window; failures are counted", () => {
    expect(failing().prover).toMatchObject({ consecutivePollFailures: 1, firstFailedPollAt: first });
  });
  it("just inside the window another failure is ridden out", () => {
    const r = onPoll(failing(), transient, first + cfg.stallWindowMs, cfg);
    expect(r).toMatchObject({ job: { status: "proving", prover: { consecutivePollFailures: 2, firstFailedPollAt: first } }, next: { kind: "wait" } });
  });
  it("just outside it the prover job counts as lost: deleted on the prover, tape resubmitted", () => {
    const r = onPoll(failing(), transient, first + cfg.stallWindowMs + 1, cfg);
    expect(r.next).toEqual({ kind: "done" });
    expect(r.job).toMatchObject({ status: "queued", attempts: { recoveries: 1 }, lastRecovery: { code: "prover_stalled" } });
    expect(r.job.cleanup).toEqual([expect.objectContaining({ proverJobId: "p1", reason: "prover_stalled" })]);
  });
  it("a good poll ends the streak, so the window starts again at the next failure", () => {
    const ok = onPoll(failing(), { kind: "pending", status: "running" }, first + 100, cfg).job;
    expect(ok.prover).toMatchObject({ consecutivePollFailures: 0, firstFailedPollAt: null });
    const later = first + cfg.stallWindowMs * 2;
    expect(onPoll(ok, transient, later, cfg).job.prover.firstFailedPollAt).toBe(later);
  });
});

describe("the journal must match the tape", () => {
  it("accepts an identical journal", () => expect(journalMismatch(tape, journal, RULES_DIGEST_AST3)).toBeNull());
  it("refuses a missing journal", () => expect(journalMismatch(tape, null, RULES_DIGEST_AST3)).toMatch(/no journal/));
  it.each(Object.keys(journal) as (keyof Journal)[])("refuses a wrong %s", (field) => {
    expect(journalMismatch(tape, { ...journal, [field]: journal[field] + 1 }, RULES_DIGEST_AST3)).toContain(field);
  });
  it("a result that is not a proof of this tape rebuilds the job (result_mismatch)", () => {
    expect(onResultInvalid(proving(), "journal seed is 2, expected 1", T0 + 3000, cfg)).toMatchObject({
      status: "queued",
      attempts: { recoveries: 1 },
      lastRecovery: { code: "result_mismatch" },
    });
  });
});

describe("cancellation", () => {
  it("a queued job is cancelled and nothing is left for the prover", () => {
    expect(cancel(queued(), T0 + 1, cfg)).toMatchObject({ status: "cancelled", finishedAt: T0 + 1, error: null, cleanup: [] });
  });
  it("a proving job is cancelled and its prover job is to be deleted", () => {
    const c = cancel(proving(), T0 + 2000, cfg);
    expect(c.status).toBe("cancelled");
    expect(c.cleanup).toEqual([expect.objectContaining({ proverJobId: "p1", url: URL_A, reason: "cancelled", nextAt: T0 + 2000 })]);
  });
  it("ended jobs stay as they are", () => {
    const d = done();
    expect(cancel(d, T0 + 9000, cfg)).toBe(d);
    const f = expire(queued(), T0 + cfg.maxJobWallTimeMs + 1, cfg);
    expect(cancel(f, T0 + cfg.maxJobWallTimeMs + 2, cfg)).toBe(f);
    const c = cancel(queued(), T0 + 1, cfg);
    expect(cancel(c, T0 + 2, cfg)).toBe(c);
  });
});

describe("a new attempt after failed or cancelled", () => {
  it("only failed and cancelled jobs can be retried", () => {
    expect(canRetry(queued())).toBe(false);
    expect(canRetry(proving())).toBe(false);
    expect(canRetry(done())).toBe(false);
    expect(canRetry(cancel(queued(), T0, cfg))).toBe(true);
    expect(canRetry(expire(queued(), T0 + cfg.maxJobWallTimeMs + 1, cfg))).toBe(true);
  });
  it("starts fresh (own wall-time cap, counters, token) and remembers the ended attempt", () => {
    const cancelled = cancel(proving(), T0 + 2000, cfg);
    const t1 = T0 + 60_000;
    const next = newAttempt(cancelled, t1, cfg, "hash-2");
    expect(next).toMatchObject({
      status: "queued",
      attempt: 2,
      createdAt: T0,
      attemptStartedAt: t1,
      wallDeadlineAt: t1 + cfg.maxJobWallTimeMs,
      attempts: { deliveries: 0, submissions: 0, polls: 0, recoveries: 0 },
      prover: { jobId: null, segmentLimitPo2: cfg.segmentLimitPo2 },
      cancelTokenHash: "hash-2",
      error: null,
      finishedAt: null,
      history: [{ attempt: 1, startedAt: T0, finishedAt: T0 + 2000, status: "cancelled", error: null, recoveries: 0 }],
    });
    // The cancelled attempt's prover job is still to be deleted.
    expect(next.cleanup).toEqual(cancelled.cleanup);
  });
  it(`keeps only the last ${HISTORY_LENGTH} attempts`, () => {
    let j = queued();
    for (let i = 0; i < HISTORY_LENGTH + 1; i++) j = newAttempt(cancel(j, T0 + i, cfg), T0 + i, cfg, `h${i}`);
    expect(j.attempt).toBe(HISTORY_LENGTH + 2);
    expect(j.history.map((h) => h.attempt)).toEqual(Array.from({ length: HISTORY_LENGTH }, (_, i) => i + 2));
  });
});

describe("dead letters", () => {
  it("end a queued job retries_exhausted", () => {
    expect(onDeadLetter(queued(), T0 + 1).error?.code).toBe("retries_exhausted");
  });
  it("leave a job the prover already accepted alone", () => {
    const p = proving();
    expect(onDeadLetter(p, T0 + 1)).toBe(p);
  });
});

describe("the one alarm, derived from state", () => {
  it("queued: a watchdog just after the wall cap", () => {
    expect(alarmAt(queued(), T0, cfg)).toBe(T0 + cfg.maxJobWallTimeMs + 1);
  });
  it("proving: the next poll", () => {
    expect(alarmAt(proving(T0), T0 + 10, cfg)).toBe(T0 + 10 + cfg.pollIntervalMs);
  });
  it("terminal: clean-up after the retention period", () => {
    const failed = expire(queued(), T0 + cfg.maxJobWallTimeMs + 1, cfg);
    expect(alarmAt(failed, T0, cfg)).toBe(failed.finishedAt! + cfg.completedJobRetentionMs);
  });
  it("a pending prover clean-up pulls the alarm earlier in every state", () => {
    const c = cancel(proving(T0), T0 + 2000, cfg);
    expect(alarmAt(c, T0 + 2000, cfg)).toBe(T0 + 2000);
    const rebuilt = expire(proving(T0), T0 + cfg.pollTimeoutMs + 1, cfg);
    expect(rebuilt.status).toBe("queued");
    expect(alarmAt(rebuilt, T0 + cfg.pollTimeoutMs + 1, cfg)).toBe(T0 + cfg.pollTimeoutMs + 1);
  });
});
