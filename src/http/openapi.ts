import * as z from "zod";
import * as S from "./schemas.ts";
import { ERROR_CODES, type ErrorCodeName } from "./schemas.ts";
import type { TapeErrorCode } from "../core/tape.ts";

/**
 * `GET /api/openapi.json`: an OpenAPI 3.1 document built from the zod schemas the routes validate
 * with (src/http/schemas.ts). Components come from zod 4's `z.toJSONSchema` (JSON Schema 2020-12,
 * OpenAPI 3.1's dialect); the operations below list every route of routes.ts and admin.ts with its
 * error codes. test/unit/openapi.test.ts validates the document and checks that its operations
 * are exactly the Hono apps' routes.
 */

/** package.json `version` (a unit test keeps them equal). */
export const API_VERSION = "0.1.0";

type JsonSchema = Record<string, unknown>;

/** The named schemas under `components.schemas`; operations refer to them by `$ref`. */
const COMPONENTS = {
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

type Body = { schema: z.ZodType; contentType?: string };
type Answer = { description: string; body?: Body; extra?: Record<string, unknown> };

interface Operation {
  method: "get" | "post" | "put" | "delete";
  /** OpenAPI path template (`{jobId}`); Hono's is `:jobId`. */
  path: string;
  summary: string;
  description?: string;
  tag: "player" | "admin" | "settlement" | "meta";
  auth?: "admin" | "cancel" | "settlement";
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: { name: string; required: boolean; schema: JsonSchema; description: string }[];
  body?: Body & { description: string };
  answers: Record<number, Answer>;
  /** Error codes this route answers with (their status from ERROR_CODES). */
  errors: ErrorCodeName[];
}

/** What `parseTape` refuses (src/core/tape.ts). */
const TAPE_ERRORS = [
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
const DEPENDENCIES: ErrorCodeName[] = [
  "storage_unavailable",
  "queue_unavailable",
  "object_unavailable",
];
/** `/api/proofs/*` needs a valid config and its dependencies. */
const PLAYER: ErrorCodeName[] = ["config_invalid", ...DEPENDENCIES];
/** The admin middleware: the token, then the config; the routes' dependencies. */
const ADMIN: ErrorCodeName[] = [
  "admin_disabled",
  "unauthorized",
  "config_invalid",
  ...DEPENDENCIES,
];
/** Any route: what the framework refused, and bugs. */
const ANY: ErrorCodeName[] = ["bad_request", "internal_error"];

const json = (schema: z.ZodType): Body => ({ schema });

const OPERATIONS: Operation[] = [
  {
    method: "get",
    path: "/",
    summary: "The page: post a tape and watch its proof",
    tag: "meta",
    answers: {
      200: {
        description: "The page (HTML), served from public/ as a static asset.",
        body: { schema: z.string(), contentType: "text/html" },
      },
    },
    errors: [],
  },
  {
    method: "get",
    path: "/api/openapi.json",
    summary: "This document",
    tag: "meta",
    answers: {
      200: {
        description: "The OpenAPI 3.1 document, generated from the routes' zod schemas.",
        body: json(z.record(z.string(), z.unknown())),
      },
    },
    errors: ANY,
  },
  {
    method: "get",
    path: "/api/health",
    summary: "Whether the gateway can prove now: status, the fleet by state, the line's length",
    description:
      "Anonymous, for the game and monitors: no prover URL, job id or holder. One reading of the line per isolate every 5 s, however many ask; rate-limited per client (HEALTH_RATE_LIMITER). The full view is GET /api/admin/health.",
    tag: "player",
    answers: {
      200: {
        description: "The gateway is up (`status` says whether it can prove now).",
        body: json(S.HealthBody),
      },
      503: {
        description:
          "config_invalid: a wrangler var is invalid; `error.vars` names it (its value is not shown).",
        body: json(S.HealthConfigInvalidBody),
      },
    },
    errors: ["rate_limited", "internal_error"],
  },
  {
    method: "get",
    path: "/api/admin/health",
    summary:
      "The whole health: config, the configured prover's reading, the line with holders, margins",
    description:
      "Read afresh on every call. Answers while the config is invalid (503 with what is wrong with each var), so its own ADMIN_TOKEN check is made on that var alone.",
    tag: "admin",
    auth: "admin",
    answers: {
      200: {
        description: "The gateway is up (`status` as in GET /api/health).",
        body: json(S.AdminHealthBody),
      },
      503: {
        description: "config_invalid: `error.vars` names the bad vars, `error.message` says why.",
        body: json(S.HealthConfigInvalidBody),
      },
    },
    errors: ["admin_disabled", "unauthorized", "internal_error"],
  },
  {
    method: "post",
    path: "/api/proofs/jobs",
    summary: "Post the tape of a finished run",
    description:
      "The job id is the tape's SHA-256. Rate-limited per client (429 rate_limited) and capped at MAX_WAITING_PER_CLIENT jobs queued or proving (429 too_many_waiting).",
    tag: "player",
    headers: [
      {
        name: "x-claimant-address",
        required: false,
        schema: { type: "string", pattern: "^[GC][A-Z2-7]{55}$" },
        description:
          "The Stellar account (G…) or contract (C…) the proof is claimed for, checksum verified (400 invalid_claimant otherwise). Kept with the attempt; a post of a tape already in flight or proved keeps the first attempt's.",
      },
    ],
    body: {
      schema: S.TapeBody,
      contentType: "application/octet-stream",
      description: "The raw tape bytes (no content type is accepted too).",
    },
    answers: {
      202: {
        description:
          "A new attempt started (a new tape, or one whose job ended failed or cancelled): with its `cancel_token`, shown once.",
        body: json(S.JobAcceptedBody),
      },
      200: {
        description:
          "Identical bytes are already queued, proving or succeeded (also once the job's record was cleared, for as long as its result is kept): the job, without `cancel_token`; nothing is proved again.",
        body: json(S.JobAcceptedBody),
      },
    },
    errors: [
      ...TAPE_ERRORS,
      "invalid_claimant",
      "tape_too_large",
      "unsupported_media_type",
      "body_unreadable",
      "rate_limited",
      "too_many_waiting",
      "storage_unavailable",
      "queue_unavailable",
      ...PLAYER,
      ...ANY,
    ],
  },
  {
    method: "get",
    path: "/api/proofs/jobs/{jobId}",
    summary: "Where a proof stands, its place in line and its ETA",
    tag: "player",
    params: S.JobIdParam,
    answers: { 200: { description: "The job.", body: json(S.JobViewBody) } },
    errors: ["invalid_job_id", "job_not_found", ...PLAYER, ...ANY],
  },
  {
    method: "get",
    path: "/api/proofs/jobs/{jobId}/ws",
    summary: "Live status over a WebSocket",
    description:
      "Upgrades to a WebSocket (hibernation API) on which the job's Durable Object sends a JobSocketMessage (JSON text) at once and after every change; after a terminal status, that last message and close code 1000. A browser Origin must be the gateway's own or in CORS_ALLOWED_ORIGINS; at most 20 sockets per job.",
    tag: "player",
    params: S.JobIdParam,
    headers: [
      {
        name: "Upgrade",
        required: true,
        schema: { type: "string", const: "websocket" },
        description: "Without it: 426 upgrade_required.",
      },
    ],
    answers: {
      101: {
        description: "Switching Protocols: each message is a JobSocketMessage.",
        extra: { "x-websocket-message": { $ref: ref("JobSocketMessage") } },
      },
    },
    errors: [
      "invalid_job_id",
      "origin_forbidden",
      "upgrade_required",
      "job_not_found",
      "too_many_sockets",
      ...PLAYER,
      ...ANY,
    ],
  },
  {
    method: "delete",
    path: "/api/proofs/jobs/{jobId}",
    summary: "Cancel a queued or proving job",
    description:
      "With the attempt's `cancel_token` (or the ADMIN_TOKEN). Idempotent for a cancelled job; a job that ended otherwise answers 409 with the job.",
    tag: "player",
    auth: "cancel",
    params: S.JobIdParam,
    answers: { 200: { description: "The job, cancelled.", body: json(S.JobBody) } },
    errors: [
      "invalid_job_id",
      "cancel_forbidden",
      "job_not_found",
      "job_succeeded",
      "job_failed",
      ...PLAYER,
      ...ANY,
    ],
  },
  {
    method: "get",
    path: "/api/proofs/jobs/{jobId}/result",
    summary: "The stored result document of a succeeded job",
    tag: "player",
    params: S.JobIdParam,
    answers: {
      200: {
        description:
          "The result: journal, verified receipt (on-chain seal), the prover's document.",
        body: json(S.ResultDocument),
      },
    },
    errors: [
      "invalid_job_id",
      "job_not_found",
      "result_not_ready",
      "no_result",
      "result_not_found",
      ...PLAYER,
      ...ANY,
    ],
  },
  {
    method: "put",
    path: "/api/settlement/jobs/{jobId}/claim",
    summary: "Report how a proof's on-chain claim is going",
    description:
      "For the settlement service told of each proof by the completion webhook. Kept beside the result in R2 (it outlives the job's record), shown as `claim` in the job's views and pushed on its sockets. A claim that succeeded is settled: the same report again is accepted, another answers 409 claim_settled.",
    tag: "settlement",
    auth: "settlement",
    params: S.JobIdParam,
    body: { ...json(S.ClaimReportBody), description: "The claim's status, transaction, error." },
    answers: { 200: { description: "The claim as now kept.", body: json(S.ClaimBody) } },
    errors: [
      "settlement_disabled",
      "unauthorized",
      "config_invalid",
      "invalid_job_id",
      "body_too_large",
      "invalid_body",
      "job_not_found",
      "result_not_ready",
      "no_result",
      "claim_settled",
      ...DEPENDENCIES,
      ...ANY,
    ],
  },
  {
    method: "get",
    path: "/api/admin/jobs",
    summary: "Recent jobs, newest first",
    tag: "admin",
    auth: "admin",
    query: S.AdminJobsQuery,
    answers: { 200: { description: "One page.", body: json(S.AdminJobsBody) } },
    errors: ["invalid_status", "invalid_limit", "invalid_cursor", ...ADMIN, ...ANY],
  },
  {
    method: "get",
    path: "/api/admin/jobs/{jobId}",
    summary: "One job in full",
    tag: "admin",
    auth: "admin",
    params: S.JobIdParam,
    answers: { 200: { description: "The job.", body: json(S.JobBody) } },
    errors: ["invalid_job_id", "job_not_found", ...ADMIN, ...ANY],
  },
  {
    method: "post",
    path: "/api/admin/jobs/{jobId}/redrive",
    summary: "A fresh attempt for a failed or cancelled job, from its stored tape",
    tag: "admin",
    auth: "admin",
    params: S.JobIdParam,
    answers: {
      202: {
        description: "The new attempt, with its cancel_token.",
        body: json(S.RedriveBody),
      },
    },
    errors: [
      "invalid_job_id",
      "job_not_found",
      "job_not_redrivable",
      "tape_missing",
      "queue_unavailable",
      ...ADMIN,
      ...ANY,
    ],
  },
  {
    method: "get",
    path: "/api/admin/provers",
    summary: "Every prover of the fleet",
    tag: "admin",
    auth: "admin",
    answers: { 200: { description: "The fleet.", body: json(S.ProversBody) } },
    errors: [...ADMIN, ...ANY],
  },
  {
    method: "post",
    path: "/api/admin/provers",
    summary: "Add a prover at runtime",
    tag: "admin",
    auth: "admin",
    body: { schema: S.AdminProverBody, description: "The prover's origin." },
    answers: { 201: { description: "The prover, added.", body: json(S.ProverBody) } },
    errors: ["invalid_body", "invalid_prover_url", "prover_exists", ...ADMIN, ...ANY],
  },
  {
    method: "post",
    path: "/api/admin/provers/{id}/drain",
    summary: "Drain a prover: it finishes its proof and gets no new one",
    tag: "admin",
    auth: "admin",
    params: S.ProverIdParam,
    answers: { 200: { description: "The prover.", body: json(S.ProverBody) } },
    errors: ["prover_not_found", ...ADMIN, ...ANY],
  },
  {
    method: "post",
    path: "/api/admin/provers/{id}/resume",
    summary: "Resume a drained or quarantined prover (its contradictions start again)",
    tag: "admin",
    auth: "admin",
    params: S.ProverIdParam,
    answers: { 200: { description: "The prover.", body: json(S.ProverBody) } },
    errors: ["prover_not_found", ...ADMIN, ...ANY],
  },
  {
    method: "delete",
    path: "/api/admin/provers/{id}",
    summary: "Remove a runtime-added, idle prover",
    tag: "admin",
    auth: "admin",
    params: S.ProverIdParam,
    answers: { 200: { description: "The prover, removed.", body: json(S.ProverBody) } },
    errors: ["prover_not_found", "prover_proving", "prover_configured", ...ADMIN, ...ANY],
  },
];

function ref(name: keyof typeof COMPONENTS): string {
  return `#/components/schemas/${name}`;
}

const registry = z.registry<{ id: string }>();
for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });

/** A component by `$ref`; any other schema inline (it may not contain a component). */
function schemaOf(schema: z.ZodType): JsonSchema {
  const id = registry.get(schema)?.id;
  if (id) return { $ref: ref(id as keyof typeof COMPONENTS) };
  const { $schema: _, ...inline } = z.toJSONSchema(schema, {
    io: "input",
    override: ({ zodSchema }) => {
      const inner = registry.get(zodSchema as unknown as z.ZodType)?.id;
      if (inner) throw new Error(`an inline schema contains the component ${inner}: refer to it`);
    },
  }) as JsonSchema;
  return inline;
}

/** The method and the path's words (`getApiProofsJobsJobIdResult`); `/` is `getPage`. */
const operationId = (op: Operation) =>
  op.method +
  (op.path
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("") || "Page");

function content(body: Body) {
  return { [body.contentType ?? "application/json"]: { schema: schemaOf(body.schema) } };
}

function parameters(op: Operation) {
  const out: Record<string, unknown>[] = [];
  const add = (where: "path" | "query", shape: z.ZodObject) => {
    for (const [name, s] of Object.entries(shape.shape as Record<string, z.ZodType>)) {
      const optional = s.safeParse(undefined).success;
      const description = s.meta()?.description;
      out.push({
        name,
        in: where,
        required: where === "path" || !optional,
        ...(description ? { description } : {}),
        schema: schemaOf(s),
      });
    }
  };
  if (op.params) add("path", op.params);
  if (op.query) add("query", op.query);
  for (const h of op.headers ?? []) out.push({ in: "header", ...h });
  return out;
}

/** The error responses of one route, one per status, with its codes as the `code` enum. */
function errorResponses(codes: ErrorCodeName[]) {
  const byStatus = new Map<number, ErrorCodeName[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CODES[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, unknown> = {};
  for (const [status, list] of byStatus) {
    const headers: Record<string, unknown> = {};
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
              { $ref: ref("Error") },
              { properties: { error: { properties: { code: { enum: list } } } } },
            ],
          },
        },
      },
    };
  }
  return out;
}

function operation(op: Operation) {
  const responses: Record<string, unknown> = {};
  for (const [status, a] of Object.entries(op.answers)) {
    responses[status] = {
      description: a.description,
      ...(a.body ? { content: content(a.body) } : {}),
      ...a.extra,
    };
  }
  Object.assign(responses, errorResponses(op.errors));
  const params = parameters(op);
  return {
    operationId: operationId(op),
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [op.tag],
    ...(op.auth === "admin" ? { security: [{ adminToken: [] }] } : {}),
    ...(op.auth === "cancel" ? { security: [{ cancelToken: [] }, { adminToken: [] }] } : {}),
    ...(op.auth === "settlement" ? { security: [{ settlementToken: [] }] } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            description: op.body.description,
            content: content(op.body),
          },
        }
      : {}),
    responses,
  };
}

function build() {
  const { schemas } = z.toJSONSchema(registry, {
    io: "input",
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  for (const s of Object.values(schemas)) {
    // Each component is a schema inside this document, not a document of its own.
    delete s.$schema;
    delete s.$id;
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method] = operation(op);
  return {
    openapi: "3.1.0",
    info: {
      title: "Proof gateway",
      version: API_VERSION,
      description:
        "Proves Asteroids tapes on a fleet of RISC Zero GPU provers. Every error is `{success:false,error:{code,message}}` with a stable `code`; a path no route matches answers 404 not_found. Generated from src/http/schemas.ts by src/http/openapi.ts.",
    },
    tags: [
      { name: "player", description: "The game's routes (CORS for CORS_ALLOWED_ORIGINS)." },
      { name: "admin", description: "The operator API: Authorization: Bearer <ADMIN_TOKEN>." },
      {
        name: "settlement",
        description: "The settlement service's reports: Authorization: Bearer <SETTLEMENT_TOKEN>.",
      },
      { name: "meta", description: "The page and this document." },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: {
        adminToken: {
          type: "http",
          scheme: "bearer",
          description: "ADMIN_TOKEN (a secret; unset: the admin API answers 403 admin_disabled).",
        },
        settlementToken: {
          type: "http",
          scheme: "bearer",
          description:
            "SETTLEMENT_TOKEN (a secret; unset: the settlement route answers 403 settlement_disabled).",
        },
        cancelToken: {
          type: "http",
          scheme: "bearer",
          description: "The `cancel_token` of the 202 that started the job's current attempt.",
        },
      },
    },
  };
}

let built: ReturnType<typeof build> | undefined;

/** The document (built once per isolate). */
export function openApiDocument(): ReturnType<typeof build> {
  return (built ??= build());
}
