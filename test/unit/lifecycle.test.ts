import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.ts";
import type { Job, Journal } from "../../src/job.ts";
import {
  alarmAt,
  expire,
  journalMismatch,
  newJob,
  nextPoll,
  onDeadLetter,
  onPoll,
  onResultStored,
  onSubmit,
  type PollOutcome,
} from "../../src/lifecycle.ts";
import { RULES_DIGEST_AST3 } from "../../src/tape.ts";

const cfg = parseConfig({ PROVER_BASE_URL: "https://prover.example" });
const T0 = 1_700_000_000_000;
const tape = { sizeBytes: 40, seed: 1, frameCount: 12, finalScore: 90, finalRngState: 7, checksum: 99, sha256: "a".repeat(64) };
const journal: Journal = { seed: 1, frame_count: 12, final_score: 90, final_rng_state: 7, tape_checksum: 99, rules_digest: RULES_DIGEST_AST3 };

const queued = () => newJob("a".repeat(64), tape, T0, cfg);
const proving = (acceptedAt = T0 + 1000): Job => onSubmit(queued(), { kind: "accepted", proverJobId: "p1" }, acceptedAt, 1, cfg).job;
const succeeded = (): PollOutcome => ({ kind: "succeeded", journal, receiptKind: "groth16", segments: 4, elapsedMs: 88, document: {} });

describe("the wall-time cap (from creation)", () => {
  const cap = T0 + cfg.maxJobWallTimeMs;
  it("a queued job exactly at the cap is still alive, 1 ms later it fails", () => {
    expect(expire(queued(), cap).status).toBe("queued");
    const ended = expire(queued(), cap + 1);
    expect(ended).toMatchObject({ status: "failed", error: { code: "wall_time_exceeded" }, finishedAt: cap + 1 });
  });
  it("applies to a proving job too (accepted late, so its poll deadline is after the cap)", () => {
    const late = proving(cap - cfg.pollTimeoutMs + 1);
    expect(expire(late, cap).status).toBe("proving");
    expect(expire(late, cap + 1).error?.code).toBe("wall_time_exceeded");
  });
  it("never touches a terminal job", () => {
    const done = onResultStored(proving(), { key: "k", receiptKind: "groth16", segments: 1, proverElapsedMs: 1, journal }, T0 + 5000);
    expect(expire(done, cap + 1_000_000)).toBe(done);
  });
});

describe("the absolute poll deadline (from the prover's acceptance, not per alarm)", () => {
  const accepted = T0 + 5000;
  const deadline = accepted + cfg.pollTimeoutMs;
  it("is set at acceptance", () => expect(proving(accepted).prover.pollDeadlineAt).toBe(deadline));
  it("exactly at the deadline the job keeps proving, 1 ms later it fails poll_timeout", () => {
    expect(expire(proving(accepted), deadline).status).toBe("proving");
    expect(expire(proving(accepted), deadline + 1).error?.code).toBe("poll_timeout");
  });
  it("does not apply to a queued job (the prover never accepted it)", () => {
    expect(expire(queued(), deadline + 1).status).toBe("queued");
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
});

describe("submitting", () => {
  it("accepted → proving, message acked", () => {
    const r = onSubmit(queued(), { kind: "accepted", proverJobId: "p1" }, T0 + 1, 1, cfg);
    expect(r.message).toEqual({ ack: true });
    expect(r.job).toMatchObject({ status: "proving", prover: { jobId: "p1", status: "queued", acceptedAt: T0 + 1 }, attempts: { submissions: 1 } });
  });
  it("busy → still queued, retried with backoff inside the configured bounds", () => {
    for (const attempt of [1, 2, 5, 50]) {
      const r = onSubmit(queued(), { kind: "busy", error: { code: "prover_busy", message: "busy" } }, T0, attempt, cfg);
      expect(r.job.status).toBe("queued");
      expect(r.message.ack).toBe(false);
      if (!r.message.ack) {
        expect(r.message.retryDelaySeconds).toBeGreaterThanOrEqual(cfg.retryMinDelaySeconds);
        expect(r.message.retryDelaySeconds).toBeLessThanOrEqual(cfg.retryMaxDelaySeconds);
      }
    }
  });
  it("transient → still queued, retried, the problem recorded for the player", () => {
    const r = onSubmit(queued(), { kind: "transient", error: { code: "prover_unavailable", message: "503" } }, T0, 1, cfg);
    expect(r.job).toMatchObject({ status: "queued", prover: { lastError: { code: "prover_unavailable" } } });
    expect(r.message.ack).toBe(false);
  });
  it("rejected (400) → failed prover_rejected, acked", () => {
    const r = onSubmit(queued(), { kind: "rejected", error: { code: "invalid_tape", message: "bad" } }, T0, 1, cfg);
    expect(r.job).toMatchObject({ status: "failed", error: { code: "prover_rejected" } });
    expect(r.message).toEqual({ ack: true });
  });
});

describe("polling", () => {
  it("queued/running keep waiting and record the prover status", () => {
    expect(onPoll(proving(), { kind: "pending", status: "running" }, T0 + 2000)).toMatchObject({
      job: { status: "proving", prover: { status: "running" }, attempts: { polls: 1 } },
      next: { kind: "wait" },
    });
  });
  it("a transient failure counts and keeps waiting; a good poll resets the count", () => {
    const err = { kind: "transient", error: { code: "prover_timeout", message: "t" } } as const;
    const once = onPoll(proving(), err, T0 + 2000).job;
    const twice = onPoll(once, err, T0 + 3000).job;
    expect(twice.prover.consecutivePollFailures).toBe(2);
    expect(onPoll(twice, { kind: "pending", status: "running" }, T0 + 4000).job.prover.consecutivePollFailures).toBe(0);
  });
  it("succeeded asks the shell to verify and store", () => {
    expect(onPoll(proving(), succeeded(), T0 + 2000).next).toEqual({ kind: "store" });
  });
  it("failed ends the job with the prover's code in the message", () => {
    const r = onPoll(proving(), { kind: "failed", error: { code: "proof_error", message: "boom" } }, T0 + 2000);
    expect(r.job).toMatchObject({ status: "failed", error: { code: "prover_failed" } });
    expect(r.job.error?.message).toContain("proof_error");
  });
  it("zero_score_not_allowed from the prover is a rejection", () => {
    const r = onPoll(proving(), { kind: "failed", error: { code: "zero_score_not_allowed", message: "0" } }, T0 + 2000);
    expect(r.job.error?.code).toBe("prover_rejected");
  });
  it("404 (lost) ends the job prover_job_lost", () => {
    expect(onPoll(proving(), { kind: "lost" }, T0 + 2000).job.error?.code).toBe("prover_job_lost");
  });
});

describe("the journal must match the tape", () => {
  it("accepts an identical journal", () => expect(journalMismatch(tape, journal, RULES_DIGEST_AST3)).toBeNull());
  it("refuses a missing journal", () => expect(journalMismatch(tape, null, RULES_DIGEST_AST3)).toMatch(/no journal/));
  it.each(Object.keys(journal) as (keyof Journal)[])("refuses a wrong %s", (field) => {
    expect(journalMismatch(tape, { ...journal, [field]: journal[field] + 1 }, RULES_DIGEST_AST3)).toContain(field);
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
    const failed = expire(queued(), T0 + cfg.maxJobWallTimeMs + 1);
    expect(alarmAt(failed, T0, cfg)).toBe(failed.finishedAt! + cfg.completedJobRetentionMs);
  });
});
