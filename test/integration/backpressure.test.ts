import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, inject, it } from "vitest";
import type { Job } from "../../src/core/job.ts";
import {
  callWith,
  cfg,
  dispatcher,
  ended,
  getJob,
  postTape,
  prover,
  stubOf,
  uniqueTape,
  until,
  waitForJob,
} from "./helpers.ts";

const queueMaxRetries = inject("queueMaxRetries");

/**
 * Someone else's proof holds the prover while `n` jobs arrive one after another; their ids in
 * arrival order.
 */
async function arriveWhileBusy(n: number): Promise<string[]> {
  await prover.configure({ proofMs: cfg.pollIntervalMs * 10 });
  await prover.submitDirect(uniqueTape());
  await prover.configure({ proofMs: 100 });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push((await postTape(uniqueTape())).body.job.jobId);
    await scheduler.wait(5);
  }
  return ids;
}

/** Every job succeeds, and the prover accepted them in exactly this order. */
async function expectProvedInOrder(ids: string[]): Promise<void> {
  const jobs = await Promise.all(ids.map((id) => waitForJob(id, ended, 30_000)));
  expect(jobs.map((j) => j.status)).toEqual(ids.map(() => "succeeded"));
  expect(
    [...jobs].sort((a, b) => a.prover.acceptedAt! - b.prover.acceptedAt!).map((j) => j.jobId),
  ).toEqual(ids);
}

beforeEach(async () => {
  await prover.configure({ proofMs: 100 });
});

describe("back-pressure: a busy prover is not a failure", () => {
  it("20 jobs posted at once against one single-flight prover all succeed, each submitted once", async () => {
    const posted = await Promise.all(Array.from({ length: 20 }, () => postTape(uniqueTape())));
    expect(posted.map((p) => p.status)).toEqual(Array(20).fill(202));
    const jobs = await Promise.all(posted.map((p) => waitForJob(p.body.job.jobId, ended, 60_000)));
    expect(jobs.map((j) => j.status)).toEqual(Array(20).fill("succeeded"));
    // The dispatcher hands the prover one job at a time: nobody was turned away with a 429.
    const stats = await prover.stats();
    expect(stats.accepted).toBe(20);
    expect(stats.rateLimited).toBe(0);
    expect(jobs.every((j) => j.attempts.submissions === 1 && j.attempts.recoveries === 0)).toBe(
      true,
    );
  }, 90_000);

  it("the line survives the dispatcher's eviction: storage is the truth, order kept", async () => {
    // The only prover drained, so the line stands still while the dispatcher is evicted.
    const [only] = await dispatcher().listProvers();
    await dispatcher().setDraining(only!.id, true);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await postTape(uniqueTape())).body.job.jobId);
      await scheduler.wait(5);
    }
    await until(async () => (await dispatcher().snapshot()).waiting.length === 3);
    const before = await dispatcher().snapshot();
    expect(before.waiting.map((w) => w.jobId)).toEqual(ids);
    await evictDurableObject(dispatcher());
    expect((await dispatcher().snapshot()).waiting).toEqual(before.waiting);
    await dispatcher().setDraining(only!.id, false);
    await expectProvedInOrder(ids);
  });

  it("jobs waiting for the prover are dispatched in arrival order", async () => {
    await expectProvedInOrder(await arriveWhileBusy(5));
  });

  it("waiting through more 429s than the queue has retries uses up none of them: the job still succeeds", async () => {
    // The foreign proof lasts until more than max_retries 429s have arrived (each costs a
    // cool-down plus a queue hop, however slow the machine), then ends.
    await prover.configure({ proofMs: 60_000 });
    await prover.submitDirect(uniqueTape());
    await prover.configure({ proofMs: 100 });
    const { body } = await postTape(uniqueTape());
    await until(async () => (await prover.stats()).rateLimited > queueMaxRetries, 30_000);
    await prover.endProofs();
    const job = await waitForJob(body.job.jobId, ended, 30_000);
    expect(job.status).toBe("succeeded");
    expect((await prover.stats()).rateLimited).toBeGreaterThan(queueMaxRetries);
  });

  it("only the wall-time cap ends a job that is merely waiting", async () => {
    await prover.configure({ proofMs: 60_000 });
    await prover.submitDirect(uniqueTape());
    const { body } = await postTape(uniqueTape());
    const jobId = body.job.jobId;
    // It waits through more 429s than the queue has retries (however slow the machine), then
    // its wall-time cap comes close and it waits past it.
    await until(async () => (await prover.stats()).rateLimited > queueMaxRetries, 30_000);
    expect((await getJob(jobId)).status).toBe("queued");
    const waitMs = cfg.pollIntervalMs * (queueMaxRetries + 10);
    await runInDurableObject(stubOf(jobId), async (_i, state) => {
      const j = state.storage.kv.get<Job>("job")!;
      state.storage.kv.put("job", { ...j, wallDeadlineAt: Date.now() + waitMs });
      await state.storage.setAlarm(Date.now() + waitMs + 1);
    });
    await scheduler.wait(waitMs / 2);
    expect((await getJob(jobId)).status).toBe("queued");
    const job = await waitForJob(jobId, ended, 30_000);
    expect(job).toMatchObject({ status: "failed", error: { code: "wall_time_exceeded" } });
    expect((await prover.stats()).rateLimited).toBeGreaterThan(queueMaxRetries);
  });

  it("reports the line in front of the prover: who holds it and how many wait", async () => {
    const ADMIN = "admin-token-for-backpressure-01";
    await prover.configure({ proofMs: 5_000 });
    const a = (await postTape(uniqueTape())).body.job.jobId;
    await waitForJob(a, (j) => j.status === "proving");
    await postTape(uniqueTape());
    await postTape(uniqueTape());
    const deadline = Date.now() + 5_000;
    let line;
    do {
      await scheduler.wait(50);
      // Holders are the operator's to see: the admin health (the public one has counts only).
      line = (
        await callWith({ ADMIN_TOKEN: ADMIN }, "/api/admin/health", {
          headers: { authorization: `Bearer ${ADMIN}` },
        })
      ).body.line;
    } while (line.waiting < 2 && Date.now() < deadline);
    expect(line).toMatchObject({ waiting: 2, slots: [{ holder: a }] });
  });
});
