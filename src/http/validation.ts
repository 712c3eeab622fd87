import type { Hook } from "@hono/zod-openapi";
import type { AppEnv } from "./app-env.ts";
import { ApiError } from "./errors.ts";
import { invalidJobId } from "./job-view.ts";

/**
 * What a request that fails its route's schemas answers (the apps' `defaultHook`; a route with
 * codes of its own, `GET /api/admin/jobs`, has its own hook): a bad `:jobId` is 400
 * invalid_job_id, anything else 400 bad_request. Never the framework's own 400 body.
 */
export const onInvalid: Hook<unknown, AppEnv, string, undefined> = (result) => {
  if (result.success) return;
  const issue = result.error.issues[0];
  if (result.target === "param" && issue?.path[0] === "jobId") throw invalidJobId();
  throw new ApiError(400, "bad_request", `${result.target}: ${issue?.message ?? "invalid"}`);
};
