/**
 * Results are written once per job and a job does not succeed until its result is stored:
 * a failed R2 write is retried on the next poll, and a result already stored (a duplicate
 * alarm, a write whose answer was lost) is kept and adopted, never overwritten.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Job, ResultDocument } from "../../src/core/job.ts";
import { resultKey } from "../../src/core/r2-keys.ts";
import { RULES_DIGEST_AST3 } from "../../src/core/tape.ts";
import {
  call,
  withObjectEnv,
  parkAlarm,
  prover,
  provingPatch,
  seedJob,
  storedJob,
  stubOf,
  uniqueTape,
  waitForJob,
} from "./helpers.ts";

/** A job whose prover job has already succeeded, with its alarm parked: the test runs the alarm. */
async function provedJob() {
  const tape = uniqueTape();
  const proverJobId = await prover.submitDirect(tape);
  const seeded = await seedJob(
    tape,
    provingPatch(proverJobId, (now) => now),
  );
  await waitForProver(proverJobId);
  return seeded;
}

async function waitForProver(proverJobId: string) {
  for (let i = 0; i < 200; i++) {
    if ((await prover.job(proverJobId)).body.status === "succeeded") return;
    await scheduler.wait(50);
  }
  throw new Error("the dev prover never finished");
}

/** Makes the job's R2 result writes throw `times` times (the object's own env, until eviction). */
function failResultWrites(jobId: string, times: number) {
  let left = times;
  const faulty = new Proxy(env.TAPES, {
    get(target, prop) {
      if (prop === "put") {
        return async (...args: Parameters<R2Bucket["put"]>) => {
          if (left > 0) {
            left--;
            throw new Error("injected: R2 is unavailable");
          }
          return target.put(...args);
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return withObjectEnv(jobId, { TAPES: faulty });
}

const documentOf = async (jobId: string) =>
  (await (await env.TAPES.get(resultKey(jobId)))!.json()) as ResultDocument;

describe("storing the result", () => {
  it("a failed R2 write keeps the job proving (not succeeded), and the next poll stores it", async () => {
    const { jobId } = await provedJob();
    await failResultWrites(jobId, 2);
    await runDurableObjectAlarm(stubOf(jobId));
    let job = (await storedJob(jobId))!;
    expect(job).toMatchObject({
      status: "proving",
      result: null,
      prover: { status: "succeeded", lastError: { code: "result_store_failed" } },
    });
    expect(await env.TAPES.head(resultKey(jobId))).toBeNull();
    expect((await call(`/api/proofs/jobs/${jobId}/result`)).status).toBe(409);

    await parkAlarm(jobId);
    await runDurableObjectAlarm(stubOf(jobId)); // the second injected failure
    expect((await storedJob(jobId))!.status).toBe("proving");

    await parkAlarm(jobId);
    await runDurableObjectAlarm(stubOf(jobId)); // R2 is back
    job = (await storedJob(jobId))!;
    expect(job).toMatchObject({ status: "succeeded", result: { key: resultKey(jobId) } });
    expect((await documentOf(jobId)).journal).toEqual(job.result!.journal);
  });

  it("a result already stored for the job is kept and adopted, not overwritten", async () => {
    const { jobId, job } = await provedJob();
    const earlier = { ...(await firstDocument(job)), storedAt: 12345 };
    await env.TAPES.put(resultKey(jobId), JSON.stringify(earlier));
    await runDurableObjectAlarm(stubOf(jobId));
    const done = (await storedJob(jobId))!;
    expect(done).toMatchObject({
      status: "succeeded",
      result: { key: resultKey(jobId), journal: earlier.journal },
    });
    expect((await documentOf(jobId)).storedAt).toBe(12345);
  });

  it("never overwrites a stored result that does not prove this tape; the job does not succeed on it", async () => {
    const { jobId, job } = await provedJob();
    const wrong = await firstDocument(job);
    wrong.journal = { ...wrong.journal, final_score: wrong.journal.final_score + 1 };
    await env.TAPES.put(resultKey(jobId), JSON.stringify(wrong));
    await runDurableObjectAlarm(stubOf(jobId));
    expect(await storedJob(jobId)).toMatchObject({
      status: "proving",
      result: null,
      prover: { lastError: { code: "result_store_failed" } },
    });
    expect((await documentOf(jobId)).journal.final_score).toBe(wrong.journal.final_score);
  });

  it("two alarms racing on the same finished proof write one result and both see the same job", async () => {
    const { jobId } = await provedJob();
    await Promise.all([
      runDurableObjectAlarm(stubOf(jobId)),
      runInDurableObject(stubOf(jobId), (i) => i.alarm()),
    ]);
    const job = await waitForJob(jobId, (j) => j.status === "succeeded");
    expect((await documentOf(jobId)).journal).toEqual(job.result!.journal);
    const listed = await env.TAPES.list({ prefix: resultKey(jobId) });
    expect(listed.objects).toHaveLength(1);
  });
});

/** A well-formed result document for the job's tape, as the gateway itself would write it. */
async function firstDocument(job: Job): Promise<ResultDocument> {
  return {
    jobId: job.jobId,
    attempt: job.attempt,
    tape: job.tape,
    proverJobId: "an-earlier-prover-job",
    journal: {
      seed: job.tape.seed,
      frame_count: job.tape.frameCount,
      final_score: job.tape.finalScore,
      final_rng_state: job.tape.finalRngState,
      tape_checksum: job.tape.checksum,
      rules_digest: RULES_DIGEST_AST3,
    },
    receiptKind: "groth16",
    segments: 1,
    proverElapsedMs: 1,
    storedAt: 0,
    prover: {},
  };
}
