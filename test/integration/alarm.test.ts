import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Job } from "../../src/core/job.ts";
import {
  call,
  cfg,
  parkAlarm,
  getJob,
  prover,
  provingPatch,
  seedJob,
  storedAlarm,
  storedJob,
  stubOf,
  uniqueTape,
  waitForJob,
} from "./helpers.ts";

/**
 * A prover proof much longer than one alarm's poll budget, so a job stays `proving` across alarms.
 */
const LONG_PROOF_MS = cfg.pollBudgetMs * 5;

beforeEach(async () => {
  await prover.configure({ proofMs: LONG_PROOF_MS });
});

/** A job the prover really is proving, with its alarm parked: the test runs the alarm. */
async function provingJob(
  acceptedAt: (now: number) => number = (now) => now,
  patch: (j: Job, now: number) => Job = (j) => j,
) {
  const tape = uniqueTape();
  const proverJobId = await prover.submitDirect(tape);
  const proving = provingPatch(proverJobId, acceptedAt);
  return seedJob(tape, (j, now) => patch(proving(j, now), now));
}

describe("the alarm loop", () => {
  it("polls within the per-alarm budget, then re-arms instead of polling on", async () => {
    // Accepted a while ago, nothing measured: its polls are a whole ceiling apart.
    const { jobId } = await provingJob((now) => now - 10 * cfg.pollIntervalMs);
    const before = (await prover.stats()).polls;
    const startedAt = Date.now();
    expect(await runDurableObjectAlarm(stubOf(jobId))).toBe(true);
    const polls = (await prover.stats()).polls - before;
    // One poll at the start, then one per interval while the next poll stays inside the budget.
    expect(polls).toBeGreaterThanOrEqual(2);
    expect(polls).toBeLessThanOrEqual(Math.floor(cfg.pollBudgetMs / cfg.pollIntervalMs) + 1);
    const job = await storedJob(jobId);
    expect(job).toMatchObject({ status: "proving", prover: { status: "running" } });
    expect(job!.attempts.polls).toBe(polls);
    const alarm = await storedAlarm(jobId);
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeGreaterThan(startedAt);
    expect(alarm! - Date.now()).toBeLessThanOrEqual(cfg.pollIntervalMs);
  });

  it("the absolute poll deadline counts from acceptance: just inside keeps polling", async () => {
    // Accepted long ago, but the deadline is still a full budget away.
    const { jobId } = await provingJob((now) => now - cfg.pollTimeoutMs + cfg.pollBudgetMs * 3);
    await runDurableObjectAlarm(stubOf(jobId));
    expect((await storedJob(jobId))?.status).toBe("proving");
  });

  it("the absolute poll deadline counts from acceptance: just outside abandons the prover job and resubmits, without polling", async () => {
    const { jobId } = await provingJob((now) => now - cfg.pollTimeoutMs - 1);
    const abandoned = (await storedJob(jobId))!.prover.jobId;
    const before = (await prover.stats()).polls;
    await runDurableObjectAlarm(stubOf(jobId));
    const job = await storedJob(jobId);
    expect(job).toMatchObject({
      attempts: { recoveries: 1 },
      lastRecovery: { code: "poll_timeout" },
      error: null,
    });
    expect(job!.status).not.toBe("failed");
    // The stuck prover job is told to go (the prover answers 409 until its proof ends).
    expect(job!.cleanup).toEqual([
      expect.objectContaining({ proverJobId: abandoned, reason: "poll_timeout" }),
    ]);
    expect((await prover.stats()).polls).toBe(before);
  });

  it("the absolute poll deadline with no recovery left fails poll_timeout", async () => {
    const { jobId } = await provingJob(
      (now) => now - cfg.pollTimeoutMs - 1,
      (j) => ({ ...j, attempts: { ...j.attempts, recoveries: cfg.maxRecoveries } }),
    );
    await runDurableObjectAlarm(stubOf(jobId));
    expect(await storedJob(jobId)).toMatchObject({
      status: "failed",
      error: { code: "poll_timeout" },
    });
  });

  it("a deadline that falls inside one alarm's budget is acted on in that same alarm", async () => {
    // Deadline a few intervals away: well inside one budget, far before the proof ends.
    const { jobId } = await provingJob(
      (now) => now - cfg.pollTimeoutMs + cfg.pollIntervalMs * 3,
      (j) => ({ ...j, attempts: { ...j.attempts, recoveries: cfg.maxRecoveries } }),
    );
    await runDurableObjectAlarm(stubOf(jobId));
    expect(await storedJob(jobId)).toMatchObject({
      status: "failed",
      error: { code: "poll_timeout" },
    });
  });

  it("the wall-time cap: just inside keeps polling, just outside fails wall_time_exceeded", async () => {
    const inside = await provingJob(undefined, (j, now) => ({
      ...j,
      wallDeadlineAt: now + cfg.pollBudgetMs * 3,
    }));
    await runDurableObjectAlarm(stubOf(inside.jobId));
    expect((await storedJob(inside.jobId))?.status).toBe("proving");
    // Its next alarm must not poll while the outside job's polls are counted.
    await parkAlarm(inside.jobId);

    await prover.reset();
    const outside = await provingJob(undefined, (j, now) => ({ ...j, wallDeadlineAt: now - 1 }));
    const before = (await prover.stats()).polls;
    await runDurableObjectAlarm(stubOf(outside.jobId));
    expect(await storedJob(outside.jobId)).toMatchObject({
      status: "failed",
      error: { code: "wall_time_exceeded" },
    });
    expect((await prover.stats()).polls).toBe(before);
  });

  it("the wall-time cap is checked on read", async () => {
    const inside = await seedJob(uniqueTape(), (j, now) => ({
      ...j,
      wallDeadlineAt: now + 60_000,
    }));
    expect((await getJob(inside.jobId)).status).toBe("queued");
    const outside = await seedJob(uniqueTape(), (j, now) => ({ ...j, wallDeadlineAt: now - 1 }));
    const read = await getJob(outside.jobId);
    expect(read).toMatchObject({ status: "failed", error: { code: "wall_time_exceeded" } });
    expect((await storedJob(outside.jobId))?.status).toBe("failed");
  });

  it("a queued job's alarm is a wall-time watchdog", async () => {
    const job = await seedJob(uniqueTape(), (j, now) => ({ ...j, wallDeadlineAt: now - 1 }));
    await runDurableObjectAlarm(stubOf(job.jobId));
    expect(await storedJob(job.jobId)).toMatchObject({
      status: "failed",
      error: { code: "wall_time_exceeded" },
    });
  });

  it("eviction between alarms loses nothing: the job carries on from storage and proves once", async () => {
    await prover.configure({ proofMs: cfg.pollBudgetMs * 2 });
    const { jobId } = await provingJob();
    await evictDurableObject(stubOf(jobId));
    expect((await storedJob(jobId))?.status).toBe("proving");
    await runDurableObjectAlarm(stubOf(jobId));
    await parkAlarm(jobId);
    await evictDurableObject(stubOf(jobId));
    const stored = await storedJob(jobId);
    expect(stored?.status).toBe("proving");
    expect(stored?.attempts.polls).toBeGreaterThan(0);
    await runDurableObjectAlarm(stubOf(jobId));
    const done = await waitForJob(jobId, (j) => j.status !== "proving");
    expect(done.status).toBe("succeeded");
    expect((await prover.stats()).accepted).toBe(1);
  });
});

describe("clean-up after the retention period", () => {
  const finished =
    (finishedAgoMs: number) =>
    (j: Job, now: number): Job => ({
      ...j,
      status: "failed",
      error: { code: "prover_failed", message: "x" },
      finishedAt: now - finishedAgoMs,
    });

  it("just inside the retention period the job stays and the alarm is re-armed for its end", async () => {
    const { jobId } = await seedJob(uniqueTape(), finished(cfg.completedJobRetentionMs - 60_000));
    await runDurableObjectAlarm(stubOf(jobId));
    const job = await storedJob(jobId);
    expect(job?.status).toBe("failed");
    expect(await storedAlarm(jobId)).toBe(job!.finishedAt! + cfg.completedJobRetentionMs);
  });

  it("past the retention period the job's state is deleted (404 afterwards)", async () => {
    const { jobId } = await seedJob(uniqueTape(), finished(cfg.completedJobRetentionMs + 1));
    await runDurableObjectAlarm(stubOf(jobId));
    expect(await storedJob(jobId)).toBeNull();
    expect((await call(`/api/proofs/jobs/${jobId}`)).status).toBe(404);
    // The tape stays in R2 (an R2 lifecycle rule expires it).
    expect(await env.TAPES.head(`tapes/${jobId}.tape`)).not.toBeNull();
  });
});
