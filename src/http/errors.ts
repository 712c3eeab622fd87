import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * Errors the HTTP layer turns into `{"success":false,"error":{"code","message"}}`.
 * `code` is stable (clients and tests rely on it); `message` is for humans.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  /** Extra response headers (Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string> | undefined;
  constructor(
    status: ContentfulStatusCode,
    code: string,
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

export const notFound = (code: string, message: string) => new ApiError(404, code, message);
export const conflict = (code: string, message: string) => new ApiError(409, code, message);
/** A new attempt could not be enqueued (it was undone): the caller may simply try again. */
export const queueUnavailable = (cause: string) =>
  new ApiError(503, "queue_unavailable", `the job could not be queued; try again (${cause})`);
