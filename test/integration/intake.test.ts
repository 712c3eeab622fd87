import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { crc32 } from "../../src/core/tape.ts";
import { sha256Hex } from "../../src/core/hex.ts";
import { fixture } from "./fixtures.ts";
import {
  call,
  callWith,
  cfg,
  postTape,
  prover,
  storedAlarm,
  uniqueTape,
  waitForJob,
  withObjectEnv,
} from "./helpers.ts";

/** Rewrites bytes of a valid tape and fixes its CRC, so only the edited field is wrong. */
function broken(edit: (b: Uint8Array, v: DataView) => void, fixCrc = true): Uint8Array {
  const b = uniqueTape(50).slice();
  const v = new DataView(b.buffer);
  edit(b, v);
  if (fixCrc) v.setUint32(16 + 50 + 8, crc32(b.subarray(0, 16 + 50)), true);
  return b;
}

describe("POST /api/proofs/jobs", () => {
  it("accepts a real game: 202, the job, where to watch it, content-addressed by SHA-256", async () => {
    const r = await postTape(fixture("test-medium"));
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({
      success: true,
      status_url: `/api/proofs/jobs/${r.body.job.jobId}`,
      job: {
        jobId: expect.stringMatching(/^[0-9a-f]{64}$/),
        status: expect.stringMatching(/^(queued|proving)$/),
        tape: { sizeBytes: 4008, seed: 0xdeadbeef, frameCount: 3980, finalScore: 90 },
        attempts: expect.any(Object),
        result: null,
        error: null,
      },
    });
    expect(r.body.job.jobId).toBe(r.body.job.tape.sha256);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("accepts a body with no content type", async () => {
    const r = await call("/api/proofs/jobs", { method: "POST", body: uniqueTape() });
    expect(r.status).toBe(202);
  });

  it("refuses the zero-score fixture with 400 zero_score", async () => {
    const r = await postTape(fixture("test-short"));
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      success: false,
      error: { code: "zero_score", message: expect.stringContaining("score") },
    });
  });

  const cases: [string, () => Uint8Array, string][] = [
    ["empty body", () => new Uint8Array(), "tape_empty"],
    ["truncated", () => uniqueTape(50).subarray(0, 20), "tape_truncated"],
    ["bad magic", () => broken((b) => (b[0] = 0)), "bad_magic"],
    ["version 1", () => broken((b) => (b[4] = 1)), "unsupported_version"],
    ["rules tag 2", () => broken((b) => (b[5] = 2)), "unsupported_rules"],
    ["reserved byte", () => broken((b) => (b[7] = 1)), "reserved_bytes_set"],
    [
      "frame count over 18000",
      () => broken((_b, v) => v.setUint32(12, 18_001, true), false),
      "too_many_frames",
    ],
    [
      "frame count vs length",
      () => broken((_b, v) => v.setUint32(12, 49, true), false),
      "length_mismatch",
    ],
    ["reserved input bits", () => broken((b) => (b[20] = 0x80)), "reserved_input_bits_set"],
    ["CRC", () => broken((b) => (b[20] = b[20]! ^ 1), false), "checksum_mismatch"],
    ["zero score", () => broken((_b, v) => v.setUint32(16 + 50, 0, true)), "zero_score"],
  ];
  it.each(cases)("refuses %s with 400 %s", async (_name, bytes, code) => {
    const r = await postTape(bytes());
    expect(r.status).toBe(400);
    expect(r.body.success).toBe(false);
    expect(r.body.error.code).toBe(code);
    expect(r.body.error.message).toEqual(expect.any(String));
  });

  it("MAX_TAPE_BYTES: a body of exactly the limit is read (and judged as a tape), one byte more is 413", async () => {
    const atLimit = new Uint8Array(cfg.maxTapeBytes);
    const inside = await call("/api/proofs/jobs", { method: "POST", body: atLimit });
    expect(inside.status).toBe(400);
    expect(inside.body.error.code).toBe("bad_magic");
    const over = await call("/api/proofs/jobs", {
      method: "POST",
      body: new Uint8Array(cfg.maxTapeBytes + 1),
    });
    expect(over.status).toBe(413);
    expect(over.body.error.code).toBe("tape_too_large");
  });

  it("stops reading a streamed body as soon as it passes the limit, whatever Content-Length says", async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024));
        // never closes: only stopping at the limit can answer
      },
    });
    const r = await call("/api/proofs/jobs", {
      method: "POST",
      body: endless,
      duplex: "half",
    } as RequestInit);
    expect(r.status).toBe(413);
    expect(pulled).toBeLessThan(cfg.maxTapeBytes + 4 * 64 * 1024);
  });

  it("refuses a declared Content-Length over the limit before reading", async () => {
    const r = await call("/api/proofs/jobs", {
      method: "POST",
      body: new Uint8Array(10),
      headers: { "content-length": String(cfg.maxTapeBytes + 1) },
    });
    expect(r.status).toBe(413);
  });

  it("refuses a non-binary content type with 415", async () => {
    const r = await call("/api/proofs/jobs", {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    expect(r.status).toBe(415);
    expect(r.body.error.code).toBe("unsupported_media_type");
  });
});

describe("when storage fails", () => {
  it("an R2 write failure is a 503 storage_unavailable and no job is created", async () => {
    const failingR2 = {
      ...env.TAPES,
      put: () => Promise.reject(new Error("R2 is down")),
    } as unknown as R2Bucket;
    const tape = uniqueTape();
    const r = await callWith({ TAPES: failingR2 }, "/api/proofs/jobs", {
      method: "POST",
      body: tape,
    });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("storage_unavailable");
    const jobId = await sha256Hex(tape);
    expect((await call(`/api/proofs/jobs/${jobId}`)).status).toBe(404);
  });

  it("a queue failure is a 503 queue_unavailable that keeps nothing; posting again then works", async () => {
    const tape = uniqueTape();
    const jobId = await sha256Hex(tape);
    const failingQueue = {
      send: () => Promise.reject(new Error("queue is down")),
    } as unknown as Queue;
    const object = await withObjectEnv(jobId, { JOBS_QUEUE: failingQueue });
    const r = await postTape(tape);
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("queue_unavailable");
    expect((await call(`/api/proofs/jobs/${jobId}`)).status).toBe(404);
    expect(await storedAlarm(jobId)).toBeNull();
    await object.restore();
    expect((await postTape(tape)).status).toBe(202);
    expect((await waitForJob(jobId, (j) => j.status === "succeeded")).attempt).toBe(1);
  });
});

describe("reading jobs", () => {
  it("an unknown job is 404 job_not_found; a malformed id is 400", async () => {
    expect((await call(`/api/proofs/jobs/${"0".repeat(64)}`)).body.error.code).toBe(
      "job_not_found",
    );
    expect((await call(`/api/proofs/jobs/${"0".repeat(64)}`)).status).toBe(404);
    const bad = await call("/api/proofs/jobs/not-a-job");
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_job_id");
    expect((await call(`/api/proofs/jobs/${"0".repeat(64)}/result`)).status).toBe(404);
  });

  it("an unfinished job's result is 409 result_not_ready", async () => {
    await prover.configure({ proofMs: 5_000 });
    const { body } = await postTape(uniqueTape());
    const r = await call(`/api/proofs/jobs/${body.job.jobId}/result`);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("result_not_ready");
  });

  it("an unknown route is a JSON 404", async () => {
    const r = await call("/nope");
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe("not_found");
  });
});

describe("who counts as one client (src/http/client.ts)", () => {
  const cap = { MAX_WAITING_PER_CLIENT: "3" };
  const post = (ip: string) => postTape(uniqueTape(), { "cf-connecting-ip": ip }, cap);

  it("six addresses of one IPv6 /64 are one client: MAX_WAITING_PER_CLIENT holds across them; the next /64 is another", async () => {
    await prover.configure({ proofMs: 5_000 });
    const addresses = [
      "2001:db8:77:1::1",
      "2001:db8:77:1::2",
      "2001:db8:77:1:1::3",
      "2001:db8:77:1:ffff:ffff:ffff:4",
      "2001:0db8:0077:0001:0000:0000:0000:0005",
      "2001:db8:77:1:8000::6",
    ];
    const answers = [];
    for (const ip of addresses) answers.push(await post(ip));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 429, 429, 429]);
    expect(answers[3]!.body.error.code).toBe("too_many_waiting");
    expect((await post("2001:db8:77:2::1")).status).toBe(202);
  });

  it("an IPv4 address is its own client, written plain or IPv4-mapped", async () => {
    await prover.configure({ proofMs: 5_000 });
    for (let i = 0; i < 3; i++) expect((await post("203.0.113.50")).status).toBe(202);
    expect((await post("::ffff:203.0.113.50")).status).toBe(429);
    expect((await post("203.0.113.51")).status).toBe(202);
  });
});
