import { Hono } from "hono";
import { cors } from "hono/cors";
import { admin } from "./admin.ts";
import { settlement } from "./settlement.ts";
import { openApiDocument } from "./openapi.ts";
import { HTTPException } from "hono/http-exception";
import { bearerToken, hashToken, sameSecret } from "./cancel-token.ts";
import { ConfigError, configFrom } from "../core/config.ts";
import { ApiError, conflict, DependencyError, notFound, unavailable } from "./errors.ts";
import { guardedEnv } from "./bindings.ts";
import { adminHealth, publicConfigMessage, publicHealth } from "./health.ts";
import { checkedJobId, publicJob, viewBody } from "./job-view.ts";
import { postJob } from "./intake.ts";
import { resultKey } from "../core/r2-keys.ts";
import { TapeError } from "../core/tape.ts";
import type { AppEnv } from "./app-env.ts";

/**
 * The HTTP front door. Every answer is JSON; every error is `{success:false,error:{code,message}}`.
 */
export const app = new Hono<AppEnv>();

// R2, queue and Durable Object failures become DependencyErrors: 503 with Retry-After, never 500.
app.use("*", async (c, next) => {
  c.env = guardedEnv(c.env);
  await next();
  c.header("cache-control", "no-store");
  c.header("x-content-type-options", "nosniff");
});

// Browser game clients: only the origins in CORS_ALLOWED_ORIGINS get CORS headers (never "*").
const gameCors = cors({
  origin: (origin, c) => (allowedOrigins(c.env).includes(origin) ? origin : null),
  allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
  allowHeaders: ["content-type", "authorization", "x-claimant-address"],
  exposeHeaders: ["retry-after"],
  maxAge: 600,
});
app.use("/api/proofs/*", gameCors);
app.use("/api/health", gameCors);

// The anonymous view: counts, cached, rate-limited (the full one is GET /api/admin/health).
app.get("/api/health", publicHealth);

// Everything below needs a valid config.
app.use("/api/proofs/*", async (c, next) => {
  c.set("config", configFrom(c.env));
  await next();
});

app.post("/api/proofs/jobs", postJob);

app.get("/api/proofs/jobs/:jobId", async (c) => {
  const jobId = checkedJobId(c.req.param("jobId"));
  const view = await c.env.JOB.getByName(jobId).view();
  if (!view) throw notFound("job_not_found", `no job ${jobId}`);
  return c.json({ success: true, ...viewBody(view) });
});

/**
 * Live status: a WebSocket served by the job's Durable Object (hibernation API). Bad id → 400,
 * unknown job → 404, no `Upgrade: websocket` → 426, all as JSON. A browser `Origin` must be the
 * gateway's own (its page) or one of CORS_ALLOWED_ORIGINS, else 403 origin_forbidden.
 */
app.get("/api/proofs/jobs/:jobId/ws", async (c) => {
  const jobId = checkedJobId(c.req.param("jobId"));
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

app.delete("/api/proofs/jobs/:jobId", async (c) => {
  const cfg = c.get("config");
  const jobId = checkedJobId(c.req.param("jobId"));
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
    case "ended":
      return c.json(
        {
          success: false,
          error:
            result.job.status === "succeeded"
              ? { code: "job_succeeded", message: "the job already succeeded; its proof is kept" }
              : {
                  code: "job_failed",
                  message: `the job already failed (${result.job.error?.code ?? "unknown"}) and stays failed`,
                },
          job: publicJob(result.job),
        },
        409,
      );
    case "cancelled":
      return c.json({ success: true, job: publicJob(result.job) });
  }
});

app.get("/api/proofs/jobs/:jobId/result", async (c) => {
  const jobId = checkedJobId(c.req.param("jobId"));
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

// The full health view: its own admin check, so that it answers while the config is invalid.
app.get("/api/admin/health", adminHealth);
app.route("/api/admin", admin);
app.route("/api/settlement", settlement);

// The API described from the schemas the routes validate with (src/http/openapi.ts).
app.get("/api/openapi.json", (c) => c.json(openApiDocument()));

app.notFound((c) =>
  c.json(
    {
      success: false,
      error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` },
    },
    404,
  ),
);

app.onError((err, c) => {
  if (err instanceof ApiError) {
    return c.json(
      { success: false, error: { code: err.code, message: err.message, ...err.details } },
      err.status,
      err.headers,
    );
  }
  if (err instanceof TapeError) {
    return c.json({ success: false, error: { code: err.code, message: err.message } }, 400);
  }
  if (err instanceof ConfigError) {
    // The vars, not their values (a URL may be among them): GET /api/admin/health says why.
    console.error(JSON.stringify({ event: "config_invalid", vars: err.vars, error: err.message }));
    return c.json(
      {
        success: false,
        error: { code: err.code, message: publicConfigMessage(err), vars: err.vars },
      },
      503,
    );
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
    return c.json(
      { success: false, error: { code: answer.code, message: answer.message } },
      answer.status,
      answer.headers,
    );
  }
  if (err instanceof HTTPException) {
    return c.json(
      { success: false, error: { code: "bad_request", message: err.message } },
      err.status,
    );
  }
  console.error(JSON.stringify({ event: "unhandled_error", path: c.req.path, error: String(err) }));
  return c.json(
    {
      success: false,
      error: { code: "internal_error", message: "something went wrong; try again" },
    },
    500,
  );
});

// Tests and the page read these where they always were.
export { INTAKE_RATE_PERIOD_SECONDS, TOO_MANY_WAITING_RETRY_SECONDS } from "./intake.ts";

/** CORS_ALLOWED_ORIGINS, or none while the config is invalid (/api/health then says why). */
function allowedOrigins(env: Env): string[] {
  try {
    return configFrom(env).corsAllowedOrigins;
  } catch {
    return [];
  }
}
