import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { claimKey, resultKey } from "../../src/core/r2-keys.ts";
import { encodeStrKey } from "../../src/core/strkey.ts";
import type { Job } from "../../src/core/job.ts";
import type { WebhookMessage } from "../../src/queue/webhook-send.ts";
import { TEST_WEBHOOK_SECRET } from "../support/test-vars.ts";
import {
  call,
  callWith,
  cfg,
  postTape,
  prover,
  storedJob,
  stubOf,
  uniqueTape,
  until,
  waitForJob,
  withObjectEnv,
} from "./helpers.ts";

/**
 * The game's claim path: who a proof is for (`x-claimant-address`), the settlement service's
 * reports on its on-chain claim, and proofs that outlive their job's record.
 */
const ACCOUNT = encodeStrKey(
  "account",
  new Uint8Array(32).map((_, i) => i * 7 + 1),
);
const CONTRACT = encodeStrKey(
  "contract",
  new Uint8Array(32).map((_, i) => 255 - i),
);
const TOKEN = "settlement-token-for-tests-0123456789";
const settled = { SETTLEMENT_TOKEN: TOKEN } as Partial<Env>;

const report = (jobId: string, body: unknown, token: string | null = TOKEN) =>
  callWith(settled, `/api/settlement/jobs/${jobId}/claim`, {
    method: "PUT",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

async function provedJob(claimant: string | null = ACCOUNT) {
  const r = await postTape(uniqueTape(), claimant ? { "x-claimant-address": claimant } : {});
  expect(r.status).toBe(202);
  const job = await waitForJob(r.body.job.jobId, (j) => j.status === "succeeded");
  return { jobId: job.jobId, job, cancelToken: r.body.cancel_token as string };
}

/** Moves the ended job's finish `ago` ms into the past and runs its alarm (the retention check). */
async function ageAndRunAlarm(jobId: string, ago: number) {
  await runInDurableObject(stubOf(jobId), async (instance, state) => {
    const job = state.storage.kv.get<Job>("job")!;
    state.storage.kv.put("job", { ...job, finishedAt: Date.now() - ago });
    await instance.alarm();
  });
}

describe("claimants", () => {
  it("a G… account or C… contract is kept with the attempt, shown in the job and written into the result", async () => {
    for (const claimant of [ACCOUNT, CONTRACT]) {
      const { jobId, job } = await provedJob(claimant);
      expect(job.claimant).toBe(claimant);
      const doc = (await call(`/api/proofs/jobs/${jobId}/result`)).body;
      expect(doc.claimant).toBe(claimant);
    }
  });

  it("no header: the job is anyone's to claim (claimant null)", async () => {
    const r = await postTape(uniqueTape());
    expect(r.status).toBe(202);
    expect(r.body.job.claimant).toBeNull();
  });

  it("anything else is 400 invalid_claimant, before the tape is read; nothing is accepted", async () => {
    const good = ACCOUNT;
    const bad = [
      "",
      good.toLowerCase(),
      good.slice(0, 55),
      good + "A",
      good.slice(0, 55) + (good[55] === "A" ? "B" : "A"), // checksum
      "SAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // a secret seed
      `${good.slice(0, 28)} ${good.slice(29)}`,
    ];
    for (const claimant of bad) {
      const tape = uniqueTape();
      const r = await postTape(tape, { "x-claimant-address": claimant });
      expect(r.status, JSON.stringify(claimant)).toBe(400);
      expect(r.body.error.code).toBe("invalid_claimant");
      expect(r.body.error.message).toMatch(/x-claimant-address/);
      const jobId = [...new Uint8Array(await crypto.subtle.digest("SHA-256", tape))]
        .map((b) => b.toString(16).padStart(2, "0"))
        .join("");
      expect((await call(`/api/proofs/jobs/${jobId}`)).status).toBe(404);
    }
  });

  it("a second poster of a tape in flight gets the same job, with the first poster's claimant", async () => {
    await prover.configure({ proofMs: 1500 });
    const tape = uniqueTape();
    const first = await postTape(tape, { "x-claimant-address": ACCOUNT });
    const second = await postTape(tape, { "x-claimant-address": CONTRACT });
    expect(second.status).toBe(200);
    expect(second.body.cancel_token).toBeUndefined();
    expect(second.body.job.jobId).toBe(first.body.job.jobId);
    expect(second.body.job.claimant).toBe(ACCOUNT);
  });

  it("CORS lets a game origin send x-claimant-address", async () => {
    const origin = "https://game.example";
    const r = await callWith({ CORS_ALLOWED_ORIGINS: origin }, "/api/proofs/jobs", {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-claimant-address",
      },
    });
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-headers")?.toLowerCase()).toContain(
      "x-claimant-address",
    );
  });
});

describe("results outlive the job's record", () => {
  it("just inside the retention the record stays; just past it the record goes and the kept proof answers", async () => {
    const { jobId, job } = await provedJob();
    const retention = cfg.completedJobRetentionMs;
    await ageAndRunAlarm(jobId, retention - 2_000);
    expect(await storedJob(jobId)).not.toBeNull();
    await ageAndRunAlarm(jobId, retention + 1);
    expect(await storedJob(jobId)).toBeNull();

    const got = await call(`/api/proofs/jobs/${jobId}`);
    expect(got.status).toBe(200);
    expect(got.body.job).toMatchObject({
      jobId,
      status: "succeeded",
      claimant: ACCOUNT,
      result: { key: resultKey(jobId), journal: job.result!.journal },
    });
    expect(got.body.settlement).toBe("none");
    const result = await call(`/api/proofs/jobs/${jobId}/result`);
    expect(result.status).toBe(200);
    expect(result.body.journal).toEqual(job.result!.journal);
    // Reading it keeps no record alive in the job's object.
    expect(await storedJob(jobId)).toBeNull();
  });

  it("posting a proved tape again after its record was cleared answers 200 with the proof and proves nothing", async () => {
    const tape = uniqueTape();
    const first = await postTape(tape);
    const jobId = first.body.job.jobId as string;
    await waitForJob(jobId, (j) => j.status === "succeeded");
    await ageAndRunAlarm(jobId, cfg.completedJobRetentionMs + 1);
    expect(await storedJob(jobId)).toBeNull();
    const before = (await prover.stats()).submissions;
    const again = await postTape(tape);
    expect(again.status).toBe(200);
    expect(again.body.cancel_token).toBeUndefined();
    expect(again.body.job.status).toBe("succeeded");
    expect(await storedJob(jobId)).toBeNull();
    expect((await prover.stats()).submissions).toBe(before);
  });

  it("the socket of a cleared job sends the kept proof and closes normally", async () => {
    const { jobId } = await provedJob();
    await ageAndRunAlarm(jobId, cfg.completedJobRetentionMs + 1);
    const res = await exports.default.fetch(
      new Request(`http://gateway.test/api/proofs/jobs/${jobId}/ws`, {
        headers: { upgrade: "websocket" },
      }),
    );
    const ws = res.webSocket!;
    const messages: { job: { status: string } }[] = [];
    const closed = new Promise<number>((resolve) =>
      ws.addEventListener("close", (e) => resolve(e.code)),
    );
    ws.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string)));
    ws.accept();
    expect(await closed).toBe(1000);
    expect(messages.map((m) => m.job.status)).toEqual(["succeeded"]);
  });

  it("a result document in R2 that does not prove the job's tape is no job", async () => {
    const { jobId } = await provedJob();
    const doc = await (await env.TAPES.get(resultKey(jobId)))!.json<any>();
    await ageAndRunAlarm(jobId, cfg.completedJobRetentionMs + 1);
    await env.TAPES.put(
      resultKey(jobId),
      JSON.stringify({ ...doc, journal: { ...doc.journal, final_score: 1 } }),
    );
    expect((await call(`/api/proofs/jobs/${jobId}`)).status).toBe(404);
    expect((await call(`/api/proofs/jobs/${jobId}/result`)).status).toBe(404);
  });
});

describe("PUT /api/settlement/jobs/:jobId/claim", () => {
  it("no SETTLEMENT_TOKEN: 403 settlement_disabled; no or a wrong token: 401", async () => {
    const { jobId } = await provedJob();
    const off = await call(`/api/settlement/jobs/${jobId}/claim`, {
      method: "PUT",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ status: "queued" }),
    });
    expect(off.status).toBe(403);
    expect(off.body.error.code).toBe("settlement_disabled");
    for (const token of [null, `${TOKEN}x`]) {
      const r = await report(jobId, { status: "queued" }, token);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe("unauthorized");
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
  });

  it("validates the report: 400 invalid_body naming the field, 413 past 4 KiB, 400 invalid_job_id", async () => {
    const { jobId } = await provedJob();
    const cases: [unknown, RegExp][] = [
      ["{not json", /JSON/],
      [{ status: "done" }, /status/],
      [{ status: "succeeded", txHash: "ABC" }, /txHash/],
      [{ status: "failed", error: "x".repeat(501) }, /error/],
      [{ status: "queued", extra: 1 }, /extra|unrecognized/i],
    ];
    for (const [body, message] of cases) {
      const r = await report(jobId, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe("invalid_body");
      expect(r.body.error.message).toMatch(message);
    }
    // 500 characters is the limit itself: accepted.
    expect((await report(jobId, { status: "failed", error: "x".repeat(500) })).status).toBe(200);
    const big = await report(jobId, JSON.stringify({ status: "queued", error: "y".repeat(5000) }));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("body_too_large");
    expect((await report("nope", { status: "queued" })).body.error.code).toBe("invalid_job_id");
  });

  it("no proof to claim: 404 for no job, 409 result_not_ready while proving", async () => {
    const missing = "0".repeat(64);
    expect((await report(missing, { status: "queued" })).body.error.code).toBe("job_not_found");
    await prover.configure({ proofMs: 2000 });
    const r = await postTape(uniqueTape());
    const early = await report(r.body.job.jobId, { status: "queued" });
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe("result_not_ready");
  });

  it("a claim runs queued → submitting → succeeded: kept, counted, shown in the job view; a settled claim is final", async () => {
    const { jobId } = await provedJob();
    const tx = "ab".repeat(32);
    expect((await report(jobId, { status: "queued" })).body.claim).toMatchObject({
      status: "queued",
      claimant: ACCOUNT,
      attempts: 0,
      submittedAt: null,
    });
    await report(jobId, { status: "submitting" });
    await report(jobId, { status: "retrying", error: "tx_bad_seq" });
    await report(jobId, { status: "submitting" });
    const done = await report(jobId, { status: "succeeded", txHash: tx });
    expect(done.status).toBe(200);
    expect(done.body.claim).toMatchObject({
      status: "succeeded",
      txHash: tx,
      attempts: 2,
      error: null,
    });
    const view = await call(`/api/proofs/jobs/${jobId}`);
    expect(view.body.claim).toEqual(done.body.claim);
    expect(JSON.parse(await (await env.TAPES.get(claimKey(jobId)))!.text())).toEqual(
      done.body.claim,
    );
    // The same report again (a retried call) is fine; anything else is refused.
    expect((await report(jobId, { status: "succeeded", txHash: tx })).status).toBe(200);
    const late = await report(jobId, { status: "failed", error: "too late" });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("claim_settled");
  });

  it("the claim survives the job's record", async () => {
    const { jobId } = await provedJob();
    await report(jobId, { status: "submitting" });
    await ageAndRunAlarm(jobId, cfg.completedJobRetentionMs + 1);
    expect(await storedJob(jobId)).toBeNull();
    expect((await call(`/api/proofs/jobs/${jobId}`)).body.claim).toMatchObject({
      status: "submitting",
      attempts: 1,
    });
    const later = await report(jobId, { status: "failed", error: "relayer gave up" });
    expect(later.status).toBe(200);
    expect((await call(`/api/proofs/jobs/${jobId}`)).body.claim).toMatchObject({
      status: "failed",
      error: "relayer gave up",
    });
    // Nothing was kept in the cleared job's object.
    expect(await storedJob(jobId)).toBeNull();
  });
});

/**
 * Turns webhooks (and, with a token, automatic settlement) on for one job's object, with a queue
 * that records what the object sends (or refuses it). The object must exist: post the job first.
 */
async function announcing(jobId: string, opts: { settle?: boolean; queueDown?: boolean } = {}) {
  const sent: WebhookMessage[] = [];
  const queue = {
    send: async (m: WebhookMessage) => {
      if (opts.queueDown) throw new Error("injected: the webhooks queue is down");
      sent.push(m);
    },
  };
  await withObjectEnv(jobId, {
    WEBHOOK_URL: "http://127.0.0.1:9/hook",
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    PUBLIC_BASE_URL: "https://gateway.example",
    ...(opts.settle ? { SETTLEMENT_TOKEN: TOKEN } : {}),
    WEBHOOKS_QUEUE: queue,
  } as unknown as Partial<Env>);
  return sent;
}

const payloadOf = (m: WebhookMessage) => JSON.parse(m.body);

describe("completion webhooks from the job's object", () => {
  it("a proof's end is announced once: proof.succeeded with journal, claimant, seal and result URL", async () => {
    await prover.configure({ proofMs: 800 });
    const r = await postTape(uniqueTape(), { "x-claimant-address": CONTRACT });
    const jobId = r.body.job.jobId as string;
    const sent = await announcing(jobId);
    const job = await waitForJob(jobId, (j) => j.status === "succeeded");
    // Reads and alarms after the end announce nothing more.
    await call(`/api/proofs/jobs/${jobId}`);
    await runInDurableObject(stubOf(jobId), (i) => i.alarm());
    expect(sent).toHaveLength(1);
    expect(sent[0]!.id).toBe(`msg_${jobId}_1_succeeded`);
    expect(payloadOf(sent[0]!)).toEqual({
      type: "proof.succeeded",
      timestamp: new Date(job.finishedAt!).toISOString(),
      data: {
        job_id: jobId,
        attempt: 1,
        status: "succeeded",
        claimant: CONTRACT,
        journal: job.result!.journal,
        seal: null, // VERIFY_RECEIPTS=off in these tests: no verified seal
        image_id: null,
        result_url: `https://gateway.example/api/proofs/jobs/${jobId}/result`,
      },
    });
  });

  it("a cancel is announced as proof.cancelled; a new attempt's end has its own id", async () => {
    await prover.configure({ proofMs: 1500 });
    const tape = uniqueTape();
    const r = await postTape(tape);
    const jobId = r.body.job.jobId as string;
    const sent = await announcing(jobId);
    await callWith({}, `/api/proofs/jobs/${jobId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${r.body.cancel_token}` },
    });
    expect(sent.map((m) => [m.id, payloadOf(m).type])).toEqual([
      [`msg_${jobId}_1_cancelled`, "proof.cancelled"],
    ]);
    const again = await postTape(tape);
    expect(again.status).toBe(202);
    await waitForJob(jobId, (j) => j.status === "succeeded");
    expect(sent.map((m) => m.id)).toEqual([`msg_${jobId}_1_cancelled`, `msg_${jobId}_2_succeeded`]);
  });

  it("a failure is announced as proof.failed with its code", async () => {
    await prover.configure({ proofMs: 800 });
    await prover.faults([{ kind: "fail_unknown", times: 2 }]); // one prover: its verdict stands only when given twice
    const r = await postTape(uniqueTape());
    const jobId = r.body.job.jobId as string;
    const sent = await announcing(jobId);
    const job = await waitForJob(jobId, (j) => j.status === "failed");
    expect(sent).toHaveLength(1);
    expect(payloadOf(sent[0]!)).toMatchObject({
      type: "proof.failed",
      data: { status: "failed", error: { code: job.error!.code } },
    });
  });

  it("a webhooks queue that is down changes nothing about the job", async () => {
    await prover.configure({ proofMs: 800 });
    const r = await postTape(uniqueTape());
    const jobId = r.body.job.jobId as string;
    const sent = await announcing(jobId, { queueDown: true });
    const job = await waitForJob(jobId, (j) => j.status === "succeeded");
    expect(sent).toHaveLength(0);
    expect(job.result).not.toBeNull();
  });
});

describe("the claim on the live-status socket", () => {
  it("with a settlement service the socket stays open past the proof, carries each claim report and closes once the claim ends", async () => {
    await prover.configure({ proofMs: 800 });
    const r = await postTape(uniqueTape(), { "x-claimant-address": ACCOUNT });
    const jobId = r.body.job.jobId as string;
    await announcing(jobId, { settle: true });
    const res = await exports.default.fetch(
      new Request(`http://gateway.test/api/proofs/jobs/${jobId}/ws`, {
        headers: { upgrade: "websocket" },
      }),
    );
    const ws = res.webSocket!;
    const messages: {
      job: { status: string };
      claim: { status: string } | null;
      settlement: string;
    }[] = [];
    let closed: number | null = null;
    ws.addEventListener("close", (e) => void (closed = e.code));
    ws.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string)));
    ws.accept();
    await until(async () => messages.some((m) => m.job.status === "succeeded"));
    await scheduler.wait(100);
    expect(closed).toBeNull();
    expect(messages.at(-1)).toMatchObject({ settlement: "automatic", claim: null });
    await report(jobId, { status: "submitting" });
    await until(async () => messages.at(-1)?.claim?.status === "submitting");
    expect(closed).toBeNull();
    await report(jobId, { status: "succeeded", txHash: "cd".repeat(32) });
    await until(async () => closed !== null);
    expect(closed).toBe(1000);
    expect(messages.at(-1)!.claim).toMatchObject({ status: "succeeded", attempts: 1 });
  });
});
