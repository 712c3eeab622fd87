import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.ts";
import type { Job } from "../../src/job.ts";
import { newJob, onPoll, onSubmit } from "../../src/lifecycle.ts";
import { failureAction, MIN_SEGMENT_LIMIT_PO2, rebuild } from "../../src/recovery.ts";

const cfg = parseConfig({ PROVER_BASE_URL: "https://prover.example" });
const T0 = 1_700_000_000_000;
const tape = { sizeBytes: 40, seed: 1, frameCount: 12, finalScore: 90, finalRngState: 7, checksum: 99, sha256: "a".repeat(64) };
const proving = (patch: Partial<Job["prover"]> = {}, recoveries = 0): Job => {
  const j = onSubmit(newJob("a".repeat(64), tape, T0, cfg), { kind: "accepted", proverJobId: "p1" }, "https://prover.example", T0 + 1, 1, cfg).job;
  return { ...j, prover: { ...j.prover, ...patch }, attempts: { ...j.attempts, recoveries } };
};
const failed = (code: string, message = "x") => ({ kind: "failed", error: { code, message } }) as const;

describe("what a prover failure means", () => {
  it.each([
    ["server_restarted", "the server restarted", "rebuild"],
    ["internal_error", "join error", "rebuild"],
    ["proof_error", "segment proving error", "rebuild"],
    ["proof_error", "prover failed: out of memory", "rebuild_smaller"],
    ["proof_error", "CUDA allocation failed on device", "rebuild_smaller"],
    ["proof_timeout", "ran past 600 s", "rebuild_smaller"],
    ["zero_score_not_allowed", "score 0", "reject"],
    ["something_new", "?", "fatal"],
  ])("%s (%s) → %s", (code, message, action) => expect(failureAction({ code, message })).toBe(action));
});

describe("rebuilding after a poll", () => {
  it.each([["server_restarted"], ["internal_error"], ["proof_error"]])("%s → back in line at the same segment limit", (code) => {
    const r = onPoll(proving(), failed(code), T0 + 5000, cfg);
    expect(r.next).toEqual({ kind: "done" });
    expect(r.job).toMatchObject({
      status: "queued",
      attempts: { recoveries: 1 },
      lastRecovery: { code },
      prover: { jobId: null, url: null, status: null, segmentLimitPo2: cfg.segmentLimitPo2, lastError: { code } },
      error: null,
    });
    // The prover job ended by itself: nothing to delete.
    expect(r.job.cleanup).toEqual([]);
  });
  it("404 (lost) → rebuilt prover_job_lost", () => {
    expect(onPoll(proving(), { kind: "lost" }, T0 + 5000, cfg).job).toMatchObject({ status: "queued", lastRecovery: { code: "prover_job_lost" } });
  });
  it.each([
    ["proof_timeout", "too slow"],
    ["proof_error", "out of memory"],
  ])("%s (%s) → one step smaller segments", (code, message) => {
    expect(onPoll(proving(), failed(code, message), T0 + 5000, cfg).job.prover.segmentLimitPo2).toBe(cfg.segmentLimitPo2 - 1);
  });
  it("the step-down stops at the prover's floor", () => {
    const atFloor = proving({ segmentLimitPo2: MIN_SEGMENT_LIMIT_PO2 });
    expect(onPoll(atFloor, failed("proof_timeout"), T0 + 5000, cfg).job.prover.segmentLimitPo2).toBe(MIN_SEGMENT_LIMIT_PO2);
    const above = proving({ segmentLimitPo2: MIN_SEGMENT_LIMIT_PO2 + 1 });
    expect(onPoll(above, failed("proof_timeout"), T0 + 5000, cfg).job.prover.segmentLimitPo2).toBe(MIN_SEGMENT_LIMIT_PO2);
  });
  it("zero_score_not_allowed → failed prover_rejected; an unknown code → failed prover_failed", () => {
    expect(onPoll(proving(), failed("zero_score_not_allowed"), T0 + 5000, cfg).job).toMatchObject({ status: "failed", error: { code: "prover_rejected" } });
    const unknown = onPoll(proving(), failed("gpu_on_fire", "smoke"), T0 + 5000, cfg).job;
    expect(unknown).toMatchObject({ status: "failed", error: { code: "prover_failed" }, attempts: { recoveries: 0 } });
    expect(unknown.error!.message).toContain("gpu_on_fire");
  });
});

describe("PROVER_MAX_RECOVERIES", () => {
  const cause = { code: "prover_job_lost", message: "gone." };
  it("just inside: the last allowed rebuild still happens", () => {
    const j = rebuild(proving({}, cfg.maxRecoveries - 1), cause, T0 + 9, cfg);
    expect(j).toMatchObject({ status: "queued", attempts: { recoveries: cfg.maxRecoveries } });
  });
  it("just outside: recovery_exhausted, naming the cause", () => {
    const j = rebuild(proving({}, cfg.maxRecoveries), cause, T0 + 9, cfg);
    expect(j).toMatchObject({ status: "failed", finishedAt: T0 + 9, error: { code: "recovery_exhausted" }, attempts: { recoveries: cfg.maxRecoveries } });
    expect(j.error!.message).toContain("prover_job_lost");
  });
  it("0 allows no rebuild at all", () => {
    const none = parseConfig({ PROVER_BASE_URL: "https://prover.example", PROVER_MAX_RECOVERIES: "0" });
    expect(rebuild(proving(), cause, T0 + 9, none).error?.code).toBe("recovery_exhausted");
  });
  it("a rebuild that abandons a possibly running prover job asks for its deletion, even when it fails the job", () => {
    const j = rebuild(proving({}, cfg.maxRecoveries), cause, T0 + 9, cfg, { cleanup: true });
    expect(j.cleanup).toEqual([expect.objectContaining({ proverJobId: "p1", reason: "prover_job_lost" })]);
  });
});
