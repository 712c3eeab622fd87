import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Job } from "../../src/core/job.ts";
import { MIN_SEGMENT_LIMIT_PO2 } from "../../src/core/recovery.ts";
import {
  call,
  cfg,
  dispatcher,
  ended,
  postTape,
  prover,
  provingPatch,
  seedJob,
  storedJob,
  stubOf,
  uniqueTape,
  waitForJob,
} from "./helpers.ts";

beforeEach(async () => {
  await prover.configure({ proofMs: 200 });
});

describe("rebuild: a poisoned prover job is forgotten and the tape submitted afresh", () => {
  it.each([
    ["fail_proof_error", "proof_error"],
    ["fail_internal_error", "internal_error"],
    ["fail_server_restarted", "server_restarted"],
    ["lose_job", "prover_job_lost"],
    ["result_mismatch", "result_mismatch"],
    ["result_incomplete", "result_mismatch"],
  ])("%s → rebuilt (%s), then proved; the rebuild is counted", async (kind, code) => {
    await prover.faults([{ kind }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended);
    // A tape the guest refused once gets its one second chance; the prover's own faults use no
    // recovery either.
    const refused = code === "proof_error";
    expect(job).toMatchObject({
      status: "succeeded",
      attempts: {
        submissions: 2,
        recoveries: 0,
        rejections: refused ? 1 : 0,
        proverRebuilds: refused ? 0 : 1,
      },
      lastRecovery: { code },
      prover: { segmentLimitPo2: cfg.segmentLimitPo2 },
    });
    expect((await prover.stats()).accepted).toBe(2);
    // What is stored is the second, good proof.
    const stored = JSON.parse(await (await env.TAPES.get(`results/${job.jobId}.json`))!.text());
    expect(stored.proverJobId).toBe(job.prover.jobId);
    expect(stored.journal.final_score).toBe(job.tape.finalScore);
  });

  it.each([["fail_oom"], ["fail_proof_timeout"]])(
    "%s → resubmitted with segment_limit_po2 one step lower",
    async (kind) => {
      await prover.faults([{ kind }]);
      const { body } = await postTape(uniqueTape());
      const job = await waitForJob(body.job.jobId, ended, 30_000);
      expect(job).toMatchObject({
        status: "succeeded",
        attempts: { recoveries: 1 },
        prover: { segmentLimitPo2: cfg.segmentLimitPo2 - 1 },
      });
      // What the prover itself said it ran with, kept in the result (the prover's job is deleted
      // once stored).
      expect(
        (await call(`/api/proofs/jobs/${job.jobId}/result`)).body.prover.options.segment_limit_po2,
      ).toBe(cfg.segmentLimitPo2 - 1);
    },
  );

  it("the step-down stops at the prover's floor (16)", async () => {
    await prover.faults([{ kind: "fail_oom" }]);
    const { jobId } = await seedJob(uniqueTape(), (j) => ({
      ...j,
      prover: { ...j.prover, segmentLimitPo2: MIN_SEGMENT_LIMIT_PO2 },
    }));
    await env.JOBS_QUEUE.send({ jobId });
    const job = await waitForJob(jobId, ended);
    expect(job).toMatchObject({
      status: "succeeded",
      attempts: { recoveries: 1 },
      prover: { segmentLimitPo2: MIN_SEGMENT_LIMIT_PO2 },
    });
    expect(
      (await call(`/api/proofs/jobs/${job.jobId}/result`)).body.prover.options.segment_limit_po2,
    ).toBe(MIN_SEGMENT_LIMIT_PO2);
  });

  it("PROVER_MAX_RECOVERIES: just inside, the last allowed rebuild proves the tape", async () => {
    await prover.faults([{ kind: "fail_oom", times: cfg.maxRecoveries }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended, 20_000);
    expect(job).toMatchObject({ status: "succeeded", attempts: { recoveries: cfg.maxRecoveries } });
  });

  it("PROVER_MAX_RECOVERIES: just outside, the job fails recovery_exhausted naming the cause", async () => {
    await prover.faults([{ kind: "fail_oom", times: cfg.maxRecoveries + 1 }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended, 20_000);
    expect(job).toMatchObject({
      status: "failed",
      error: { code: "recovery_exhausted" },
      attempts: { recoveries: cfg.maxRecoveries },
    });
    expect(job.error!.message).toContain("proof_error");
    expect((await prover.stats()).accepted).toBe(cfg.maxRecoveries + 1);
  });

  it("a tape the only prover refuses twice costs exactly two proofs and ends tape_rejected, unconfirmed (never the four of PROVER_MAX_RECOVERIES)", async () => {
    await prover.faults([{ kind: "fail_proof_error", times: 2 }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended);
    expect(job).toMatchObject({
      status: "failed",
      error: { code: "tape_rejected", unconfirmed: true },
      attempts: { submissions: 2, recoveries: 0, rejections: 1 },
      verdicts: [
        { url: prover.base, code: "proof_error", kind: "refused" },
        { url: prover.base, code: "proof_error", kind: "refused" },
      ],
      result: null,
    });
    expect(job.error!.message).toContain("unconfirmed");
    // The one more try came after the cool-down, not at once.
    expect(job.prover.acceptedAt! - job.verdicts![0]!.at).toBeGreaterThanOrEqual(
      cfg.circuitCooldownMs,
    );
    expect((await prover.stats()).accepted).toBe(2);
  });

  it("rebuilds the prover caused use none of PROVER_MAX_RECOVERIES: lost max + 1 times, still proved", async () => {
    await prover.faults([{ kind: "lose_job", times: cfg.maxRecoveries + 1 }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended);
    expect(job).toMatchObject({
      status: "succeeded",
      attempts: { recoveries: 0, proverRebuilds: cfg.maxRecoveries + 1 },
    });
    expect((await prover.stats()).accepted).toBe(cfg.maxRecoveries + 2);
  });
});

describe("no job ends on one prover's word (a one-prover fleet)", () => {
  it("zero_score_not_allowed for a tape scoring more than 0 is a lie: rebuilt, proved, the prover charged", async () => {
    await prover.faults([{ kind: "fail_zero_score" }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended);
    expect(job).toMatchObject({
      status: "succeeded",
      attempts: { submissions: 2, recoveries: 0, proverRebuilds: 1 },
      lastRecovery: { code: "prover_lied" },
      verdicts: [{ url: prover.base, code: "zero_score_not_allowed", kind: "lied" }],
    });
    const [p] = await dispatcher().listProvers();
    expect(p).toMatchObject({
      state: "available",
      counts: { contradictions: 1 },
      quarantine: null,
    });
  });

  it("an unknown failure code once: the same prover is asked once more after PROVER_CIRCUIT_COOLDOWN_MS, and proves it", async () => {
    await prover.faults([{ kind: "fail_unknown" }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended);
    expect(job).toMatchObject({
      status: "succeeded",
      attempts: { submissions: 2, recoveries: 0, rejections: 1 },
      lastRecovery: { code: "prover_failed" },
      verdicts: [{ url: prover.base, kind: "refused" }],
    });
    expect(job.prover.acceptedAt! - job.verdicts![0]!.at).toBeGreaterThanOrEqual(
      cfg.circuitCooldownMs,
    );
    // Its own proof contradicts only itself: nobody is charged.
    expect((await dispatcher().listProvers())[0]!.counts.contradictions).toBe(0);
  });

  it("an unknown failure code twice from the only prover: failed prover_failed, marked unconfirmed, after two proofs", async () => {
    await prover.faults([{ kind: "fail_unknown", times: 2 }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended);
    expect(job).toMatchObject({
      status: "failed",
      error: { code: "prover_failed", unconfirmed: true },
      attempts: { submissions: 2, recoveries: 0 },
      result: null,
    });
    expect(job.error!.message).toMatch(/only one prover could be asked/i);
    expect((await prover.stats()).accepted).toBe(2);
  });
});

describe("the stall window (PROVER_STALL_WINDOW_MS)", () => {
  /** A job the prover really is proving, whose polls have been failing since `since(now)`. */
  async function failingSince(since: (now: number) => number) {
    await prover.configure({ proofMs: cfg.pollBudgetMs * 5 });
    const tape = uniqueTape();
    const proverJobId = await prover.submitDirect(tape);
    const proving = provingPatch(proverJobId, (now) => now);
    return seedJob(tape, (j: Job, now) => {
      const p = proving(j, now);
      return {
        ...p,
        prover: {
          ...p.prover,
          status: "running",
          consecutivePollFailures: 5,
          firstFailedPollAt: since(now),
        },
      };
    });
  }
  // Test latency between seeding and the first poll stays well under this margin.
  const MARGIN_MS = 500;

  it("just inside: one more failed poll is ridden out, and the next good poll clears the streak", async () => {
    const { jobId } = await failingSince((now) => now - cfg.stallWindowMs + MARGIN_MS);
    await prover.faults([{ kind: "http_503", on: "poll" }]);
    await runDurableObjectAlarm(stubOf(jobId));
    const job = await storedJob(jobId);
    expect(job).toMatchObject({
      status: "proving",
      attempts: { recoveries: 0 },
      prover: { consecutivePollFailures: 0, firstFailedPollAt: null },
    });
    expect((await prover.stats()).faults.http_503).toBe(1);
  });

  it("just outside: the prover job counts as lost, is deleted on the prover and the tape resubmitted", async () => {
    const { jobId } = await failingSince((now) => now - cfg.stallWindowMs - 1);
    const abandoned = (await storedJob(jobId))!.prover.jobId;
    await prover.faults([{ kind: "http_503", on: "poll" }]);
    await runDurableObjectAlarm(stubOf(jobId));
    const job = await storedJob(jobId);
    expect(job).toMatchObject({
      attempts: { recoveries: 0, proverRebuilds: 1 },
      lastRecovery: { code: "prover_stalled" },
    });
    expect(job!.prover.jobId).not.toBe(abandoned);
    expect(job!.cleanup.map((c) => c.proverJobId)).toContain(abandoned);
  });
});
