/**
 * The job's Durable Object, not its queue message, is the source of truth. A queued job that
 * nothing has moved for DISPATCH_WATCHDOG_MS is looked for by its own alarm: left alone while
 * it waits in line or is being submitted, re-sent through the queue when its message was lost
 * (never delivered, or a prover grant that never arrived). Lost alarms are re-armed on read.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Job } from "../../src/core/job.ts";
import { alarmAt } from "../../src/core/job-timing.ts";
import {
  cfg,
  dispatcher,
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

const W = cfg.dispatchWatchdogMs;

/** A queued job last moved `idleMs` ago, with no queue message and its alarm parked. */
const staleQueued = (idleMs: number) =>
  seedJob(uniqueTape(), (j, now) => ({
    ...j,
    createdAt: now - idleMs,
    attemptStartedAt: now - idleMs,
    updatedAt: now - idleMs,
  }));

const arm = (jobId: string, job: Job) =>
  runInDurableObject(stubOf(jobId), (_i, state) =>
    state.storage.setAlarm(alarmAt(job, Date.now(), cfg)),
  );

describe("the dispatch watchdog", () => {
  it("finds a job whose queue message was lost (the runtime died before delivery) and gets it proved", async () => {
    // Accepted, stored, alarm armed as create() arms it — but no message ever reaches the queue.
    const { jobId, job } = await seedJob(uniqueTape());
    await arm(jobId, job);
    expect(await storedAlarm(jobId)).toBe(job.updatedAt + W);
    const done = await waitForJob(jobId, (j) => j.status === "succeeded", W + 15_000);
    expect(done.attempts).toMatchObject({ redispatches: 1, deliveries: 1, submissions: 1 });
    expect((await prover.stats()).accepted).toBe(1);
  });

  it("leaves a job alone until DISPATCH_WATCHDOG_MS has passed, and re-sends it once it has", async () => {
    const inside = await staleQueued(W - 1_000);
    await runDurableObjectAlarm(stubOf(inside.jobId));
    const untouched = (await storedJob(inside.jobId))!;
    expect(untouched.attempts).toMatchObject({ redispatches: 0, deliveries: 0 });
    // Re-armed for the moment the interval ends, not later.
    expect(await storedAlarm(inside.jobId)).toBe(inside.job.updatedAt + W);

    const outside = await staleQueued(W + 1);
    await runDurableObjectAlarm(stubOf(outside.jobId));
    expect((await storedJob(outside.jobId))!.attempts.redispatches).toBe(1);
    const done = await waitForJob(outside.jobId, (j) => j.status === "succeeded");
    expect(done.attempts).toMatchObject({ redispatches: 1, submissions: 1 });
  });

  it("does not re-send a job that waits in the dispatcher's line; it looks again after as long as the job has waited", async () => {
    const holder = await staleQueued(0);
    expect(await dispatcher().admit(holder.jobId, holder.job.attemptStartedAt)).toMatchObject({
      kind: "granted",
    });
    const waiting = await staleQueued(W + 1);
    expect(await dispatcher().admit(waiting.jobId, waiting.job.attemptStartedAt)).toEqual({
      kind: "waiting",
      ahead: 0,
    });
    const before = Date.now();
    await runDurableObjectAlarm(stubOf(waiting.jobId));
    const job = (await storedJob(waiting.jobId))!;
    expect(job).toMatchObject({ status: "queued", attempts: { redispatches: 0, deliveries: 0 } });
    expect(job.watchdogCheckedAt).toBeGreaterThanOrEqual(before);
    // It had waited just over one interval, so the next look is that long after this one.
    const waited = job.watchdogCheckedAt! - job.updatedAt;
    expect(waited).toBeGreaterThan(W);
    expect(await storedAlarm(waiting.jobId)).toBe(job.watchdogCheckedAt! + waited);
    expect(await dispatcher().whereIs(waiting.jobId)).toBe("waiting");
  });

  it("the dispatcher's holder check re-sends a job whose grant never arrived (not only its own, spread-out watchdog)", async () => {
    // Granted a prover, but the grant's queue message is lost: the job stays queued.
    const granted = await staleQueued(0);
    expect(await dispatcher().admit(granted.jobId, granted.job.attemptStartedAt)).toMatchObject({
      kind: "granted",
    });
    // Its holder check comes a poll budget after the grant.
    const checks = async () =>
      runInDurableObject(dispatcher(), async (instance) => {
        await instance.alarm();
      });
    await checks();
    expect((await storedJob(granted.jobId))!.attempts.redispatches).toBe(0); // not yet due
    await new Promise((r) => setTimeout(r, cfg.pollBudgetMs + 50));
    await checks();
    const done = await waitForJob(granted.jobId, (j) => j.status === "succeeded");
    expect(done.attempts).toMatchObject({ redispatches: 1, submissions: 1 });
  });

  it("re-sends a job that was granted a prover but whose grant message never arrived; it keeps its slot", async () => {
    const granted = await staleQueued(W + 1);
    expect(await dispatcher().admit(granted.jobId, granted.job.attemptStartedAt)).toMatchObject({
      kind: "granted",
    });
    await runDurableObjectAlarm(stubOf(granted.jobId));
    const done = await waitForJob(granted.jobId, (j) => j.status === "succeeded");
    expect(done.attempts).toMatchObject({ redispatches: 1, submissions: 1 });
    expect(await dispatcher().whereIs(granted.jobId)).toBe("absent"); // released when it ended
  });

  it("does not re-send a job while a delivery is submitting it", async () => {
    const { jobId } = await staleQueued(W + 1);
    await runInDurableObject(stubOf(jobId), (_i, state) =>
      state.storage.kv.put("submitLock", Date.now() + 10_000),
    );
    await runDurableObjectAlarm(stubOf(jobId));
    expect((await storedJob(jobId))!.attempts.redispatches).toBe(0);
  });

  it("a re-send racing the original (only slow) message still submits the tape once", async () => {
    const { jobId } = await staleQueued(W + 1);
    // The original message turns up after all, while the watchdog re-sends.
    await Promise.all([env.JOBS_QUEUE.send({ jobId }), runDurableObjectAlarm(stubOf(jobId))]);
    const done = await waitForJob(jobId, (j) => j.status === "succeeded");
    expect(done.attempts.redispatches).toBe(1);
    expect(done.attempts.submissions).toBe(1);
    expect((await prover.stats()).submissions).toBe(1);
  });
});

describe("lost alarms", () => {
  it("a read of a proving job with no alarm armed re-arms it, and polling resumes", async () => {
    const tape = uniqueTape();
    const proverJobId = await prover.submitDirect(tape);
    const { jobId } = await seedJob(
      tape,
      provingPatch(proverJobId, (now) => now),
    );
    await runInDurableObject(stubOf(jobId), (_i, state) => state.storage.deleteAlarm());
    expect(await storedAlarm(jobId)).toBeNull();
    await getJob(jobId);
    const alarm = await storedAlarm(jobId);
    expect(alarm).not.toBeNull();
    expect(alarm! - Date.now()).toBeLessThanOrEqual(cfg.pollIntervalMs);
    await waitForJob(jobId, (j) => j.status === "succeeded");
  });

  it("a read of a queued job with no alarm armed re-arms its watchdog", async () => {
    const { jobId, job } = await staleQueued(0);
    await runInDurableObject(stubOf(jobId), (_i, state) => state.storage.deleteAlarm());
    await getJob(jobId);
    expect(await storedAlarm(jobId)).toBe(job.updatedAt + W);
  });
});
