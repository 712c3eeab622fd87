import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseTape } from "../../src/core/tape.ts";
import { fixture } from "./fixtures.ts";
import { call, postTape, prover, uniqueTape, waitForJob } from "./helpers.ts";

const finished = (j: { status: string }) => ["succeeded", "failed", "cancelled"].includes(j.status);

describe("a job's whole life through the real bindings and the dev prover", () => {
  it("proves the real game: intake → R2 → queue → prover → alarm polls → R2 result", async () => {
    const tape = fixture("test-real-game");
    const accepted = await postTape(tape);
    expect(accepted.status).toBe(202);
    const jobId = accepted.body.job.jobId;
    expect(await env.TAPES.head(`tapes/${jobId}.tape`)).not.toBeNull();

    const job = await waitForJob(jobId, finished);
    expect(job).toMatchObject({
      status: "succeeded",
      error: null,
      prover: { status: "succeeded", jobId: expect.any(String) },
      attempts: { submissions: 1, deliveries: 1 },
      result: {
        key: `results/${jobId}.json`,
        journal: {
          seed: 0x43c9c6cd,
          frame_count: 13829,
          final_score: 32860,
          final_rng_state: 0xa9713c03,
          tape_checksum: 0xc8eebb89,
          rules_digest: 0x41535433,
        },
      },
    });
    expect(job.finishedAt).toBeGreaterThanOrEqual(job.createdAt);

    const result = await call(`/api/proofs/jobs/${jobId}/result`);
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({
      jobId,
      journal: job.result!.journal,
      receiptKind: "groth16",
      prover: {
        status: "succeeded",
        result: { proof: { receipt: expect.anything(), stats: expect.anything() } },
      },
    });
    expect(result.body.tape).toMatchObject(parseTape(tape));
    const stats = await prover.stats();
    expect(stats.accepted).toBe(1);
  });

  it("content addressing: the same bytes while proving and after success return 200 with the same job and no new prover work", async () => {
    await prover.configure({ proofMs: 1_500 });
    const tape = uniqueTape();
    const first = await postTape(tape);
    expect(first.status).toBe(202);
    const again = await postTape(tape);
    expect(again.status).toBe(200);
    expect(again.body.job.jobId).toBe(first.body.job.jobId);
    expect(again.body.status_url).toBe(first.body.status_url);
    await waitForJob(first.body.job.jobId, finished);
    const after = await postTape(tape);
    expect(after.status).toBe(200);
    expect(after.body.job.status).toBe("succeeded");
    expect((await prover.stats()).accepted).toBe(1);
  });

  it("a busy prover holds a job in queued (back-pressure) until it is free, then proves it", async () => {
    await prover.faults([{ kind: "busy", on: "submit", times: 2 }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, finished);
    expect(job.status).toBe("succeeded");
    expect(job.attempts.submissions).toBe(3);
    const stats = await prover.stats();
    expect(stats.rateLimited).toBe(2);
    expect(stats.accepted).toBe(1);
  });

  it("transient poll failures (5xx, resets, bad JSON) are ridden out", async () => {
    await prover.configure({ proofMs: 800 });
    await prover.faults([
      { kind: "http_503", on: "poll", times: 2 },
      { kind: "reset", on: "poll" },
      { kind: "malformed_json", on: "poll" },
    ]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, finished);
    expect(job.status).toBe("succeeded");
    const stats = await prover.stats();
    expect(stats.faults.http_503).toBe(2);
    expect(stats.faults.reset).toBe(1);
    expect(stats.faults.malformed_json).toBe(1);
  });

  it("tells the prover to forget each finished proof, so its job store (max_jobs) never fills up", async () => {
    // The real prover keeps finished jobs for 24 h, at most max_jobs of them; past that it
    // answers 429 at_capacity to every submission.
    const maxJobs = 2;
    await prover.configure({ maxJobs });
    for (let i = 0; i < maxJobs + 2; i++) {
      const { body } = await postTape(uniqueTape());
      expect((await waitForJob(body.job.jobId, finished, 10_000)).status).toBe("succeeded");
    }
    await waitFor(async () => (await prover.stats()).deletes >= maxJobs + 1);
    const stats = await prover.stats();
    expect(stats.errorCodes.at_capacity ?? 0).toBe(0);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition never held");
    await scheduler.wait(50);
  }
}
