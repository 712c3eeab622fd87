import { Hono, type Context } from "hono";
import { cors } from "hono/cors";
import { admin } from "./admin.ts";
import { settlement } from "./settlement.ts";
import { parseClaimant } from "../core/strkey.ts";
import { openApiDocument } from "./openapi.ts";
import { HTTPException } from "hono/http-exception";
import { readBodyLimited } from "./body.ts";
import { bearerToken, hashToken, newCancelToken, sameSecret } from "./cancel-token.ts";
import { ConfigError, configFrom } from "../core/config.ts";
import {
  ApiError,
  conflict,
  DependencyError,
  notFound,
  queueUnavailable,
  unavailable,
} from "./errors.ts";
import { guardedEnv } from "./bindings.ts";
import { adminHealth, publicConfigMessage, publicHealth } from "./health.ts";
import { dispatcherOf } from "../objects/prover-dispatcher.ts";
import { clientKey } from "./client.ts";
import type { Job } from "../core/job.ts";
import {
  checkedJobId,
  publicJob,
  settlementOf,
  socketMessage,
  statusUrl,
  type JobView,
} from "./job-view.ts";
import { startsNewAttempt } from "../core/lifecycle.ts";
import { resultKey, tapeKey } from "../core/r2-keys.ts";
import { parseTape, TapeError } from "../core/tape.ts";
import { sha256Hex } from "../core/hex.ts";
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

app.post("/api/proofs/jobs", async (c) => {
  const cfg = c.get("config");
  const client = await clientKey(c);
  await limitIntake(c, client);
  // No Content-Type (curl --data-binary, fetch with a Uint8Array) is fine; any other is refused,
  // including one whose media type is empty (";charset=x").
  const header = c.req.header("content-type")?.trim();
  const type = header ? header.split(";")[0]!.trim().toLowerCase() : undefined;
  if (type !== undefined && type !== "application/octet-stream") {
    throw new ApiError(
      415,
      "unsupported_media_type",
      `send the tape as application/octet-stream, not ${JSON.stringify(header!.slice(0, 100))}`,
    );
  }
  const claimant = claimantOf(c.req.header("x-claimant-address"));
  const bytes = await readBodyLimited(c.req.raw, cfg.maxTapeBytes);
  const facts = parseTape(bytes);
  const sha256 = await sha256Hex(bytes);
  const stub = c.env.JOB.getByName(sha256);
  const existing = await stub.get();
  // Proved before and its record since cleared: the kept proof answers; nothing is proved again.
  // (Only the R2 check for a new tape; its view, with the claim, only when there is one.)
  const kept = !existing && (await stub.archived()) ? await stub.view() : null;
  if (kept) return c.json({ success: true, status_url: statusUrl(sha256), ...viewBody(kept) });
  const fresh = !existing || startsNewAttempt(existing);
  // A tape already in flight (the 200 answer) takes no place; a new attempt counts against its
  // client from now until it ends.
  if (fresh) await reserveFor(c, sha256, client, cfg.maxWaitingPerClient);
  if (fresh) {
    // The tape is durable before the attempt exists, so no accepted job can lack its tape.
    try {
      await c.env.TAPES.put(tapeKey(sha256), bytes, {
        sha256,
        httpMetadata: { contentType: "application/octet-stream" },
      });
    } catch (e) {
      console.error(
        JSON.stringify({ event: "tape_store_failed", jobId: sha256, error: String(e) }),
      );
      await unreserve(c.env, sha256);
      throw unavailable("storage", "the tape could not be stored; nothing was accepted, try again");
    }
  }
  const answer = async (job: Job, cancelToken?: string) => {
    // Its ETA from the line as it stands (best effort: a POST never fails for want of one).
    let view: JobView | null = null;
    try {
      view = await stub.view();
    } catch {
      // no ETA this time
    }
    return c.json(
      {
        success: true,
        status_url: statusUrl(sha256),
        ...(cancelToken ? { cancel_token: cancelToken } : {}),
        job: publicJob(job),
        estimate: view?.estimate ?? null,
        claim: view?.claim ?? null,
        settlement: view?.settlement ?? settlementOf(cfg),
      },
      cancelToken ? 202 : 200,
    );
  };
  if (existing && !startsNewAttempt(existing)) return answer(existing);
  const cancel = await newCancelToken();
  let created: Awaited<ReturnType<typeof stub.create>>;
  try {
    created = await stub.create(
      sha256,
      { ...facts, sha256 },
      cancel.hash,
      "post",
      client,
      claimant,
    );
  } catch (e) {
    // The job's object failed (503 object_unavailable): the attempt no longer counts.
    await unreserve(c.env, sha256);
    throw e;
  }
  if (created.kind === "enqueue_failed") {
    await unreserve(c.env, sha256);
    throw queueUnavailable(created.message);
  }
  // The token is shown once, in the 202 that starts the attempt: only its hash is stored.
  return created.kind === "exists" ? answer(created.job) : answer(created.job, cancel.token);
});

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

/**
 * The Rate Limiting binding's period (wrangler.jsonc `ratelimits`): a refused client may try again
 * after it.
 */
export const INTAKE_RATE_PERIOD_SECONDS = 60;

/**
 * At most `limit` submissions per period per client (`clientKey`: an IPv6 /64, an IPv4 address), by the platform's Rate
 * Limiting binding. If the limiter itself fails, the submission is let through: a player's
 * proof matters more than a perfect count.
 */
async function limitIntake(c: Context<AppEnv>, key: string): Promise<void> {
  let allowed = true;
  try {
    allowed = (await c.env.INTAKE_RATE_LIMITER.limit({ key })).success;
  } catch (e) {
    console.error(JSON.stringify({ event: "rate_limiter_failed", error: String(e) }));
  }
  if (!allowed) {
    throw new ApiError(
      429,
      "rate_limited",
      `too many submissions from this client; try again in ${INTAKE_RATE_PERIOD_SECONDS} s`,
      undefined,
      { "retry-after": String(INTAKE_RATE_PERIOD_SECONDS) },
    );
  }
}

/** How long a client told `too_many_waiting` should wait before posting another tape. */
export const TOO_MANY_WAITING_RETRY_SECONDS = 60;

/**
 * MAX_WAITING_PER_CLIENT: a client with that many jobs queued or proving gets 429
 * too_many_waiting for its next tape. If the dispatcher cannot say, the tape is let through (as
 * with the rate limiter: a player's proof matters more than a perfect count).
 */
async function reserveFor(
  c: Context<AppEnv>,
  jobId: string,
  client: string,
  cap: number,
): Promise<void> {
  let r: Awaited<ReturnType<ReturnType<typeof dispatcherOf>["reserve"]>>;
  try {
    r = await dispatcherOf(c.env).reserve(jobId, client, cap);
  } catch (e) {
    console.error(JSON.stringify({ event: "reserve_failed", jobId, error: String(e) }));
    return;
  }
  if (!r.ok) {
    throw new ApiError(
      429,
      "too_many_waiting",
      `this client already has ${r.live} proofs queued or proving (MAX_WAITING_PER_CLIENT is ${cap}); post the next tape once one has ended`,
      undefined,
      { "retry-after": String(TOO_MANY_WAITING_RETRY_SECONDS) },
    );
  }
}

/** The attempt was not accepted after all: it no longer counts against its client. */
async function unreserve(env: Env, jobId: string): Promise<void> {
  try {
    await dispatcherOf(env).release(jobId);
  } catch {
    // best effort: the next cap check looks the job up and drops it
  }
}

/** The answer's fields shared by `GET` and the `POST` of a tape already proved. */
const viewBody = (v: JobView) => {
  const { type: _type, ...body } = socketMessage(v);
  return body;
};

/**
 * `x-claimant-address`, optional: a Stellar account (`G…`) or contract (`C…`) address, checksum
 * verified; anything else is refused before the tape is read.
 */
function claimantOf(header: string | undefined): string | null {
  if (header === undefined) return null;
  const parsed = parseClaimant(header);
  if (!parsed.ok) {
    throw new ApiError(400, "invalid_claimant", `x-claimant-address: ${parsed.reason}`);
  }
  return parsed.address;
}

/** CORS_ALLOWED_ORIGINS, or none while the config is invalid (/api/health then says why). */
function allowedOrigins(env: Env): string[] {
  try {
    return configFrom(env).corsAllowedOrigins;
  } catch {
    return [];
  }
}
