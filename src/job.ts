import type { JobError } from "./errors.ts";
import type { TapeFacts } from "./tape.ts";

/**
 * The job as players see it (`GET /api/proofs/jobs/:jobId`) and as its Durable Object stores it.
 *
 * - `queued`    accepted and stored; waiting for the queue consumer to hand it to the prover
 *               (also while the prover is busy with someone else's proof).
 * - `proving`   the prover accepted it; `prover.status` says whether it is queued or running there.
 * - `succeeded` the proof is stored in R2 and its journal matched the tape (terminal).
 * - `failed`    ended with `error.code` saying why (terminal).
 * - `cancelled` ended at the player's request (terminal).
 */
export type JobStatus = "queued" | "proving" | "succeeded" | "failed" | "cancelled";

export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];
export const isTerminal = (s: JobStatus) => TERMINAL_STATUSES.includes(s);

export interface TapeInfo extends TapeFacts {
  sha256: string;
}

export interface ProverState {
  /** The prover's id for the current submission, once it has accepted the tape. */
  jobId: string | null;
  status: "queued" | "running" | "succeeded" | "failed" | null;
  acceptedAt: number | null;
  /** `acceptedAt + PROVER_POLL_TIMEOUT_MS`: stop waiting on this prover job after it. */
  pollDeadlineAt: number | null;
  lastPolledAt: number | null;
  /** Consecutive polls that got no usable answer (network error, timeout, 5xx, bad JSON). */
  consecutivePollFailures: number;
  lastError: JobError | null;
}

export interface ResultSummary {
  /** R2 key of the stored result document (`GET …/result` serves it). */
  key: string;
  receiptKind: string;
  segments: number | null;
  proverElapsedMs: number | null;
  journal: Journal;
}

/** What a proof commits to; must repeat the tape's own facts. */
export interface Journal {
  seed: number;
  frame_count: number;
  final_score: number;
  final_rng_state: number;
  tape_checksum: number;
  rules_digest: number;
}

export interface Job {
  jobId: string;
  status: JobStatus;
  /** One sentence on where the proof stands and why, for the player. */
  detail: string;
  createdAt: number;
  updatedAt: number;
  /** `createdAt + MAX_JOB_WALL_TIME_MS`: no job lives past it. */
  wallDeadlineAt: number;
  finishedAt: number | null;
  tape: TapeInfo;
  prover: ProverState;
  attempts: {
    /** Queue deliveries that reached the job. */
    deliveries: number;
    /** Times the tape was sent to the prover. */
    submissions: number;
    /** Status reads of the prover job. */
    polls: number;
  };
  result: ResultSummary | null;
  error: JobError | null;
}

/** All times in the API are Unix epoch milliseconds. */
export type Timestamp = number;
