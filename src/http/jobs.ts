import { createRoute, OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import { errorBody, type ErrorCodeName } from "../core/error-codes.ts";
import { resultKey } from "../core/r2-keys.ts";
import type { AppEnv } from "./app-env.ts";
import { bearerToken, hashToken, sameSecret } from "./cancel-token.ts";
import { ApiError, conflict, notFound } from "./errors.ts";
import { publicJob, viewBody } from "./job-view.ts";
import { ANY, answers, json, PLAYER, ref, SECURITY, type Answers } from "./route-spec.ts";
import * as S from "./schemas.ts";
import { onInvalid } from "./validation.ts";

/**
 * A job's player routes, mounted at /api/proofs/jobs (behind the front door's CORS and config
 * check): where it stands, its live socket, its cancellation and its result. (`POST
 * /api/proofs/jobs`, the intake, is src/http/routes.ts's.)
 */
export const jobs = new OpenAPIHono<AppEnv>({ defaultHook: onInvalid });

/** The player routes of one job: `{jobId}`, checked (400 invalid_job_id), and their codes. */
const jobRoute = (
  method: "get" | "delete",
  path: "" | "/ws" | "/result",
  spec: Pick<RouteConfig, "summary" | "description" | "security" | "parameters"> & {
    ok: Answers;
    errors: ErrorCodeName[];
  },
) => {
  const { ok, errors, ...doc } = spec;
  return createRoute({
    method,
    path: `/{jobId}${path}`,
    ...doc,
    tags: ["player"],
    request: { params: S.JobIdParam },
    responses: answers(ok, ["invalid_job_id", ...errors, ...PLAYER, ...ANY]),
  });
};

const getJob = jobRoute("get", "", {
  summary: "Where a proof stands, its place in line and its ETA",
  ok: { 200: json("The job.", S.JobViewBody) },
  errors: ["job_not_found"],
});

jobs.openapi(getJob, async (c) => {
  const { jobId } = c.req.valid("param");
  const view = await c.env.JOB.getByName(jobId).view();
  if (!view) throw notFound("job_not_found", `no job ${jobId}`);
  return c.json({ success: true, ...viewBody(view) });
});

/**
 * Live status: a WebSocket served by the job's Durable Object (hibernation API). Bad id → 400,
 * unknown job → 404, no `Upgrade: websocket` → 426, all as JSON. A browser `Origin` must be the
 * gateway's own (its page) or one of CORS_ALLOWED_ORIGINS, else 403 origin_forbidden.
 */
const watchJob = jobRoute("get", "/ws", {
  summary: "Live status over a WebSocket",
  description:
    "Upgrades to a WebSocket (hibernation API) on which the job's Durable Object sends a JobSocketMessage (JSON text) at once and after every change; after a terminal status, that last message and close code 1000. A browser Origin must be the gateway's own or in CORS_ALLOWED_ORIGINS; at most 20 sockets per job.",
  ok: {
    101: {
      description: "Switching Protocols: each message is a JobSocketMessage.",
      ...{ "x-websocket-message": ref("JobSocketMessage") },
    },
  },
  errors: ["origin_forbidden", "upgrade_required", "job_not_found", "too_many_sockets"],
  // Checked by the handler, after the origin: not a schema the framework checks first.
  parameters: [
    {
      name: "Upgrade",
      in: "header",
      required: true,
      schema: { type: "string", const: "websocket" },
      description: "Without it: 426 upgrade_required.",
    },
  ],
});
jobs.openapi(watchJob, async (c) => {
  const { jobId } = c.req.valid("param");
  const origin = c.req.header("origin");
  const self = new URL(c.req.url).origin;
  if (origin && origin !== self && !c.get("config").corsAllowedOrigins.includes(origin)) {
    throw new ApiError(403, "origin_forbidden", `origin ${origin} may not open this socket`);
  }
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(426, "upgrade_required", "connect with a WebSocket (Upgrade: websocket)");
  }
  // The job's object answers 404 job_not_found itself when there is no job.
  return c.env.JOB.getByName(jobId).fetch(c.req.raw);
});

const cancelJob = jobRoute("delete", "", {
  summary: "Cancel a queued or proving job",
  description:
    "With the attempt's `cancel_token` (or the ADMIN_TOKEN). Idempotent for a cancelled job; a job that ended otherwise answers 409 with the job.",
  security: SECURITY.cancel,
  ok: { 200: json("The job, cancelled.", S.JobBody) },
  errors: ["cancel_forbidden", "job_not_found", "job_succeeded", "job_failed"],
});

jobs.openapi(cancelJob, async (c) => {
  const cfg = c.get("config");
  const { jobId } = c.req.valid("param");
  const token = bearerToken(c.req.header("authorization"));
  const admin =
    token !== null && cfg.adminToken !== undefined && (await sameSecret(token, cfg.adminToken));
  const result = await c.env.JOB.getByName(jobId).cancel(
    admin ? { admin: true } : { tokenHash: token ? await hashToken(token) : null },
  );
  switch (result.kind) {
    case "not_found":
      throw notFound("job_not_found", `no job ${jobId}`);
    case "forbidden":
      throw new ApiError(
        403,
        "cancel_forbidden",
        token
          ? "that token may not cancel this job"
          : "send Authorization: Bearer <cancel_token> from the answer that created the job",
      );
    case "ended": {
      const job = { job: publicJob(result.job) };
      return c.json(
        result.job.status === "succeeded"
          ? errorBody("job_succeeded", "the job already succeeded; its proof is kept", {}, job)
          : errorBody(
              "job_failed",
              `the job already failed (${result.job.error?.code ?? "unknown"}) and stays failed`,
              {},
              job,
            ),
        409,
      );
    }
    case "cancelled":
      return c.json({ success: true, job: publicJob(result.job) });
  }
});

const getResult = jobRoute("get", "/result", {
  summary: "The stored result document of a succeeded job",
  ok: {
    200: json(
      "The result: journal, verified receipt (on-chain seal), the prover's document.",
      S.ResultDocument,
    ),
  },
  errors: ["job_not_found", "result_not_ready", "no_result", "result_not_found"],
});

jobs.openapi(getResult, async (c) => {
  const { jobId } = c.req.valid("param");
  const stub = c.env.JOB.getByName(jobId);
  // A cleared record: the kept result, if it is a valid one for this job.
  const job = (await stub.get()) ?? (await stub.archived());
  if (!job) throw notFound("job_not_found", `no job ${jobId}`);
  if (job.status !== "succeeded") {
    throw job.status === "queued" || job.status === "proving"
      ? conflict("result_not_ready", `the proof is not ready yet (job is ${job.status})`)
      : conflict(
          "no_result",
          `the job ended ${job.status} without a proof${job.error ? `: ${job.error.code}` : ""}`,
        );
  }
  const object = await c.env.TAPES.get(job.result?.key ?? resultKey(job.jobId));
  if (!object) throw notFound("result_not_found", "the result document is no longer stored");
  return new Response(object.body, { headers: { "content-type": "application/json" } });
});
