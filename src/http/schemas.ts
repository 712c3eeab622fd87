import * as z from "zod";
import { CLAIM_STATUSES, MAX_CLAIM_ERROR_CHARS } from "../core/claim.ts";
import { JOB_ID_PATTERN, JOB_STATUSES } from "../core/job.ts";

/**
 * The HTTP API's shapes, as zod schemas: the routes validate requests with them and
 * `src/http/openapi.ts` turns all of them into `GET /api/openapi.json`. Response schemas mirror
 * the TypeScript types (src/core/job.ts, src/core/estimate.ts, src/objects/*): type-level tests
 * keep them equal (test/unit/openapi.test.ts, test/integration/openapi.test.ts).
 */

// --- Error codes ---------------------------------------------------------------------------------

/**
 * Every `error.code` the HTTP API answers with, and its HTTP status: README's "Error codes" table,
 * row for row (test/unit/openapi.test.ts compares them).
 */
export const ERROR_CODES = {
  tape_empty: 400,
  tape_truncated: 400,
  bad_magic: 400,
  unsupported_version: 400,
  unsupported_rules: 400,
  reserved_bytes_set: 400,
  too_many_frames: 400,
  length_mismatch: 400,
  reserved_input_bits_set: 400,
  checksum_mismatch: 400,
  zero_score: 400,
  tape_too_large: 413,
  unsupported_media_type: 415,
  body_unreadable: 400,
  invalid_job_id: 400,
  cancel_forbidden: 403,
  job_succeeded: 409,
  job_failed: 409,
  job_not_found: 404,
  result_not_ready: 409,
  no_result: 409,
  result_not_found: 404,
  rate_limited: 429,
  upgrade_required: 426,
  origin_forbidden: 403,
  too_many_sockets: 429,
  too_many_waiting: 429,
  invalid_claimant: 400,
  settlement_disabled: 403,
  claim_settled: 409,
  body_too_large: 413,
  unauthorized: 401,
  admin_disabled: 403,
  invalid_status: 400,
  invalid_limit: 400,
  invalid_cursor: 400,
  job_not_redrivable: 409,
  tape_missing: 409,
  invalid_body: 400,
  invalid_prover_url: 400,
  prover_exists: 409,
  prover_not_found: 404,
  prover_proving: 409,
  prover_configured: 409,
  not_found: 404,
  config_invalid: 503,
  queue_unavailable: 503,
  storage_unavailable: 503,
  object_unavailable: 503,
  bad_request: 400,
  internal_error: 500,
} as const;

export type ErrorCodeName = keyof typeof ERROR_CODES;
export const ErrorCode = z.enum(Object.keys(ERROR_CODES) as [ErrorCodeName, ...ErrorCodeName[]]);

// --- Requests ------------------------------------------------------------------------------------

/** A job id: the lowercase hex SHA-256 of the tape. */
export const JobId = z.string().regex(JOB_ID_PATTERN).meta({
  description: "The job id: the lowercase hex SHA-256 of the tape bytes (64 characters).",
});

export const JobIdParam = z.object({ jobId: JobId });

export const ProverIdParam = z.object({
  id: z.string().min(1).meta({ description: "A prover's id (its host and port, made URL-safe)." }),
});

/** `GET /api/admin/jobs` pages. */
export const ADMIN_PAGE = { default: 20, max: 100 } as const;

/**
 * `GET /api/admin/jobs?status=&limit=&cursor=`. The cursor is opaque here: `parseCursor`
 * (src/objects/job-index.ts) decides whether it is one of ours.
 */
export const AdminJobsQuery = z.object({
  status: z.enum(JOB_STATUSES).optional().meta({ description: "Only jobs in this status." }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(ADMIN_PAGE.max)
    .default(ADMIN_PAGE.default)
    .meta({ description: "Jobs per page." }),
  cursor: z.string().optional().meta({ description: "`next_cursor` of the page before (opaque)." }),
});

/** What a runtime prover's own key may be: a header value, 1–512 visible ASCII characters. */
export const PROVER_API_KEY_RULE = /^[\x21-\x7e]{1,512}$/;

/** `POST /api/admin/provers`; the URL must pass the PROVER_BASE_URL rules, `checkProverUrl`. */
export const AdminProverBody = z.object({
  url: z.string().meta({
    description:
      "The prover's origin: absolute http(s), no path; https unless loopback or ALLOW_INSECURE_PROVER_URL=1.",
    examples: ["https://gpu-3.example"],
  }),
  apiKey: z.string().regex(PROVER_API_KEY_RULE).optional().meta({
    description:
      "The prover's own API key (1–512 visible ASCII characters), sent as x-api-key on its /api/* calls only. Kept by the gateway, never returned or logged. Absent: the prover gets no key (PROVER_API_KEY goes only to configured provers).",
    writeOnly: true,
  }),
});

/** `POST /api/proofs/jobs`: the raw tape bytes (the tape format is checked by `parseTape`). */
export const TapeBody = z.string().meta({
  format: "binary",
  contentMediaType: "application/octet-stream",
  description: "The raw tape bytes of a finished run (at most MAX_TAPE_BYTES).",
});

// --- The job (src/core/job.ts) -------------------------------------------------------------------

const epochMs = z.number().meta({ description: "Unix epoch milliseconds." });
const epochMsOrNull = epochMs.nullable();

export const JobError = z.object({
  code: z.string(),
  message: z.string(),
  unconfirmed: z.boolean().optional().meta({
    description: "A verdict against the tape only one prover gave: it stands, unconfirmed.",
  }),
});

/** One prover's verdict against the attempt's tape (`Verdict`, src/core/job.ts). */
export const Verdict = z.object({
  url: z.string(),
  code: z.string(),
  kind: z.enum(["refused", "lied"]),
  at: epochMs,
});

export const TapeInfo = z.object({
  sha256: z.string(),
  sizeBytes: z.number(),
  seed: z.number(),
  frameCount: z.number(),
  finalScore: z.number(),
  finalRngState: z.number(),
  checksum: z.number(),
});

export const JobProver = z.object({
  url: z.string().nullable(),
  jobId: z.string().nullable(),
  status: z.enum(["queued", "running", "succeeded", "failed"]).nullable(),
  acceptedAt: epochMsOrNull,
  pollDeadlineAt: epochMsOrNull,
  expectedEndAt: epochMsOrNull.optional(),
  lastPolledAt: epochMsOrNull,
  consecutivePollFailures: z.number(),
  firstFailedPollAt: epochMsOrNull,
  segmentLimitPo2: z.number(),
  lastError: JobError.nullable(),
});

export const ProverCleanup = z.object({
  url: z.string(),
  proverJobId: z.string(),
  reason: z.string(),
  nextAt: epochMs,
  until: epochMs,
  tries: z.number(),
});

export const JobStatus = z.enum(JOB_STATUSES);

export const AttemptSummary = z.object({
  attempt: z.number(),
  startedAt: epochMs,
  finishedAt: epochMsOrNull,
  status: JobStatus,
  error: JobError.nullable(),
  recoveries: z.number(),
});

export const Journal = z.object({
  seed: z.number(),
  frame_count: z.number(),
  final_score: z.number(),
  final_rng_state: z.number(),
  tape_checksum: z.number(),
  rules_digest: z.number(),
});

export const ProofStats = z.object({
  segments: z.number(),
  total_cycles: z.number(),
  user_cycles: z.number(),
  paging_cycles: z.number(),
  reserved_cycles: z.number(),
});

export const ResultSummary = z.object({
  key: z.string(),
  receiptKind: z.string(),
  segments: z.number().nullable(),
  proverElapsedMs: z.number().nullable(),
  journal: Journal,
  verified: z.boolean().optional(),
  seal: z
    .string()
    .nullable()
    .optional()
    .meta({ description: "The verified on-chain seal (selector ‖ seal, 260 bytes hex)." }),
  imageId: z.string().nullable().optional(),
  requestedReceiptKind: z.string().nullable().optional(),
  stats: ProofStats.nullable().optional(),
});

/** The job as its Durable Object stores it (`Job`); players see `PublicJob`. */
export const Job = z.object({
  jobId: JobId,
  status: JobStatus,
  detail: z.string(),
  createdAt: epochMs,
  updatedAt: epochMs,
  attempt: z.number(),
  attemptStartedAt: epochMs,
  wallDeadlineAt: epochMs,
  finishedAt: epochMsOrNull,
  tape: TapeInfo,
  prover: JobProver,
  attempts: z.object({
    deliveries: z.number(),
    submissions: z.number(),
    polls: z.number(),
    recoveries: z.number(),
    proverRebuilds: z.number(),
    rejections: z.number().optional(),
    redispatches: z.number(),
  }),
  watchdogCheckedAt: epochMsOrNull,
  lastRecovery: JobError.nullable(),
  verdicts: z.array(Verdict).optional(),
  result: ResultSummary.nullable(),
  error: JobError.nullable(),
  cleanup: z.array(ProverCleanup),
  cancelTokenHash: z.string().nullable(),
  client: z.string().nullable().optional(),
  claimant: z
    .string()
    .nullable()
    .optional()
    .meta({ description: "The Stellar address (G… or C…) the attempt was posted for." }),
  history: z.array(AttemptSummary),
});

/** The job as every answer shows it (`publicJob`): never the cancel token's hash nor the client. */
export const PublicJob = Job.omit({ cancelTokenHash: true, client: true });

// --- The result document -------------------------------------------------------------------------

export const VerifiedReceipt = z.object({
  verified: z.literal(true),
  method: z.literal("groth16"),
  verifierVersion: z.string(),
  selector: z.string(),
  seal: z.string().meta({ description: "selector ‖ Groth16 seal: the on-chain seal, hex." }),
  imageId: z.string(),
  journalRaw: z.string(),
  journalDigest: z.string(),
  claimDigest: z.string(),
});

export const ReceiptRecord = z.union([
  VerifiedReceipt,
  z.object({ verified: z.literal(false), method: z.literal("off") }),
]);

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
  receipt: ReceiptRecord.optional(),
  prover: z.unknown().meta({ description: "The prover's whole job document." }),
  claimant: z.string().nullable().optional(),
  requestedReceiptKind: z.string().optional(),
});

// --- The claim (src/core/claim.ts) ---------------------------------------------------------------

export const ClaimStatus = z.enum(CLAIM_STATUSES);

export const Claim = z.object({
  status: ClaimStatus,
  claimant: z.string().nullable(),
  txHash: z.string().nullable(),
  error: z.string().nullable(),
  attempts: z.number(),
  submittedAt: epochMsOrNull,
  updatedAt: epochMs,
});

export const Settlement = z.enum(["automatic", "none"]).meta({
  description:
    "automatic: a settlement service (WEBHOOK_URL + SETTLEMENT_TOKEN) claims proofs for their players; none: players claim from their wallets.",
});

/** `PUT /api/settlement/jobs/:jobId/claim`: the settlement service's report. */
export const ClaimReportBody = z.strictObject({
  status: ClaimStatus,
  txHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/, "txHash must be the transaction's 64 lowercase hex characters")
    .nullable()
    .optional(),
  error: z.string().max(MAX_CLAIM_ERROR_CHARS).nullable().optional(),
});

export const ClaimBody = z.object({ success: z.literal(true), claim: Claim });

// --- Player answers ------------------------------------------------------------------------------

export const Estimate = z.object({
  startAt: epochMsOrNull,
  finishAt: epochMs,
  basis: z.enum(["measured", "default"]),
});

export const QueuePlace = z.object({
  ahead: z.number().meta({ description: "Jobs served before this one (0: next)." }),
});

/** `GET /api/proofs/jobs/:jobId`. */
export const JobViewBody = z.object({
  success: z.literal(true),
  job: PublicJob,
  queue: QueuePlace.nullable(),
  estimate: Estimate.nullable(),
  claim: Claim.nullable(),
  settlement: Settlement,
});

/** One message on `GET /api/proofs/jobs/:jobId/ws` (`socketMessage`). */
export const JobSocketMessage = JobViewBody.omit({ success: true }).extend({
  type: z.literal("job"),
});

/**
 * `POST /api/proofs/jobs`: the 202 carries a `cancel_token` (shown once), the 200 does not (and,
 * for a proof whose record was cleared, carries `queue` too).
 */
export const JobAcceptedBody = z.object({
  success: z.literal(true),
  status_url: z.string(),
  cancel_token: z.string().optional(),
  job: PublicJob,
  queue: QueuePlace.nullable().optional(),
  estimate: Estimate.nullable(),
  claim: Claim.nullable(),
  settlement: Settlement,
});

/** `POST /api/admin/jobs/:jobId/redrive` (202): the new attempt and its cancel token. */
export const RedriveBody = JobAcceptedBody.omit({
  estimate: true,
  queue: true,
  claim: true,
  settlement: true,
}).extend({
  cancel_token: z.string(),
});

/** `DELETE /api/proofs/jobs/:jobId`, `GET /api/admin/jobs/:jobId`. */
export const JobBody = z.object({ success: z.literal(true), job: PublicJob });

// --- Health --------------------------------------------------------------------------------------

export const HealthReading = z.object({
  reachable: z.boolean(),
  compatible: z.boolean(),
  problems: z.array(z.string()),
  accelerator: z.string().nullable(),
  imageId: z.string().nullable(),
  devMode: z.boolean().nullable(),
});

/** A figure of observed proofs; null until there are any. */
const figure = z.number().nullable();

export const TimeoutMargins = z.object({
  proofs: z.number(),
  proofMs: z.object({ p95: figure, max: figure }),
  ofPollTimeout: z.object({ p95: figure, max: figure }),
  ofWallTime: z.object({ p95: figure, max: figure }),
  warnings: z.array(z.string()),
});

export const PROVER_STATES = [
  "proving",
  "available",
  "busy",
  "open",
  "draining",
  "unreachable",
  "incompatible",
  "cpu",
  "dev_mode",
  "unchecked",
  "quarantined",
] as const;
export const ProverState = z.enum(PROVER_STATES);

export const LineSummary = z.object({
  waiting: z.number(),
  slots: z.array(
    z.object({
      url: z.string(),
      holder: z.string().nullable(),
      heldSince: epochMsOrNull,
      cooldownUntil: epochMs,
    }),
  ),
  provers: z.partialRecord(ProverState, z.number()),
  timeouts: TimeoutMargins,
  calls: z.record(z.string(), z.number()),
});

/** `GET /api/admin/health`: the whole picture, for operators. */
export const AdminHealthBody = z.object({
  success: z.literal(true),
  status: z.enum(["ok", "degraded"]).meta({
    description: "ok while at least one prover is available, proving, busy or unchecked.",
  }),
  config: z.record(z.string(), z.unknown()).meta({ description: "The parsed config, no secrets." }),
  prover: HealthReading.extend({
    url: z.string(),
    busy: z.boolean().nullable(),
    checkedAt: epochMs,
  }).meta({ description: "PROVER_BASE_URL's own /health reading (cached 15 s per isolate)." }),
  line: LineSummary.nullable(),
  warnings: z.array(z.string()),
});

/** `GET /api/health`: what anyone may know (no URL, job id or holder), cached 5 s per isolate. */
export const HealthBody = z.object({
  success: z.literal(true),
  status: z.enum(["ok", "degraded"]).meta({
    description:
      "ok while at least one prover is available, proving, busy (resting after a 429) or unchecked (read again before its next job); degraded otherwise, or when the line cannot be read.",
  }),
  config: z.object({
    valid: z.literal(true),
    proverExpectedImageId: z.string().nullable().meta({
      description: "The guest image every receipt must prove (PROVER_EXPECTED_IMAGE_ID).",
    }),
    verifyReceipts: z.string().meta({ description: "VERIFY_RECEIPTS: groth16 or off." }),
  }),
  line: z
    .object({
      waiting: z.number().meta({ description: "Jobs waiting in line for a prover." }),
      provers: z.partialRecord(ProverState, z.number()).meta({
        description: "How many provers are in each state.",
      }),
    })
    .nullable()
    .meta({ description: "Null when the line could not be read (status degraded)." }),
  checkedAt: epochMs.meta({ description: "When this reading of the fleet was taken." }),
});

/**
 * `/api/health` and `/api/admin/health` with an invalid config (503): the public view's message
 * names the vars only, the admin view's says what is wrong with each.
 */
export const HealthConfigInvalidBody = z.object({
  success: z.literal(false),
  status: z.literal("config_invalid"),
  error: z.object({
    code: z.literal("config_invalid"),
    message: z.string(),
    vars: z.array(z.string()),
  }),
});

// --- Admin ---------------------------------------------------------------------------------------

export const IndexedJob = z.object({
  jobId: JobId,
  status: JobStatus,
  attempt: z.number(),
  attemptStartedAt: epochMs,
  updatedAt: epochMs,
  errorCode: z.string().nullable(),
});

export const AdminJobsBody = z.object({
  success: z.literal(true),
  jobs: z.array(IndexedJob),
  next_cursor: z.string().nullable(),
});

export const Speed = z.object({
  proofs: z.number(),
  msPer1000Frames: z.object({ median: figure, p95: figure }),
  proofMs: z.object({ median: figure, p95: figure, max: figure }),
});

/** A prover as the admin API shows it (`ProverView`, src/objects/prover-dispatcher.ts). */
export const ProverView = z.object({
  id: z.string(),
  url: z.string(),
  state: ProverState,
  why: z.string(),
  source: z.enum(["config", "runtime"]),
  job: z.string().nullable(),
  heldSince: epochMsOrNull,
  health: HealthReading.extend({ checkedAt: epochMsOrNull }).nullable(),
  circuit: z.object({
    failures: z.number(),
    openUntil: epochMsOrNull,
    opens: z.number(),
    lastError: z.string().nullable(),
  }),
  counts: z.object({
    granted: z.number(),
    faults: z.number(),
    busy: z.number(),
    contradictions: z.number().meta({ description: "Its verdicts found false, ever." }),
  }),
  quarantine: z
    .object({
      since: epochMs,
      reason: z.string(),
      contradictions: z.number(),
      jobs: z.array(z.string()).meta({ description: "The jobs whose verdicts were contradicted." }),
    })
    .nullable()
    .meta({ description: "Quarantined: no work until an operator resumes it." }),
  speed: Speed,
});

export const ProversBody = z.object({ success: z.literal(true), provers: z.array(ProverView) });
export const ProverBody = z.object({ success: z.literal(true), prover: ProverView });

// --- Errors --------------------------------------------------------------------------------------

/** Every error: `{success:false,error:{code,message}}`; some 409s add the job or the prover. */
export const ErrorBody = z.object({
  success: z.literal(false),
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    vars: z.array(z.string()).optional().meta({ description: "config_invalid: the bad vars." }),
  }),
  job: PublicJob.optional().meta({ description: "job_succeeded, job_failed, job_not_redrivable." }),
  prover: ProverView.optional().meta({
    description: "prover_exists, prover_proving, prover_configured.",
  }),
});
