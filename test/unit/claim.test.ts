import { describe, expect, it } from "vitest";
import { archivedJob } from "../../src/core/archive.ts";
import { applyClaimReport, type Claim } from "../../src/core/claim.ts";
import { create } from "../../src/core/steps/intake.ts";
import { proofStats, resultSummary } from "../../src/core/steps/result.ts";
import { endsAttempt, type Job, type ResultDocument } from "../../src/core/job.ts";
import { newJob } from "../../src/core/lifecycle.ts";
import { fail } from "../../src/core/ending.ts";
import { resultKey } from "../../src/core/r2-keys.ts";
import { viewIsFinal, type JobView } from "../../src/core/view.ts";
import { CONFIGS, T0 } from "../support/configs.ts";
import { SAMPLE_JOURNAL, SAMPLE_TAPE } from "../support/sample-job.ts";

/**
 * The claim path's pure rules: claim reports (src/core/claim.ts), the result a job keeps, the job
 * rebuilt from R2 after its record is cleared (src/core/archive.ts), when an attempt is announced,
 * when a socket may close.
 */
const cfg = CONFIGS[0]![1];
const JOB_ID = SAMPLE_TAPE.sha256;
const ACCOUNT = "GAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAWHF";
const SEAL = `73c457ba${"ab".repeat(256)}`;
const TX = "ab".repeat(32);

const doc = (over: Partial<ResultDocument> = {}): ResultDocument => ({
  jobId: JOB_ID,
  attempt: 2,
  tape: SAMPLE_TAPE,
  proverJobId: "p-1",
  journal: SAMPLE_JOURNAL,
  receiptKind: "groth16",
  segments: 3,
  proverElapsedMs: 4200,
  storedAt: T0,
  receipt: {
    verified: true,
    method: "groth16",
    verifierVersion: "3.0.0",
    selector: "73c457ba",
    seal: SEAL,
    imageId: "30".repeat(32),
    journalRaw: "cd".repeat(24),
    journalDigest: "ef".repeat(32),
    claimDigest: "01".repeat(32),
  },
  prover: {
    result: {
      proof: {
        stats: {
          segments: 3,
          total_cycles: 9,
          user_cycles: 5,
          paging_cycles: 2,
          reserved_cycles: 1,
        },
      },
    },
  },
  claimant: ACCOUNT,
  requestedReceiptKind: "groth16",
  ...over,
});

describe("claim reports", () => {
  const at = (prev: Claim | null, report: Parameters<typeof applyClaimReport>[1], now = T0) =>
    applyClaimReport(prev, report, ACCOUNT, now);
  const ok = (u: ReturnType<typeof applyClaimReport>) => {
    if (!u.ok) throw new Error(u.message);
    return u.claim;
  };

  it("the first report makes the claim, for the attempt's claimant", () => {
    expect(ok(at(null, { status: "queued" }))).toEqual({
      status: "queued",
      claimant: ACCOUNT,
      txHash: null,
      error: null,
      attempts: 0,
      submittedAt: null,
      updatedAt: T0,
    });
  });

  it("each entry into submitting is one attempt; the first one is when it was submitted", () => {
    let c = ok(at(null, { status: "submitting" }, T0 + 1));
    expect(c).toMatchObject({ attempts: 1, submittedAt: T0 + 1 });
    c = ok(at(c, { status: "submitting" }, T0 + 2)); // the same report again: no new attempt
    expect(c).toMatchObject({ attempts: 1, submittedAt: T0 + 1 });
    c = ok(at(c, { status: "retrying", error: "bad seq" }, T0 + 3));
    expect(c).toMatchObject({ attempts: 1, error: "bad seq" });
    c = ok(at(c, { status: "submitting" }, T0 + 4));
    expect(c).toMatchObject({ attempts: 2, submittedAt: T0 + 1, error: null });
  });

  it("a transaction hash is kept until another is named; success clears the error", () => {
    let c = ok(at(null, { status: "submitting", txHash: TX }));
    c = ok(at(c, { status: "retrying", error: "timeout" }));
    expect(c).toMatchObject({ txHash: TX, error: "timeout" });
    c = ok(at(c, { status: "succeeded", error: "ignored" }));
    expect(c).toMatchObject({ status: "succeeded", txHash: TX, error: null });
  });

  it("a failed claim may be tried again; a succeeded one is settled", () => {
    const failed = ok(at(null, { status: "failed", error: "no funds" }));
    expect(ok(at(failed, { status: "submitting" }))).toMatchObject({ status: "submitting" });
    const done = ok(at(null, { status: "succeeded", txHash: TX }));
    const again = at(done, { status: "succeeded", txHash: TX }, T0 + 9);
    expect(again).toEqual({ ok: true, claim: done, changed: false });
    for (const report of [
      { status: "failed" as const },
      { status: "succeeded" as const, txHash: "cd".repeat(32) },
      { status: "submitting" as const },
    ]) {
      const r = at(done, report);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r).toMatchObject({ code: "claim_settled" });
    }
  });

  it("a report that changes nothing is not a change (nothing to write or push)", () => {
    const c = ok(at(null, { status: "queued" }));
    expect(at(c, { status: "queued" }, T0 + 5)).toEqual({ ok: true, claim: c, changed: false });
    expect(at(c, { status: "submitting" }, T0 + 5)).toMatchObject({ changed: true });
  });
});

describe("the result a job keeps", () => {
  it("carries the verified seal, its image, the requested kind and the prover's figures", () => {
    expect(resultSummary(doc())).toEqual({
      key: resultKey(JOB_ID),
      receiptKind: "groth16",
      segments: 3,
      proverElapsedMs: 4200,
      journal: SAMPLE_JOURNAL,
      verified: true,
      seal: SEAL,
      imageId: "30".repeat(32),
      requestedReceiptKind: "groth16",
      stats: { segments: 3, total_cycles: 9, user_cycles: 5, paging_cycles: 2, reserved_cycles: 1 },
    });
  });

  it("an unverified receipt gives no seal", () => {
    const s = resultSummary(doc({ receipt: { verified: false, method: "off" } }));
    expect(s).toMatchObject({ verified: false, seal: null, imageId: null });
  });

  it("a prover's stats are numbers or 0; anything else there is dropped", () => {
    expect(proofStats(null)).toBeNull();
    expect(proofStats({ result: { proof: {} } })).toBeNull();
    expect(
      proofStats({
        result: { proof: { stats: { segments: "3", total_cycles: -1, user_cycles: 1.5, x: 1 } } },
      }),
    ).toEqual({
      segments: 0,
      total_cycles: 0,
      user_cycles: 0,
      paging_cycles: 0,
      reserved_cycles: 0,
    });
  });
});

describe("claimants on attempts", () => {
  const input = (claimant: string | null, why: "post" | "redrive" = "post") => ({
    jobId: JOB_ID,
    tape: SAMPLE_TAPE,
    cancelTokenHash: "h",
    why,
    claimant,
  });

  it("a post's claimant is its attempt's; a redrive keeps it, a new post after failure takes its own", () => {
    const first = create(null, input(ACCOUNT), T0, cfg);
    expect(first.job.claimant).toBe(ACCOUNT);
    const failed = fail(first.job, { code: "x", message: "x" }, T0 + 1);
    expect(create(failed, input(null, "redrive"), T0 + 2, cfg).job.claimant).toBe(ACCOUNT);
    expect(create(failed, input(null), T0 + 2, cfg).job.claimant).toBeNull();
    // A live job is not changed by a second poster.
    expect(create(first.job, input(null), T0 + 2, cfg).job.claimant).toBe(ACCOUNT);
  });
});

describe("the job rebuilt from its kept result", () => {
  it("is a read-only succeeded job with the proof, the claimant and no secrets", () => {
    const job = archivedJob(JOB_ID, doc())!;
    expect(job).toMatchObject({
      jobId: JOB_ID,
      status: "succeeded",
      attempt: 2,
      finishedAt: T0,
      claimant: ACCOUNT,
      cancelTokenHash: null,
      client: null,
      result: { seal: SEAL, journal: SAMPLE_JOURNAL },
      prover: { jobId: "p-1", status: "succeeded" },
    });
  });

  it("a document of another job, of another tape, or whose journal does not prove the tape is none", () => {
    expect(archivedJob(JOB_ID, null)).toBeNull();
    expect(archivedJob("b".repeat(64), doc())).toBeNull();
    expect(
      archivedJob(JOB_ID, doc({ tape: { ...SAMPLE_TAPE, sha256: "b".repeat(64) } })),
    ).toBeNull();
    for (const field of ["seed", "frame_count", "final_score", "rules_digest"] as const) {
      const journal = { ...SAMPLE_JOURNAL, [field]: SAMPLE_JOURNAL[field] + 1 };
      expect(archivedJob(JOB_ID, doc({ journal })), field).toBeNull();
    }
  });
});

describe("when an attempt is announced", () => {
  const live = newJob(JOB_ID, SAMPLE_TAPE, T0, cfg);
  const ended = fail(live, { code: "x", message: "x" }, T0 + 1);

  it("only the save that ends the attempt", () => {
    expect(endsAttempt(live, ended)).toBe(true);
    expect(endsAttempt(ended, ended)).toBe(false); // a re-save
    expect(endsAttempt(live, live)).toBe(false);
    expect(endsAttempt(null, ended)).toBe(false);
    // Putting back an older, ended attempt (an undone intake) is not an end.
    const next: Job = { ...live, attempt: 2 };
    expect(endsAttempt(next, ended)).toBe(false);
  });
});

describe("when a live-status socket may close", () => {
  const view = (job: Job, settlement: JobView["settlement"], claim: Claim | null = null) =>
    ({ job, queue: null, estimate: null, claim, settlement }) satisfies JobView;
  const succeeded: Job = { ...newJob(JOB_ID, SAMPLE_TAPE, T0, cfg), status: "succeeded" };
  const claim = (status: Claim["status"]): Claim => ({
    status,
    claimant: null,
    txHash: null,
    error: null,
    attempts: 0,
    submittedAt: null,
    updatedAt: T0,
  });

  it("once the job ended and, with a settlement service, its claim ended too", () => {
    expect(viewIsFinal(view(newJob(JOB_ID, SAMPLE_TAPE, T0, cfg), "none"))).toBe(false);
    expect(viewIsFinal(view(succeeded, "none"))).toBe(true);
    expect(viewIsFinal(view(succeeded, "automatic"))).toBe(false);
    expect(viewIsFinal(view(succeeded, "automatic", claim("submitting")))).toBe(false);
    expect(viewIsFinal(view(succeeded, "automatic", claim("succeeded")))).toBe(true);
    expect(viewIsFinal(view(succeeded, "automatic", claim("failed")))).toBe(true);
    const failed = fail(newJob(JOB_ID, SAMPLE_TAPE, T0, cfg), { code: "x", message: "x" }, T0);
    expect(viewIsFinal(view(failed, "automatic"))).toBe(true);
  });
});
