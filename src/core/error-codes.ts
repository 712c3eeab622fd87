import * as z from "zod";

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
/**
 * Every error body the gateway answers with: `{success:false,error:{code,message}}`, with what
 * else the error carries (`vars`) beside them and what the answer adds (`job`, `prover`) after.
 * The one place that builds it (the Hono apps' errors and the job object's own refusals).
 */
export function errorBody(
  code: ErrorCodeName,
  message: string,
  details?: Record<string, unknown>,
  extra?: Record<string, unknown>,
) {
  return { success: false as const, error: { code, message, ...details }, ...extra };
}
