import * as z from "zod";

/**
 * The job's shapes, once: the zod schemas the HTTP API documents (src/http/openapi.ts) and the
 * TypeScript types the code uses (`z.output` of each, re-exported by src/core/job.ts).
 */

/**
 * - `queued`    accepted and stored; waiting for the queue consumer to hand it to the prover
 *               (also while the prover is busy with someone else's proof).
 * - `proving`   the prover accepted it; `prover.status` says whether it is queued or running there.
 * - `succeeded` the proof is stored in R2 and its journal matched the tape (terminal).
 * - `failed`    ended with `error.code` saying why (terminal).
 * - `cancelled` ended at the player's request (terminal).
 */
export const JOB_STATUSES = ["queued", "proving", "succeeded", "failed", "cancelled"] as const;
export const JobStatus = z.enum(JOB_STATUSES);
export type JobStatus = z.output<typeof JobStatus>;

/** A job id is the SHA-256 of its tape, in lowercase hex. */
export const JOB_ID_PATTERN = /^[0-9a-f]{64}$/;

export const JobId = z.string().regex(JOB_ID_PATTERN).meta({
  description: "The job id: the lowercase hex SHA-256 of the tape bytes (64 characters).",
});

const epochMs = z.number().meta({ description: "Unix epoch milliseconds." });
const epochMsOrNull = epochMs.nullable();
export { epochMs, epochMsOrNull };

/** A job's terminal error: a stable code and a sentence for the player. */
export const JobError = z.object({
  code: z.string(),
  message: z.string(),
  /**
   * A verdict against the tape that only one prover gave (no other prover could be asked): it
   * stands, but unconfirmed (src/core/verdicts.ts). Absent: confirmed, or not a verdict.
   */
  unconfirmed: z.boolean().optional().meta({
    description: "A verdict against the tape only one prover gave: it stands, unconfirmed.",
  }),
});
export type JobError = z.output<typeof JobError>;

/**
 * One prover's verdict against this attempt's tape (src/core/verdicts.ts): `refused`, one the
 * gateway cannot check (a guest refusal, an unknown failure code); `lied`, one it checked and
 * found false (a 400 or a zero score for a tape it parsed as valid, a result or receipt that is
 * not a proof of the tape). Either way the job is sent to another prover.
 */
export const Verdict = z.object({
  /** The prover (its base URL) that gave it. */
  url: z.string(),
  /** What it said: its error code, or `result_mismatch` / `receipt_invalid`. */
  code: z.string(),
  kind: z.enum(["refused", "lied"]),
  at: epochMs,
});
export type Verdict = z.output<typeof Verdict>;

/** The tape's facts (`TapeFacts`, src/core/tape.ts) and its SHA-256. */
export const TapeInfo = z.object({
  sha256: z.string(),
  sizeBytes: z.number(),
  seed: z.number(),
  frameCount: z.number(),
  finalScore: z.number(),
  finalRngState: z.number(),
  /** CRC-32 stored in the tape (of header + inputs); equals the journal's `tape_checksum`. */
  checksum: z.number(),
});
export type TapeInfo = z.output<typeof TapeInfo>;

/** A job's side of its prover: which prover holds its submission and how polling it goes (not a prover's fleet state, src/core/fleet.ts). */
export const JobProverSide = z.object({
  /** Which prover (base URL) holds the current submission; the dispatcher picks it. */
  url: z.string().nullable(),
  /** The prover's id for the current submission, once it has accepted the tape. */
  jobId: z.string().nullable(),
  status: z.enum(["queued", "running", "succeeded", "failed"]).nullable(),
  acceptedAt: epochMsOrNull,
  /** `acceptedAt + PROVER_POLL_TIMEOUT_MS`: stop waiting on this prover job after it. */
  pollDeadlineAt: epochMsOrNull,
  /**
   * When the proof should end, from the speed expected of its prover (src/core/speed.ts
   * `speedFor`) and the tape's frames; polls close in on it. Null or absent: unknown.
   */
  expectedEndAt: epochMsOrNull.optional(),
  lastPolledAt: epochMsOrNull,
  /** Consecutive polls that got no usable answer (network error, timeout, 5xx, bad JSON). */
  consecutivePollFailures: z.number(),
  /** When the current run of failed polls began: the stall window counts from here. */
  firstFailedPollAt: epochMsOrNull,
  /** `segment_limit_po2` for the next submission: lowered after out-of-memory or proof_timeout. */
  segmentLimitPo2: z.number(),
  lastError: JobError.nullable(),
});
export type JobProverSide = z.output<typeof JobProverSide>;

/**
 * A prover job the gateway abandoned (cancelled, timed out, stalled, accepted too late) that
 * it still tells the prover to forget: `DELETE /api/jobs/{id}`, which answers 409 until the
 * proof ends. Best effort: retried until `until`, then dropped.
 */
export const ProverCleanup = z.object({
  url: z.string(),
  proverJobId: z.string(),
  reason: z.string(),
  nextAt: epochMs,
  until: epochMs,
  tries: z.number(),
});
export type ProverCleanup = z.output<typeof ProverCleanup>;

/** An earlier attempt on the same tape (kept short: the last few). */
export const AttemptSummary = z.object({
  attempt: z.number(),
  startedAt: epochMs,
  finishedAt: epochMsOrNull,
  status: JobStatus,
  error: JobError.nullable(),
  recoveries: z.number(),
});
export type AttemptSummary = z.output<typeof AttemptSummary>;

/** What a proof commits to; must repeat the tape's own facts. */
export const Journal = z.object({
  seed: z.number(),
  frame_count: z.number(),
  final_score: z.number(),
  final_rng_state: z.number(),
  tape_checksum: z.number(),
  rules_digest: z.number(),
});
export type Journal = z.output<typeof Journal>;

/** The prover's figures for one proof (`result.proof.stats` of its status document). */
export const ProofStats = z.object({
  segments: z.number(),
  total_cycles: z.number(),
  user_cycles: z.number(),
  paging_cycles: z.number(),
  reserved_cycles: z.number(),
});
export type ProofStats = z.output<typeof ProofStats>;

export const ResultSummary = z.object({
  /** R2 key of the stored result document (`GET …/result` serves it). */
  key: z.string(),
  receiptKind: z.string(),
  segments: z.number().nullable(),
  proverElapsedMs: z.number().nullable(),
  journal: Journal,
  /** Its Groth16 receipt verified in the Worker (false: VERIFY_RECEIPTS=off, or stored before). */
  verified: z.boolean().optional(),
  /**
   * The verified on-chain seal (selector ‖ seal, 260 bytes hex) and the image it proves: what a
   * claim submits. Null when the receipt was not verified; absent in jobs stored before.
   */
  seal: z
    .string()
    .nullable()
    .optional()
    .meta({ description: "The verified on-chain seal (selector ‖ seal, 260 bytes hex)." }),
  imageId: z.string().nullable().optional(),
  /** The receipt kind the gateway asked for (PROVER_RECEIPT_KIND); absent in older jobs. */
  requestedReceiptKind: z.string().nullable().optional(),
  /** The prover's own figures for the proof (numbers only); null when it gave none. */
  stats: ProofStats.nullable().optional(),
});
export type ResultSummary = z.output<typeof ResultSummary>;

/**
 * The job as its Durable Object stores it (`GET /api/proofs/jobs/:jobId` shows it as
 * `PublicJob`).
 */
export const Job = z.object({
  jobId: JobId,
  status: JobStatus,
  /** One sentence on where the proof stands and why, for the player. */
  detail: z.string(),
  /** When this tape was first posted. */
  createdAt: epochMs,
  updatedAt: epochMs,
  /** 1 for the first attempt; a repost after `failed`/`cancelled` starts the next one. */
  attempt: z.number(),
  /** When this attempt was posted: its wall-time cap and its place in line count from here. */
  attemptStartedAt: epochMs,
  /** `attemptStartedAt + MAX_JOB_WALL_TIME_MS`: no attempt lives past it. */
  wallDeadlineAt: epochMs,
  finishedAt: epochMsOrNull,
  tape: TapeInfo,
  prover: JobProverSide,
  attempts: z.object({
    /** Queue deliveries that reached the job. */
    deliveries: z.number(),
    /** Times the tape was sent to the prover. */
    submissions: z.number(),
    /** Status reads of the prover job. */
    polls: z.number(),
    /**
     * Rebuilds for a reason the tape may be to blame for (proof_error, out of memory,
     * proof_timeout, poll_timeout): at most PROVER_MAX_RECOVERIES.
     */
    recoveries: z.number(),
    /**
     * Rebuilds the prover caused (lost job, restart, internal error, stall, a result that is not a
     * proof of the tape): bounded only by the wall-time cap.
     */
    proverRebuilds: z.number(),
    /**
     * Times the guest refused the tape (`proof_error`, not out of memory) and it was tried again:
     * at most once, then the job ends `tape_rejected`. Absent in jobs stored before it existed.
     */
    rejections: z.number().optional(),
    /** Times the job's own watchdog re-sent it because the queue had not picked it up. */
    redispatches: z.number(),
  }),
  /** When the watchdog last looked for this waiting job (null: not yet). */
  watchdogCheckedAt: epochMsOrNull,
  /** Why the last recovery happened, for the player. */
  lastRecovery: JobError.nullable(),
  /**
   * The provers' verdicts against this attempt's tape, oldest first: the job is not sent to them
   * again while another prover can be had. Absent in jobs stored before it existed.
   */
  verdicts: z.array(Verdict).optional(),
  result: ResultSummary.nullable(),
  error: JobError.nullable(),
  /** Prover jobs still to be deleted on the prover (never shown a token or tape). */
  cleanup: z.array(ProverCleanup),
  /** SHA-256 of this attempt's cancel token; only the submitter (or the admin) may cancel. */
  cancelTokenHash: z.string().nullable(),
  /**
   * A hash of the client that posted this attempt (src/http/client.ts; never its address): the
   * fair line and MAX_WAITING_PER_CLIENT count by it. Absent in jobs stored before it existed.
   */
  client: z.string().nullable().optional(),
  /**
   * The Stellar address (StrKey `G…`/`C…`, checksum verified) this attempt was posted for, from
   * `x-claimant-address`: the proof's claim goes to it. Null: none given. Absent in older jobs.
   */
  claimant: z
    .string()
    .nullable()
    .optional()
    .meta({ description: "The Stellar address (G… or C…) the attempt was posted for." }),
  /** Earlier attempts, newest last. */
  history: z.array(AttemptSummary),
});
export type Job = z.output<typeof Job>;

/** The job as every answer shows it (`publicJob`): never the cancel token's hash nor the client. */
export const PublicJob = Job.omit({ cancelTokenHash: true, client: true });
export type PublicJob = z.output<typeof PublicJob>;

// --- The result document -------------------------------------------------------------------------

/**
 * A receipt verified in the Worker (src/verify/receipt.ts): what the game's on-chain claim needs.
 */
export const VerifiedReceipt = z.object({
  verified: z.literal(true),
  method: z.literal("groth16"),
  /** RISC Zero verifier parameters release the seal verified under. */
  verifierVersion: z.string(),
  /** The on-chain verifier selector (4 bytes, hex): the parameters digest's first 4 bytes. */
  selector: z.string(),
  /** selector ‖ seal: 260 bytes, hex, as the game submits it on chain. */
  seal: z.string().meta({ description: "selector ‖ Groth16 seal: the on-chain seal, hex." }),
  /** The image the seal proves ran (PROVER_EXPECTED_IMAGE_ID). */
  imageId: z.string(),
  /** The 24 journal bytes the image committed, hex. */
  journalRaw: z.string(),
  /** sha256 of those bytes, hex: the proof's identity (seals are malleable). */
  journalDigest: z.string(),
  claimDigest: z.string(),
});
export type VerifiedReceipt = z.output<typeof VerifiedReceipt>;

/** What the stored result says of its receipt: verified, or not checked (VERIFY_RECEIPTS=off). */
export const ReceiptRecord = z.union([
  VerifiedReceipt,
  z.object({ verified: z.literal(false), method: z.literal("off") }),
]);
export type ReceiptRecord = z.output<typeof ReceiptRecord>;

/** The document stored in R2 for a succeeded job (`GET …/result` serves it as is). */
export const ResultDocument = z.object({
  jobId: JobId,
  attempt: z.number(),
  tape: TapeInfo,
  proverJobId: z.string().nullable(),
  journal: Journal,
  receiptKind: z.string(),
  segments: z.number().nullable(),
  proverElapsedMs: z.number().nullable(),
  storedAt: epochMs,
  /** The verified receipt (absent in results stored before verification existed). */
  receipt: ReceiptRecord.optional(),
  /** The prover's whole status document: journal, receipt, stats. */
  prover: z.unknown().meta({ description: "The prover's whole job document." }),
  /** The Stellar address the attempt was posted for (`x-claimant-address`); null: none. */
  claimant: z.string().nullable().optional(),
  /** The receipt kind the gateway asked for; absent in documents stored before. */
  requestedReceiptKind: z.string().optional(),
});
export type ResultDocument = z.output<typeof ResultDocument>;
