import * as z from "zod";
import { MAX_CLAIM_ERROR_CHARS } from "../core/claim.ts";
import { ErrorCode } from "../core/error-codes.ts";
import { epochMs, JOB_STATUSES, JobId, PublicJob } from "../core/schemas/job.ts";
import { Claim, ClaimStatus, Estimate, QueuePlace, Settlement } from "../core/schemas/view.ts";
import {
  HealthReading,
  IndexedJob,
  LineSummary,
  ProverState,
  ProverView,
} from "../core/schemas/fleet.ts";

/**
 * The HTTP API's requests and answers, as zod schemas: the routes declare them
 * (src/http/routes.ts, admin.ts, settlement.ts) and `src/http/openapi.ts` turns them into
 * `GET /api/openapi.json`. The shapes inside them (the job, the claim, the fleet) are the core's
 * (src/core/schemas/), whose types the code uses; the error codes are src/core/error-codes.ts.
 */

export { ERROR_CODES, ErrorCode, type ErrorCodeName } from "../core/error-codes.ts";
export * from "../core/schemas/job.ts";
export * from "../core/schemas/view.ts";
export * from "../core/schemas/fleet.ts";
/** The job's prover side, by the name the document gives it. */
export { JobProverSide as JobProver } from "../core/schemas/job.ts";

// --- Requests ------------------------------------------------------------------------------------

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

export const AdminJobsBody = z.object({
  success: z.literal(true),
  jobs: z.array(IndexedJob),
  next_cursor: z.string().nullable(),
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
