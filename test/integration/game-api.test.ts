import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import {
  cancelProofJob,
  configureGameApi,
  getGatewayHealth,
  getProofArtifact,
  getProofJob,
  isTerminalProofStatus,
  NO_AUTOMATIC_CLAIM,
  ProofApiError,
  submitProofJob,
  type ProofJobPublic,
  type ProofJobStatus,
  type StorageLike,
} from "../../src/client/game-api.ts";
import { sha256Hex } from "../../src/core/hex.ts";
import { claimKey, resultKey } from "../../src/core/r2-keys.ts";
import { encodeStrKey } from "../../src/core/strkey.ts";
import { gameSealHex } from "../support/game-seal.ts";
import { TEST_WEBHOOK_SECRET } from "../support/test-vars.ts";
import { fixture } from "./fixtures.ts";
import { callWith, cfg, prover, stubOf, uniqueTape, waitForJob, withObjectEnv } from "./helpers.ts";

/**
 * The game's drop-in (src/client/game-api.ts) against the real stack (routes, Durable Objects,
 * queue, R2, the dev prover), driven the way the game's App.tsx drives its client: submit, poll
 * until the proof (and its claim) has ended, fetch the artifact and build the on-chain seal from
 * it, cancel, read the health.
 */

const CLAIMANT = encodeStrKey(
  "contract",
  new Uint8Array(32).map((_, i) => (i * 11 + 3) & 0xff),
);
const SETTLEMENT_TOKEN = "settlement-token-for-game-api-tests-0123";
const real = inject("realReceipt");

/** sessionStorage as a Map: kept across a simulated reload when a test passes it again. */
function memoryStorage(): StorageLike {
  const data = new Map<string, string>();
  return {
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

const gatewayFetch = (url: string, init?: RequestInit) =>
  exports.default.fetch(new Request(new URL(url, "http://gateway.test"), init));

/** The drop-in as the game loads it, served by this Worker (a reload: `storage` kept). */
const load = (storage: StorageLike | null = memoryStorage()) =>
  configureGameApi({ fetch: gatewayFetch, storage });

/** Every job this file made, wiped after each test (the helpers know only their own). */
const made = new Set<string>();

async function submit(tape: Uint8Array, claimant = CLAIMANT) {
  const r = await submitProofJob(tape, claimant);
  made.add(r.job.jobId);
  return r;
}

/** The game's poll loop (App.tsx): until the proof has ended and, for a proof, its claim too. */
async function followLikeTheGame(
  jobId: string,
  onJob: (j: ProofJobPublic) => Promise<void> | void = () => {},
  timeoutMs = 20_000,
): Promise<{ job: ProofJobPublic; seen: ProofJobStatus[] }> {
  const seen: ProofJobStatus[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { job } = await getProofJob(jobId);
    if (seen.at(-1) !== job.status) seen.push(job.status);
    await onJob(job);
    const keepPolling =
      !isTerminalProofStatus(job.status) ||
      (job.status === "succeeded" &&
        job.claim.status !== "succeeded" &&
        job.claim.status !== "failed");
    if (!keepPolling) return { job, seen };
    if (Date.now() > end) throw new Error(`still polling ${jobId}: ${JSON.stringify(job)}`);
    await scheduler.wait(50);
  }
}

/** The game's `packJournalRaw`: the 6 journal words, u32 little-endian, as hex. */
function journalRawHex(j: ProofJobPublic["result"]): string {
  const s = j!.summary.journal;
  const words = [s.seed, s.frame_count, s.final_score, s.final_rng_state, s.tape_checksum];
  const view = new DataView(new ArrayBuffer(24));
  [...words, s.rules_digest].forEach((w, i) => view.setUint32(i * 4, w >>> 0, true));
  return Array.from(new Uint8Array(view.buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A tape's job starts from nothing: no record, no result or claim an earlier test left. */
async function fresh(tape: Uint8Array): Promise<string> {
  const jobId = await sha256Hex(tape);
  await forget(jobId);
  return jobId;
}

async function forget(jobId: string): Promise<void> {
  await runInDurableObject(stubOf(jobId), async (_i, state) => {
    await state.storage.deleteAlarm();
    await state.storage.deleteAll();
  });
  await env.TAPES.delete([resultKey(jobId), claimKey(jobId)]);
}

beforeEach(() => load());
afterEach(async () => {
  for (const jobId of made) await forget(jobId);
  made.clear();
});

describe("the game's proof flow through the drop-in", () => {
  it("the real game: submitted with a claimant, proved, claimed from the wallet; the game's seal from the artifact is the real one", async () => {
    const tape = fixture("test-real-game");
    await fresh(tape);
    const submitted = await submit(tape);
    expect(submitted).toMatchObject({
      success: true,
      status_url: `/api/proofs/jobs/${submitted.job.jobId}`,
      job: {
        status: "queued",
        tape: { sizeBytes: tape.length, metadata: { seed: 0x43c9c6cd, frameCount: 13829 } },
        claim: { status: "queued", claimantAddress: CLAIMANT },
        result: null,
        error: null,
      },
    });

    const { job, seen } = await followLikeTheGame(submitted.job.jobId);
    expect(seen.at(-1)).toBe("succeeded");
    expect(job).toMatchObject({
      status: "succeeded",
      error: null,
      completedAt: expect.stringMatching(/Z$/),
      result: {
        artifactKey: resultKey(job.jobId),
        summary: {
          producedReceiptKind: "groth16",
          journal: { seed: 0x43c9c6cd, frame_count: 13829, final_score: 32860 },
        },
      },
      // No settlement service in these tests: the game's own on-chain button claims it.
      claim: { status: "failed", lastError: NO_AUTOMATIC_CLAIM, claimantAddress: CLAIMANT },
    });
    expect(job.result!.summary.stats.segments).toBeGreaterThan(0);
    expect(journalRawHex(job.result)).toBe(real.journalRaw);

    const artifact = await getProofArtifact(job.jobId);
    expect(artifact.stored_at).toMatch(/Z$/);
    expect(gameSealHex(artifact)).toBe(real.onchainSeal);
  });

  it("a verified receipt (VERIFY_RECEIPTS=groth16): the artifact is built from it, and the game's seal equals receipt.seal", async () => {
    const tape = fixture("test-real-game");
    const jobId = await fresh(tape);
    await withObjectEnv(jobId, { VERIFY_RECEIPTS: "groth16" } as Partial<Env>);
    const submitted = await submit(tape);
    const { job } = await followLikeTheGame(submitted.job.jobId);
    expect(job.status).toBe("succeeded");
    const doc = await (await gatewayFetch(`/api/proofs/jobs/${jobId}/result`)).json<any>();
    expect(doc.receipt).toMatchObject({ verified: true, selector: "73c457ba" });
    const artifact = await getProofArtifact(jobId);
    expect(artifact.prover_response).not.toEqual(doc.prover);
    expect(gameSealHex(artifact)).toBe(doc.receipt.seal);
    expect(gameSealHex(artifact)).toBe(real.onchainSeal);
  });

  it("with a settlement service: the game polls the proof until the service reports its claim succeeded", async () => {
    const tape = uniqueTape();
    const jobId = await fresh(tape);
    const settled = { SETTLEMENT_TOKEN } as Partial<Env>;
    await withObjectEnv(jobId, {
      ...settled,
      WEBHOOK_URL: "http://127.0.0.1:9/game-api-hook",
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      PUBLIC_BASE_URL: "https://gateway.test",
    } as Partial<Env>);
    const report = (body: unknown) =>
      callWith(settled, `/api/settlement/jobs/${jobId}/claim`, {
        method: "PUT",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${SETTLEMENT_TOKEN}`,
        },
        body: JSON.stringify(body),
      });
    await submit(tape);
    const txHash = "ab".repeat(32);
    const claims: string[] = [];
    const { job } = await followLikeTheGame(jobId, async (j) => {
      if (j.status !== "succeeded") return;
      if (claims.at(-1) !== j.claim.status) claims.push(j.claim.status);
      // The service, told of the proof, claims it on chain.
      if (j.claim.status === "queued")
        expect((await report({ status: "submitting" })).status).toBe(200);
      if (j.claim.status === "submitting")
        expect((await report({ status: "succeeded", txHash })).status).toBe(200);
    });
    expect(claims).toEqual(["queued", "submitting", "succeeded"]);
    expect(job.claim).toMatchObject({
      status: "succeeded",
      claimantAddress: CLAIMANT,
      txHash,
      attempts: 1,
      lastError: null,
      submittedAt: expect.stringMatching(/Z$/),
    });
  });

  it("a job the prover fails: failed with its code, no claim, no artifact", async () => {
    await prover.faults([{ kind: "fail_unknown", times: 2 }]); // one prover: its verdict stands only when given twice
    const submitted = await submit(uniqueTape());
    const { job } = await followLikeTheGame(submitted.job.jobId);
    expect(job).toMatchObject({
      status: "failed",
      result: null,
      claim: { status: "failed", lastError: null },
    });
    expect(job.error).toMatch(/^prover_failed: /);
    const e = await getProofArtifact(job.jobId).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProofApiError);
    expect(e).toMatchObject({ status: 409, message: expect.stringMatching(/^no_result: /) });
  });

  it("refused at the door: a zero-score tape and a bad claimant, with the gateway's codes", async () => {
    const zero = await submitProofJob(fixture("test-short"), CLAIMANT).catch((x: unknown) => x);
    expect(zero).toMatchObject({ status: 400, message: expect.stringMatching(/^zero_score: /) });
    const bad = await submitProofJob(uniqueTape(), "not-an-address").catch((x: unknown) => x);
    expect(bad).toMatchObject({
      status: 400,
      message: expect.stringMatching(/^invalid_claimant: /),
    });
  });
});

describe("cancelling the way the game does (job id only)", () => {
  beforeEach(() => prover.configure({ proofMs: 5_000 }));

  it("a proof in flight is cancelled with the kept token: failed, 'cancelled', and the game stops", async () => {
    const submitted = await submit(uniqueTape());
    const jobId = submitted.job.jobId;
    await followLikeTheGame(jobId, async (j) => {
      if (j.status === "dispatching" || j.status === "prover_running") {
        const r = await cancelProofJob(jobId);
        expect(r.job).toMatchObject({
          status: "failed",
          error: expect.stringMatching(/^cancelled: /),
        });
      }
    });
    const { job } = await getProofJob(jobId);
    expect(job.status).toBe("failed");
    expect(job.error).toMatch(/^cancelled: /);
  });

  it("after a reload the token comes back from sessionStorage; another tab without it gets 403", async () => {
    const storage = memoryStorage();
    load(storage);
    const { job } = await submit(uniqueTape());
    load(memoryStorage()); // another tab
    const refused = await cancelProofJob(job.jobId).catch((x: unknown) => x);
    expect(refused).toMatchObject({ status: 403 });
    expect((await getProofJob(job.jobId)).job.status).not.toBe("failed");
    load(storage); // the submitting tab, reloaded
    expect((await cancelProofJob(job.jobId)).job.error).toMatch(/^cancelled: /);
  });

  it("too late: a proof that succeeded is answered as it is (409 job_succeeded), then the token is gone", async () => {
    await prover.configure({ proofMs: 50 });
    const { job } = await submit(uniqueTape());
    await waitForJob(job.jobId, (j) => j.status === "succeeded");
    const r = await cancelProofJob(job.jobId);
    expect(r.job).toMatchObject({
      status: "succeeded",
      error: null,
      claim: { status: "failed", lastError: NO_AUTOMATIC_CLAIM },
    });
    const again = await cancelProofJob(job.jobId).catch((x: unknown) => x);
    expect(again).toMatchObject({ status: 403 });
  });
});

describe("health", () => {
  it("the dev prover is compatible; the expected image is the gateway's; this tab's job in flight comes back after a reload", async () => {
    await prover.configure({ proofMs: 5_000 });
    const storage = memoryStorage();
    load(storage);
    const before = await getGatewayHealth();
    expect(before).toMatchObject({
      success: true,
      prover: { status: "compatible", ruleset: "AST3", rules_digest_hex: "0x41535433" },
      expected: { ruleset: "AST3", rules_digest_hex: "0x41535433" },
      active_job: null,
    });
    expect(before.expected.image_id).toBe(cfg.proverExpectedImageId ?? null);
    if (before.prover.status === "compatible" && cfg.proverExpectedImageId) {
      expect(before.prover.image_id).toBe(cfg.proverExpectedImageId);
    }
    expect(Date.parse(before.checked_at)).not.toBeNaN();

    const { job } = await submit(uniqueTape());
    load(storage); // a reload: the game forgot its job
    expect((await getGatewayHealth()).active_job).toMatchObject({ jobId: job.jobId });
    await cancelProofJob(job.jobId);
    expect((await getGatewayHealth()).active_job).toBeNull();
  });
});
