import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ConfigError } from "../core/config.ts";
import { errorBody, type ErrorCodeName } from "../core/error-codes.ts";
import { TapeError } from "../core/tape.ts";

/**
 * Errors the HTTP layer turns into `{"success":false,"error":{"code","message"}}`.
 * `code` is stable (clients and tests rely on it); `message` is for humans.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: ContentfulStatusCode;
  readonly code: ErrorCodeName;
  readonly details: Record<string, unknown> | undefined;
  /** Extra response headers (Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string> | undefined;
  constructor(
    status: ContentfulStatusCode,
    code: ErrorCodeName,
    message: string,
    details?: Record<string, unknown>,
    headers?: Record<string, string>,
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

export const notFound = (code: ErrorCodeName, message: string) => new ApiError(404, code, message);
export const conflict = (code: ErrorCodeName, message: string) => new ApiError(409, code, message);

/** What a request depends on that can fail without any fault of the request: R2, a queue, a Durable Object. */
export type Dependency = "storage" | "queue" | "object";

/**
 * How long a client told that a dependency is unavailable should wait (`Retry-After`, seconds):
 * these failures are transient (a Durable Object reset or overloaded, R2 or Queues erroring).
 */
export const UNAVAILABLE_RETRY_SECONDS = 5;

const UNAVAILABLE: Record<Dependency, { code: ErrorCodeName; what: string }> = {
  storage: { code: "storage_unavailable", what: "storage (R2) failed" },
  queue: { code: "queue_unavailable", what: "the job queue failed" },
  object: {
    code: "object_unavailable",
    what: "a Durable Object (the job, the line or the job index) failed or is overloaded",
  },
};

/**
 * A dependency failed: `503` with `Retry-After` and the dependency's stable code, never a `500`
 * (src/http/bindings.ts turns every failing call into a `DependencyError`, `app.onError` into
 * this). `message` says what was (not) kept, when the route knows.
 */
export function unavailable(dependency: Dependency, message?: string): ApiError {
  const { code, what } = UNAVAILABLE[dependency];
  return new ApiError(503, code, message ?? `${what}; try again`, undefined, {
    "retry-after": String(UNAVAILABLE_RETRY_SECONDS),
  });
}

/** A call to a binding failed (R2, a queue, a Durable Object's RPC or fetch): which one, and why. */
export class DependencyError extends Error {
  override readonly name = "DependencyError";
  readonly dependency: Dependency;
  override readonly cause: unknown;
  constructor(dependency: Dependency, cause: unknown) {
    super(`${dependency}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.dependency = dependency;
    this.cause = cause;
  }
}

/** A new attempt could not be enqueued (it was undone): the caller may simply try again. */
export const queueUnavailable = (cause: string) =>
  unavailable("queue", `the job could not be queued; nothing was kept, try again (${cause})`);

/**
 * What an invalid config tells anyone but the operator: which vars, never their values (a
 * prover's or a webhook's URL can be in the full message, which the admin health and the logs
 * carry).
 */
export function publicConfigMessage(e: ConfigError): string {
  const vars = e.vars.join(", ");
  return `the gateway is misconfigured: ${vars} ${e.vars.length === 1 ? "is" : "are"} invalid (GET /api/admin/health says why)`;
}

/** A path no route matches: 404 not_found. */
export const answerNotFound = (c: Context) =>
  c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404);

/**
 * Every error a route throws, as its answer (`app.onError`): an `ApiError` as it says, a tape
 * format error 400, an invalid config 503 naming its vars, a failed dependency 503 with
 * Retry-After, what the framework refused 400 bad_request (or its status), anything else 500.
 */
export function answerError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.details), err.status, err.headers);
  }
  if (err instanceof TapeError) return c.json(errorBody(err.code, err.message), 400);
  if (err instanceof ConfigError) {
    // The vars, not their values (a URL may be among them): GET /api/admin/health says why.
    console.error(JSON.stringify({ event: "config_invalid", vars: err.vars, error: err.message }));
    return c.json(errorBody(err.code, publicConfigMessage(err), { vars: err.vars }), 503);
  }
  if (err instanceof DependencyError) {
    console.error(
      JSON.stringify({
        event: "dependency_failed",
        dependency: err.dependency,
        path: c.req.path,
        error: err.message,
      }),
    );
    const answer = unavailable(err.dependency);
    return c.json(errorBody(answer.code, answer.message), answer.status, answer.headers);
  }
  if (err instanceof HTTPException) {
    return c.json(errorBody("bad_request", err.message), err.status);
  }
  console.error(JSON.stringify({ event: "unhandled_error", path: c.req.path, error: String(err) }));
  return c.json(errorBody("internal_error", "something went wrong; try again"), 500);
}
