import type {
  Job,
  JobError,
  JobProverSide,
  JobStatus,
  Journal,
  VerifiedReceipt,
} from "./schemas/job.ts";

/**
 * The job's shapes are zod schemas (src/core/schemas/job.ts); their types, under the same names,
 * are re-exported here with the rules about jobs.
 */
export {
  AttemptSummary,
  Job,
  JOB_ID_PATTERN,
  JOB_STATUSES,
  JobError,
  JobProverSide,
  JobStatus,
  Journal,
  ProofStats,
  ProverCleanup,
  PublicJob,
  ReceiptRecord,
  ResultDocument,
  ResultSummary,
  TapeInfo,
  Verdict,
  VerifiedReceipt,
} from "./schemas/job.ts";

export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];
export const isTerminal = (s: JobStatus) => TERMINAL_STATUSES.includes(s);

/**
 * Whether saving `after` over `before` ends the attempt: the one moment its completion is
 * announced (webhooks). A re-save of an ended attempt, or putting back an older one, is not.
 */
export const endsAttempt = (before: Job | null, after: Job) =>
  before !== null &&
  before.attempt === after.attempt &&
  !isTerminal(before.status) &&
  isTerminal(after.status);

/** The prover side of a job that has not been submitted (again) yet. */
export function unsubmitted(
  segmentLimitPo2: number,
  lastError: JobError | null = null,
): JobProverSide {
  return {
    url: null,
    jobId: null,
    status: null,
    acceptedAt: null,
    pollDeadlineAt: null,
    expectedEndAt: null,
    lastPolledAt: null,
    consecutivePollFailures: 0,
    firstFailedPollAt: null,
    segmentLimitPo2,
    lastError,
  };
}

/** The verdict on a prover's receipt: valid (with the journal it commits), or why not. */
export type ReceiptCheck =
  { ok: true; receipt: VerifiedReceipt; journal: Journal } | { ok: false; reason: string };

/** All times in the API are Unix epoch milliseconds. */
export type Timestamp = number;
