import type { Effect, Step } from "../effects.ts";
import type { Job, ProofStats, ResultDocument, ResultSummary } from "../job.ts";
import { type LifecycleConfig } from "../lifecycle.ts";
import { journalMismatch, onResultStored, onResultStoreFailed } from "../result-checks.ts";
import { resultKey } from "../r2-keys.ts";
import { RULES_DIGEST_AST3 } from "../tape.ts";

/** The conditional write of a proof's result to R2, and what the job keeps of it. */

/** What the conditional R2 write of the result did. */
export type StoreAttempt =
  | { kind: "written" }
  /** A document was already there (`earlier`; null when it could not be read back). */
  | { kind: "exists"; earlier: ResultDocument | null }
  | { kind: "error"; message: string };

/**
 * The result is written once: a document already stored is adopted when its journal proves this
 * tape, never overwritten otherwise. The job succeeds only once a result is stored; a failed
 * write keeps it proving, and the next poll (the prover still has the proof) stores it.
 */
export function storeTried(
  job: Job,
  document: ResultDocument,
  attempt: StoreAttempt,
  now: number,
  cfg: LifecycleConfig,
): Step & { job: Job } {
  const key = resultKey(job.jobId);
  let problem: string | null = null;
  let kept = document;
  const effects: Effect[] = [];
  if (attempt.kind === "error") problem = attempt.message;
  else if (attempt.kind === "exists") {
    const wrong = attempt.earlier
      ? journalMismatch(job.tape, attempt.earlier.journal ?? null, RULES_DIGEST_AST3)
      : null;
    if (!attempt.earlier) problem = `${key} exists but could not be read`;
    else if (wrong)
      problem = `${key} already holds a different result (${wrong}); it is not overwritten`;
    else {
      kept = attempt.earlier;
      const line = {
        event: "result_already_stored",
        jobId: job.jobId,
        attempt: job.attempt,
        storedAt: kept.storedAt,
      };
      effects.push({ kind: "log", level: "info", line });
    }
  }
  if (problem !== null) {
    const line = {
      event: "result_store_failed",
      jobId: job.jobId,
      attempt: job.attempt,
      error: problem,
    };
    return {
      job: onResultStoreFailed(job, problem, now),
      effects: [{ kind: "log", level: "error", line }],
    };
  }
  const summary = resultSummary(kept);
  return { job: onResultStored(job, summary, now, cfg), effects };
}

/** What the job keeps of its stored result document (the job view and the webhook show it). */
export function resultSummary(doc: ResultDocument): ResultSummary {
  const receipt = doc.receipt?.verified ? doc.receipt : null;
  return {
    key: resultKey(doc.jobId),
    receiptKind: doc.receiptKind,
    segments: doc.segments,
    proverElapsedMs: doc.proverElapsedMs,
    journal: doc.journal,
    verified: receipt !== null,
    seal: receipt?.seal ?? null,
    imageId: receipt?.imageId ?? null,
    requestedReceiptKind: doc.requestedReceiptKind ?? null,
    stats: proofStats(doc.prover),
  };
}

/** The prover's `result.proof.stats`, numbers only (whatever else a prover puts there is dropped). */
export function proofStats(proverDocument: unknown): ProofStats | null {
  const stats = (proverDocument as { result?: { proof?: { stats?: unknown } } } | null)?.result
    ?.proof?.stats;
  if (!stats || typeof stats !== "object") return null;
  const s = stats as Record<string, unknown>;
  const n = (v: unknown) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : 0);
  return {
    segments: n(s.segments),
    total_cycles: n(s.total_cycles),
    user_cycles: n(s.user_cycles),
    paging_cycles: n(s.paging_cycles),
    reserved_cycles: n(s.reserved_cycles),
  };
}
