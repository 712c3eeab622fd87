import type { TapeFacts } from "./tape.ts";

/** A job's terminal error: a stable code and a sentence for the player. */
export interface JobError {
  code: string;
  message: string;
  /**
   * A verdict against the tape that only one prover gave (no other prover could be asked): it
   * stands, but unconfirmed (src/core/verdicts.ts). Absent: confirmed, or not a verdict.
   */
  unconfirmed?: boolean;
}

/**
 * One prover's verdict against this attempt's tape (src/core/verdicts.ts): `refused`, one the
 * gateway cannot check (a guest refusal, an unknown failure code); `lied`, one it checked and
 * found false (a 400 or a zero score for a tape it parsed as valid, a result or receipt that is
 * not a proof of the tape). Either way the job is sent to another prover.
 */
export interface Verdict {
  /** The prover (its base URL) that gave it. */
  url: string;
  /** What it said: its error code, or `result_mismatch` / `receipt_invalid`. */
  code: string;
  kind: "refused" | "lied";
  at: number;
}

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
export const JOB_STATUSES = ["queued", "proving", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

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

/** A job id is the SHA-256 of its tape, in lowercase hex. */
export const JOB_ID_PATTERN = /^[0-9a-f]{64}$/;

export interface TapeInfo extends TapeFacts {
  sha256: string;
}

/** A job's side of its prover: which prover holds its submission and how polling it goes (not a prover's fleet state, src/core/fleet.ts). */
export interface JobProverSide {
  /** Which prover (base URL) holds the current submission; the dispatcher picks it. */
  url: string | null;
  /** The prover's id for the current submission, once it has accepted the tape. */
  jobId: string | null;
  status: "queued" | "running" | "succeeded" | "failed" | null;
  acceptedAt: number | null;
  /** `acceptedAt + PROVER_POLL_TIMEOUT_MS`: stop waiting on this prover job after it. */
  pollDeadlineAt: number | null;
  /**
   * When the proof should end, from the speed expected of its prover (src/core/speed.ts
   * `speedFor`) and the tape's frames; polls close in on it. Null or absent: unknown.
   */
  expectedEndAt?: number | null;
  lastPolledAt: number | null;
  /** Consecutive polls that got no usable answer (network error, timeout, 5xx, bad JSON). */
  consecutivePollFailures: number;
  /** When the current run of failed polls began: the stall window counts from here. */
  firstFailedPollAt: number | null;
  /** `segment_limit_po2` for the next submission: lowered after out-of-memory or proof_timeout. */
  segmentLimitPo2: number;
  lastError: JobError | null;
}

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

/**
 * A prover job the gateway abandoned (cancelled, timed out, stalled, accepted too late) that
 * it still tells the prover to forget: `DELETE /api/jobs/{id}`, which answers 409 until the
 * proof ends. Best effort: retried until `until`, then dropped.
 */
export interface ProverCleanup {
  url: string;
  proverJobId: string;
  reason: string;
  nextAt: number;
  until: number;
  tries: number;
}

/** An earlier attempt on the same tape (kept short: the last few). */
export interface AttemptSummary {
  attempt: number;
  startedAt: number;
  finishedAt: number | null;
  status: JobStatus;
  error: JobError | null;
  recoveries: number;
}

export interface ResultSummary {
  /** R2 key of the stored result document (`GET …/result` serves it). */
  key: string;
  receiptKind: string;
  segments: number | null;
  proverElapsedMs: number | null;
  journal: Journal;
  /** Its Groth16 receipt verified in the Worker (false: VERIFY_RECEIPTS=off, or stored before). */
  verified?: boolean;
  /**
   * The verified on-chain seal (selector ‖ seal, 260 bytes hex) and the image it proves: what a
   * claim submits. Null when the receipt was not verified; absent in jobs stored before.
   */
  seal?: string | null;
  imageId?: string | null;
  /** The receipt kind the gateway asked for (PROVER_RECEIPT_KIND); absent in older jobs. */
  requestedReceiptKind?: string | null;
  /** The prover's own figures for the proof (numbers only); null when it gave none. */
  stats?: ProofStats | null;
}

/** The prover's figures for one proof (`result.proof.stats` of its status document). */
export interface ProofStats {
  segments: number;
  total_cycles: number;
  user_cycles: number;
  paging_cycles: number;
  reserved_cycles: number;
}

/**
 * A receipt verified in the Worker (src/verify/receipt.ts): what the game's on-chain claim needs.
 */
export interface VerifiedReceipt {
  verified: true;
  method: "groth16";
  /** RISC Zero verifier parameters release the seal verified under. */
  verifierVersion: string;
  /** The on-chain verifier selector (4 bytes, hex): the parameters digest's first 4 bytes. */
  selector: string;
  /** selector ‖ seal: 260 bytes, hex, as the game submits it on chain. */
  seal: string;
  /** The image the seal proves ran (PROVER_EXPECTED_IMAGE_ID). */
  imageId: string;
  /** The 24 journal bytes the image committed, hex. */
  journalRaw: string;
  /** sha256 of those bytes, hex: the proof's identity (seals are malleable). */
  journalDigest: string;
  claimDigest: string;
}

/** What the stored result says of its receipt: verified, or not checked (VERIFY_RECEIPTS=off). */
export type ReceiptRecord = VerifiedReceipt | { verified: false; method: "off" };

/** The verdict on a prover's receipt: valid (with the journal it commits), or why not. */
export type ReceiptCheck =
  { ok: true; receipt: VerifiedReceipt; journal: Journal } | { ok: false; reason: string };

/** The document stored in R2 for a succeeded job (`GET …/result` serves it as is). */
export interface ResultDocument {
  jobId: string;
  attempt: number;
  tape: TapeInfo;
  proverJobId: string | null;
  journal: Journal;
  receiptKind: string;
  segments: number | null;
  proverElapsedMs: number | null;
  storedAt: number;
  /** The verified receipt (absent in results stored before verification existed). */
  receipt?: ReceiptRecord;
  /** The prover's whole status document: journal, receipt, stats. */
  prover: unknown;
  /** The Stellar address the attempt was posted for (`x-claimant-address`); null: none. */
  claimant?: string | null;
  /** The receipt kind the gateway asked for; absent in documents stored before. */
  requestedReceiptKind?: string;
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
  /** When this tape was first posted. */
  createdAt: number;
  updatedAt: number;
  /** 1 for the first attempt; a repost after `failed`/`cancelled` starts the next one. */
  attempt: number;
  /** When this attempt was posted: its wall-time cap and its place in line count from here. */
  attemptStartedAt: number;
  /** `attemptStartedAt + MAX_JOB_WALL_TIME_MS`: no attempt lives past it. */
  wallDeadlineAt: number;
  finishedAt: number | null;
  tape: TapeInfo;
  prover: JobProverSide;
  attempts: {
    /** Queue deliveries that reached the job. */
    deliveries: number;
    /** Times the tape was sent to the prover. */
    submissions: number;
    /** Status reads of the prover job. */
    polls: number;
    /**
     * Rebuilds for a reason the tape may be to blame for (proof_error, out of memory,
     * proof_timeout, poll_timeout): at most PROVER_MAX_RECOVERIES.
     */
    recoveries: number;
    /**
     * Rebuilds the prover caused (lost job, restart, internal error, stall, a result that is not a
     * proof of the tape): bounded only by the wall-time cap.
     */
    proverRebuilds: number;
    /**
     * Times the guest refused the tape (`proof_error`, not out of memory) and it was tried again:
     * at most once, then the job ends `tape_rejected`. Absent in jobs stored before it existed.
     */
    rejections?: number;
    /** Times the job's own watchdog re-sent it because the queue had not picked it up. */
    redispatches: number;
  };
  /** When the watchdog last looked for this waiting job (null: not yet). */
  watchdogCheckedAt: number | null;
  /** Why the last recovery happened, for the player. */
  lastRecovery: JobError | null;
  /**
   * The provers' verdicts against this attempt's tape, oldest first: the job is not sent to them
   * again while another prover can be had. Absent in jobs stored before it existed.
   */
  verdicts?: Verdict[];
  result: ResultSummary | null;
  error: JobError | null;
  /** Prover jobs still to be deleted on the prover (never shown a token or tape). */
  cleanup: ProverCleanup[];
  /** SHA-256 of this attempt's cancel token; only the submitter (or the admin) may cancel. */
  cancelTokenHash: string | null;
  /**
   * A hash of the client that posted this attempt (src/http/client.ts; never its address): the
   * fair line and MAX_WAITING_PER_CLIENT count by it. Absent in jobs stored before it existed.
   */
  client?: string | null;
  /**
   * The Stellar address (StrKey `G…`/`C…`, checksum verified) this attempt was posted for, from
   * `x-claimant-address`: the proof's claim goes to it. Null: none given. Absent in older jobs.
   */
  claimant?: string | null;
  /** Earlier attempts, newest last. */
  history: AttemptSummary[];
}

/** All times in the API are Unix epoch milliseconds. */
export type Timestamp = number;
