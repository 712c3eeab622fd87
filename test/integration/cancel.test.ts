import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import {
  call,
  callWith,
  cfg,
  dispatcher,
  ended,
  getJob,
  parkAlarm,
  postTape,
  prover,
  storedJob,
  stubOf,
  uniqueTape,
  until,
  waitForJob,
} from "./helpers.ts";

const cancelJob = (jobId: string, token?: string) =>
  call(`/api/proofs/jobs/${jobId}`, {
    method: "DELETE",
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });

beforeEach(async () => {
  await prover.configure({ proofMs: 1_500 });
});

describe("cancel tokens", () => {
  it("the 202 that creates an attempt carries a cancel token; a 200 for the same tape in flight does not", async () => {
    const tape = uniqueTape();
    const first = await postTape(tape);
    expect(first.status).toBe(202);
    expect(first.body.cancel_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.body.job).not.toHaveProperty("cancelTokenHash");
    const again = await postTape(tape);
    expect(again.status).toBe(200);
    expect(again.body).not.toHaveProperty("cancel_token");
  });

  it("no token or a wrong one → 403 and the job is untouched; an unknown job → 404; a bad id → 400", async () => {
    const { body } = await postTape(uniqueTape());
    const jobId = body.job.jobId;
    const none = await cancelJob(jobId);
    expect(none.status).toBe(403);
    expect(none.body.error.code).toBe("cancel_forbidden");
    const wrong = await cancelJob(
      jobId,
      body.cancel_token.replace(/.$/, (c: string) => (c === "A" ? "B" : "A")),
    );
    expect(wrong.status).toBe(403);
    expect((await getJob(jobId)).status).not.toBe("cancelled");
    expect((await cancelJob("f".repeat(64), body.cancel_token)).status).toBe(404);
    expect((await cancelJob("nope", body.cancel_token)).body.error.code).toBe("invalid_job_id");
  });

  it("the admin token (ADMIN_TOKEN) may cancel any job; without one configured it is just a wrong token", async () => {
    const { body } = await postTape(uniqueTape());
    const adminToken = "admin-token-for-tests-0123456789";
    const del = (token: string, vars: Partial<Cloudflare.Env>) =>
      callWith(vars, `/api/proofs/jobs/${body.job.jobId}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await del(adminToken, {})).status).toBe(403);
    expect(
      (await del("some-other-admin-token-0123456789", { ADMIN_TOKEN: adminToken })).status,
    ).toBe(403);
    const ok = await del(adminToken, { ADMIN_TOKEN: adminToken });
    expect(ok.status).toBe(200);
    expect(ok.body.job.status).toBe("cancelled");
  });
});

describe("DELETE /api/proofs/jobs/:jobId", () => {
  it("a job cancelled while waiting never reaches the prover", async () => {
    // The prover is busy with someone else's long proof, so the job waits in line.
    await prover.configure({ proofMs: 60_000 });
    await prover.submitDirect(uniqueTape());
    const { body } = await postTape(uniqueTape());
    await until(
      async () => (await getJob(body.job.jobId)).prover.lastError?.code === "prover_busy",
    );
    const submissionsBefore = (await prover.stats()).submissions;
    const res = await cancelJob(body.job.jobId, body.cancel_token);
    expect(res.status).toBe(200);
    expect(res.body.job).toMatchObject({ status: "cancelled", error: null });
    expect((await dispatcher().snapshot()).waiting).toEqual([]);
    // Well past several cool-downs: nobody asks the prover for it again.
    await scheduler.wait(cfg.pollIntervalMs * 5);
    expect((await prover.stats()).submissions).toBe(submissionsBefore);
    expect((await getJob(body.job.jobId)).status).toBe("cancelled");
  });

  it("a proving job stops being polled, the prover is told to delete it once its proof ends, and stays held for it until then: the next job gets it after (no 429)", async () => {
    const a = (await postTape(uniqueTape())).body;
    const b = (await postTape(uniqueTape())).body;
    await waitForJob(a.job.jobId, (j) => j.status === "proving");
    // B's delivery has reached the line (deliveries come one at a time, after A's).
    await until(async () =>
      (await dispatcher().snapshot()).waiting.some((w) => w.jobId === b.job.jobId),
    );
    const res = await cancelJob(a.job.jobId, a.cancel_token);
    expect(res.status).toBe(200);
    expect(res.body.job.status).toBe("cancelled");
    const proverJobId = res.body.job.prover.jobId;
    // The prover cannot stop A's proof: it stays held for it (B is not sent to bounce on a 429).
    const line = await dispatcher().snapshot();
    expect(line.slots[0]?.holder).toBeNull();
    expect(line.waiting.map((w) => w.jobId)).toEqual([b.job.jobId]);
    const polls = (await getJob(a.job.jobId)).attempts.polls;
    // The prover refuses the DELETE (409 job_active) until the proof ends, then accepts it.
    await until(async () => (await prover.stats()).byStatus["409"] >= 1);
    await until(async () => (await getJob(a.job.jobId)).cleanup.length === 0);
    expect((await prover.job(proverJobId)).status).toBe(404);
    expect(await getJob(a.job.jobId)).toMatchObject({ status: "cancelled", attempts: { polls } });
    // B gets the prover as soon as it is free.
    expect((await waitForJob(b.job.jobId, ended)).status).toBe("succeeded");
    expect((await prover.stats()).rateLimited).toBe(0);
  });

  it("the DELETEs to the prover carry on from storage after the job's object is evicted", async () => {
    // Long enough that the DELETE is still refused (409) once the eviction is done: evicting an
    // object that can hold hibernatable sockets takes a few seconds in the test runtime.
    await prover.configure({ proofMs: 6_000 });
    const { body } = await postTape(uniqueTape());
    await waitForJob(body.job.jobId, (j) => j.status === "proving");
    const proverJobId = (await cancelJob(body.job.jobId, body.cancel_token)).body.job.prover.jobId;
    // Hold the alarm, evict (nothing in memory survives), then let the stored alarm fire.
    await parkAlarm(body.job.jobId);
    await evictDurableObject(stubOf(body.job.jobId));
    expect((await storedJob(body.job.jobId))!.cleanup).toHaveLength(1);
    await runInDurableObject(stubOf(body.job.jobId), (_i, state) =>
      state.storage.setAlarm(Date.now()),
    );
    await until(async () => (await getJob(body.job.jobId)).cleanup.length === 0);
    expect((await prover.job(proverJobId)).status).toBe(404);
    expect((await getJob(body.job.jobId)).status).toBe("cancelled");
  });

  it("repeating it answers the same (idempotent)", async () => {
    const { body } = await postTape(uniqueTape());
    const first = await cancelJob(body.job.jobId, body.cancel_token);
    const second = await cancelJob(body.job.jobId, body.cancel_token);
    expect(second.status).toBe(200);
    expect(second.body.job).toEqual(first.body.job);
  });

  it("a succeeded job answers 409 job_succeeded and keeps its proof", async () => {
    await prover.configure({ proofMs: 100 });
    const { body } = await postTape(uniqueTape());
    await waitForJob(body.job.jobId, ended);
    const res = await cancelJob(body.job.jobId, body.cancel_token);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      success: false,
      error: { code: "job_succeeded" },
      job: { status: "succeeded" },
    });
    expect((await call(`/api/proofs/jobs/${body.job.jobId}/result`)).status).toBe(200);
  });

  it("a failed job answers 409 job_failed and stays failed", async () => {
    await prover.faults([{ kind: "fail_unknown", times: 2 }]); // one prover: its verdict stands only when given twice
    await prover.configure({ proofMs: 100 });
    const { body } = await postTape(uniqueTape());
    await waitForJob(body.job.jobId, ended);
    const res = await cancelJob(body.job.jobId, body.cancel_token);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      error: { code: "job_failed" },
      job: { status: "failed", error: { code: "prover_failed" } },
    });
  });
});

describe("posting the same tape after failed or cancelled", () => {
  it("starts a fresh attempt (202, new token), keeps the earlier attempt in history, and the old token no longer cancels", async () => {
    await prover.configure({ proofMs: 100 });
    const tape = uniqueTape();
    const first = (await postTape(tape)).body;
    await cancelJob(first.job.jobId, first.cancel_token);
    const second = await postTape(tape);
    expect(second.status).toBe(202);
    expect(second.body.cancel_token).not.toBe(first.cancel_token);
    expect(second.body.job).toMatchObject({ jobId: first.job.jobId, attempt: 2, status: "queued" });
    expect(second.body.job.history).toEqual([
      expect.objectContaining({ attempt: 1, status: "cancelled" }),
    ]);
    expect((await cancelJob(first.job.jobId, first.cancel_token)).status).toBe(403);
    const done = await waitForJob(first.job.jobId, ended);
    expect(done).toMatchObject({ status: "succeeded", attempt: 2 });
  });

  it("after failed, too", async () => {
    await prover.faults([{ kind: "fail_unknown", times: 2 }]); // one prover: its verdict stands only when given twice
    await prover.configure({ proofMs: 100 });
    const tape = uniqueTape();
    const first = (await postTape(tape)).body;
    await waitForJob(first.job.jobId, ended);
    const second = await postTape(tape);
    expect(second.status).toBe(202);
    const done = await waitForJob(first.job.jobId, (j) => ended(j) && j.attempt === 2);
    expect(done).toMatchObject({
      status: "succeeded",
      history: [
        expect.objectContaining({
          status: "failed",
          error: expect.objectContaining({ code: "prover_failed" }),
        }),
      ],
    });
  });
});
