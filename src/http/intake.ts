import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import * as S from "./schemas.ts";
import { ANY, answers, json, PLAYER, TAPE_ERRORS } from "./route-spec.ts";
import { parseClaimant } from "../core/strkey.ts";
import { sha256Hex } from "../core/hex.ts";
import { tapeKey } from "../core/r2-keys.ts";
import { parseTape } from "../core/tape.ts";
import type { AppEnv } from "./app-env.ts";
import { readBodyLimited } from "./body.ts";
import { newCancelToken } from "./cancel-token.ts";
import { clientKey } from "./client.ts";
import { ApiError, queueUnavailable, unavailable } from "./errors.ts";
import { publicJob, settlementOf, statusUrl, viewBody, type JobView } from "./job-view.ts";
import type { Job } from "../core/job.ts";

/** The route as the OpenAPI document declares it (src/http/openapi-build.ts). */
export const postTapeRoute = createRoute({
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

/**
 * `POST /api/proofs/jobs`: a player's tape. The front door checks the client (rate limit), the
 * request and the tape, stores the tape in R2 (content-addressed, so storing it again is
 * harmless), then asks the job's own object once (`ProofJob.intake`, src/core/flows/intake.ts),
 * which decides what the tape does, takes the client's place and creates the attempt; the answer
 * is made from what it returns. 202: a new job or attempt (with its cancel token, shown once);
 * 200: the job as it is, or the kept proof; 429 too_many_waiting; 503 with nothing accepted.
 */
export async function postJob(c: Context<AppEnv>): Promise<Response> {
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
  // The tape is durable before any attempt exists, so no accepted job can lack its tape. If R2
  // fails, the job's object still answers for a tape it knows; a new attempt is refused.
  let tapeStored = true;
  try {
    await c.env.TAPES.put(tapeKey(sha256), bytes, {
      sha256,
      httpMetadata: { contentType: "application/octet-stream" },
    });
  } catch (e) {
    console.error(JSON.stringify({ event: "tape_store_failed", jobId: sha256, error: String(e) }));
    tapeStored = false;
  }
  const cancel = await newCancelToken();
  const result = await c.env.JOB.getByName(sha256).intake({
    jobId: sha256,
    tape: { ...facts, sha256 },
    cancelTokenHash: cancel.hash,
    why: "post",
    client,
    claimant,
    cap: cfg.maxWaitingPerClient,
    tapeStored,
  });
  const answer = (job: Job, view: JobView | null, cancelToken?: string) =>
    c.json(
      {
        success: true,
        status_url: statusUrl(sha256),
        ...(cancelToken ? { cancel_token: cancelToken } : {}),
        job: publicJob(job),
        // Its ETA from the line as it stands (best effort: a POST never fails for want of one).
        estimate: view?.estimate ?? null,
        claim: view?.claim ?? null,
        settlement: view?.settlement ?? settlementOf(cfg),
      },
      cancelToken ? 202 : 200,
    );
  switch (result.kind) {
    case "kept":
      // Proved before and its record since cleared: the kept proof answers; nothing is proved again.
      return c.json({ success: true, status_url: statusUrl(sha256), ...viewBody(result.view) });
    case "existing":
      return answer(result.job, result.view);
    // The token is shown once, in the 202 that starts the attempt: only its hash is stored.
    case "created":
      return answer(result.job, result.view, cancel.token);
    case "too_many_waiting":
      throw new ApiError(
        429,
        "too_many_waiting",
        `this client already has ${result.live} proofs queued or proving (MAX_WAITING_PER_CLIENT is ${cfg.maxWaitingPerClient}); post the next tape once one has ended`,
        undefined,
        { "retry-after": String(TOO_MANY_WAITING_RETRY_SECONDS) },
      );
    case "tape_not_stored":
      throw unavailable("storage", "the tape could not be stored; nothing was accepted, try again");
    case "enqueue_failed":
      throw queueUnavailable(result.message);
  }
}

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

/**
 * How long a client told `too_many_waiting` should wait before posting another tape
 * (MAX_WAITING_PER_CLIENT: a client with that many jobs queued or proving gets 429
 * too_many_waiting for its next tape; counted by its ClientQuota, src/objects/client-quota.ts).
 */
export const TOO_MANY_WAITING_RETRY_SECONDS = 60;

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
