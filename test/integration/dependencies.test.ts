/**
 * When R2, a queue or a Durable Object fails, the player and admin routes answer `503` with
 * `Retry-After` and a stable code (`storage_unavailable`, `queue_unavailable`,
 * `object_unavailable`), never `500`; a bug is still a `500 internal_error`. The failures are
 * injected as bindings that throw (the Worker's own, through `callWith`, or the job's object's,
 * through `withObjectEnv`).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/hex.ts";
import { UNAVAILABLE_RETRY_SECONDS } from "../../src/http/errors.ts";
import {
  call,
  callWith,
  dispatcher,
  postTape,
  prover,
  uniqueTape,
  waitForJob,
  withObjectEnv,
  type Answer,
} from "./helpers.ts";

const ADMIN_TOKEN = "admin-token-for-dependencies-01";
const admin = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };

const injected = (what: string) => new Error(`injected: ${what}`);

/**
 * A Durable Object namespace whose every stub call fails as `fail` says (thrown or rejected),
 * but the calls `answers` answers.
 */
function failingObjects(fail: () => unknown, answers: Record<string, unknown> = {}) {
  const stub = new Proxy(
    {},
    {
      get: (_t, prop) =>
        prop === "then"
          ? undefined
          : typeof prop === "string" && prop in answers
            ? async () => answers[prop]
            : () => fail(),
    },
  );
  // Stands for any of the namespaces (JOB, DISPATCHER, JOB_INDEX).
  return { getByName: () => stub, get: () => stub } as unknown as DurableObjectNamespace<any>;
}

const rejecting = failingObjects(() => Promise.reject(injected("the object was reset")));
/** What an object whose queue is full throws (`overloaded`, as the runtime marks it). */
const overloaded = failingObjects(() => {
  throw Object.assign(injected("Durable Object is overloaded"), { overloaded: true });
});

function expectUnavailable(r: Answer, code: string) {
  expect(r.status).toBe(503);
  expect(r.body).toMatchObject({ success: false, error: { code } });
  expect(r.headers.get("retry-after")).toBe(String(UNAVAILABLE_RETRY_SECONDS));
  expect(r.headers.get("cache-control")).toBe("no-store");
}

describe("a failing Durable Object is 503 object_unavailable", () => {
  const id = "a".repeat(64);

  it.each([
    ["the job's object rejects", rejecting],
    ["the job's object is overloaded (throws)", overloaded],
  ])("%s: every player route", async (_name, JOB) => {
    const tape = uniqueTape();
    expectUnavailable(
      await callWith({ JOB }, "/api/proofs/jobs", { method: "POST", body: tape }),
      "object_unavailable",
    );
    expectUnavailable(await callWith({ JOB }, `/api/proofs/jobs/${id}`), "object_unavailable");
    expectUnavailable(
      await callWith({ JOB }, `/api/proofs/jobs/${id}/result`),
      "object_unavailable",
    );
    expectUnavailable(
      await callWith({ JOB }, `/api/proofs/jobs/${id}`, { method: "DELETE", ...admin }),
      "object_unavailable",
    );
    expectUnavailable(
      await callWith({ JOB }, `/api/proofs/jobs/${id}/ws`, { headers: { upgrade: "websocket" } }),
      "object_unavailable",
    );
    // Nothing was accepted: the tape has no job.
    expect((await call(`/api/proofs/jobs/${await sha256Hex(tape)}`)).status).toBe(404);
  });

  it("the dispatcher and the job index: the admin routes", async () => {
    const vars = { ADMIN_TOKEN, DISPATCHER: rejecting, JOB_INDEX: rejecting };
    expectUnavailable(await callWith(vars, "/api/admin/provers", admin), "object_unavailable");
    expectUnavailable(await callWith(vars, "/api/admin/jobs", admin), "object_unavailable");
    expectUnavailable(
      await callWith(vars, "/api/admin/provers", {
        method: "POST",
        body: JSON.stringify({ url: "http://127.0.0.1:9" }),
        ...admin,
      }),
      "object_unavailable",
    );
  });

  it("a failing dispatcher does not stop a player's tape (its cap is skipped, as before)", async () => {
    await prover.configure({ proofMs: 50 });
    const r = await postTape(uniqueTape(), {}, { DISPATCHER: rejecting });
    expect(r.status).toBe(202);
    await waitForJob(r.body.job.jobId, (j) => j.status === "succeeded");
  });

  it("the job's object failing after the tape is stored: the attempt is not counted against its client", async () => {
    const ip = "203.0.113.77";
    const tape = uniqueTape();
    const jobId = await sha256Hex(tape);
    // No job yet (get, view: null); creating it fails.
    const JOB = failingObjects(() => Promise.reject(injected("reset")), { get: null, view: null });
    expectUnavailable(
      await callWith({ JOB }, "/api/proofs/jobs", {
        method: "POST",
        body: tape,
        headers: { "cf-connecting-ip": ip },
      }),
      "object_unavailable",
    );
    // The dispatcher counts nothing for it, and with a cap of one the client may post at once.
    const counted = await runInDurableObject(dispatcher(), (_i, state) =>
      state.storage.sql.exec("SELECT job_id FROM live WHERE job_id = ?", jobId).toArray(),
    );
    expect(counted).toEqual([]);
    const again = await postTape(tape, { "cf-connecting-ip": ip }, { MAX_WAITING_PER_CLIENT: "1" });
    expect(again.status).toBe(202);
  });
});

describe("a failing R2 is 503 storage_unavailable", () => {
  const failingR2 = (method: string) =>
    new Proxy(env.TAPES, {
      get(t, prop) {
        if (prop === method) return () => Promise.reject(injected("R2 is down"));
        const v = Reflect.get(t, prop) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    }) as R2Bucket;

  it("storing a tape: nothing accepted, with Retry-After", async () => {
    const tape = uniqueTape();
    const r = await callWith({ TAPES: failingR2("put") }, "/api/proofs/jobs", {
      method: "POST",
      body: tape,
    });
    expectUnavailable(r, "storage_unavailable");
    expect((await call(`/api/proofs/jobs/${await sha256Hex(tape)}`)).status).toBe(404);
  });

  it("reading a result", async () => {
    await prover.configure({ proofMs: 50 });
    const { body } = await postTape(uniqueTape());
    await waitForJob(body.job.jobId, (j) => j.status === "succeeded");
    const path = `/api/proofs/jobs/${body.job.jobId}/result`;
    expect((await call(path)).status).toBe(200);
    expectUnavailable(await callWith({ TAPES: failingR2("get") }, path), "storage_unavailable");
  });
});

describe("a failing queue is 503 queue_unavailable", () => {
  it("enqueuing a new attempt: nothing kept, with Retry-After", async () => {
    const tape = uniqueTape();
    const jobId = await sha256Hex(tape);
    const failing = { send: () => Promise.reject(injected("queue is down")) } as unknown as Queue;
    await withObjectEnv(jobId, { JOBS_QUEUE: failing });
    expectUnavailable(await postTape(tape), "queue_unavailable");
    expect((await call(`/api/proofs/jobs/${jobId}`)).status).toBe(404);
  });
});

describe("a bug is not a dependency", () => {
  it("an object that answers nonsense (no throw) is a 500 internal_error", async () => {
    const nonsense = failingObjects(() => Promise.resolve({ job: undefined }));
    const r = await callWith({ JOB: nonsense }, `/api/proofs/jobs/${"b".repeat(64)}`);
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe("internal_error");
  });
});
