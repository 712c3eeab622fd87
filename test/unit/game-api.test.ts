import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  cancelProofJob,
  configureGameApi,
  GAME_API_TIMEOUT_MS,
  getGatewayHealth,
  getProofArtifact,
  getProofJob,
  isTerminalProofStatus,
  NO_AUTOMATIC_CLAIM,
  ProofApiError,
  submitProofJob,
  VERIFIER_PARAMETERS_DIGEST,
  type ClaimStatus,
  type ProofJobPublic,
  type ProofJobStatus,
  type StorageLike,
} from "../../src/client/game-api.ts";
import type { GatewayJob, ResultDocument, VerifiedReceipt } from "../../src/client/types.ts";
import { PINNED_PARAMETERS_DIGEST } from "../../src/verify/params.ts";
import { receiptFixture } from "../support/fixtures.ts";
import { gameSealHex } from "../support/game-seal.ts";
import { SAMPLE_JOURNAL } from "../support/sample-job.ts";

/**
 * The game's drop-in (src/client/game-api.ts) against a fake fetch and a fake storage: every
 * rule that maps the gateway's answers into the game's shapes, and the game's own flows.
 */

const JOB_ID = "ab".repeat(32);
const CLAIMANT = "CAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD2KM";
const OTHER = "GBRPYHIL2CI3FNQ4BXLFMNDLFJUNPU2HY3ZMFSHONUCEOASW7QC7OX2H";
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const iso = (ms: number) => new Date(ms).toISOString();

/** A whole job as the gateway shows it, queued, with `patch` over it. */
function job(patch: Partial<GatewayJob> = {}): GatewayJob {
  return {
    jobId: JOB_ID,
    status: "queued",
    detail: "Accepted; waiting to be sent to the prover.",
    createdAt: T0,
    updatedAt: T0 + 10,
    attempt: 1,
    attemptStartedAt: T0,
    wallDeadlineAt: T0 + 720_000,
    finishedAt: null,
    tape: {
      sha256: JOB_ID,
      sizeBytes: 40,
      seed: 1,
      frameCount: 12,
      finalScore: 90,
      finalRngState: 7,
      checksum: 99,
    },
    prover: {
      url: null,
      jobId: null,
      status: null,
      acceptedAt: null,
      pollDeadlineAt: null,
      expectedEndAt: null,
      lastPolledAt: null,
      consecutivePollFailures: 0,
      firstFailedPollAt: null,
      segmentLimitPo2: 21,
      lastError: null,
    },
    attempts: {
      deliveries: 1,
      submissions: 0,
      polls: 0,
      recoveries: 0,
      proverRebuilds: 0,
      rejections: 0,
      redispatches: 0,
    },
    watchdogCheckedAt: null,
    lastRecovery: null,
    result: null,
    error: null,
    cleanup: [],
    history: [],
    ...patch,
  };
}

const proving = (status: GatewayJob["prover"]["status"], extra: Partial<GatewayJob> = {}) =>
  job({
    status: "proving",
    prover: {
      ...job().prover,
      url: "https://gpu.example",
      jobId: "p-1",
      status,
      acceptedAt: T0 + 100,
      lastPolledAt: T0 + 200,
      consecutivePollFailures: 2,
    },
    ...extra,
  });

const succeeded = (extra: Partial<GatewayJob> = {}) =>
  job({
    status: "succeeded",
    detail: "The proof is ready.",
    finishedAt: T0 + 5_000,
    prover: { ...proving("succeeded").prover },
    attempts: { ...job().attempts, submissions: 1, polls: 3 },
    result: {
      key: `results/${JOB_ID}.json`,
      receiptKind: "groth16",
      segments: 4,
      proverElapsedMs: 4_200,
      journal: SAMPLE_JOURNAL,
      verified: true,
      seal: "73c457ba" + "00".repeat(256),
      imageId: "cd".repeat(32),
      requestedReceiptKind: "groth16",
      stats: {
        segments: 4,
        total_cycles: 4_194_304,
        user_cycles: 3_000_000,
        paging_cycles: 300_000,
        reserved_cycles: 894_304,
      },
    },
    ...extra,
  });

const failed = (code: string, message: string) =>
  job({ status: "failed", finishedAt: T0 + 1_000, error: { code, message } });

const cancelled = () =>
  job({ status: "cancelled", detail: "Cancelled by the submitter.", finishedAt: T0 + 1_000 });

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

const apiError = (status: number, code: string, message: string, extra = {}) =>
  json(status, { success: false, error: { code, message }, ...extra });

/** A GET answer: the job, its place and ETA, its claim and the settlement mode. */
const view = (j: GatewayJob, extra: Record<string, unknown> = {}) =>
  json(200, { success: true, job: j, queue: null, estimate: null, ...extra });

type Call = { url: string; method: string; headers: Headers; body: unknown };

/** A fetch that answers from `reply` and records each call. */
function fakeFetch(reply: (c: Call) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (url: string, init?: RequestInit) => {
    const c: Call = {
      url,
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: init?.body,
    };
    calls.push(c);
    return reply(c);
  });
  return { fetch, calls };
}

/** sessionStorage as a Map (shared across "reloads" when the test keeps it). */
function fakeStorage(): StorageLike & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

/** Configures the drop-in with `reply` as the gateway; answers its calls and storage. */
function gateway(reply: (c: Call) => Response | Promise<Response>, storage = fakeStorage()) {
  const f = fakeFetch(reply);
  configureGameApi({ fetch: f.fetch, storage });
  return { ...f, storage };
}

/** The job `getProofJob` answers when the gateway shows `body`. */
async function mapped(j: GatewayJob, extra: Record<string, unknown> = {}) {
  gateway(() => view(j, extra));
  return (await getProofJob(JOB_ID)).job;
}

/** The game's poll condition (its App.tsx): keep polling until this is false. */
const gameKeepsPolling = (j: ProofJobPublic) =>
  !isTerminalProofStatus(j.status) ||
  (j.status === "succeeded" && j.claim.status !== "succeeded" && j.claim.status !== "failed");

async function rejection(p: Promise<unknown>): Promise<ProofApiError> {
  const e = await p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProofApiError);
  return e as ProofApiError;
}

const accepted = (j: GatewayJob, token = "tok-1", extra: Record<string, unknown> = {}) =>
  json(202, {
    success: true,
    status_url: `/api/proofs/jobs/${j.jobId}`,
    cancel_token: token,
    job: j,
    queue: { ahead: 0 },
    estimate: { startAt: T0 + 1_000, finishAt: T0 + 9_000, basis: "measured" },
    claim: null,
    settlement: "none",
    ...extra,
  });

beforeEach(() => configureGameApi({ fetch: () => Promise.reject(new Error("no gateway")) }));
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("status: the gateway's job status and prover state as the game's", () => {
  it.each<[string, GatewayJob, ProofJobStatus]>([
    ["queued", job(), "queued"],
    [
      "queued after a recovery",
      job({ lastRecovery: { code: "prover_job_lost", message: "lost" } }),
      "retrying",
    ],
    ["proving, not yet acknowledged", proving(null), "dispatching"],
    ["proving, queued on the prover", proving("queued"), "dispatching"],
    ["proving, running", proving("running"), "prover_running"],
    ["proving, the gateway checking the result", proving("succeeded"), "prover_running"],
    ["succeeded", succeeded(), "succeeded"],
    ["failed", failed("prover_failed", "boom"), "failed"],
    ["cancelled", cancelled(), "failed"],
  ])("%s → %s", async (_name, j, status) => {
    expect((await mapped(j)).status).toBe(status);
  });

  it("isTerminalProofStatus: succeeded and failed only", () => {
    const all: ProofJobStatus[] = [
      "queued",
      "dispatching",
      "prover_running",
      "retrying",
      "succeeded",
      "failed",
    ];
    expect(all.filter(isTerminalProofStatus)).toEqual(["succeeded", "failed"]);
  });

  it("a cancelled job ends the game's polling (it knows no cancelled status)", async () => {
    expect(gameKeepsPolling(await mapped(cancelled()))).toBe(false);
  });
});

describe("the job's fields", () => {
  it("a succeeded job: ISO times, tape, queue, prover, result summary", async () => {
    const j = await mapped(succeeded(), { settlement: "automatic" });
    expect(j).toEqual({
      jobId: JOB_ID,
      status: "succeeded",
      createdAt: iso(T0),
      updatedAt: iso(T0 + 10),
      completedAt: iso(T0 + 5_000),
      tape: {
        sizeBytes: 40,
        metadata: { seed: 1, frameCount: 12, finalScore: 90, finalRngState: 7, checksum: 99 },
      },
      queue: { attempts: 1, lastAttemptAt: iso(T0 + 100), lastError: null, nextRetryAt: null },
      prover: {
        jobId: "p-1",
        status: "succeeded",
        statusUrl: null,
        lastPolledAt: iso(T0 + 200),
        pollingErrors: 2,
        recoveryAttempts: 0,
      },
      result: {
        artifactKey: `results/${JOB_ID}.json`,
        summary: {
          elapsedMs: 4_200,
          requestedReceiptKind: "groth16",
          producedReceiptKind: "groth16",
          journal: SAMPLE_JOURNAL,
          stats: {
            segments: 4,
            total_cycles: 4_194_304,
            user_cycles: 3_000_000,
            paging_cycles: 300_000,
            reserved_cycles: 894_304,
          },
        },
      },
      claim: {
        claimantAddress: "",
        status: "queued",
        attempts: 0,
        lastAttemptAt: null,
        lastError: null,
        nextRetryAt: null,
        submittedAt: null,
        txHash: null,
      },
      error: null,
    });
  });

  it("a result stored before stats and the requested kind existed: its segments, zero cycles, the produced kind, 0 ms", async () => {
    const { stats: _s, requestedReceiptKind: _r, ...old } = succeeded().result!;
    const j = await mapped(succeeded({ result: { ...old, proverElapsedMs: null } }));
    expect(j.result!.summary).toMatchObject({
      elapsedMs: 0,
      requestedReceiptKind: "groth16",
      producedReceiptKind: "groth16",
      stats: { segments: 4, total_cycles: 0, user_cycles: 0, paging_cycles: 0, reserved_cycles: 0 },
    });
  });

  it("queue and prover tracking of a job back in line: every resubmission counted, the cause, the ETA as the next try", async () => {
    const cause = { code: "proof_timeout", message: "the proof took too long" };
    const j = await mapped(
      job({
        lastRecovery: cause,
        prover: { ...job().prover, lastError: cause },
        attempts: {
          ...job().attempts,
          deliveries: 3,
          recoveries: 1,
          proverRebuilds: 2,
          rejections: 1,
        },
      }),
      { estimate: { startAt: T0 + 60_000, finishAt: T0 + 90_000, basis: "measured" } },
    );
    expect(j.status).toBe("retrying");
    expect(j.queue).toEqual({
      attempts: 3,
      lastAttemptAt: null,
      lastError: "proof_timeout: the proof took too long",
      nextRetryAt: iso(T0 + 60_000),
    });
    expect(j.prover.recoveryAttempts).toBe(4);
  });

  it("queue.lastError prefers the prover's current error (busy) over an older recovery's cause", async () => {
    const j = await mapped(
      job({
        lastRecovery: { code: "prover_job_lost", message: "lost" },
        prover: { ...job().prover, lastError: { code: "prover_busy", message: "busy" } },
      }),
    );
    expect(j.queue.lastError).toBe("prover_busy: busy");
  });

  it("a queued job not back from a recovery has no next retry, even with an ETA", async () => {
    const j = await mapped(job(), {
      estimate: { startAt: T0 + 60_000, finishAt: T0 + 90_000, basis: "measured" },
    });
    expect(j.queue.nextRetryAt).toBeNull();
  });
});

describe("error: a string with the code", () => {
  it.each<[GatewayJob, string | null]>([
    [
      failed("tape_rejected", "the guest refused the tape"),
      "tape_rejected: the guest refused the tape",
    ],
    [failed("wall_time_exceeded", "too long"), "wall_time_exceeded: too long"],
    [cancelled(), "cancelled: Cancelled by the submitter."],
    [job(), null],
    [proving("running"), null],
    [succeeded(), null],
  ])("%#: %s", async (j, error) => {
    expect((await mapped(j)).error).toBe(error);
  });
});

describe("claim: what the game polls a proof for", () => {
  const reported = (status: ClaimStatus) => ({
    status,
    claimant: CLAIMANT,
    txHash: status === "succeeded" ? "ee".repeat(32) : null,
    error: status === "failed" ? "the contract refused it" : null,
    attempts: 2,
    submittedAt: T0 + 6_000,
    updatedAt: T0 + 7_000,
  });

  it.each<[ClaimStatus, boolean]>([
    ["queued", true],
    ["submitting", true],
    ["retrying", true],
    ["succeeded", false],
    ["failed", false],
  ])(
    "the settlement service's %s claim passes through (the game keeps polling: %s)",
    async (status, polls) => {
      const j = await mapped(succeeded(), { claim: reported(status), settlement: "automatic" });
      expect(j.claim).toEqual({
        claimantAddress: CLAIMANT,
        status,
        attempts: 2,
        lastAttemptAt: iso(T0 + 7_000),
        lastError: status === "failed" ? "the contract refused it" : null,
        nextRetryAt: null,
        submittedAt: iso(T0 + 6_000),
        txHash: status === "succeeded" ? "ee".repeat(32) : null,
      });
      expect(gameKeepsPolling(j)).toBe(polls);
    },
  );

  it("a claim never submitted has no last attempt", async () => {
    const j = await mapped(succeeded(), {
      claim: { ...reported("queued"), attempts: 0, submittedAt: null },
      settlement: "automatic",
    });
    expect(j.claim).toMatchObject({ attempts: 0, lastAttemptAt: null, submittedAt: null });
  });

  it.each([["none"], [undefined]])(
    "a proof with settlement %s: a failed claim telling the player to claim from the wallet, so polling ends",
    async (settlement) => {
      const j = await mapped(succeeded(), settlement ? { settlement } : {});
      expect(j.claim).toMatchObject({ status: "failed", lastError: NO_AUTOMATIC_CLAIM });
      expect(NO_AUTOMATIC_CLAIM).toBe(
        "no automatic claim: submit the proven score from your wallet",
      );
      expect(gameKeepsPolling(j)).toBe(false);
    },
  );

  it("a proof with automatic settlement and no claim yet: queued, polling goes on", async () => {
    const j = await mapped(succeeded(), { claim: null, settlement: "automatic" });
    expect(j.claim).toMatchObject({ status: "queued", lastError: null });
    expect(gameKeepsPolling(j)).toBe(true);
  });

  it("a claim report the client does not know is ignored", async () => {
    const j = await mapped(succeeded(), {
      claim: { ...reported("queued"), status: "abandoned" },
      settlement: "automatic",
    });
    expect(j.claim).toMatchObject({ status: "queued", attempts: 0 });
  });

  it.each([
    ["queued", job()],
    ["proving", proving("running")],
  ])("before the proof (%s): a queued claim, whatever the settlement", async (_s, j) => {
    for (const settlement of ["none", "automatic"]) {
      expect((await mapped(j, { settlement })).claim).toMatchObject({
        status: "queued",
        lastError: null,
      });
    }
  });

  it("a job that ended without a proof: a failed claim with no error of its own", async () => {
    const j = await mapped(failed("prover_failed", "boom"), { settlement: "automatic" });
    expect(j.claim).toMatchObject({ status: "failed", lastError: null, attempts: 0 });
  });

  it("claimantAddress: the claim's, else the job's, else the address this page submitted with", async () => {
    const g = gateway((c) =>
      c.method === "POST" ? accepted(job()) : view(job(), { claim: null, settlement: "none" }),
    );
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    expect((await getProofJob(JOB_ID)).job.claim.claimantAddress).toBe(CLAIMANT);
    // The gateway names one: it wins.
    configureGameApi({
      fetch: fakeFetch(() => view(job({ claimant: OTHER }))).fetch,
      storage: g.storage,
    });
    expect((await getProofJob(JOB_ID)).job.claim.claimantAddress).toBe(OTHER);
    configureGameApi({
      fetch: fakeFetch(() =>
        view(succeeded({ claimant: OTHER }), {
          claim: { ...reported("submitting"), claimant: CLAIMANT },
          settlement: "automatic",
        }),
      ).fetch,
      storage: g.storage,
    });
    expect((await getProofJob(JOB_ID)).job.claim.claimantAddress).toBe(CLAIMANT);
  });

  it("the submitted address survives a reload through storage; without storage it is unknown", async () => {
    const g = gateway((c) => (c.method === "POST" ? accepted(job()) : view(job())));
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    configureGameApi({ fetch: g.fetch, storage: g.storage });
    expect((await getProofJob(JOB_ID)).job.claim.claimantAddress).toBe(CLAIMANT);
    configureGameApi({ fetch: g.fetch, storage: null });
    expect((await getProofJob(JOB_ID)).job.claim.claimantAddress).toBe("");
  });
});

describe("submitProofJob", () => {
  it("posts the tape as octet-stream with x-claimant-address; answers the mapped job, never the token", async () => {
    const g = gateway(() => accepted(job(), "secret-token"));
    const tape = new Uint8Array([1, 2, 3, 4]);
    const r = await submitProofJob(tape, CLAIMANT);
    expect(g.calls).toHaveLength(1);
    const [c] = g.calls;
    expect(c).toMatchObject({ url: "/api/proofs/jobs", method: "POST" });
    expect(c!.headers.get("content-type")).toBe("application/octet-stream");
    expect(c!.headers.get("x-claimant-address")).toBe(CLAIMANT);
    expect(Array.from(c!.body as Uint8Array)).toEqual([1, 2, 3, 4]);
    expect(c!.body).not.toBe(tape); // a copy: the game may reuse its buffer
    expect(r).toEqual({
      success: true,
      status_url: `/api/proofs/jobs/${JOB_ID}`,
      job: expect.objectContaining({ jobId: JOB_ID, status: "queued" }),
    });
    expect(JSON.stringify(r)).not.toContain("secret-token");
  });

  it("a blank address is not sent (the gateway would refuse it)", async () => {
    const g = gateway(() => accepted(job()));
    await submitProofJob(new Uint8Array([1]), "  ");
    expect(g.calls[0]!.headers.has("x-claimant-address")).toBe(false);
  });

  it("the 200 for a tape already in flight keeps the token its 202 gave", async () => {
    let n = 0;
    const g = gateway((c) => {
      if (c.method === "POST")
        return ++n === 1
          ? accepted(job(), "first")
          : json(200, { success: true, status_url: "/x", job: job(), estimate: null });
      return json(200, { success: true, job: cancelled() });
    });
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    await cancelProofJob(JOB_ID);
    expect(g.calls[2]!.headers.get("authorization")).toBe("Bearer first");
  });

  it("a new attempt's 202 replaces the old token", async () => {
    let n = 0;
    const g = gateway((c) =>
      c.method === "POST"
        ? accepted(job(), `tok-${++n}`)
        : json(200, { success: true, job: cancelled() }),
    );
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    await cancelProofJob(JOB_ID);
    expect(g.calls[2]!.headers.get("authorization")).toBe("Bearer tok-2");
  });

  it.each<[string, () => Response, number, string]>([
    [
      "a refused tape",
      () => apiError(400, "zero_score", "the final score is 0"),
      400,
      "zero_score: the final score is 0",
    ],
    [
      "a client with too many proofs waiting",
      () => apiError(429, "too_many_waiting", "this client already has 3 proofs queued or proving"),
      429,
      "too_many_waiting: this client already has 3 proofs queued or proving",
    ],
    [
      "an error answer without a code",
      () => new Response("oops", { status: 502 }),
      502,
      "bad_response: the gateway answered 502 without an error code",
    ],
    [
      "a 202 that is not JSON",
      () => new Response("<html>", { status: 202 }),
      202,
      "bad_response: the gateway's answer is not JSON",
    ],
    [
      "a 202 without a job",
      () => json(202, { success: true }),
      202,
      "bad_response: the gateway's answer has no job",
    ],
  ])(
    "%s → ProofApiError with the gateway's code and message",
    async (_n, reply, status, message) => {
      gateway(reply);
      const e = await rejection(submitProofJob(new Uint8Array([1]), CLAIMANT));
      expect(e).toMatchObject({ status, message, activeJob: null, name: "ProofApiError" });
    },
  );

  it("no answer at all: status 0, network_error", async () => {
    gateway(() => Promise.reject(new TypeError("Failed to fetch")));
    const e = await rejection(submitProofJob(new Uint8Array([1]), CLAIMANT));
    expect(e).toMatchObject({
      status: 0,
      message: "network_error: the gateway could not be reached: Failed to fetch",
    });
  });
});

describe("timeouts: status 0", () => {
  /** A fetch that answers only when aborted, with an AbortError (as a browser's does). */
  function hanging() {
    const fetch = vi.fn(
      (_url: string, init?: RequestInit) =>
        new Promise<Response>((_res, rej) => {
          init?.signal?.addEventListener("abort", () =>
            rej(new DOMException("The operation was aborted.", "AbortError")),
          );
        }),
    );
    configureGameApi({ fetch, storage: null });
    return fetch;
  }

  it.each<[string, () => Promise<unknown>, number]>([
    [
      "submitProofJob",
      () => submitProofJob(new Uint8Array([1]), CLAIMANT),
      GAME_API_TIMEOUT_MS.submit,
    ],
    ["getProofJob", () => getProofJob(JOB_ID), GAME_API_TIMEOUT_MS.job],
    ["getProofArtifact", () => getProofArtifact(JOB_ID), GAME_API_TIMEOUT_MS.artifact],
    ["getGatewayHealth", () => getGatewayHealth(), GAME_API_TIMEOUT_MS.health],
  ])("%s gives up after its limit, not before", async (_name, run, limit) => {
    vi.useFakeTimers();
    hanging();
    let settled = false;
    const p = run().finally(() => (settled = true));
    p.catch(() => {});
    await vi.advanceTimersByTimeAsync(limit - 1);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const e = await rejection(p);
    expect(e.status).toBe(0);
    expect(e.message).toBe(`timeout: the gateway did not answer within ${limit / 1000} s`);
  });

  it("cancelProofJob too (with a token)", async () => {
    vi.useFakeTimers();
    const storage = fakeStorage();
    configureGameApi({ fetch: async () => accepted(job()), storage });
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    const fetch = hanging();
    configureGameApi({ fetch, storage });
    const p = cancelProofJob(JOB_ID);
    p.catch(() => {});
    await vi.advanceTimersByTimeAsync(GAME_API_TIMEOUT_MS.cancel);
    expect((await rejection(p)).status).toBe(0);
  });

  it("the defaults: 30 s to submit, 10 s for the rest", () => {
    expect(GAME_API_TIMEOUT_MS).toEqual({
      submit: 30_000,
      job: 10_000,
      cancel: 10_000,
      artifact: 10_000,
      health: 10_000,
    });
  });
});

describe("cancelProofJob: the game cancels with the job id alone", () => {
  it("sends the token its submission kept as Bearer; the cancelled job comes back failed", async () => {
    const g = gateway((c) =>
      c.method === "POST"
        ? accepted(job(), "tok-9")
        : json(200, { success: true, job: cancelled() }),
    );
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    const r = await cancelProofJob(JOB_ID);
    const del = g.calls[1]!;
    expect(del).toMatchObject({ method: "DELETE", url: `/api/proofs/jobs/${JOB_ID}` });
    expect(del.headers.get("authorization")).toBe("Bearer tok-9");
    expect(r).toEqual({
      success: true,
      job: expect.objectContaining({
        status: "failed",
        error: "cancelled: Cancelled by the submitter.",
      }),
    });
    expect(r.job.claim.claimantAddress).toBe(CLAIMANT);
  });

  it("without a token: 403 at once, nothing sent", async () => {
    const g = gateway(() => json(200, {}));
    const e = await rejection(cancelProofJob(JOB_ID));
    expect(e.status).toBe(403);
    expect(e.message).toMatch(/^cancel_forbidden: this page holds no cancel token for job ab/);
    expect(g.calls).toHaveLength(0);
  });

  it("after a reload: the token comes back from storage", async () => {
    const g = gateway((c) =>
      c.method === "POST"
        ? accepted(job(), "tok-r")
        : json(200, { success: true, job: cancelled() }),
    );
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    const again = fakeFetch(() => json(200, { success: true, job: cancelled() }));
    configureGameApi({ fetch: again.fetch, storage: g.storage }); // a reload: memory is gone
    await cancelProofJob(JOB_ID);
    expect(again.calls[0]!.headers.get("authorization")).toBe("Bearer tok-r");
  });

  it("after a reload without storage: 403", async () => {
    gateway(() => accepted(job()));
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    configureGameApi({ fetch: async () => json(200, {}), storage: null });
    expect((await rejection(cancelProofJob(JOB_ID))).status).toBe(403);
  });

  it("a storage that throws: the token is kept in memory all the same", async () => {
    const broken: StorageLike = {
      getItem: () => {
        throw new Error("denied");
      },
      setItem: () => {
        throw new Error("quota");
      },
      removeItem: () => {
        throw new Error("denied");
      },
    };
    const g = gateway(
      (c) =>
        c.method === "POST"
          ? accepted(job(), "tok-m")
          : json(200, { success: true, job: cancelled() }),
      broken as ReturnType<typeof fakeStorage>,
    );
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    await cancelProofJob(JOB_ID);
    expect(g.calls[1]!.headers.get("authorization")).toBe("Bearer tok-m");
  });

  it("once the job has ended its token is dropped (memory and storage)", async () => {
    const g = gateway((c) =>
      c.method === "POST" ? accepted(job(), "tok-e") : view(failed("prover_failed", "boom")),
    );
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    expect([...g.storage.data.values()].join()).toContain("tok-e");
    await getProofJob(JOB_ID);
    expect([...g.storage.data.values()].join()).not.toContain("tok-e");
    expect((await rejection(cancelProofJob(JOB_ID))).status).toBe(403);
  });

  it("409 job_failed: answered with the failed job, not an error", async () => {
    gateway((c) =>
      c.method === "POST"
        ? accepted(job())
        : apiError(409, "job_failed", "the job already failed (prover_failed) and stays failed", {
            job: failed("prover_failed", "boom"),
          }),
    );
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    const r = await cancelProofJob(JOB_ID);
    expect(r.job).toMatchObject({ status: "failed", error: "prover_failed: boom" });
  });

  it("409 job_succeeded: the proof is read again for its claim and settlement", async () => {
    const g = gateway((c) => {
      if (c.method === "POST") return accepted(job());
      if (c.method === "DELETE")
        return apiError(409, "job_succeeded", "the job already succeeded; its proof is kept", {
          job: succeeded(),
        });
      return view(succeeded(), { claim: null, settlement: "automatic" });
    });
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    const r = await cancelProofJob(JOB_ID);
    expect(g.calls.map((c) => c.method)).toEqual(["POST", "DELETE", "GET"]);
    expect(r.job).toMatchObject({ status: "succeeded", claim: { status: "queued" } });
  });

  it("409 job_succeeded and the read fails: the 409's job (no settlement known: claim from the wallet)", async () => {
    gateway((c) => {
      if (c.method === "POST") return accepted(job());
      if (c.method === "DELETE")
        return apiError(409, "job_succeeded", "kept", { job: succeeded() });
      return apiError(503, "internal_error", "later");
    });
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    const r = await cancelProofJob(JOB_ID);
    expect(r.job).toMatchObject({
      status: "succeeded",
      claim: { status: "failed", lastError: NO_AUTOMATIC_CLAIM },
    });
  });

  it("a token the gateway refuses: its 403 cancel_forbidden", async () => {
    gateway((c) =>
      c.method === "POST"
        ? accepted(job())
        : apiError(403, "cancel_forbidden", "that token may not cancel this job"),
    );
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    const e = await rejection(cancelProofJob(JOB_ID));
    expect(e).toMatchObject({
      status: 403,
      message: "cancel_forbidden: that token may not cancel this job",
    });
  });

  it("an unknown job: 404 job_not_found", async () => {
    gateway((c) =>
      c.method === "POST" ? accepted(job()) : apiError(404, "job_not_found", `no job ${JOB_ID}`),
    );
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    const e = await rejection(cancelProofJob(JOB_ID));
    expect(e).toMatchObject({ status: 404, message: `job_not_found: no job ${JOB_ID}` });
  });
});

describe("getProofArtifact: what the game builds its on-chain seal from", () => {
  const real = receiptFixture("proof-real-game-groth16");
  const verified: VerifiedReceipt = {
    verified: true,
    method: "groth16",
    verifierVersion: "3.0.0",
    selector: "73c457ba",
    seal: real.onchainSeal,
    imageId: real.imageId,
    journalRaw: real.journalRaw,
    journalDigest: "11".repeat(32),
    claimDigest: "22".repeat(32),
  };
  /** A prover document whose receipt is not the verified one (untrusted: must be ignored). */
  const proverDoc = {
    job_id: "p-1",
    status: "succeeded",
    result: {
      proof: {
        receipt: {
          inner: {
            Groth16: { seal: new Array(256).fill(7), verifier_parameters: new Array(8).fill(1) },
          },
        },
      },
    },
  };
  const doc = (receipt: ResultDocument["receipt"]): ResultDocument => ({
    jobId: JOB_ID,
    attempt: 1,
    tape: succeeded().tape,
    proverJobId: "p-1",
    journal: SAMPLE_JOURNAL,
    receiptKind: "groth16",
    segments: 4,
    proverElapsedMs: 4_200,
    storedAt: T0 + 5_000,
    ...(receipt ? { receipt } : {}),
    prover: proverDoc,
  });

  it("our pinned digest is the verifier's (src/verify/params.ts)", () => {
    expect(VERIFIER_PARAMETERS_DIGEST).toBe(PINNED_PARAMETERS_DIGEST);
  });

  it("a verified receipt: the game's selector ‖ seal from the artifact is exactly receipt.seal", async () => {
    const g = gateway(() => json(200, doc(verified)));
    const artifact = await getProofArtifact(JOB_ID);
    expect(g.calls[0]!.url).toBe(`/api/proofs/jobs/${JOB_ID}/result`);
    expect(artifact.stored_at).toBe(iso(T0 + 5_000));
    expect(gameSealHex(artifact)).toBe(real.onchainSeal);
    expect(real.onchainSeal).toHaveLength(520);
    const groth16 = (artifact.prover_response as any).result.proof.receipt.inner.Groth16;
    expect(groth16.verifier_parameters).toHaveLength(8);
    expect(groth16.verifier_parameters.every((w: number) => w >>> 0 === w)).toBe(true);
  });

  it("a receipt verified under another verifier's selector is refused, not misbuilt", async () => {
    gateway(() => json(200, doc({ ...verified, selector: "deadbeef", verifierVersion: "9.9.9" })));
    const e = await rejection(getProofArtifact(JOB_ID));
    expect(e.message).toMatch(/^unsupported_verifier: the receipt's selector is deadbeef/);
  });

  it.each([
    ["not 260 bytes", real.onchainSeal.slice(0, 518)],
    ["another selector inside", "00000000" + real.onchainSeal.slice(8)],
  ])("a verified receipt whose seal is %s: bad_response", async (_n, seal) => {
    gateway(() => json(200, doc({ ...verified, seal })));
    expect((await rejection(getProofArtifact(JOB_ID))).message).toMatch(/^bad_response:/);
  });

  it.each([
    ["not verified (VERIFY_RECEIPTS=off)", { verified: false, method: "off" } as const],
    ["absent (an old result)", undefined],
  ])("a receipt %s: the prover's own document, as stored", async (_n, receipt) => {
    gateway(() => json(200, doc(receipt)));
    const artifact = await getProofArtifact(JOB_ID);
    expect(artifact).toEqual({ stored_at: iso(T0 + 5_000), prover_response: proverDoc });
  });

  it("not ready: the gateway's 409", async () => {
    gateway(() => apiError(409, "result_not_ready", "the proof is not ready yet (job is proving)"));
    const e = await rejection(getProofArtifact(JOB_ID));
    expect(e).toMatchObject({
      status: 409,
      message: "result_not_ready: the proof is not ready yet (job is proving)",
    });
  });
});

describe("getGatewayHealth", () => {
  const today = (prover: Record<string, unknown>, status = "ok") => ({
    success: true,
    status,
    config: { proverExpectedImageId: "30cb".repeat(16), verifyReceipts: "groth16" },
    prover: {
      url: "https://gpu.example",
      reachable: true,
      compatible: true,
      problems: [],
      accelerator: "cuda",
      imageId: "30cb".repeat(16),
      devMode: false,
      busy: false,
      checkedAt: T0,
      ...prover,
    },
    line: { waiting: 0 },
    warnings: [],
  });

  it("today's shape, compatible: image, rules, expected image, checked_at", async () => {
    gateway(() => json(200, today({})));
    expect(await getGatewayHealth()).toEqual({
      success: true,
      service: "proof-gateway",
      mode: "fair-line",
      expected: { rules_digest_hex: "0x41535433", ruleset: "AST3", image_id: "30cb".repeat(16) },
      checked_at: iso(T0),
      prover: {
        status: "compatible",
        image_id: "30cb".repeat(16),
        rules_digest_hex: "0x41535433",
        ruleset: "AST3",
      },
      active_job: null,
    });
  });

  it("the gateway's own rules and digest when it gives them", async () => {
    gateway(() => json(200, today({ ruleset: "AST4", rulesDigest: 0x41535434 })));
    expect((await getGatewayHealth()).prover).toMatchObject({
      ruleset: "AST4",
      rules_digest_hex: "0x41535434",
    });
  });

  it.each([
    [
      "incompatible",
      {
        compatible: false,
        problems: ["ruleset is AST2, expected AST3", "image_id is not 32-byte hex"],
      },
      "ruleset is AST2, expected AST3; image_id is not 32-byte hex",
    ],
    [
      "unreachable",
      { reachable: false, compatible: false, problems: ["connection refused"] },
      "connection refused",
    ],
    [
      "unreachable, no problems listed",
      { reachable: false, compatible: false, problems: [] },
      "the prover is unreachable",
    ],
  ])("%s → degraded with the gateway's problems", async (_n, prover, error) => {
    gateway(() => json(200, today(prover, "degraded")));
    expect((await getGatewayHealth()).prover).toEqual({ status: "degraded", error });
  });

  it("a counts-only health (no prover reading): status ok → compatible with the expected image and the game's rules", async () => {
    vi.useFakeTimers({ now: T0 + 42 });
    gateway(() =>
      json(200, {
        success: true,
        status: "ok",
        config: { proverExpectedImageId: "ab".repeat(32) },
        provers: { ready: 2 },
      }),
    );
    const h = await getGatewayHealth();
    expect(h.prover).toEqual({
      status: "compatible",
      image_id: "ab".repeat(32),
      rules_digest_hex: "0x41535433",
      ruleset: "AST3",
    });
    expect(h.checked_at).toBe(iso(T0 + 42));
  });

  it("the gateway's own health: ok with the fleet's counts → compatible, checked when the gateway read it", async () => {
    vi.useFakeTimers({ now: T0 + 5_000 });
    gateway(() =>
      json(200, {
        success: true,
        status: "ok",
        config: { valid: true, proverExpectedImageId: "ab".repeat(32), verifyReceipts: "groth16" },
        line: { waiting: 2, provers: { proving: 1, open: 1 } },
        checkedAt: T0,
      }),
    );
    const h = await getGatewayHealth();
    expect(h.prover).toMatchObject({ status: "compatible", image_id: "ab".repeat(32) });
    expect(h.expected.image_id).toBe("ab".repeat(32));
    expect(h.checked_at).toBe(iso(T0));
  });

  it("a counts-only health that is not ok → degraded, naming the status", async () => {
    gateway(() => json(200, { success: true, status: "degraded", config: {} }));
    const h = await getGatewayHealth();
    expect(h.prover).toEqual({ status: "degraded", error: "the gateway reports degraded" });
    expect(h.expected.image_id).toBeNull();
  });

  it("503 config_invalid → degraded with its message", async () => {
    gateway(() =>
      json(503, {
        success: false,
        status: "config_invalid",
        error: {
          code: "config_invalid",
          message: "PROVER_BASE_URL: bad",
          vars: ["PROVER_BASE_URL"],
        },
      }),
    );
    expect((await getGatewayHealth()).prover).toEqual({
      status: "degraded",
      error: "config_invalid: PROVER_BASE_URL: bad",
    });
  });

  it("any other error is thrown", async () => {
    gateway(() => apiError(500, "internal_error", "something went wrong; try again"));
    expect((await rejection(getGatewayHealth())).status).toBe(500);
  });

  it("active_job: this tab's job while the game would follow it, then null (and no more reads)", async () => {
    let current: GatewayJob = job();
    let extra: Record<string, unknown> = { settlement: "automatic", claim: null };
    const g = gateway((c) => {
      if (c.method === "POST") return accepted(current);
      if (c.url === "/api/health") return json(200, today({}));
      return view(current, extra);
    });
    expect((await getGatewayHealth()).active_job).toBeNull();
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    // A reload: the game has lost its job; the health hands it back.
    configureGameApi({ fetch: g.fetch, storage: g.storage });
    expect((await getGatewayHealth()).active_job).toMatchObject({
      jobId: JOB_ID,
      status: "queued",
    });
    current = succeeded();
    expect((await getGatewayHealth()).active_job).toMatchObject({
      status: "succeeded",
      claim: { status: "queued" },
    });
    extra = {
      settlement: "automatic",
      claim: {
        status: "succeeded",
        claimant: CLAIMANT,
        txHash: null,
        error: null,
        attempts: 1,
        submittedAt: T0,
        updatedAt: T0,
      },
    };
    expect((await getGatewayHealth()).active_job).toBeNull();
    const reads = g.calls.length;
    expect((await getGatewayHealth()).active_job).toBeNull();
    expect(g.calls.length).toBe(reads + 1); // the health alone
  });

  it("active_job: a job the gateway no longer knows is forgotten; a failed read is no error", async () => {
    let reply: Response = apiError(503, "internal_error", "later");
    const g = gateway((c) => {
      if (c.method === "POST") return accepted(job());
      if (c.url === "/api/health") return json(200, today({}));
      return reply;
    });
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    expect((await getGatewayHealth()).active_job).toBeNull();
    reply = apiError(404, "job_not_found", "no job");
    expect((await getGatewayHealth()).active_job).toBeNull();
    const reads = g.calls.length;
    await getGatewayHealth();
    expect(g.calls.length).toBe(reads + 1);
  });
});

describe("configureGameApi", () => {
  it("relative URLs by default (the game served by the gateway)", async () => {
    const g = gateway(() => view(job()));
    await getProofJob(JOB_ID);
    expect(g.calls[0]!.url).toBe(`/api/proofs/jobs/${JOB_ID}`);
  });

  it("baseUrl: every call goes there (a trailing slash or not), and status_url is absolute", async () => {
    for (const baseUrl of ["https://gateway.example/prefix", "https://gateway.example/prefix/"]) {
      const f = fakeFetch((c) => (c.method === "POST" ? accepted(job()) : view(job())));
      configureGameApi({ baseUrl, fetch: f.fetch, storage: null });
      const r = await submitProofJob(new Uint8Array([1]), CLAIMANT);
      await getProofJob(JOB_ID);
      expect(f.calls.map((c) => c.url)).toEqual([
        "https://gateway.example/prefix/api/proofs/jobs",
        `https://gateway.example/prefix/api/proofs/jobs/${JOB_ID}`,
      ]);
      expect(r.status_url).toBe(`https://gateway.example/prefix/api/proofs/jobs/${JOB_ID}`);
    }
  });

  it("a relative baseUrl is refused", () => {
    expect(() => configureGameApi({ baseUrl: "/gateway" })).toThrow(TypeError);
  });

  it("the global fetch by default, called on the global object (a browser's fetch throws otherwise)", async () => {
    const fetch = vi.fn(async function (this: unknown) {
      expect(this).toBe(globalThis);
      return view(job());
    });
    vi.stubGlobal("fetch", fetch);
    configureGameApi({ storage: null });
    await getProofJob(JOB_ID);
    expect(fetch).toHaveBeenCalledOnce();
  });

  it("sessionStorage by default when there is one", async () => {
    const storage = fakeStorage();
    vi.stubGlobal("sessionStorage", storage);
    configureGameApi({ fetch: async () => accepted(job(), "tok-s") });
    await submitProofJob(new Uint8Array([1]), CLAIMANT);
    expect([...storage.data.values()].join()).toContain("tok-s");
  });

  it("errors carrying a job hand it over mapped as activeJob", async () => {
    gateway(() => apiError(409, "no_result", "ended", { job: failed("prover_failed", "boom") }));
    const e = await rejection(getProofArtifact(JOB_ID));
    expect(e.activeJob).toMatchObject({ jobId: JOB_ID, status: "failed" });
  });
});
