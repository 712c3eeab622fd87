/**
 * No stale save: every step of a job's Durable Object that awaits I/O (the result's R2 write, a
 * dispatcher call, a queue send, a prover request) applies its outcome to the job as it is now.
 * Each test holds one await open with a promise it controls (a binding of the job's object
 * replaced through `withObjectEnv`, or the dev prover's `slow` fault), lands a cancel or a
 * delivery in the window, then lets the await finish. A cancelled job stays cancelled, and its
 * index row, its sockets and R2 agree.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import type { Job } from "../../src/core/job.ts";
import { resultKey } from "../../src/core/r2-keys.ts";
import { jobIndexOf } from "../../src/objects/job-index.ts";
import {
  dispatcher,
  getJob,
  prover,
  provingPatch,
  seedJob,
  storedJob,
  stubOf,
  uniqueTape,
  until,
  withObjectEnv,
} from "./helpers.ts";

/** A promise the test settles. */
function gate<T = void>() {
  let open!: (v: T) => void;
  let fail!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { promise, open, fail };
}

/**
 * `target` with `method` held: the first call signals `entered` and waits for `release` (then
 * does the real call, or what `instead` says); later calls go straight through.
 */
function holdFirst<T extends object>(
  target: T,
  method: string,
  instead?: (real: (...a: unknown[]) => Promise<unknown>, ...a: unknown[]) => Promise<unknown>,
) {
  const entered = gate();
  const release = gate();
  let held = false;
  const proxy = new Proxy(target, {
    get(t, prop) {
      const v = Reflect.get(t, prop) as unknown;
      if (typeof v !== "function") return v;
      // Reflect.apply: an RPC method's own `.apply` would be a remote call.
      const real = (...a: unknown[]) =>
        Reflect.apply(v as (...x: unknown[]) => Promise<unknown>, t, a) as Promise<unknown>;
      if (prop !== method || held) return real;
      return async (...a: unknown[]) => {
        held = true;
        entered.open();
        await release.promise;
        return instead ? instead(real, ...a) : real(...a);
      };
    },
  });
  return { proxy, entered: entered.promise, release: () => release.open() };
}

/** A Durable Object namespace whose stubs hold `method` (see `holdFirst`). */
function namespaceHolding<N extends DurableObjectNamespace<any>>(
  ns: N,
  method: string,
  instead?: Parameters<typeof holdFirst>[2],
) {
  let hold: ReturnType<typeof holdFirst> | null = null;
  const entered = gate();
  const release = gate();
  const proxy = new Proxy(ns, {
    get(t, prop) {
      const v = Reflect.get(t, prop) as unknown;
      if (prop !== "getByName" || typeof v !== "function") {
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      }
      return (name: string) => {
        const stub = Reflect.apply(v as (n: string) => object, t, [name]);
        if (hold) return stub;
        hold = holdFirst(stub, method, instead);
        void hold.entered.then(() => entered.open());
        void release.promise.then(() => hold!.release());
        return hold.proxy;
      };
    },
  });
  return { proxy: proxy as N, entered: entered.promise, release: () => release.open() };
}

async function deliver(queue: string, body: unknown) {
  const batch = createMessageBatch(queue, [{ id: "m1", timestamp: new Date(), attempts: 1, body }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}
const acked = { explicitAcks: ["m1"], retryMessages: [] };

const indexed = async (jobId: string) =>
  (await jobIndexOf(env).list({ status: null, limit: 100, after: null })).jobs.find(
    (j) => j.jobId === jobId,
  ) ?? null;

/** Opens the job's live-status socket and keeps every status it is sent. */
async function watch(jobId: string) {
  const res = await exports.default.fetch(
    new Request(`http://gateway.test/api/proofs/jobs/${jobId}/ws`, {
      headers: { upgrade: "websocket" },
    }),
  );
  const ws = res.webSocket!;
  const seen: string[] = [];
  const closed = new Promise<number>((resolve) =>
    ws.addEventListener("close", (e) => resolve(e.code)),
  );
  ws.addEventListener("message", (e) => seen.push(JSON.parse(e.data as string).job.status));
  ws.accept();
  return { seen, closed };
}

/** A proving job whose prover job has succeeded; its alarm parked (the test runs it). */
async function provedJob(patch: (j: Job, now: number) => Job = (j) => j) {
  const tape = uniqueTape();
  const proverJobId = await prover.submitDirect(tape);
  const seeded = await seedJob(tape, (j, now) =>
    patch(provingPatch(proverJobId, (t) => t)(j, now), now),
  );
  await until(async () => (await prover.job(proverJobId)).body.status === "succeeded");
  return { ...seeded, proverJobId };
}

/** Expects the job cancelled everywhere: its record, its GET, its index row, no result in R2. */
async function expectCancelled(jobId: string) {
  expect((await storedJob(jobId))?.status).toBe("cancelled");
  expect((await getJob(jobId)).status).toBe("cancelled");
  expect((await indexed(jobId))?.status).toBe("cancelled");
  expect(await env.TAPES.head(resultKey(jobId))).toBeNull();
}

describe("a cancel while the job's object awaits I/O stays a cancel", () => {
  it("during the result's R2 write: the job ends cancelled, not succeeded, and the written result is taken back", async () => {
    await prover.configure({ proofMs: 50 });
    const { jobId } = await provedJob();
    const socket = await watch(jobId);
    const r2 = holdFirst(env.TAPES, "put");
    await withObjectEnv(jobId, { TAPES: r2.proxy as R2Bucket });
    const alarm = runDurableObjectAlarm(stubOf(jobId));
    await r2.entered;
    expect(await stubOf(jobId).cancel({ admin: true })).toMatchObject({ kind: "cancelled" });
    r2.release();
    await alarm;
    await expectCancelled(jobId);
    expect(await socket.closed).toBe(1000);
    expect(socket.seen.at(-1)).toBe("cancelled");
    expect(socket.seen).not.toContain("succeeded");
  });

  it("during a submission: the job stays cancelled and the prover job it got is an orphan to delete", async () => {
    await prover.configure({ proofMs: 50 });
    await prover.faults([{ kind: "slow", on: "submit", delayMs: 800 }]);
    const { jobId } = await seedJob(uniqueTape());
    const delivered = deliver("proof-jobs", { jobId, attempt: 1 });
    await until(async () => (await prover.stats()).submissions === 1);
    expect(await stubOf(jobId).cancel({ admin: true })).toMatchObject({ kind: "cancelled" });
    expect(await delivered).toMatchObject(acked);
    const job = (await storedJob(jobId))!;
    expect(job).toMatchObject({ status: "cancelled", prover: { jobId: null } });
    expect(job.cleanup).toEqual([expect.objectContaining({ reason: "orphaned" })]);
    await expectCancelled(jobId);
  });

  it("while the tape is read for a submission: nothing is submitted", async () => {
    const { jobId } = await seedJob(uniqueTape());
    const r2 = holdFirst(env.TAPES, "get");
    await withObjectEnv(jobId, { TAPES: r2.proxy as R2Bucket });
    const delivered = deliver("proof-jobs", { jobId, attempt: 1 });
    await r2.entered;
    expect(await stubOf(jobId).cancel({ admin: true })).toMatchObject({ kind: "cancelled" });
    r2.release();
    expect(await delivered).toMatchObject(acked);
    expect((await prover.stats()).submissions).toBe(0);
    expect((await storedJob(jobId))!.cleanup).toEqual([]);
    await expectCancelled(jobId);
  });

  it("during a poll: the prover's answer is not applied to the cancelled job", async () => {
    await prover.configure({ proofMs: 50 });
    const { jobId } = await provedJob();
    await prover.faults([{ kind: "slow", on: "poll", delayMs: 800 }]);
    const polls = (await prover.stats()).polls;
    const alarm = runDurableObjectAlarm(stubOf(jobId));
    await until(async () => (await prover.stats()).polls > polls);
    expect(await stubOf(jobId).cancel({ admin: true })).toMatchObject({ kind: "cancelled" });
    await alarm;
    await expectCancelled(jobId);
    expect((await storedJob(jobId))!.attempts.polls).toBe(0);
  });

  it("during the watchdog's dispatcher call: the job does not go back to queued", async () => {
    const { jobId } = await seedJob(uniqueTape(), (j, now) => ({ ...j, updatedAt: now - 60_000 }));
    const ns = namespaceHolding(env.DISPATCHER, "whereIs", async () => "absent");
    await withObjectEnv(jobId, { DISPATCHER: ns.proxy });
    const alarm = runDurableObjectAlarm(stubOf(jobId));
    await ns.entered;
    expect(await stubOf(jobId).cancel({ admin: true })).toMatchObject({ kind: "cancelled" });
    ns.release();
    await alarm;
    await expectCancelled(jobId);
    expect((await storedJob(jobId))!.attempts.redispatches).toBe(0);
  });

  it("during the holder check's queue send: the job does not go back to queued", async () => {
    const { jobId } = await seedJob(uniqueTape());
    const queue = holdFirst(env.JOBS_QUEUE, "send");
    await withObjectEnv(jobId, { JOBS_QUEUE: queue.proxy as Queue });
    const check = stubOf(jobId).needsProver();
    await queue.entered;
    expect(await stubOf(jobId).cancel({ admin: true })).toMatchObject({ kind: "cancelled" });
    queue.release();
    expect(await check).toBe(false);
    await expectCancelled(jobId);
  });

  it("during the index update after a rebuild: the cancelled job is not put back in line", async () => {
    // The prover no longer knows the job: it is rebuilt (back in line), then the index is told.
    const { jobId } = await seedJob(
      uniqueTape(),
      provingPatch("f".repeat(32), (now) => now),
    );
    const ns = namespaceHolding(env.JOB_INDEX, "record");
    await withObjectEnv(jobId, { JOB_INDEX: ns.proxy });
    const alarm = runDurableObjectAlarm(stubOf(jobId));
    await ns.entered;
    expect((await storedJob(jobId))?.status).toBe("queued");
    expect(await stubOf(jobId).cancel({ admin: true })).toMatchObject({ kind: "cancelled" });
    ns.release();
    await alarm;
    await expectCancelled(jobId);
    expect((await dispatcher().snapshot()).waiting.map((w) => w.jobId)).not.toContain(jobId);
    // Never granted a prover either (a grant is undone only once its delivery finds the cancel).
    expect((await dispatcher().listProvers()).map((p) => p.counts.granted)).toEqual([0]);
  });

  it("during a failed enqueue of a new attempt: the cancel is not undone", async () => {
    const { jobId, job } = await seedJob(uniqueTape(), (j, now) => ({
      ...j,
      status: "failed",
      finishedAt: now,
      error: { code: "prover_failed", message: "x" },
    }));
    const queue = holdFirst(env.JOBS_QUEUE, "send", async () => {
      throw new Error("injected: the queue is down");
    });
    await withObjectEnv(jobId, { JOBS_QUEUE: queue.proxy as Queue });
    const created = stubOf(jobId).create(jobId, job.tape, "hash-2");
    await queue.entered;
    expect(await stubOf(jobId).cancel({ admin: true })).toMatchObject({
      kind: "cancelled",
      job: { attempt: 2 },
    });
    queue.release();
    expect(await created).toMatchObject({ kind: "enqueue_failed" });
    expect(await storedJob(jobId)).toMatchObject({ attempt: 2, status: "cancelled" });
    expect((await indexed(jobId))?.status).toBe("cancelled");
  });
});

describe("a delivery while the job's object awaits I/O is not lost", () => {
  it("during a poll: the proof is stored and the delivery counted", async () => {
    await prover.configure({ proofMs: 50 });
    const { jobId } = await provedJob();
    await prover.faults([{ kind: "slow", on: "poll", delayMs: 800 }]);
    const polls = (await prover.stats()).polls;
    const alarm = runDurableObjectAlarm(stubOf(jobId));
    await until(async () => (await prover.stats()).polls > polls);
    expect(await deliver("proof-jobs", { jobId, attempt: 1 })).toMatchObject(acked);
    await alarm;
    expect(await storedJob(jobId)).toMatchObject({
      status: "succeeded",
      attempts: { deliveries: 1, polls: 1 },
    });
    expect(await env.TAPES.head(resultKey(jobId))).not.toBeNull();
  });

  it("during the result's R2 write: the proof is stored and the delivery counted", async () => {
    await prover.configure({ proofMs: 50 });
    const { jobId } = await provedJob();
    const r2 = holdFirst(env.TAPES, "put");
    await withObjectEnv(jobId, { TAPES: r2.proxy as R2Bucket });
    const alarm = runDurableObjectAlarm(stubOf(jobId));
    await r2.entered;
    expect(await deliver("proof-jobs", { jobId, attempt: 1 })).toMatchObject(acked);
    r2.release();
    await alarm;
    expect(await storedJob(jobId)).toMatchObject({
      status: "succeeded",
      attempts: { deliveries: 1, polls: 1 },
    });
    expect((await indexed(jobId))?.status).toBe("succeeded");
    expect(await env.TAPES.head(resultKey(jobId))).not.toBeNull();
  });
});
