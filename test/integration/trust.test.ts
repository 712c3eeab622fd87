import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { fixture } from "./fixtures.ts";
import { TEST_API_KEY } from "../support/test-vars.ts";
import {
  call,
  dispatcher,
  ended,
  fleet,
  getJob,
  prover,
  seedJob,
  stubOf,
  until,
  uniqueTape,
  waitForJob,
  withObjectEnv,
} from "./helpers.ts";

/**
 * Trust no prover: with VERIFY_RECEIPTS=groth16 every result's Groth16 receipt is verified in
 * the job's Durable Object, against the real GPU receipt the dev prover serves for
 * test-real-game.tape (../shared/fixtures) and the forgeries it serves on demand.
 */
const [b] = fleet as [(typeof fleet)[number]];
const real = inject("realReceipt");
const VERIFY = { VERIFY_RECEIPTS: "groth16" } as Partial<Env>;

/** The dispatcher's env gains VERIFY_RECEIPTS=groth16 (the dev-mode gate), while in memory. */
const verifyingDispatcher = () =>
  runInDurableObject(dispatcher(), (instance) => {
    (instance as unknown as { env: Env }).env = { ...env, ...VERIFY };
  });

/**
 * A fresh job for `bytes` whose object verifies receipts, sent through the queue (a result an
 * earlier test stored for the same tape is removed first, so nothing is adopted).
 */
async function verifiedJob(bytes: Uint8Array): Promise<string> {
  const { jobId } = await seedJob(bytes);
  await env.TAPES.delete(`results/${jobId}.json`);
  await withObjectEnv(jobId, VERIFY);
  await env.JOBS_QUEUE.send({ jobId });
  return jobId;
}

beforeEach(async () => {
  for (const p of [prover, b]) await p.configure({ proofMs: 200 });
});

describe("every receipt is verified", () => {
  it("the real GPU receipt verifies: succeeded, and the result hands the game its on-chain claim", async () => {
    const jobId = await verifiedJob(fixture("test-real-game"));
    const job = await waitForJob(jobId, ended, 15_000);
    expect(job).toMatchObject({ status: "succeeded", result: { verified: true } });
    const result = await call(`/api/proofs/jobs/${jobId}/result`);
    expect(result.body.receipt).toEqual({
      verified: true,
      method: "groth16",
      verifierVersion: "3.0.0",
      selector: "73c457ba",
      seal: real.onchainSeal,
      imageId: real.imageId,
      journalRaw: real.journalRaw,
      journalDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
      claimDigest: "1a37551ead6c827358f7bce2c1d819eb32486bc8e44de0c29064ff2d0a12b42e",
    });
    expect(result.body.receipt.seal).toHaveLength(520); // 260 bytes: selector ‖ seal
  });

  it("a forged receipt is never succeeded: nothing stored, rebuilt on another prover, the forger quarantined at once; with every prover quarantined the job waits until an operator resumes one", async () => {
    await dispatcher().addProver(b.base, TEST_API_KEY);
    await prover.faults([{ kind: "forged_receipt" }]);
    await b.faults([{ kind: "forged_receipt" }]);
    const jobId = await verifiedJob(fixture("test-real-game"));
    // The first proof comes back forged from one prover: rebuilt, that prover quarantined.
    await until(async () => (await getJob(jobId)).lastRecovery?.code === "receipt_invalid");
    expect(await env.TAPES.head(`results/${jobId}.json`)).toBeNull();
    await until(async () =>
      (await dispatcher().listProvers()).some((p) => p.state === "quarantined"),
    );
    const first = (await dispatcher().listProvers()).find((p) => p.state === "quarantined")!;
    expect(first.quarantine).toMatchObject({
      reason: "returned a receipt that does not verify",
      contradictions: 1,
      jobs: [jobId],
    });
    // The other prover forges too: both quarantined, the job waits (it never ends on a forgery).
    await until(async () =>
      (await dispatcher().listProvers()).every((p) => p.state === "quarantined"),
    );
    const waiting = await getJob(jobId);
    expect(waiting).toMatchObject({ status: "queued", attempts: { proverRebuilds: 2 } });
    expect(waiting.verdicts!.map((v) => v.code)).toEqual(["receipt_invalid", "receipt_invalid"]);
    // An operator resumes one: its next proof (no fault left) verifies.
    await dispatcher().resume(first.id);
    const job = await waitForJob(jobId, ended, 20_000);
    expect(job).toMatchObject({
      status: "succeeded",
      result: { verified: true },
      prover: { url: first.url },
      attempts: { recoveries: 0, proverRebuilds: 2 },
    });
    const stored = await call(`/api/proofs/jobs/${jobId}/result`);
    expect(stored.body.proverJobId).toBe(job.prover.jobId);
    expect(stored.body.receipt.seal).toBe(real.onchainSeal);
    const accepted = await Promise.all([prover, b].map(async (p) => (await p.stats()).accepted));
    expect(accepted.sort()).toEqual([1, 2]); // one prover proved it twice: forged, then good
  });

  it("a fake receipt for a tape no real receipt exists for never verifies", async () => {
    const jobId = await verifiedJob(uniqueTape());
    await until(async () => (await getJob(jobId)).lastRecovery?.code === "receipt_invalid");
    const job = await getJob(jobId);
    expect(job.status).not.toBe("succeeded");
    expect(job.lastRecovery!.message).toContain("does not verify");
    await stubOf(jobId).cancel({ admin: true });
  });

  it("a prover in dev mode gets no work while receipts are verified", async () => {
    await verifyingDispatcher();
    await prover.configure({ devMode: true });
    const jobId = await verifiedJob(fixture("test-real-game"));
    await until(async () => {
      const p = (await dispatcher().listProvers()).find((x) => x.url === prover.base);
      return p?.state === "dev_mode";
    });
    expect((await prover.stats()).submissions).toBe(0);
    expect((await getJob(jobId)).status).toBe("queued");
    // Back to secure mode: once its reading is stale it is read again and gets the job.
    await prover.configure({ devMode: false });
    expect((await waitForJob(jobId, ended, 15_000)).status).toBe("succeeded");
  });
});
