import * as z from "zod";
import {
  bearerSecret,
  blankToUndefined,
  browserOrigins,
  flag,
  imageId,
  int,
  keyMap,
  MAX_POLL_BUDGET_MS,
  MAX_WEBHOOK_RETRY_WINDOW_MS,
  ms,
  oneOf,
  optionalOrigin,
  optionalString,
  optionalUrl,
  PROVER_MAX_TAPE_BYTES,
  proverOrigin,
  proverOrigins,
  QUEUE_MAX_DELAY_SECONDS,
} from "./var-schemas.ts";

export { blankToUndefined, MAX_WEBHOOK_RETRY_WINDOW_MS, PROVER_MAX_TAPE_BYTES };

/**
 * Every wrangler var, once: its `Config` key, its group, its schema (default and bounds) and what
 * it is for. `config.ts` derives the `Config` type, the zod object and `parseConfig` from this
 * list, `npm run timeouts` its table and `npm run docs` the README's var table; adding a var is
 * one entry here. Bounds are wide on purpose (tests and local runs use hundreds of
 * milliseconds); the cross-field rules in `config.ts` are what keep the timeouts nested sensibly.
 */

export type VarGroup = "prover" | "timeout" | "retry" | "limit" | "secret" | "webhook";

interface VarSpec {
  /** Its field in `Config`; null: read only by the cross-field checks. */
  key: string | null;
  group: VarGroup;
  /** Built with the var's name, which its error messages quote. */
  schema: (name: string) => z.ZodType;
  /** One sentence: `npm run timeouts` and the README's var table (`npm run docs`) show it. */
  meaning: string;
}

// The order is the `npm run timeouts` table's (and the order errors are reported in).
export const VARS = {
  PROVER_BASE_URL: {
    key: "proverBaseUrl",
    group: "prover",
    schema: proverOrigin,
    meaning:
      "The fleet's first prover: its origin, https unless loopback or ALLOW_INSECURE_PROVER_URL=1 (wrangler.jsonc names the dev prover: set it for production).",
  },
  PROVER_BASE_URLS: {
    key: "proverBaseUrls",
    group: "prover",
    schema: proverOrigins,
    meaning:
      "More provers for the fleet, comma-separated origins under the same rules; with PROVER_BASE_URL they are the configured provers (operators add more at runtime).",
  },
  ALLOW_INSECURE_PROVER_URL: {
    key: "allowInsecureProverUrl",
    group: "prover",
    schema: () => z.preprocess(blankToUndefined, z.enum(["0", "1"]).default("0")),
    meaning: "1 allows plain http to a non-loopback prover.",
  },
  PROVER_ALLOW_CPU: {
    key: "allowCpu",
    group: "prover",
    schema: flag,
    meaning:
      "1 lets a prover whose /health says accelerator cpu get work (the dev prover, CI); 0: such a prover (a GPU box that lost its GPU) gets none.",
  },
  PROVER_API_KEY: {
    key: "proverApiKey",
    group: "secret",
    schema: optionalString,
    meaning:
      "Sent as x-api-key on /api/* to the configured provers (PROVER_BASE_URL(S)) only: never on /health, never to a prover added at runtime (secret).",
  },
  PROVER_API_KEYS: {
    key: "proverApiKeys",
    group: "secret",
    schema: keyMap,
    meaning:
      "Per-prover API keys of configured provers, a JSON object origin → key (secret); a configured prover not listed gets PROVER_API_KEY.",
  },
  ADMIN_TOKEN: {
    key: "adminToken",
    group: "secret",
    schema: bearerSecret,
    meaning:
      "Operator bearer token (≥ 16 characters) for /api/admin/* and cancelling any job (secret; unset: the admin API answers 403 admin_disabled).",
  },
  PROVER_EXPECTED_IMAGE_ID: {
    key: "proverExpectedImageId",
    group: "prover",
    schema: imageId,
    meaning:
      "The 64-hex image id every receipt must prove and every prover must report in /health (another image: incompatible, no work).",
  },
  PROVER_REQUEST_TIMEOUT_MS: {
    key: "requestTimeoutMs",
    group: "timeout",
    schema: ms(30_000, 50, 300_000),
    meaning:
      "One HTTP request to the prover (submit, poll, delete, health) is abandoned after this.",
  },
  PROVER_POLL_INTERVAL_MS: {
    key: "pollIntervalMs",
    group: "timeout",
    schema: ms(10_000, 10, 600_000),
    meaning:
      "The longest pause between two status polls of a proving job (adaptive polling's ceiling: used while a prover's speed is unknown, early in a proof and after a failed read); also how often a busy prover is asked again.",
  },
  PROVER_POLL_MIN_INTERVAL_MS: {
    key: "pollMinIntervalMs",
    group: "timeout",
    schema: ms(250, 10, 600_000),
    meaning:
      "The shortest pause between two status polls: near a proof's expected end (from the prover's measured speed) reads close in on it down to this.",
  },
  PROVER_POLL_BUDGET_MS: {
    key: "pollBudgetMs",
    group: "timeout",
    schema: ms(45_000, 10, MAX_POLL_BUDGET_MS),
    meaning: "How long one Durable Object alarm keeps polling before it re-arms itself.",
  },
  PROVER_STALL_WINDOW_MS: {
    key: "stallWindowMs",
    group: "timeout",
    schema: ms(90_000, 10, 86_400_000),
    meaning:
      "If every poll fails for longer than this, the prover job is treated as lost and rebuilt.",
  },
  PROVER_POLL_TIMEOUT_MS: {
    key: "pollTimeoutMs",
    group: "timeout",
    schema: ms(660_000, 100, 86_400_000),
    meaning:
      "Absolute poll deadline, from the prover's acceptance: past it the prover job is abandoned (rebuilt or failed).",
  },
  DISPATCH_WATCHDOG_MS: {
    key: "dispatchWatchdogMs",
    group: "timeout",
    schema: ms(90_000, 100, 86_400_000),
    meaning:
      "A queued job nothing moved for this long is looked for by its own Durable Object and re-sent if it is lost (lost message, crash); found waiting, it looks again later and later.",
  },
  MAX_JOB_WALL_TIME_MS: {
    key: "maxJobWallTimeMs",
    group: "timeout",
    schema: ms(720_000, 100, 86_400_000),
    meaning: "Wall-time cap of one attempt, from the POST: no job waits or proves longer.",
  },
  PROVER_MAX_RECOVERIES: {
    key: "maxRecoveries",
    group: "retry",
    schema: int(3, 0, 20),
    meaning:
      "How many times a job may be rebuilt for a failure its tape may cause (out of memory, proof_timeout, poll_timeout); the prover's own faults use none, a refused tape gets one retry of its own.",
  },
  MAX_TAPE_BYTES: {
    key: "maxTapeBytes",
    group: "limit",
    schema: int(PROVER_MAX_TAPE_BYTES, 28, PROVER_MAX_TAPE_BYTES),
    meaning: "Largest tape accepted (the prover's own limit is 2 MiB).",
  },
  MAX_WAITING_PER_CLIENT: {
    key: "maxWaitingPerClient",
    group: "limit",
    schema: int(3, 1, 10_000),
    meaning:
      "Jobs one client may have queued or proving at once; the next POST of a new tape gets 429 too_many_waiting.",
  },
  RETRY_MIN_DELAY_SECONDS: {
    key: "retryMinDelaySeconds",
    group: "retry",
    schema: int(2, 0, QUEUE_MAX_DELAY_SECONDS),
    meaning: "Floor of the queue redelivery backoff after a delivery failed inside the gateway.",
  },
  MAX_RETRY_DELAY_SECONDS: {
    key: "retryMaxDelaySeconds",
    group: "retry",
    schema: int(60, 0, QUEUE_MAX_DELAY_SECONDS),
    meaning: "Ceiling of the queue redelivery backoff after a delivery failed inside the gateway.",
  },
  COMPLETED_JOB_RETENTION_MS: {
    key: "completedJobRetentionMs",
    group: "timeout",
    schema: ms(86_400_000, 0, 30 * 86_400_000),
    meaning:
      "How long an ended job's Durable Object is kept before it is cleared (a proved job stays readable from its R2 result).",
  },
  PROVER_RECEIPT_KIND: {
    key: "receiptKind",
    group: "prover",
    schema: oneOf(["composite", "succinct", "groth16"], "groth16"),
    meaning: "receipt_kind asked of the prover (groth16 for on-chain verification).",
  },
  VERIFY_RECEIPTS: {
    key: "verifyReceipts",
    group: "prover",
    schema: oneOf(["groth16", "off"], "groth16"),
    meaning:
      "groth16: a result counts only when its Groth16 receipt verifies for PROVER_EXPECTED_IMAGE_ID (RISC Zero verifier v3.0.0; needs PROVER_RECEIPT_KIND=groth16); off: only for dev provers, whose receipts are fakes.",
  },
  PROVER_SEGMENT_LIMIT_PO2: {
    key: "segmentLimitPo2",
    group: "prover",
    schema: int(21, 16, 21),
    meaning:
      "segment_limit_po2 of a first submission (16..21); lowered by one (floor 16) after each out-of-memory or proof_timeout.",
  },
  CORS_ALLOWED_ORIGINS: {
    key: "corsAllowedOrigins",
    group: "limit",
    schema: browserOrigins,
    meaning:
      "Comma-separated browser origins of the game client that get CORS headers; empty: none, never *.",
  },
  PROVER_VERIFY_MODE: {
    key: "verifyMode",
    group: "prover",
    schema: oneOf(["verify", "policy"], "policy"),
    meaning: "verify_mode asked of the prover (verify or policy).",
  },
  PROVER_HEALTH_INTERVAL_MS: {
    key: "healthIntervalMs",
    group: "timeout",
    schema: ms(30_000, 10, 3_600_000),
    meaning:
      "A prover's /health reading is trusted this long; a free prover is read again before it gets work.",
  },
  PROVER_CIRCUIT_FAILURES: {
    key: "circuitFailures",
    group: "retry",
    schema: int(3, 1, 100),
    meaning:
      "Transport failures in a row (submit, poll, health) that open a prover's circuit: no new work.",
  },
  PROVER_CIRCUIT_COOLDOWN_MS: {
    key: "circuitCooldownMs",
    group: "timeout",
    schema: ms(10_000, 10, 3_600_000),
    meaning:
      "How long an open circuit waits before its /health probe; doubles with each reopening (at most ×16).",
  },
  PROVER_QUARANTINE_AFTER: {
    key: "quarantineAfter",
    group: "limit",
    schema: int(2, 1, 100),
    meaning:
      "Contradicted verdicts (a refusal another prover's proof disproved, a checkable verdict found false) that quarantine a prover: no work until an operator resumes it.",
  },
  WEBHOOK_URL: {
    key: "webhookUrl",
    group: "webhook",
    schema: optionalUrl,
    meaning:
      "Where each ended job's signed event is POSTed (Standard Webhooks; https unless loopback); empty: no webhooks.",
  },
  WEBHOOK_SECRET: {
    key: "webhookSecret",
    group: "secret",
    // Its format (whsec_ + base64 of the key) is checked in config.ts, so that an error can name
    // WEBHOOK_URL too.
    schema: optionalString,
    meaning:
      "The webhook signing key, whsec_ + base64 of 24 to 64 random bytes (secret); required with WEBHOOK_URL.",
  },
  PUBLIC_BASE_URL: {
    key: "publicBaseUrl",
    group: "webhook",
    schema: optionalOrigin,
    meaning:
      "The gateway's public origin; webhook events link the result from it. Required with WEBHOOK_URL.",
  },
  WEBHOOK_TIMEOUT_MS: {
    key: "webhookTimeoutMs",
    group: "timeout",
    schema: ms(10_000, 50, 60_000),
    meaning: "One webhook delivery (POST to WEBHOOK_URL) is abandoned after this and retried.",
  },
  WEBHOOK_RETRY_WINDOW_MS: {
    key: "webhookRetryWindowMs",
    group: "retry",
    schema: ms(86_400_000, 0, MAX_WEBHOOK_RETRY_WINDOW_MS),
    meaning:
      "A webhook still failing this long after its first delivery is given up (logged webhook_given_up).",
  },
  SETTLEMENT_TOKEN: {
    key: "settlementToken",
    group: "secret",
    schema: bearerSecret,
    meaning:
      "Bearer token (≥ 16 characters) the settlement service sends to PUT /api/settlement/jobs/:jobId/claim (secret, optional).",
  },
} as const satisfies Record<string, VarSpec>;

export type VarName = keyof typeof VARS;
type Schemas = { [N in VarName]: ReturnType<(typeof VARS)[N]["schema"]> };

/** The var names the schema reads (also the list `/api/health` and the README document). */
export const CONFIG_VARS = Object.keys(VARS) as VarName[];

/** Each var's own schema, its messages naming it. */
export const VAR_SCHEMAS = Object.fromEntries(
  CONFIG_VARS.map((name) => [name, VARS[name].schema(name)]),
) as Schemas;

/** What each var is for, in one sentence, by group. */
export const VAR_MEANINGS = Object.fromEntries(
  CONFIG_VARS.map((name) => [name, { group: VARS[name].group, meaning: VARS[name].meaning }]),
) as Record<VarName, { group: VarGroup; meaning: string }>;
