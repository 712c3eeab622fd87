import { resultSummary } from "./steps/result.ts";
import { noAttempts } from "./lifecycle.ts";
import { journalMismatch } from "./result-checks.ts";
import { unsubmitted, type Job, type ResultDocument } from "./job.ts";
import { RULES_DIGEST_AST3 } from "./tape.ts";

/**
 * A proof outlives its job's record: once COMPLETED_JOB_RETENTION_MS clears the record, the job
 * is rebuilt, read-only, from the result document R2 keeps (as long as R2 keeps it). Only a
 * document that is this job's and proves its own tape is believed; anything else is no job.
 */
export function archivedJob(jobId: string, doc: ResultDocument | null): Job | null {
  if (!doc || doc.jobId !== jobId || doc.tape?.sha256 !== jobId) return null;
  if (journalMismatch(doc.tape, doc.journal ?? null, RULES_DIGEST_AST3) !== null) return null;
  const at = doc.storedAt;
  return {
    jobId,
    status: "succeeded",
    detail: "Proved. The job's record was cleared after its retention; its result is kept.",
    createdAt: at,
    updatedAt: at,
    attempt: doc.attempt,
    attemptStartedAt: at,
    wallDeadlineAt: at,
    finishedAt: at,
    tape: doc.tape,
    prover: { ...unsubmitted(0), jobId: doc.proverJobId, status: "succeeded" },
    attempts: noAttempts(),
    watchdogCheckedAt: null,
    lastRecovery: null,
    result: resultSummary(doc),
    error: null,
    cleanup: [],
    cancelTokenHash: null,
    client: null,
    claimant: doc.claimant ?? null,
    history: [],
  };
}
