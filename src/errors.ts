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
  constructor(status: ContentfulStatusCode, code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const notFound = (code: string, message: string) => new ApiError(404, code, message);
export const conflict = (code: string, message: string) => new ApiError(409, code, message);

/** A job's terminal error: a stable code and a sentence for the player. */
export interface JobError {
  code: string;
  message: string;
}
