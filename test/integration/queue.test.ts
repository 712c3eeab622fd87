import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it } from "vitest";
import worker from "../../src/index.ts";
import { PLACE_CACHE_MIN_MS } from "../../src/core/line-timing.ts";
import type { Job } from "../../src/core/job.ts";
import { fixture } from "./fixtures.ts";
import {
  call,
  cfg,
  dispatcher,
  ended,
  postTape,
  prover,
  provingPatch,
  seedJob,
  storedJob,
  stubOf,
  uniqueTape,
  until,
  waitForJob,
  withObjectEnv,
} from "./helpers.ts";

const JOBS = "proof-jobs";
const queueMaxRetries = inject("queueMaxRetries");
const DLQ = "proof-jobs-dlq";

beforeEach(async () => {
  await prover.configure({ proofMs: 5_000 });
});

/** Delivers one message to the Worker's queue handler and reports what it acked or retried. */
async function deliver(queue: string, body: unknown, attempts = 1, timestamp = new Date()) {
  const batch = createMessageBatch(queue, [{ id: "m1", timestamp, attempts, body }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

const acked = { explicitAcks: ["m1"], retryMessages: [] };

describe("the jobs queue consumer", () => {
  it("submits the stored tape and acks once the prover accepted it", async () => {
    const { jobId } = await seedJob(uniqueTape());
    expect(await deliver(JOBS, { jobId })).toMatchObject(acked);
    expect(await storedJob(jobId)).toMatchObject({
      status: "proving",
      prover: { jobId: expect.any(String), status: "queued" },
      attempts: { deliveries: 1, submissions: 1 },
    });
    expect((await prover.stats()).accepted).toBe(1);
  });

  it("a busy prover (429) is back-pressure: the message is acked, the job waits at the head of the line", async () => {
    await prover.faults([{ kind: "busy", on: "submit" }]);
    const { jobId } = await seedJob(uniqueTape());
    const before = Date.now();
    expect(await deliver(JOBS, { jobId })).toMatchObject(acked);
    const after = Date.now();
    const job = await storedJob(jobId);
    expect(job).toMatchObject({
      status: "queued",
      error: null,
      prover: { lastError: { code: "prover_busy" } },
    });
    expect(job!.detail).toMatch(/busy/);
    const line = await dispatcher().snapshot();
    expect(line.waiting.map((w) => w.jobId)).toEqual([jobId]);
    // The slot is offered again one poll interval later, not after a queue backoff.
    expect(line.slots[0]).toMatchObject({ holder: null });
    expect(line.slots[0]!.cooldownUntil).toBeGreaterThanOrEqual(before + cfg.pollIntervalMs);
    expect(line.slots[0]!.cooldownUntil).toBeLessThanOrEqual(after + cfg.pollIntervalMs);
  });

  it("a job whose turn has not come is acked and told how many jobs are ahead", async () => {
    const first = await seedJob(uniqueTape());
    const second = await seedJob(uniqueTape());
    expect(await deliver(JOBS, { jobId: first.jobId })).toMatchObject(acked);
    expect(await deliver(JOBS, { jobId: second.jobId })).toMatchObject(acked);
    expect((await storedJob(first.jobId))?.status).toBe("proving");
    expect(await storedJob(second.jobId)).toMatchObject({
      status: "queued",
      detail: expect.stringMatching(/Next in line/),
    });
    expect((await prover.stats()).submissions).toBe(1);
    expect((await call(`/api/proofs/jobs/${second.jobId}`)).body.queue).toEqual({ ahead: 0 });
  });

  it("players polling a waiting job do not each ask the dispatcher: its place is cached for a while", async () => {
    const first = await seedJob(uniqueTape());
    const second = await seedJob(uniqueTape());
    await deliver(JOBS, { jobId: first.jobId });
    await deliver(JOBS, { jobId: second.jobId });
    const positionCalls = async () => (await dispatcher().summary()).calls.outlook ?? 0;
    const before = await positionCalls();
    for (let i = 0; i < 5; i++) {
      expect((await call(`/api/proofs/jobs/${second.jobId}`)).body.queue).toEqual({ ahead: 0 });
    }
    expect((await positionCalls()) - before).toBe(1);
    // Stale after PLACE_CACHE_MIN_MS (it is next): asked again.
    await new Promise((r) => setTimeout(r, PLACE_CACHE_MIN_MS + 50));
    await call(`/api/proofs/jobs/${second.jobId}`);
    expect((await positionCalls()) - before).toBe(2);
  });

  it.each([
    ["http_503", "prover_unavailable"],
    ["reset", "prover_unreachable"],
    ["malformed_json", "prover_bad_reply"],
    ["unauthorized", "prover_unauthorized"],
    ["hang", "prover_timeout"],
  ])(
    "a %s on submit is the prover's fault (%s): acked, the job back at the head of the line, the prover charged",
    async (kind, code) => {
      await prover.faults([{ kind, on: "submit" }]);
      const { jobId } = await seedJob(uniqueTape());
      const before = Date.now();
      expect(await deliver(JOBS, { jobId })).toMatchObject(acked);
      expect(await storedJob(jobId)).toMatchObject({
        status: "queued",
        error: null,
        prover: { lastError: { code } },
      });
      const line = await dispatcher().snapshot();
      // Back in line (the only prover rests one poll interval), holding nothing meanwhile.
      expect(line.waiting.map((w) => w.jobId)).toEqual([jobId]);
      expect(line.slots[0]).toMatchObject({ holder: null });
      expect(line.slots[0]!.cooldownUntil).toBeGreaterThanOrEqual(before + cfg.pollIntervalMs);
      const [p] = await dispatcher().listProvers();
      expect(p).toMatchObject({ circuit: { failures: 1 }, counts: { faults: 1 } });
    },
  );

  it("a job whose submissions keep failing is never dead-lettered: it is proved once the prover recovers", async () => {
    // More failures in a row than the queue has retries, and than the circuit allows.
    const failures = queueMaxRetries + 2;
    await prover.faults([{ kind: "http_503", on: "submit", times: failures }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended, 25_000);
    expect(job).toMatchObject({ status: "succeeded", attempts: { submissions: failures + 1 } });
  });

  it("a tape the prover refuses (400) fails the job prover_rejected and is acked, not retried", async () => {
    // Intake refuses zero scores; seed one straight into storage to see the prover's answer.
    const { jobId } = await seedJob(fixture("test-short"));
    expect(await deliver(JOBS, { jobId })).toMatchObject(acked);
    const job = await storedJob(jobId);
    expect(job).toMatchObject({ status: "failed", error: { code: "prover_rejected" } });
    expect(job!.error!.message).toContain("zero_score_not_allowed");
  });

  it("a duplicate delivery of a job the prover already has is acked without a second submission", async () => {
    const { jobId } = await seedJob(uniqueTape());
    await deliver(JOBS, { jobId });
    expect(await deliver(JOBS, { jobId }, 2)).toMatchObject(acked);
    expect((await prover.stats()).submissions).toBe(1);
    expect((await storedJob(jobId))?.attempts).toMatchObject({ deliveries: 2, submissions: 1 });
  });

  it("two deliveries of one queued job at the same moment submit the tape once", async () => {
    // A slow prover keeps the first submission in flight while the duplicate arrives.
    await prover.faults([{ kind: "slow", on: "submit", delayMs: 300 }]);
    const { jobId } = await seedJob(uniqueTape());
    const [a, b] = await Promise.all([deliver(JOBS, { jobId }), deliver(JOBS, { jobId }, 2)]);
    expect((await prover.stats()).submissions).toBe(1);
    // The first is acked once the prover took the tape; the duplicate is acked too (it found the
    // job in line while the dispatcher read the prover's health) or retried (it found the lock).
    const settled = [a, b].map((r) =>
      r.explicitAcks.length === 1 && r.retryMessages.length === 0
        ? "acked"
        : r.explicitAcks.length === 0 && r.retryMessages.length === 1
          ? "retried"
          : "neither",
    );
    expect([
      ["acked", "acked"],
      ["acked", "retried"],
    ]).toContainEqual(settled.sort());
    expect((await storedJob(jobId))?.status).toBe("proving");
    // And the job keeps its prover slot: the duplicate did not hand it back.
    expect((await dispatcher().snapshot()).slots[0]?.holder).toBe(jobId);
  });

  it("a submission that returns after a cancel and repost is not credited to the new attempt: it is an orphan to delete", async () => {
    await prover.faults([
      { kind: "slow", on: "submit", delayMs: Math.floor(cfg.requestTimeoutMs * 0.6) },
    ]);
    const { jobId, job } = await seedJob(uniqueTape());
    const inFlight = deliver(JOBS, { jobId });
    await until(async () => (await prover.stats()).submissions === 1);
    // While attempt 1's tape is on its way to the prover: cancelled, and posted again.
    expect(await stubOf(jobId).cancel({ admin: true })).toMatchObject({ kind: "cancelled" });
    expect(await stubOf(jobId).create(jobId, job.tape, "hash-2")).toMatchObject({
      kind: "created",
      job: { attempt: 2, status: "queued" },
    });
    expect(await inFlight).toMatchObject(acked);
    const after = (await storedJob(jobId))!;
    expect(after).toMatchObject({
      attempt: 2,
      status: "queued",
      prover: { jobId: null },
      attempts: { submissions: 0 },
    });
    expect(after.cleanup).toEqual([expect.objectContaining({ reason: "orphaned" })]);
    expect((await prover.stats()).accepted).toBe(1);
  });

  it("the wall-time cap is checked on delivery: just inside submits, just outside fails without reaching the prover", async () => {
    const inside = await seedJob(uniqueTape(), (j, now) => ({
      ...j,
      wallDeadlineAt: now + 60_000,
    }));
    await deliver(JOBS, { jobId: inside.jobId });
    expect((await storedJob(inside.jobId))?.status).toBe("proving");

    await prover.reset();
    const outside = await seedJob(uniqueTape(), (j, now) => ({ ...j, wallDeadlineAt: now - 1 }));
    expect(await deliver(JOBS, { jobId: outside.jobId })).toMatchObject(acked);
    expect(await storedJob(outside.jobId)).toMatchObject({
      status: "failed",
      error: { code: "wall_time_exceeded" },
    });
    expect((await prover.stats()).submissions).toBe(0);
  });

  it("a message for no known job, or not a job message at all, is acked (nothing can use it)", async () => {
    expect(await deliver(JOBS, { jobId: "f".repeat(64) })).toMatchObject(acked);
    expect(await deliver(JOBS, { nope: true })).toMatchObject(acked);
    expect(await deliver(JOBS, "garbage")).toMatchObject(acked);
  });
});

describe("the dead-letter queue consumer", () => {
  it("ends a job whose deliveries ran out with retries_exhausted, naming the last problem", async () => {
    await prover.faults([{ kind: "http_503", on: "submit" }]);
    const { jobId } = await seedJob(uniqueTape());
    await deliver(JOBS, { jobId });
    expect(await deliver(DLQ, { jobId })).toMatchObject(acked);
    const job = await storedJob(jobId);
    expect(job).toMatchObject({ status: "failed", error: { code: "retries_exhausted" } });
    expect(job!.error!.message).toContain("prover_unavailable");
    // Its prover slot is free again for the next job.
    expect((await dispatcher().snapshot()).slots[0]?.holder).toBeNull();
  });

  it("leaves a job the prover already accepted alone", async () => {
    const tape = uniqueTape();
    const proverJobId = await prover.submitDirect(tape);
    const { jobId } = await seedJob(
      tape,
      provingPatch(proverJobId, (now) => now),
    );
    expect(await deliver(DLQ, { jobId })).toMatchObject(acked);
    expect((await storedJob(jobId))?.status).toBe("proving");
  });

  it("ends only the attempt it names: a stale dead letter of attempt 1 leaves attempt 2 alone", async () => {
    const { jobId } = await seedJob(uniqueTape(), (j, now) => ({
      ...j,
      attempt: 2,
      attemptStartedAt: now,
    }));
    expect(await deliver(DLQ, { jobId, attempt: 1 })).toMatchObject(acked);
    expect(await storedJob(jobId)).toMatchObject({ attempt: 2, status: "queued", error: null });
    expect(await deliver(DLQ, { jobId, attempt: 3 })).toMatchObject(acked);
    expect(await storedJob(jobId)).toMatchObject({ attempt: 2, status: "queued" });
    expect(await deliver(DLQ, { jobId, attempt: 2 })).toMatchObject(acked);
    expect(await storedJob(jobId)).toMatchObject({
      attempt: 2,
      status: "failed",
      error: { code: "retries_exhausted" },
    });
  });

  it("a dead letter naming no attempt (an older message, a grant) ends an attempt only if it began before the message was sent", async () => {
    const { jobId, job } = await seedJob(uniqueTape(), (j, now) => ({
      ...j,
      attempt: 2,
      attemptStartedAt: now - 1_000,
    }));
    const sentJustBefore = new Date(job.attemptStartedAt - 1);
    expect(await deliver(DLQ, { jobId }, 1, sentJustBefore)).toMatchObject(acked);
    expect((await storedJob(jobId))?.status).toBe("queued");
    const sentAtTheStart = new Date(job.attemptStartedAt);
    expect(await deliver(DLQ, { jobId }, 1, sentAtTheStart)).toMatchObject(acked);
    expect(await storedJob(jobId)).toMatchObject({
      status: "failed",
      error: { code: "retries_exhausted" },
    });
  });

  it("the messages a job sends name its attempt", async () => {
    const { jobId, job } = await seedJob(uniqueTape(), (j, now) => ({
      ...j,
      status: "cancelled",
      finishedAt: now,
    }));
    const sent: unknown[] = [];
    const queue = { send: async (m: unknown) => void sent.push(m) } as unknown as Queue;
    await withObjectEnv(jobId, { JOBS_QUEUE: queue });
    await stubOf(jobId).create(jobId, job.tape, "hash-2");
    expect(sent).toEqual([{ jobId, attempt: 2 }]);
  });

  it("leaves a finished job alone", async () => {
    const { jobId } = await seedJob(uniqueTape(), (j: Job, now) => ({
      ...j,
      status: "cancelled",
      finishedAt: now,
    }));
    await deliver(DLQ, { jobId });
    expect((await storedJob(jobId))?.status).toBe("cancelled");
  });
});
