/**
 * The dev prover must imitate shared/PROVER_API.md faithfully (shapes, 4xx/429s, timeouts,
 * restarts) and inject every fault on demand, or the gateway's integration tests prove nothing.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from "vitest";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { dispatchGaps, summarizeGaps } from "../../tools/dev/dispatch-gaps.ts";
import {
  DEV_PROVER_IMAGE_ID,
  startDevProver,
  TIMELINE_LENGTH,
  type DevProver,
} from "../../tools/dev/prover-server.ts";
import { verifyProverReceipt } from "../../src/verify/receipt.ts";
import { receiptFixture } from "../support/fixtures.ts";

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../shared/fixtures/${name}`, import.meta.url)));
const REAL = fixture("test-real-game.tape");
const MEDIUM = fixture("test-medium.tape");
const ZERO = fixture("test-short.tape");
const SUBMIT = "/api/jobs/prove-tape/raw";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Reply {
  status: number;
  type: string;
  text: string;
  json: <T = Record<string, any>>() => T;
}

/** One request on a fresh connection (no pooling: restarts and resets stay unambiguous). */
function call(
  base: string,
  method: string,
  path: string,
  o: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Reply> {
  const body =
    o.body === undefined
      ? undefined
      : o.body instanceof Uint8Array
        ? o.body
        : new TextEncoder().encode(JSON.stringify(o.body));
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, base),
      { method, headers: o.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode!,
            type: String(res.headers["content-type"]),
            text,
            json: () => JSON.parse(text),
          });
        });
      },
    );
    req.on("error", reject);
    if (o.timeoutMs)
      req.setTimeout(o.timeoutMs, () =>
        req.destroy(Object.assign(new Error("client timeout"), { code: "TIMEOUT" })),
      );
    req.end(body);
  });
}
const errCode = (p: Promise<unknown>) =>
  p.then(
    () => "no error",
    (e: { code?: string }) => e.code,
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(f: () => Promise<T | undefined> | T | undefined, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("waitFor timed out");
    await sleep(15);
  }
}

let p: DevProver;
const submit = (tape: Uint8Array, query = "", headers?: Record<string, string>) =>
  call(p.url, "POST", SUBMIT + query, { body: tape, headers });
const poll = (id: string) => call(p.url, "GET", `/api/jobs/${id}`);
/** Polls until the job is finished; returns the final body. */
const finish = (id: string) =>
  waitFor(async () => {
    const r = await poll(id);
    if (r.status !== 200) throw new Error(`poll gave ${r.status}: ${r.text}`);
    const b = r.json();
    return b.status === "succeeded" || b.status === "failed" ? b : undefined;
  });
async function accepted(tape = REAL, query = ""): Promise<string> {
  const r = await submit(tape, query);
  expect(r.status, r.text).toBe(202);
  return r.json().job_id as string;
}

beforeAll(async () => {
  p = await startDevProver({ proofMs: 120, queuedMs: 20, restartOutageMs: 250 });
});
afterAll(() => p.close());
beforeEach(() => p.reset());

describe("contract", () => {
  it("serves /health with every documented field", async () => {
    const r = await call(p.url, "GET", "/health");
    expect(r.status).toBe(200);
    const h = r.json();
    expect(h).toMatchObject({
      status: "ok",
      accelerator: "cuda",
      rules_digest: 1095980083,
      rules_digest_hex: "0x41535433",
      ruleset: "AST3",
      dev_mode: false,
      queued_jobs: 0,
      running_jobs: 0,
      stored_jobs: 0,
      max_jobs: 64,
      prover_concurrency: 1,
      max_tape_bytes: 2097152,
      max_frames: 18000,
      min_segment_limit_po2: 16,
      max_segment_limit_po2: 21,
      http_max_connections: 25000,
      http_keep_alive_secs: 75,
      timed_out_proof_kill_secs: 60,
      auth_required: false,
    });
    expect(h.image_id).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof h.service).toBe("string");
    // Long enough in `queued` that a loaded machine still sees it there (reset restores 20 ms).
    p.configure({ queuedMs: 1_000 });
    await accepted();
    expect((await call(p.url, "GET", "/health")).json()).toMatchObject({
      queued_jobs: 1,
      stored_jobs: 1,
    });
    expect(p.stats().health).toBe(2);
  });

  it("proves a real tape: queued → running → succeeded with the tape's own journal", async () => {
    // Long enough in `queued` that a loaded machine still sees it there (reset restores 20 ms).
    p.configure({ queuedMs: 1_000 });
    const r = await submit(REAL, "?receipt_kind=groth16&segment_limit_po2=20&verify_mode=verify");
    expect(r.status).toBe(202);
    const sub = r.json();
    expect(sub).toEqual({
      success: true,
      job_id: expect.stringMatching(UUID),
      status: "queued",
      status_url: `/api/jobs/${sub.job_id}`,
    });
    const first = (await call(p.url, "GET", sub.status_url)).json();
    expect(first.status).toBe("queued");
    expect(first.result).toBeUndefined();
    await waitFor(async () =>
      (await poll(sub.job_id)).json().status === "running" ? true : undefined,
    );
    const done = await finish(sub.job_id);
    expect(done.status).toBe("succeeded");
    expect(done.error_code).toBeUndefined();
    expect(done.tape_size_bytes).toBe(13857);
    expect(done.options).toEqual({
      max_frames: 18000,
      receipt_kind: "groth16",
      segment_limit_po2: 20,
      proof_mode: "secure",
      verify_mode: "verify",
      accelerator: "cuda",
    });
    expect(done.result.proof.journal).toEqual({
      seed: 0x43c9c6cd,
      frame_count: 13829,
      final_score: 32860,
      final_rng_state: 0xa9713c03,
      tape_checksum: 0xc8eebb89,
      rules_digest: 0x41535433,
    });
    expect(done.result.proof.receipt.inner.Groth16.seal).toHaveLength(256);
    expect(done.result.proof).toMatchObject({
      requested_receipt_kind: "groth16",
      produced_receipt_kind: "groth16",
    });
    expect(done.result.proof.stats.segments).toBeGreaterThan(0);
    expect(done.result.elapsed_ms).toBeGreaterThanOrEqual(120);
    expect(done.finished_at_unix_s).toBeGreaterThanOrEqual(done.created_at_unix_s);
    const s = p.stats();
    expect(s.accepted).toBe(1);
    expect(s.submissions).toBe(1);
    expect(s.polls).toBeGreaterThanOrEqual(3);
    expect(s.finished.succeeded).toBe(1);
    expect(s.jobs.succeeded).toBe(1);
  });

  it("serves the real GPU receipt for a fixture tape (it verifies); fakes for others and when forged", async () => {
    const image = DEV_PROVER_IMAGE_ID;
    const q = "?receipt_kind=groth16";
    const real = await finish(await accepted(REAL, q));
    expect(verifyProverReceipt(real, image)).toMatchObject({
      ok: true,
      receipt: { seal: receiptFixture("proof-real-game-groth16").onchainSeal },
    });
    const other = await finish(await accepted(MEDIUM, q));
    expect(verifyProverReceipt(other, image).ok).toBe(false);
    p.injectFaults([{ kind: "forged_receipt" }]);
    const forged = await finish(await accepted(REAL, q));
    expect(forged.result.proof.journal).toEqual(real.result.proof.journal); // the right journal…
    expect(verifyProverReceipt(forged, image).ok).toBe(false); // …with a worthless seal
  });

  it("refuses bad tapes and options with 400 and the documented codes", async () => {
    const cases: Array<[Uint8Array, string, string]> = [
      [ZERO, "", "zero_score_not_allowed"],
      [
        new TextEncoder().encode("definitely not a tape, just some garbage bytes"),
        "",
        "invalid_tape",
      ],
      [new Uint8Array(0), "", "tape_empty"],
      [new Uint8Array(2_097_153), "", "tape_too_large"],
      [REAL, "?segment_limit_po2=15", "invalid_segment_limit"],
      [REAL, "?segment_limit_po2=22", "invalid_segment_limit"],
      [REAL, "?max_frames=18001", "invalid_max_frames"],
      [REAL, "?max_frames=100", "invalid_tape"],
    ];
    for (const [tape, q, code] of cases) {
      const r = await submit(tape, q);
      expect([r.status, r.json()]).toEqual([
        400,
        { success: false, error: expect.any(String), error_code: code },
      ]);
    }
    expect(p.stats().accepted).toBe(0);
  });

  it("is single-flight (429 prover_busy) and answers 429 at_capacity when the store is full", async () => {
    p.configure({ maxJobs: 1 });
    const id = await accepted(MEDIUM);
    const busy = await submit(REAL);
    expect([busy.status, busy.json().error_code]).toEqual([429, "prover_busy"]);
    await finish(id);
    const full = await submit(REAL);
    expect([full.status, full.json().error_code]).toEqual([429, "at_capacity"]);
    expect(p.stats()).toMatchObject({
      accepted: 1,
      rateLimited: 2,
      errorCodes: { prover_busy: 1, at_capacity: 1 },
    });
  });

  it("DELETE: 409 while active, 200 once finished, then 404; unknown ids and routes 404", async () => {
    const id = await accepted();
    const active = await call(p.url, "DELETE", `/api/jobs/${id}`);
    expect([active.status, active.json().error_code]).toEqual([409, "job_active"]);
    await finish(id);
    const del = await call(p.url, "DELETE", `/api/jobs/${id}`);
    expect([del.status, del.json()]).toEqual([200, { success: true, job_id: id }]);
    expect((await poll(id)).status).toBe(404);
    expect((await call(p.url, "DELETE", `/api/jobs/${id}`)).status).toBe(404);
    const unknown = await poll("00000000-0000-0000-0000-000000000000");
    expect([unknown.status, unknown.json()]).toEqual([
      404,
      { success: false, error: "job not found", error_code: "job_not_found" },
    ]);
    const route = await call(p.url, "GET", "/nope");
    expect(route.status).toBe(404);
    expect(route.json().success).toBe(false);
    expect(p.stats().deletes).toBe(3);
  });

  it("sweeps finished jobs past their TTL", async () => {
    p.configure({ sweepIntervalMs: 30, finishedJobTtlMs: 50 });
    const id = await accepted(MEDIUM);
    await finish(id);
    await waitFor(() => (p.stats().sweptJobs > 0 ? true : undefined));
    expect((await poll(id)).status).toBe(404);
  });
});

describe("auth", () => {
  let q: DevProver;
  beforeAll(async () => {
    q = await startDevProver({ apiKey: "k-123", proofMs: 50, queuedMs: 10 });
  });
  afterAll(() => q.close());

  it("needs x-api-key or Bearer on /api/* but never on /health or /__dev", async () => {
    const health = (await call(q.url, "GET", "/health")).json();
    expect(health.auth_required).toBe(true);
    const attempts: Array<Record<string, string> | undefined> = [
      undefined,
      { "x-api-key": "wrong" },
      { authorization: "Bearer wrong" },
    ];
    for (const headers of attempts) {
      const r = await call(q.url, "POST", SUBMIT, { body: REAL, headers });
      expect([r.status, r.json()]).toEqual([
        401,
        { success: false, error: "unauthorized", error_code: "unauthorized" },
      ]);
    }
    const ok = await call(q.url, "POST", SUBMIT, { body: REAL, headers: { "x-api-key": "k-123" } });
    expect(ok.status).toBe(202);
    const id = ok.json().job_id;
    expect((await call(q.url, "GET", `/api/jobs/${id}`)).status).toBe(401);
    expect(
      (await call(q.url, "GET", `/api/jobs/${id}`, { headers: { authorization: "Bearer k-123" } }))
        .status,
    ).toBe(200);
    const stats = await call(q.url, "GET", "/__dev/stats");
    expect(stats.status).toBe(200);
    expect(stats.json()).toMatchObject({ accepted: 1, byStatus: { "401": 4 } });
  });
});

describe("restarts", () => {
  it("restart(): in-flight jobs are lost and the port refuses connections during the outage", async () => {
    const id = await accepted();
    const restarting = p.restart();
    await sleep(20);
    expect(await errCode(call(p.url, "GET", "/health"))).toBe("ECONNREFUSED");
    await restarting;
    expect((await call(p.url, "GET", "/health")).status).toBe(200);
    expect((await poll(id)).json().error_code).toBe("job_not_found");
    expect(p.stats().restarts).toBe(1);
  });

  it("restart({ outageMs }): a kill longer than the configured outage, back on the same port", async () => {
    const id = await accepted();
    const before = p.url;
    const t = Date.now();
    const restarting = p.restart({ outageMs: 600 });
    await sleep(20);
    expect(p.down).toBe(true);
    expect(await errCode(call(p.url, "GET", "/health"))).toBe("ECONNREFUSED");
    // past the configured 250 ms the override still keeps the port shut
    await sleep(400);
    expect(await errCode(call(p.url, "GET", "/health"))).toBe("ECONNREFUSED");
    await restarting;
    // The override's 600 ms (timers may fire a hair early), not the configured 250.
    expect(Date.now() - t).toBeGreaterThanOrEqual(590);
    expect(p.down).toBe(false);
    expect(p.url).toBe(before);
    expect((await call(p.url, "GET", "/health")).status).toBe(200);
    expect((await poll(id)).status).toBe(404);
    expect(p.jobs()).toEqual([]);
    expect(p.stats()).toMatchObject({ restarts: 1, partitions: 0 });
    expect(p.stats().timeline.map((e) => e.outcome)).toEqual(["lost"]);
    await expect(p.restart({ outageMs: -1 })).rejects.toThrow(/outageMs/);
  });

  it("partition(): unreachable meanwhile, yet the job keeps proving and is there afterwards", async () => {
    p.configure({ proofMs: 200 });
    const id = await accepted();
    const partitioned = p.partition({ outageMs: 500 });
    await sleep(20);
    expect(p.down).toBe(true);
    expect(await errCode(call(p.url, "GET", "/health"))).toBe("ECONNREFUSED");
    expect(p.jobs().map((j) => [j.id, j.status])).toEqual([[id, "running"]]);
    await partitioned;
    expect(p.down).toBe(false);
    // The proof ended during the partition: the stale job is still stored, finished.
    const [job] = p.jobs();
    expect(job).toMatchObject({ id, status: "succeeded", errorCode: null });
    expect(job!.facts).toMatchObject({ seed: 0x43c9c6cd, frameCount: 13829 });
    const done = (await poll(id)).json();
    expect(done.status).toBe("succeeded");
    expect(done.result.proof.journal.final_score).toBe(32860);
    expect(p.stats()).toMatchObject({
      restarts: 0,
      partitions: 1,
      finished: { succeeded: 1, lost: 0 },
      deletedJobs: [],
    });
    // The gateway's clean-up: DELETE removes it, and stats name the job deleted.
    expect((await call(p.url, "DELETE", `/api/jobs/${id}`)).status).toBe(200);
    expect(p.jobs()).toEqual([]);
    expect(p.stats()).toMatchObject({ deletes: 1, deletedJobs: [id] });
  });

  it("partition(): a job still running when the partition ends is single-flight as before", async () => {
    p.configure({ proofMs: 1_000 });
    const id = await accepted();
    await p.partition({ outageMs: 100 });
    expect((await poll(id)).json().status).toBe("running");
    expect((await submit(MEDIUM)).json().error_code).toBe("prover_busy");
    expect((await call(p.url, "DELETE", `/api/jobs/${id}`)).status).toBe(409);
    expect(p.stats().deletedJobs).toEqual([]);
  });

  it("a crash during a partition loses the jobs; the outage is the partition's", async () => {
    p.configure({ proofMs: 5_000 });
    const id = await accepted();
    const t = Date.now();
    const partitioned = p.partition({ outageMs: 400 });
    await sleep(20);
    // joins the outage under way
    await p.restart({ outageMs: 50 });
    // The partition's 400 ms, not the restart's 50 (timers may fire a hair early).
    expect(Date.now() - t).toBeGreaterThanOrEqual(390);
    await partitioned;
    expect((await poll(id)).status).toBe(404);
    expect(p.stats()).toMatchObject({ restarts: 1, partitions: 1 });
    expect(p.stats().timeline.map((e) => e.outcome)).toEqual(["lost"]);
  });

  it("a proof past the running-job timeout fails proof_timeout, then the server aborts and restarts", async () => {
    p.configure({
      proofMs: 5000,
      runningJobTimeoutMs: 100,
      timedOutProofKillMs: 150,
      restartOutageMs: 200,
    });
    const id = await accepted();
    const done = await finish(id);
    expect([done.status, done.error_code]).toEqual(["failed", "proof_timeout"]);
    expect(done.result).toBeUndefined();
    await waitFor(() => (p.stats().restarts === 1 ? true : undefined));
    expect(await errCode(call(p.url, "GET", "/health"))).toBe("ECONNREFUSED");
    await waitFor(async () =>
      (await errCode(call(p.url, "GET", "/health"))) === "no error" ? true : undefined,
    );
    expect((await poll(id)).status).toBe(404);
  });
});

describe("fault injection", () => {
  it("transport faults: http_500/502/503, reset, malformed_json, busy, slow, times", async () => {
    const id = await accepted(MEDIUM);
    p.injectFaults([
      { kind: "http_500", on: "poll" },
      { kind: "http_503", on: "health", times: 2 },
      { kind: "http_502", on: "health" },
    ]);
    const e500 = await poll(id);
    expect([e500.status, e500.json().error_code]).toEqual([500, "internal_error"]);
    expect((await poll(id)).status).toBe(200);
    const health = [];
    for (let i = 0; i < 4; i++) health.push(await call(p.url, "GET", "/health"));
    expect(health.map((r) => r.status)).toEqual([503, 503, 502, 200]);
    expect(health[0]!.type).toContain("text/html");
    await finish(id);

    p.injectFaults([
      { kind: "reset", on: "health" },
      { kind: "malformed_json", on: "poll" },
      { kind: "busy" },
    ]);
    expect(await errCode(call(p.url, "GET", "/health"))).toBe("ECONNRESET");
    const bad = await poll(id);
    expect(bad.status).toBe(200);
    expect(() => bad.json()).toThrow();
    const busy = await submit(REAL);
    expect([busy.status, busy.json().error_code]).toEqual([429, "prover_busy"]);

    p.injectFaults([{ kind: "slow", on: "health", delayMs: 200 }]);
    const t = Date.now();
    expect((await call(p.url, "GET", "/health")).status).toBe(200);
    expect(Date.now() - t).toBeGreaterThanOrEqual(190);
    expect(p.stats()).toMatchObject({
      faults: {
        http_500: 1,
        http_503: 2,
        http_502: 1,
        reset: 1,
        malformed_json: 1,
        busy: 1,
        slow: 1,
      },
      faultsTotal: 8,
      pendingFaults: [],
    });
  });

  it("hang: no answer until the client gives up; reset() frees the socket", async () => {
    p.injectFaults([{ kind: "hang", on: "health" }]);
    expect(await errCode(call(p.url, "GET", "/health", { timeoutMs: 200 }))).toBe("TIMEOUT");
    p.injectFaults([{ kind: "hang" }]);
    const hung = errCode(call(p.url, "GET", "/health"));
    await waitFor(() => (p.stats().faults.hang === 2 ? true : undefined));
    p.reset();
    expect(await hung).toBe("ECONNRESET");
  });

  it("restart fault: this request is reset and the server restarts", async () => {
    p.injectFaults([{ kind: "restart", on: "poll" }]);
    const id = await accepted(MEDIUM);
    expect(await errCode(poll(id))).toBe("ECONNRESET");
    await waitFor(async () =>
      (await errCode(call(p.url, "GET", "/health"))) === "no error" ? true : undefined,
    );
    expect((await poll(id)).status).toBe(404);
    expect(p.stats().restarts).toBe(1);
  });

  it("job faults: fail_oom, fail_unknown, result_mismatch, result_incomplete, lose_job", async () => {
    p.injectFaults([
      { kind: "fail_oom" },
      { kind: "fail_unknown" },
      { kind: "result_mismatch" },
      { kind: "result_incomplete" },
      { kind: "lose_job" },
    ]);
    const oom = await finish(await accepted());
    expect([oom.status, oom.error_code]).toEqual(["failed", "proof_error"]);
    expect(oom.error).toContain("out of memory");
    const unknown = await finish(await accepted());
    expect([unknown.status, unknown.error_code]).toEqual(["failed", "mystery_failure"]);
    const mismatch = await finish(await accepted());
    expect(mismatch.status).toBe("succeeded");
    expect(mismatch.result.proof.journal.final_score).toBe(32861);
    const incomplete = await finish(await accepted());
    expect(incomplete.result.proof.journal.tape_checksum).toBeUndefined();
    expect(incomplete.result.proof.journal.seed).toBe(0x43c9c6cd);
    const lost = await accepted();
    await waitFor(async () => ((await poll(lost)).status === 404 ? true : undefined));
    await accepted(); // the prover is idle again once the lost job is gone
    expect(p.stats()).toMatchObject({
      accepted: 6,
      finished: { lost: 1, failed: { proof_error: 1, mystery_failure: 1 } },
      faults: {
        fail_oom: 1,
        fail_unknown: 1,
        result_mismatch: 1,
        result_incomplete: 1,
        lose_job: 1,
      },
    });
  });

  it("job faults wait for an accepted job: a refused submission does not consume them", async () => {
    p.injectFaults([{ kind: "fail_internal_error" }]);
    expect((await submit(ZERO)).status).toBe(400);
    const done = await finish(await accepted());
    expect(done.error_code).toBe("internal_error");
  });

  it("random faults repeat for the same seed", async () => {
    const run = async (seed: number) => {
      p.reset();
      p.setRandomFaults({ rate: 0.5, kinds: ["http_500", "http_503", "malformed_json"], seed });
      const out: string[] = [];
      for (let i = 0; i < 24; i++) {
        const r = await call(p.url, "GET", "/health");
        out.push(
          r.status === 200 ? (r.text.startsWith('{"status"') ? "ok" : "junk") : String(r.status),
        );
      }
      return out;
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(2);
    expect(await run(8)).not.toEqual(a);
    p.setRandomFaults(null);
    expect((await call(p.url, "GET", "/health")).status).toBe(200);
  });
});

describe("HTTP control routes", () => {
  const dev = (path: string, body?: unknown) =>
    call(p.url, body === undefined && path.endsWith("stats") ? "GET" : "POST", `/__dev/${path}`, {
      body,
    });

  it("faults, config, random-faults, stats and reset over HTTP", async () => {
    const f = await dev("faults", {
      rules: [{ kind: "http_502", on: "health" }, { kind: "fail_proof_error" }],
    });
    expect(f.status).toBe(200);
    expect(f.json().pending).toHaveLength(2);
    expect((await call(p.url, "GET", "/health")).status).toBe(502);
    expect((await dev("faults", { rules: [{ kind: "nope" }] })).status).toBe(400);

    expect((await dev("config", { proofMs: 30, accelerator: "cpu", devMode: true })).status).toBe(
      200,
    );
    expect((await dev("config", { bogus: 1 })).status).toBe(400);
    const h = (await call(p.url, "GET", "/health")).json();
    expect([h.accelerator, h.dev_mode]).toEqual(["cpu", true]);
    const done = await finish(await accepted());
    expect([done.error_code, done.options.proof_mode, done.options.accelerator]).toEqual([
      "proof_error",
      "dev",
      "cpu",
    ]);

    expect((await dev("random-faults", { rate: 1, kinds: ["http_503"], seed: 3 })).status).toBe(
      200,
    );
    expect((await call(p.url, "GET", "/health")).status).toBe(503);
    expect((await dev("random-faults", null)).status).toBe(200);
    expect((await call(p.url, "GET", "/health")).status).toBe(200);

    const stats = (await dev("stats")).json();
    expect(stats).toMatchObject({
      accepted: 1,
      health: 4,
      faults: { http_502: 1, fail_proof_error: 1, http_503: 1 },
    });
    expect((await dev("reset", {})).status).toBe(200);
    expect((await dev("stats")).json()).toMatchObject({
      requests: 0,
      accepted: 0,
      jobs: { succeeded: 0, failed: 0 },
    });
    // reset restores the startup config
    expect((await call(p.url, "GET", "/health")).json().accelerator).toBe("cuda");
  });

  it("POST /__dev/end-proofs ends every queued or running proof now, as it would have ended", async () => {
    p.configure({ queuedMs: 60_000, proofMs: 60_000 });
    const ok = await accepted();
    expect((await dev("end-proofs", {})).status).toBe(200);
    expect((await poll(ok)).json()).toMatchObject({ status: "succeeded" });
    p.injectFaults([{ kind: "fail_oom" }]);
    const oom = await accepted();
    expect((await poll(oom)).json().status).toBe("queued");
    expect((await dev("end-proofs", {})).status).toBe(200);
    expect((await poll(oom)).json()).toMatchObject({ status: "failed", error_code: "proof_error" });
    expect(p.stats()).toMatchObject({ accepted: 2, finished: { succeeded: 1 } });
    // a finished proof is left as it ended
    expect((await dev("end-proofs", {})).status).toBe(200);
    expect((await poll(ok)).json().status).toBe("succeeded");
  });

  it("POST /__dev/restart answers, then the port goes down and comes back", async () => {
    const id = await accepted();
    const r = await dev("restart", {});
    expect([r.status, r.json().outage_ms]).toEqual([200, 250]);
    await sleep(30);
    expect(await errCode(call(p.url, "GET", "/health"))).toBe("ECONNREFUSED");
    await waitFor(async () =>
      (await errCode(call(p.url, "GET", "/health"))) === "no error" ? true : undefined,
    );
    expect((await poll(id)).status).toBe(404);
  });
});

describe("hostile modes (a whole box that lies, refuses, floods or redirects)", () => {
  const dev = (path: string, body?: unknown) =>
    call(p.url, body === undefined ? "GET" : "POST", `/__dev/${path}`, { body });
  const hostileStats = async () => (await dev("stats")).json().hostile;

  it("is set and cleared by /__dev/config; an unknown mode is refused", async () => {
    expect((await dev("config", { hostile: "lie_zero_score" })).status).toBe(200);
    expect((await dev("config")).json().hostile).toBe("lie_zero_score");
    expect((await hostileStats()).mode).toBe("lie_zero_score");
    const bad = await dev("config", { hostile: "be_nice" });
    expect([bad.status, bad.json().error_code]).toEqual([400, "bad_control_request"]);
    expect((await dev("config", { hugeReplyBytes: -1 })).status).toBe(400);
    expect((await dev("config", { hostile: null })).status).toBe(200);
    expect((await hostileStats()).mode).toBe(null);
    expect((await finish(await accepted())).status).toBe("succeeded");
  });

  it("lie_zero_score: accepts, proves for the usual time, then reports failed zero_score_not_allowed; one lie per job", async () => {
    p.configure({ hostile: "lie_zero_score" });
    const id = await accepted(MEDIUM);
    expect((await poll(id)).json().status).not.toBe("failed"); // it takes its time, as a proof would
    const done = await finish(id);
    expect([done.status, done.error_code, done.result]).toEqual([
      "failed",
      "zero_score_not_allowed",
      undefined,
    ]);
    await poll(id); // the same lie again: one more hostile answer, not one more lie
    expect(await hostileStats()).toMatchObject({ mode: "lie_zero_score", lies: 1, answers: 2 });
    // a tape that really scores 0 is refused at once, truthfully: no lie
    expect((await submit(ZERO)).json().error_code).toBe("zero_score_not_allowed");
    expect((await hostileStats()).lies).toBe(1);
    expect((await dev("stats")).json().finished.failed).toEqual({ zero_score_not_allowed: 1 });
  });

  it("lie_unknown_code: every job fails with a code the contract does not have", async () => {
    p.configure({ hostile: "lie_unknown_code" });
    const ids = [await accepted(REAL)];
    await finish(ids[0]!);
    ids.push(await accepted(MEDIUM));
    const done = await finish(ids[1]!);
    const contract = [
      "server_restarted",
      "proof_error",
      "internal_error",
      "proof_timeout",
      "zero_score_not_allowed",
    ];
    expect(done.status).toBe("failed");
    expect(contract).not.toContain(done.error_code);
    expect(done.error_code).toBe("device_lost");
    expect((await hostileStats()).lies).toBe(2);
  });

  it("a lie not yet served is not counted; a lying box's /health is honest", async () => {
    p.configure({ hostile: "lie_zero_score" });
    const id = await accepted();
    await sleep(250); // ended failed, but nobody asked
    expect(await hostileStats()).toMatchObject({ lies: 0, answers: 0 });
    const h = await call(p.url, "GET", "/health");
    expect([h.status, h.json().status]).toEqual([200, "ok"]);
    expect((await finish(id)).error_code).toBe("zero_score_not_allowed");
    expect((await hostileStats()).lies).toBe(1);
  });

  describe("reject_all (a start option: kept across reset and restart)", () => {
    let q: DevProver;
    beforeAll(async () => {
      q = await startDevProver({
        apiKey: "k-9",
        hostile: "reject_all",
        proofMs: 50,
        restartOutageMs: 50,
      });
    });
    afterAll(() => q.close());
    const key = { "x-api-key": "k-9" };

    it("answers 400 invalid_tape to every submission; a valid tape refused is a lie", async () => {
      for (const tape of [REAL, MEDIUM, ZERO]) {
        const r = await call(q.url, "POST", SUBMIT, { body: tape, headers: key });
        expect([r.status, r.json().error_code]).toEqual([400, "invalid_tape"]);
      }
      // auth still comes first: no key, no answer about the tape
      expect((await call(q.url, "POST", SUBMIT, { body: REAL })).status).toBe(401);
      expect(q.stats()).toMatchObject({
        accepted: 0,
        hostile: { mode: "reject_all", answers: 3, lies: 2 },
      });
      q.reset();
      await q.restart();
      const r = await call(q.url, "POST", SUBMIT, { body: REAL, headers: key });
      expect([r.status, q.stats().hostile.lies]).toEqual([400, 1]);
    });
  });

  /** Reads `bytes` of a reply (or all of it, if shorter), then hangs up. */
  function readSome(base: string, path: string, bytes: number) {
    return new Promise<{ status: number; headers: Record<string, unknown>; text: string }>(
      (resolve, reject) => {
        const req = request(new URL(path, base), { agent: false }, (res) => {
          const chunks: Buffer[] = [];
          let got = 0;
          const done = () =>
            resolve({
              status: res.statusCode!,
              headers: res.headers,
              text: Buffer.concat(chunks).toString("utf8"),
            });
          res.on("data", (c: Buffer) => {
            chunks.push(c);
            got += c.length;
            if (got >= bytes) {
              req.destroy();
              done();
            }
          });
          res.on("end", done);
        });
        req.on("error", reject);
        req.end();
      },
    );
  }

  it("huge_replies: the honest JSON, then spaces up to hugeReplyBytes, with no content-length", async () => {
    p.configure({ hostile: "huge_replies", hugeReplyBytes: 1_000_000 });
    const h = await call(p.url, "GET", "/health");
    expect(h.status).toBe(200);
    expect(Buffer.byteLength(h.text)).toBe(1_000_000);
    expect(h.json()).toMatchObject({ status: "ok", ruleset: "AST3" }); // trailing spaces parse
    const r = await submit(REAL);
    expect([r.status, Buffer.byteLength(r.text), r.json().status]).toEqual([
      202,
      1_000_000,
      "queued",
    ]);
    const done = await finish(r.json().job_id); // it proves honestly: only its replies are huge
    expect(done.status).toBe("succeeded");
    const raw = await readSome(p.url, "/health", 10);
    expect(raw.headers["content-length"]).toBeUndefined();
    expect(raw.headers["transfer-encoding"]).toBe("chunked");
    const st = await waitFor(async () => {
      const x = (await dev("stats")).json();
      return x.hostile.hugeOpen === 0 ? x : undefined;
    });
    expect(st.hostile.answers).toBeGreaterThanOrEqual(4);
    // read whole; the one cut short after 10 bytes may have gone whole into socket buffers
    expect(st.hostile.hugeCompleted).toBeGreaterThanOrEqual(st.hostile.answers - 1);
    expect(st.hostile.hugeMaxBytes).toBe(1_000_000);
    expect(st.byStatus["202"]).toBe(1);
  });

  it("huge_replies: hundreds of MB are never allocated; the server stops writing when the client hangs up", async () => {
    p.configure({ hostile: "huge_replies" });
    expect((await dev("config")).json().hugeReplyBytes).toBe(300 * 1024 * 1024);
    const rss = process.memoryUsage().rss;
    const head = await readSome(p.url, "/health", 256 * 1024);
    expect(head.status).toBe(200);
    expect(head.text.trimEnd()).toMatch(/^\{"status":"ok".*\}$/);
    const st = await waitFor(async () => {
      const s = await hostileStats();
      return s.hugeOpen === 0 ? s : undefined;
    });
    // written only as fast as it was read (plus socket buffers), then stopped
    expect(st.hugeBytes).toBeLessThan(32 * 1024 * 1024);
    expect([st.hugeCompleted, st.hugeMaxBytes < 32 * 1024 * 1024]).toEqual([0, true]);
    expect(process.memoryUsage().rss - rss).toBeLessThan(100 * 1024 * 1024);
    // control routes are never hostile, and the server still answers
    expect((await dev("stats")).text.length).toBeLessThan(100_000);
    p.configure({ hostile: null });
    expect((await call(p.url, "GET", "/health")).text.length).toBeLessThan(2_000);
  });

  it("huge_replies: reset() cuts a reply still being written", async () => {
    p.configure({ hostile: "huge_replies" });
    const pending = call(p.url, "GET", "/health", { timeoutMs: 5_000 }).catch(
      (e: { code?: string }) => e.code,
    );
    await waitFor(async () => ((await hostileStats()).hugeOpen === 1 ? true : undefined));
    p.reset();
    expect(await pending).toBe("ECONNRESET");
    expect(p.stats().hostile.hugeOpen).toBe(0);
  });

  it("redirect: 302 on every route to a second listener that counts what reached it and with which key", async () => {
    p.configure({ hostile: "redirect" });
    const sinkUrl = await waitFor(async () => (await hostileStats()).sink.url ?? undefined);
    expect(sinkUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sinkUrl).not.toBe(p.url);
    const routes: Array<[string, string]> = [
      ["GET", "/health"],
      ["POST", `${SUBMIT}?receipt_kind=groth16`],
      ["GET", "/api/jobs/abc"],
      ["DELETE", "/api/jobs/abc"],
    ];
    for (const [method, path] of routes) {
      const r = await call(p.url, method, path, { body: method === "POST" ? REAL : undefined });
      expect(r.status).toBe(302);
    }
    const loc = await new Promise<string>((resolve, reject) =>
      request(
        new URL(`${SUBMIT}?receipt_kind=groth16`, p.url),
        { method: "POST", agent: false },
        (res) => resolve(String(res.headers.location)),
      )
        .on("error", reject)
        .end(REAL),
    );
    expect(loc).toBe(`${sinkUrl}${SUBMIT}?receipt_kind=groth16`);
    expect(p.stats().accepted).toBe(0);
    // Three clients follow it: one with x-api-key, one with a bearer, one with no key.
    const health = await call(sinkUrl, "GET", "/health", { headers: { "x-api-key": "k" } });
    expect([health.status, health.json().ruleset]).toEqual([200, "AST3"]); // looks like a prover
    const submitted = await call(sinkUrl, "GET", SUBMIT, {
      headers: { authorization: "Bearer k" },
    });
    expect(submitted.status).toBe(503);
    await call(sinkUrl, "GET", "/api/jobs/abc");
    expect(await hostileStats()).toMatchObject({
      mode: "redirect",
      answers: 5,
      lies: 0,
      sink: {
        url: sinkUrl,
        requests: 3,
        keyed: 2,
        withApiKey: 1,
        withAuthorization: 1,
        byRoute: {
          health: { requests: 1, keyed: 1 },
          submit: { requests: 1, keyed: 1 }, // a followed POST arrives as a GET
          poll: { requests: 1, keyed: 0 },
        },
      },
    });
    // reset() zeroes the counts; the same listener stays
    p.reset();
    expect(p.stats().hostile.sink).toMatchObject({ url: sinkUrl, requests: 0 });
  });

  it("a client that follows the redirect carries its x-api-key to the other listener", async () => {
    p.configure({ hostile: "redirect" });
    const r = await fetch(`${p.url}/health`, { headers: { "x-api-key": "secret" } });
    expect(r.status).toBe(200); // the sink's health
    await r.text();
    expect(p.stats()).toMatchObject({
      healthWithKey: 1,
      hostile: { sink: { requests: 1, keyed: 1, withApiKey: 1 } },
    });
  });

  it("records whether /health requests carried a key (the contract says /health is open)", async () => {
    await call(p.url, "GET", "/health");
    await call(p.url, "GET", "/health", { headers: { "x-api-key": "k" } });
    await call(p.url, "GET", "/health", { headers: { authorization: "Bearer k" } });
    await call(p.url, "GET", "/api/jobs/abc", { headers: { "x-api-key": "k" } });
    expect(p.stats()).toMatchObject({ health: 3, healthWithKey: 2 });
  });
});

describe("the timeline of accepted jobs (for the dispatch-gap benchmark)", () => {
  it("records when each job was accepted, started and ended, and how it ended", async () => {
    // Long enough in `queued` that a loaded machine still sees it there (reset restores 20 ms).
    const queuedMs = 1_000;
    p.configure({ queuedMs });
    const before = Date.now();
    const id = await accepted();
    expect(p.stats().timeline).toEqual([
      { id, acceptedAt: expect.any(Number), startedAt: null, finishedAt: null, outcome: null },
    ]);
    await finish(id);
    const [entry] = p.stats().timeline;
    expect(entry).toMatchObject({ id, outcome: "succeeded" });
    expect(entry!.acceptedAt).toBeGreaterThanOrEqual(before);
    // The queued phase and the proof (120 ms) as the clock ran them, not when someone looked.
    expect(entry!.startedAt! - entry!.acceptedAt).toBeGreaterThanOrEqual(0);
    expect(entry!.startedAt! - entry!.acceptedAt).toBeLessThanOrEqual(queuedMs);
    expect(entry!.finishedAt! - entry!.startedAt!).toBe(120);
    p.configure({ queuedMs: 20 });
    p.injectFaults([{ kind: "fail_oom" }]);
    await finish(await accepted(MEDIUM));
    p.injectFaults([{ kind: "lose_job" }]);
    const lost = await accepted();
    await waitFor(() => (p.stats().timeline[2]!.outcome ? true : undefined));
    expect(p.stats().timeline.map((e) => e.outcome)).toEqual(["succeeded", "proof_error", "lost"]);
    expect(p.stats().timeline[2]).toMatchObject({
      id: lost,
      startedAt: expect.any(Number),
      finishedAt: expect.any(Number),
    });
    p.reset();
    expect(p.stats().timeline).toEqual([]);
  });

  it("is served by GET /__dev/stats and not changed by reading it", async () => {
    const id = await finish(await accepted()).then((b) => b.job_id as string);
    const r = await call(p.url, "GET", "/__dev/stats");
    expect(r.json().timeline).toEqual([
      {
        id,
        acceptedAt: expect.any(Number),
        startedAt: expect.any(Number),
        finishedAt: expect.any(Number),
        outcome: "succeeded",
      },
    ]);
    p.stats().timeline.pop();
    expect(p.stats().timeline).toHaveLength(1);
  });

  it("a restart ends the running job as lost, at the restart", async () => {
    await accepted();
    const before = Date.now();
    await p.restart();
    expect(p.stats().timeline[0]).toMatchObject({
      outcome: "lost",
      finishedAt: expect.any(Number),
    });
    expect(p.stats().timeline[0]!.finishedAt!).toBeGreaterThanOrEqual(before);
  });

  it(`keeps only the newest ${TIMELINE_LENGTH} jobs`, async () => {
    p.configure({ queuedMs: 0, proofMs: 0, maxJobs: 10_000 });
    const ids: string[] = [];
    for (let i = 0; i < TIMELINE_LENGTH + 2; i++) ids.push(await accepted());
    const t = p.stats().timeline;
    expect(t).toHaveLength(TIMELINE_LENGTH);
    expect(t.map((e) => e.id)).toEqual(ids.slice(2));
    expect(t.every((e) => e.outcome === "succeeded")).toBe(true);
  }, 30_000);
});

describe("dispatchGaps", () => {
  const e = (id: string, acceptedAt: number, finishedAt: number | null, outcome = "succeeded") => ({
    id,
    acceptedAt,
    startedAt: acceptedAt + 5,
    finishedAt,
    outcome: finishedAt === null ? null : outcome,
  });

  it("measures from one job's end (or loss) to the next acceptance, in acceptance order", () => {
    const { gaps, summary } = dispatchGaps([
      e("c", 300, 400),
      e("a", 0, 100),
      e("b", 130, 250, "lost"),
    ]);
    expect(gaps).toEqual([
      { id: "b", afterId: "a", idleFrom: 100, acceptedAt: 130, ms: 30 },
      { id: "c", afterId: "b", idleFrom: 250, acceptedAt: 300, ms: 50 },
    ]);
    expect(summary).toEqual({ count: 2, median: 30, p90: 50, max: 50 });
  });

  it("opens no gap behind a job that had not ended, and has no figures without gaps", () => {
    expect(dispatchGaps([e("a", 0, null), e("b", 10, 20)]).gaps).toEqual([]);
    expect(dispatchGaps([e("a", 0, 100), e("b", 150, null)]).gaps.map((g) => g.ms)).toEqual([50]);
    expect(dispatchGaps([e("a", 0, 100)]).summary).toEqual({
      count: 0,
      median: null,
      p90: null,
      max: null,
    });
    expect(dispatchGaps([]).summary.count).toBe(0);
  });

  it("summarizes by nearest rank, so a filtered subset can be summarized the same way", () => {
    expect(summarizeGaps([10, 1, 9, 2, 8, 3, 7, 4, 6, 5])).toEqual({
      count: 10,
      median: 5,
      p90: 9,
      max: 10,
    });
    expect(summarizeGaps([7])).toEqual({ count: 1, median: 7, p90: 7, max: 7 });
    expect(summarizeGaps([3, 1])).toEqual({ count: 2, median: 1, p90: 3, max: 3 });
  });
});
