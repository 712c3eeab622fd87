import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { cors } from "hono/cors";
import { admin } from "./admin.ts";
import { jobs } from "./jobs.ts";
import { settlement } from "./settlement.ts";
import { parseClaimant } from "../core/strkey.ts";
import { meta } from "./meta.ts";
import { readBodyLimited } from "./body.ts";
import { newCancelToken } from "./cancel-token.ts";
import { configFrom } from "../core/config.ts";
import { ApiError, answerError, answerNotFound, queueUnavailable, unavailable } from "./errors.ts";
import { guardedEnv } from "./bindings.ts";
import { adminHealth, adminHealthRoute, healthRoute, publicHealth } from "./health.ts";
import { dispatcherOf } from "../objects/prover-dispatcher.ts";
import { clientKey } from "./client.ts";
import type { Job } from "../core/job.ts";
import { publicJob, settlementOf, statusUrl, viewBody, type JobView } from "./job-view.ts";
import { startsNewAttempt } from "../core/lifecycle.ts";
import { tapeKey } from "../core/r2-keys.ts";
import { parseTape } from "../core/tape.ts";
import { sha256Hex } from "../core/hex.ts";
import type { AppEnv } from "./app-env.ts";
import * as S from "./schemas.ts";
import { ANY, answers, json, PLAYER, TAPE_ERRORS } from "./route-spec.ts";
import { onInvalid } from "./validation.ts";

/**
 * The HTTP front door. Every answer is JSON; every error is `{success:false,error:{code,message}}`.
 * Each route is declared with its schemas (`createRoute`): they validate its path and query, and
 * src/http/openapi.ts documents it from them.
 */
export const app = new OpenAPIHono<AppEnv>({ defaultHook: onInvalid });

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
app.openapi(healthRoute, publicHealth);

// Everything below needs a valid config.
app.use("/api/proofs/*", async (c, next) => {
  c.set("config", configFrom(c.env));
  await next();
});

const postTape = createRoute({
  method: "post",
  path: "/api/proofs/jobs",
  summary: "Post the tape of a finished run",
  description:
    "The job id is the tape's SHA-256. Rate-limited per client (429 rate_limited) and capped at MAX_WAITING_PER_CLIENT jobs queued or proving (429 too_many_waiting).",
  tags: ["player"],
  parameters: [
    {
      name: "x-claimant-address",
      in: "header",
      required: false,
      schema: { type: "string", pattern: "^[GC][A-Z2-7]{55}$" },
      description:
        "The Stellar account (G…) or contract (C…) the proof is claimed for, checksum verified (400 invalid_claimant otherwise). Kept with the attempt; a post of a tape already in flight or proved keeps the first attempt's.",
    },
  ],
  request: {
    body: {
      required: true,
      description: "The raw tape bytes (no content type is accepted too).",
      content: { "application/octet-stream": { schema: S.TapeBody } },
    },
  },
  responses: answers(
    {
      202: json(
        "A new attempt started (a new tape, or one whose job ended failed or cancelled): with its `cancel_token`, shown once.",
        S.JobAcceptedBody,
      ),
      200: json(
        "Identical bytes are already queued, proving or succeeded (also once the job's record was cleared, for as long as its result is kept): the job, without `cancel_token`; nothing is proved again.",
        S.JobAcceptedBody,
      ),
    },
    [
      ...TAPE_ERRORS,
      "invalid_claimant",
      "tape_too_large",
      "unsupported_media_type",
      "body_unreadable",
      "rate_limited",
      "too_many_waiting",
      "storage_unavailable",
      "queue_unavailable",
      ...PLAYER,
      ...ANY,
    ],
  ),
});

app.openapi(postTape, async (c) => {
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

// The full health view: its own admin check, so that it answers while the config is invalid.
app.openapi(adminHealthRoute, adminHealth);
app.route("/api/proofs/jobs", jobs);
app.route("/api/admin", admin);
app.route("/api/settlement", settlement);

app.route("/", meta);

app.notFound(answerNotFound);
app.onError(answerError);

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
