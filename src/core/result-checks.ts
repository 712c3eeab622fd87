import type { Job, Journal, ResultSummary, TapeInfo } from "./job.ts";
import type { LifecycleConfig, PollOutcome } from "./lifecycle.ts";
import { abandonProverJob } from "./prover-cleanup.ts";
import { RULES_DIGEST_AST3 } from "./tape.ts";
import { onLie } from "./verdicts.ts";

/**
 * A finished proof checked against its tape (journal, receipt) before it is stored, and what its
 * storing (or a failed write) does to the job.
 */

/**
 * Checks a finished proof against the tape it was made from. Returns the reason it is not
 * a valid proof for this tape, or null when every journal field agrees.
 */
export function journalMismatch(
  tape: TapeInfo,
  journal: Journal | null,
  rulesDigest: number,
): string | null {
  if (!journal) return "the result carries no journal";
  const want: Journal = {
    seed: tape.seed,
    frame_count: tape.frameCount,
    final_score: tape.finalScore,
    final_rng_state: tape.finalRngState,
    tape_checksum: tape.checksum,
    rules_digest: rulesDigest,
  };
  const wrong = (Object.keys(want) as (keyof Journal)[]).filter((k) => journal[k] !== want[k]);
  return wrong.length === 0
    ? null
    : `journal ${wrong.map((k) => `${k} is ${journal[k]}, expected ${want[k]}`).join("; ")}`;
}

/**
 * The prover claimed success with a result that is not a proof of this tape: a lie
 * (src/core/verdicts.ts), rebuilt for another prover (and that prover job deleted).
 */
export function onResultInvalid(job: Job, reason: string, now: number, cfg: LifecycleConfig): Job {
  if (job.status !== "proving") return job;
  const message = `The prover's result does not match the tape: ${reason}.`;
  const cause = { code: "result_mismatch", message };
  return onLie(job, job.prover.url ?? "", "result_mismatch", cause, now, cfg, { cleanup: true });
}

/**
 * What is wrong with a finished proof's receipt, or null when it may be stored: with
 * VERIFY_RECEIPTS=groth16 the receipt must verify and commit exactly this tape's journal.
 */
export function receiptProblem(
  job: Job,
  outcome: Extract<PollOutcome, { kind: "succeeded" }>,
  cfg: Pick<LifecycleConfig, "verifyReceipts">,
): string | null {
  if (cfg.verifyReceipts === "off") return null;
  const check = outcome.receipt;
  if (!check) return "its receipt was not verified";
  if (!check.ok) return check.reason;
  const wrong = journalMismatch(job.tape, check.journal, RULES_DIGEST_AST3);
  return wrong ? `the receipt commits another journal (${wrong})` : null;
}

/**
 * The prover claimed success with a receipt that does not verify (a forgery, a dev-mode fake, a
 * broken box): a lie, which quarantines that prover at once. Nothing is stored; the job is rebuilt
 * for another prover and that prover job deleted.
 */
export function onReceiptInvalid(job: Job, reason: string, now: number, cfg: LifecycleConfig): Job {
  if (job.status !== "proving") return job;
  const cause = {
    code: "receipt_invalid",
    message: `The prover's receipt does not verify: ${reason}.`,
  };
  return onLie(job, job.prover.url ?? "", "receipt_invalid", cause, now, cfg, { cleanup: true });
}

/**
 * The verified result is in R2: the job succeeded. The prover's finished job is deleted there
 * (the prover keeps finished jobs for a day, at most `max_jobs`, then answers 429 at_capacity).
 */
export function onResultStored(
  job: Job,
  result: ResultSummary,
  now: number,
  cfg: LifecycleConfig,
): Job {
  if (job.status !== "proving") return job;
  return {
    ...abandonProverJob(job, "result_stored", now, cfg),
    status: "succeeded",
    detail: "The proof is ready.",
    result,
    error: null,
    finishedAt: now,
    updatedAt: now,
  };
}

/**
 * The proof is in and verified, but writing it to R2 failed: the job is not done until it is
 * stored, so it keeps `proving` and the next poll (the prover still has the proof) stores it.
 */
export function onResultStoreFailed(job: Job, message: string, now: number): Job {
  if (job.status !== "proving") return job;
  return {
    ...job,
    detail: "The proof is done; storing it failed and will be retried.",
    prover: { ...job.prover, lastError: { code: "result_store_failed", message } },
    updatedAt: now,
  };
}
