import type { Config } from "../../src/core/config.ts";
import type { Effect } from "../../src/core/effects.ts";
import type { Journal, ReceiptCheck, VerifiedReceipt } from "../../src/core/job.ts";
import { newJob, type PollOutcome } from "../../src/core/lifecycle.ts";
import { onSubmit } from "../../src/core/prover-answers.ts";
import { T0, URL_A } from "./configs.ts";
import { SAMPLE_JOURNAL, SAMPLE_TAPE } from "./sample-job.ts";

/** The jobs and proofs the job-step suites (test/unit/job-steps*.test.ts) build on. */

export const JOB_ID = "c".repeat(64);
export const tape = { ...SAMPLE_TAPE, sha256: JOB_ID };
export const journal = SAMPLE_JOURNAL;
/** What src/verify says of a good receipt (the core trusts the verdict it is given). */
export const RECEIPT: VerifiedReceipt = {
  verified: true,
  method: "groth16",
  verifierVersion: "3.0.0",
  selector: "73c457ba",
  seal: `73c457ba${"ab".repeat(256)}`,
  imageId: "30cb1dceaa1c626ed7eb906e1567347806eefed4b759b829a3ca3696573b7090",
  journalRaw: "cd".repeat(24),
  journalDigest: "ef".repeat(32),
  claimDigest: "01".repeat(32),
};
export const proof = (
  j: Journal | null = journal,
  receipt: ReceiptCheck | undefined = { ok: true, receipt: RECEIPT, journal },
): Extract<PollOutcome, { kind: "succeeded" }> => ({
  kind: "succeeded",
  journal: j,
  receiptKind: "groth16",
  segments: 2,
  elapsedMs: 50,
  document: { proof: true },
  receipt,
});
export const kinds = (effects: Effect[]) => effects.map((e) => e.kind);

export function kit(cfg: Config) {
  const queued = (at = T0) => newJob(JOB_ID, tape, at, cfg, "hash-1");
  const proving = (at = T0 + 10) =>
    onSubmit(queued(), { kind: "accepted", proverJobId: "p1" }, URL_A, at, cfg).job;
  return { queued, proving };
}
