import type { RouteConfig } from "@hono/zod-openapi";
import * as z from "zod";
import { ERROR_CODES, type ErrorCodeName } from "../core/error-codes.ts";
import type { TapeErrorCode } from "../core/tape.ts";
import * as S from "./schemas.ts";

/**
 * What the routes' declarations (`createRoute`, in routes.ts, admin.ts, settlement.ts) are made
 * of: the named schemas they refer to, their answers and their error codes. src/http/openapi.ts
 * turns the declarations into `GET /api/openapi.json`.
 */

/** The named schemas under `components.schemas`; the document refers to them by `$ref`. */
export const COMPONENTS = {
  Job: S.PublicJob,
  JobId: S.JobId,
  JobStatus: S.JobStatus,
  JobError: S.JobError,
  TapeInfo: S.TapeInfo,
  JobProver: S.JobProver,
  ProverCleanup: S.ProverCleanup,
  AttemptSummary: S.AttemptSummary,
  Journal: S.Journal,
  ResultSummary: S.ResultSummary,
  Estimate: S.Estimate,
  QueuePlace: S.QueuePlace,
  JobView: S.JobViewBody,
  JobAccepted: S.JobAcceptedBody,
  Redriven: S.RedriveBody,
  JobAnswer: S.JobBody,
  JobSocketMessage: S.JobSocketMessage,
  VerifiedReceipt: S.VerifiedReceipt,
  ReceiptRecord: S.ReceiptRecord,
  ResultDocument: S.ResultDocument,
  ErrorCode: S.ErrorCode,
  Error: S.ErrorBody,
  Health: S.HealthBody,
  AdminHealth: S.AdminHealthBody,
  HealthConfigInvalid: S.HealthConfigInvalidBody,
  HealthReading: S.HealthReading,
  LineSummary: S.LineSummary,
  TimeoutMargins: S.TimeoutMargins,
  IndexedJob: S.IndexedJob,
  AdminJobsPage: S.AdminJobsBody,
  AdminProverBody: S.AdminProverBody,
  ProverState: S.ProverState,
  ProverView: S.ProverView,
  Speed: S.Speed,
  ProversList: S.ProversBody,
  ProverAnswer: S.ProverBody,
  Tape: S.TapeBody,
  ProofStats: S.ProofStats,
  Claim: S.Claim,
  ClaimStatus: S.ClaimStatus,
  ClaimReport: S.ClaimReportBody,
  ClaimAnswer: S.ClaimBody,
  Settlement: S.Settlement,
} satisfies Record<string, z.ZodType>;

export type ComponentName = keyof typeof COMPONENTS;

export const components = z.registry<{ id: string }>();
for (const [id, schema] of Object.entries(COMPONENTS)) components.add(schema, { id });

export const ref = (name: ComponentName) => ({ $ref: `#/components/schemas/${name}` });

/**
 * A JSON body the handler reads and checks itself (with a size cap and its own error codes,
 * before any framework parser), declared by its component: a zod schema here would make the
 * framework parse and validate it first.
 */
export function readByHandler(schema: z.ZodType) {
  const id = components.get(schema)?.id;
  if (!id) throw new Error("a body the handler reads must be a component");
  return ref(id as ComponentName);
}

type ResponseConfig = Exclude<RouteConfig["responses"][string], { $ref: string }>;

/** Every answer of a route: its successes, then one error answer per status of its codes. */
export type Answers = Record<string, ResponseConfig>;

export const json = (description: string, schema: z.ZodType): ResponseConfig => ({
  description,
  content: { "application/json": { schema } },
});

/** What `parseTape` refuses (src/core/tape.ts). */
export const TAPE_ERRORS = [
  "tape_empty",
  "tape_truncated",
  "bad_magic",
  "unsupported_version",
  "unsupported_rules",
  "reserved_bytes_set",
  "too_many_frames",
  "length_mismatch",
  "reserved_input_bits_set",
  "checksum_mismatch",
  "zero_score",
] as const satisfies readonly (TapeErrorCode & ErrorCodeName)[];
/** R2, a queue or a Durable Object failed (src/http/bindings.ts): 503 with Retry-After. */
export const DEPENDENCIES: ErrorCodeName[] = [
  "storage_unavailable",
  "queue_unavailable",
  "object_unavailable",
];
/** `/api/proofs/*` needs a valid config and its dependencies. */
export const PLAYER: ErrorCodeName[] = ["config_invalid", ...DEPENDENCIES];
/** The admin middleware: the token, then the config; the routes' dependencies. */
export const ADMIN: ErrorCodeName[] = [
  "admin_disabled",
  "unauthorized",
  "config_invalid",
  ...DEPENDENCIES,
];
/** Any route: what the framework refused, and bugs. */
export const ANY: ErrorCodeName[] = ["bad_request", "internal_error"];

/** A route's answers: `ok` by status, and its error codes, one answer per status. */
export function answers(ok: Answers, codes: ErrorCodeName[]): Answers {
  const byStatus = new Map<number, ErrorCodeName[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CODES[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Answers = { ...ok };
  for (const [status, list] of byStatus) {
    const headers: Record<string, { description: string; schema: { type: "integer" | "string" } }> =
      {};
    if (
      list.includes("rate_limited") ||
      list.includes("too_many_waiting") ||
      list.some((code) => DEPENDENCIES.includes(code))
    ) {
      headers["Retry-After"] = { description: "Seconds to wait.", schema: { type: "integer" } };
    }
    if (list.includes("unauthorized")) {
      headers["WWW-Authenticate"] = {
        description: 'Bearer realm="admin"',
        schema: { type: "string" },
      };
    }
    out[String(status)] = {
      description: list.join(", "),
      ...(Object.keys(headers).length ? { headers } : {}),
      content: {
        "application/json": {
          schema: {
            allOf: [
              ref("Error"),
              { properties: { error: { properties: { code: { enum: list } } } } },
            ],
          },
        },
      },
    };
  }
  return out;
}

/** Who may call a route: `Authorization: Bearer` with one of these tokens. */
export const SECURITY: Record<"admin" | "cancel" | "settlement", Record<string, string[]>[]> = {
  admin: [{ adminToken: [] }],
  cancel: [{ cancelToken: [] }, { adminToken: [] }],
  settlement: [{ settlementToken: [] }],
};
