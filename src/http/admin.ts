import { Hono } from "hono";
import { ADMIN_GATE, requireBearer } from "./bearer.ts";
import { newCancelToken } from "./cancel-token.ts";
import { checkProverUrl, configFrom } from "../core/config.ts";
import type { AppEnv } from "./app-env.ts";
import { ApiError, conflict, notFound, queueUnavailable } from "./errors.ts";
import { jobIndexOf, parseCursor } from "../objects/job-index.ts";
import { dispatcherOf, type ProverChange } from "../objects/prover-dispatcher.ts";
import { JOB_STATUSES, type Job } from "../core/job.ts";
import { loadJob, publicJob, statusUrl } from "./job-view.ts";
import { decideIntake } from "../core/intake.ts";
import { tapeKey } from "../core/r2-keys.ts";
import { ADMIN_PAGE, AdminJobsQuery, AdminProverBody } from "./schemas.ts";

/**
 * The operator API under /api/admin, behind `Authorization: Bearer <ADMIN_TOKEN>`.
 * No ADMIN_TOKEN configured: 403 admin_disabled. Missing or wrong token: 401 unauthorized.
 */
export const admin = new Hono<AppEnv>();

admin.use("*", async (c, next) => {
  const cfg = configFrom(c.env);
  await requireBearer(c.req.header("authorization"), cfg.adminToken, ADMIN_GATE);
  c.set("config", cfg);
  await next();
});

/** What a bad `GET /jobs` query answers: the first bad field, in this order, names the error. */
const QUERY_FIELDS = ["status", "limit", "cursor"] as const;
function queryError(field: (typeof QUERY_FIELDS)[number]): ApiError {
  const answers: Record<typeof field, [string, string]> = {
    status: ["invalid_status", `status must be one of ${JOB_STATUSES.join(", ")}`],
    limit: ["invalid_limit", `limit must be a whole number from 1 to ${ADMIN_PAGE.max}`],
    cursor: ["invalid_cursor", "cursor must be a next_cursor from an earlier page"],
  };
  return new ApiError(400, ...answers[field]);
}

/** Recent jobs, newest first (by the start of their current attempt), optionally by status. */
admin.get("/jobs", async (c) => {
  const q = AdminJobsQuery.safeParse(c.req.query());
  if (!q.success) {
    const bad = new Set(q.error.issues.map((i) => i.path[0]));
    throw queryError(QUERY_FIELDS.find((f) => bad.has(f)) ?? "cursor");
  }
  const after = q.data.cursor === undefined ? null : parseCursor(q.data.cursor);
  if (q.data.cursor !== undefined && after === null) throw queryError("cursor");
  const page = await jobIndexOf(c.env).list({
    status: q.data.status ?? null,
    limit: q.data.limit,
    after,
  });
  return c.json({ success: true, jobs: page.jobs, next_cursor: page.nextCursor });
});

/** One job in full (as players see it, with its attempt history and pending clean-ups). */
admin.get("/jobs/:jobId", async (c) => {
  return c.json({ success: true, job: publicJob(await loadJob(c.env, c.req.param("jobId"))) });
});

/**
 * Gives a failed (also dead-lettered) or cancelled job a fresh attempt from its stored tape,
 * exactly as the player posting the tape again would. The new cancel token is in the answer.
 */
admin.post("/jobs/:jobId/redrive", async (c) => {
  const job = await loadJob(c.env, c.req.param("jobId"));
  const { jobId } = job;
  const notRedrivable = (j: Job) =>
    c.json(
      {
        success: false,
        error: {
          code: "job_not_redrivable",
          message: `only a failed or cancelled job can be redriven; this one is ${j.status}`,
        },
        job: publicJob(j),
      },
      409,
    );
  if (decideIntake(job).kind !== "new_attempt") return notRedrivable(job);
  if ((await c.env.TAPES.head(tapeKey(jobId))) === null) {
    throw conflict(
      "tape_missing",
      "the job's tape is no longer stored; the player must post it again",
    );
  }
  const cancel = await newCancelToken();
  // As a post of the tape would, but for the attempt's own client, counted and never refused.
  const created = await c.env.JOB.getByName(jobId).intake({
    jobId,
    tape: job.tape,
    cancelTokenHash: cancel.hash,
    why: "redrive",
    client: null,
    claimant: null,
    cap: null,
    tapeStored: true,
  });
  if (created.kind === "enqueue_failed") throw queueUnavailable(created.message);
  if (created.kind === "existing") return notRedrivable(created.job);
  if (created.kind === "kept") return notRedrivable(created.view.job);
  if (created.kind !== "created") throw new Error(`a redrive cannot end ${created.kind}`);
  return c.json(
    {
      success: true,
      status_url: statusUrl(jobId),
      cancel_token: cancel.token,
      job: publicJob(created.job),
    },
    202,
  );
});

// --- The prover fleet ---------------------------------------------------------------------------

/** Every prover: id, url, state and why, source, the job it proves, health, circuit, counts. */
admin.get("/provers", async (c) => {
  return c.json({ success: true, provers: await dispatcherOf(c.env).listProvers() });
});

/**
 * Adds a prover at runtime (kept by the dispatcher; same URL rules as PROVER_BASE_URL), with its
 * own API key or none: the configured keys never go to it. The key is never echoed or logged.
 */
admin.post("/provers", async (c) => {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new ApiError(400, "invalid_body", 'send a JSON body {"url": "https://…", "apiKey": "…"}');
  }
  const parsed = AdminProverBody.safeParse(body);
  if (parsed.error?.issues.some((i) => i.path[0] === "apiKey")) {
    throw new ApiError(400, "invalid_body", "apiKey must be 1–512 visible ASCII characters");
  }
  // Not `{url: string}`: checkProverUrl refuses the missing url with its usual message.
  const checked = checkProverUrl(parsed.data?.url, c.get("config"));
  if (!checked.ok) throw new ApiError(400, "invalid_prover_url", checked.message);
  const change = await dispatcherOf(c.env).addProver(checked.url, parsed.data?.apiKey);
  if (change.kind === "exists") {
    return c.json(
      {
        success: false,
        error: { code: "prover_exists", message: `${checked.url} is already in the fleet` },
        prover: change.prover,
      },
      409,
    );
  }
  return c.json({ success: true, prover: found(change, checked.url) }, 201);
});

/** Drain: the prover finishes the proof it has and gets no new one. */
admin.post("/provers/:id/drain", async (c) => {
  const change = await dispatcherOf(c.env).setDraining(c.req.param("id"), true);
  return c.json({ success: true, prover: found(change, c.req.param("id")) });
});

/** Resume a drained or quarantined prover: it may get work again (its contradictions reset). */
admin.post("/provers/:id/resume", async (c) => {
  const change = await dispatcherOf(c.env).resume(c.req.param("id"));
  return c.json({ success: true, prover: found(change, c.req.param("id")) });
});

/** Removes a runtime-added prover once it is idle (409 while it proves; configured ones: drain). */
admin.delete("/provers/:id", async (c) => {
  const id = c.req.param("id");
  const change = await dispatcherOf(c.env).removeProver(id);
  if (change.kind === "proving" || change.kind === "configured") {
    const error =
      change.kind === "proving"
        ? { code: "prover_proving", message: "the prover is proving a job; drain it and try again" }
        : {
            code: "prover_configured",
            message: "a prover from PROVER_BASE_URL(S) can be drained, not deleted",
          };
    return c.json({ success: false, error, prover: change.prover }, 409);
  }
  return c.json({ success: true, prover: found(change, id) });
});

function found(change: ProverChange, id: string) {
  if (change.kind === "not_found") throw notFound("prover_not_found", `no prover ${id}`);
  return change.prover;
}
