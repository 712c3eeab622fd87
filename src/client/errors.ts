import { isJob, isRecord } from "./parse.ts";
import type { GatewayJob } from "./types.ts";

/**
 * Whatever went wrong talking to the gateway. `code` is the API's stable error code
 * (`too_many_waiting`, `zero_score`, `job_not_found` …) or one of the client's own:
 * `network_error` (no answer: status 0), `bad_response` (an answer that is not the API's),
 * `watch_closed` (`watch(…).done` after `close()`).
 */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  /** The HTTP status; 0 when there was no answer. */
  readonly status: number;
  readonly code: string;
  /** From the answer's Retry-After (429 rate_limited / too_many_waiting), when it had one. */
  readonly retryAfterSeconds: number | undefined;
  /** The job, when the error answer carried it (409 job_succeeded / job_failed on cancel). */
  readonly job: GatewayJob | undefined;
  constructor(
    status: number,
    code: string,
    message: string,
    extra: { retryAfterSeconds?: number; job?: GatewayJob } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = extra.retryAfterSeconds;
    this.job = extra.job;
  }
}

/** Seconds from a Retry-After header: delta-seconds or an HTTP date; undefined if absent or bad. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The GatewayError for a non-2xx answer, from its `{success:false,error:{code,message}}` body. */
export async function errorFrom(res: Response): Promise<GatewayError> {
  const retry = retryAfterSeconds(res.headers.get("retry-after"));
  const body = await res.json().catch(() => undefined);
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const job = isRecord(body) && isJob(body.job) ? body.job : undefined;
  if (error && typeof error.code === "string") {
    const message = typeof error.message === "string" ? error.message : error.code;
    return new GatewayError(res.status, error.code, message, { retryAfterSeconds: retry, job });
  }
  return new GatewayError(
    res.status,
    "bad_response",
    `the gateway answered ${res.status} without an error code`,
    { retryAfterSeconds: retry },
  );
}
