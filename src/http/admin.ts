import { createRoute, OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import { ADMIN_GATE, requireBearer } from "./bearer.ts";
import { newCancelToken } from "./cancel-token.ts";
import { checkProverUrl, configFrom } from "../core/config.ts";
import type { Context } from "hono";
import type * as z from "zod";
import type { AppEnv } from "./app-env.ts";
import { ApiError, conflict, notFound, queueUnavailable } from "./errors.ts";
import { jobIndexOf, parseCursor } from "../objects/job-index.ts";
import { dispatcherOf, type ProverChange } from "../objects/prover-dispatcher.ts";
import { JOB_STATUSES, type Job } from "../core/job.ts";
import { loadJob, publicJob, statusUrl } from "./job-view.ts";
import { decideIntake } from "../core/intake.ts";
import { tapeKey } from "../core/r2-keys.ts";
import { errorBody, type ErrorCodeName } from "../core/error-codes.ts";
import { ADMIN, ANY, answers, json, readByHandler, SECURITY, type Answers } from "./route-spec.ts";
import * as S from "./schemas.ts";
import { ADMIN_PAGE, AdminProverBody } from "./schemas.ts";
import { onInvalid } from "./validation.ts";

/**
 * The operator API under /api/admin, behind `Authorization: Bearer <ADMIN_TOKEN>`.
 * No ADMIN_TOKEN configured: 403 admin_disabled. Missing or wrong token: 401 unauthorized.
 */
export const admin = new OpenAPIHono<AppEnv>({ defaultHook: onInvalid });

/** An admin route (under /api/admin): behind ADMIN_TOKEN, with the admin middleware's codes. */
const adminRoute = <R extends Omit<RouteConfig, "responses">>(
  route: R & { ok: Answers; errors: ErrorCodeName[] },
) => {
  const { ok, errors, ...rest } = route;
  return createRoute({
    ...rest,
    tags: ["admin"],
    security: SECURITY.admin,
    responses: answers(ok, [...errors, ...ADMIN, ...ANY]),
  });
};

admin.use("*", async (c, next) => {
  const cfg = configFrom(c.env);
  await requireBearer(c.req.header("authorization"), cfg.adminToken, ADMIN_GATE);
  c.set("config", cfg);
  await next();
});

/** What a bad `GET /jobs` query answers: the first bad field, in this order, names the error. */
const QUERY_FIELDS = ["status", "limit", "cursor"] as const;
function queryError(field: (typeof QUERY_FIELDS)[number]): ApiError {
  const byField: Record<typeof field, [ErrorCodeName, string]> = {
    status: ["invalid_status", `status must be one of ${JOB_STATUSES.join(", ")}`],
    limit: ["invalid_limit", `limit must be a whole number from 1 to ${ADMIN_PAGE.max}`],
    cursor: ["invalid_cursor", "cursor must be a next_cursor from an earlier page"],
  };
  return new ApiError(400, ...byField[field]);
}

/** Recent jobs, newest first (by the start of their current attempt), optionally by status. */
const listJobs = adminRoute({
  method: "get",
  path: "/jobs",
  summary: "Recent jobs, newest first",
  request: { query: S.AdminJobsQuery },
  ok: { 200: json("One page.", S.AdminJobsBody) },
  errors: ["invalid_status", "invalid_limit", "invalid_cursor"],
});

/** One page of the index, newest first. */
async function jobsPage(c: Context<AppEnv>, q: z.output<typeof S.AdminJobsQuery>) {
  const after = q.cursor === undefined ? null : parseCursor(q.cursor);
  if (q.cursor !== undefined && after === null) throw queryError("cursor");
  const page = await jobIndexOf(c.env).list({ status: q.status ?? null, limit: q.limit, after });
  return c.json({ success: true, jobs: page.jobs, next_cursor: page.nextCursor });
}

admin.openapi(
  listJobs,
  (c) => jobsPage(c, c.req.valid("query")),
  // A key given twice reaches the schema as a list: its first value counts, as it always has.
  // Then the first bad field, in QUERY_FIELDS' order, names the error.
  (result, c) => {
    if (result.success) return undefined;
    const q = S.AdminJobsQuery.safeParse(c.req.query());
    if (q.success) return jobsPage(c, q.data);
    const bad = new Set(q.error.issues.map((i) => i.path[0]));
    throw queryError(QUERY_FIELDS.find((f) => bad.has(f)) ?? "cursor");
  },
);

/** One job in full (as players see it, with its attempt history and pending clean-ups). */
const getJob = adminRoute({
  method: "get",
  path: "/jobs/{jobId}",
  summary: "One job in full",
  request: { params: S.JobIdParam },
  ok: { 200: json("The job.", S.JobBody) },
  errors: ["invalid_job_id", "job_not_found"],
});

admin.openapi(getJob, async (c) => {
  return c.json({
    success: true,
    job: publicJob(await loadJob(c.env, c.req.valid("param").jobId)),
  });
});

/**
 * Gives a failed (also dead-lettered) or cancelled job a fresh attempt from its stored tape,
 * exactly as the player posting the tape again would. The new cancel token is in the answer.
 */
const redrive = adminRoute({
  method: "post",
  path: "/jobs/{jobId}/redrive",
  summary: "A fresh attempt for a failed or cancelled job, from its stored tape",
  request: { params: S.JobIdParam },
  ok: { 202: json("The new attempt, with its cancel_token.", S.RedriveBody) },
  errors: [
    "invalid_job_id",
    "job_not_found",
    "job_not_redrivable",
    "tape_missing",
    "queue_unavailable",
  ],
});

admin.openapi(redrive, async (c) => {
  const job = await loadJob(c.env, c.req.valid("param").jobId);
  const { jobId } = job;
  const notRedrivable = (j: Job) =>
    c.json(
      errorBody(
        "job_not_redrivable",
        `only a failed or cancelled job can be redriven; this one is ${j.status}`,
        {},
        { job: publicJob(j) },
      ),
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
const listProvers = adminRoute({
  method: "get",
  path: "/provers",
  summary: "Every prover of the fleet",
  ok: { 200: json("The fleet.", S.ProversBody) },
  errors: [],
});

admin.openapi(listProvers, async (c) => {
  return c.json({ success: true, provers: await dispatcherOf(c.env).listProvers() });
});

/**
 * Adds a prover at runtime (kept by the dispatcher; same URL rules as PROVER_BASE_URL), with its
 * own API key or none: the configured keys never go to it. The key is never echoed or logged.
 */
const addProver = adminRoute({
  method: "post",
  path: "/provers",
  summary: "Add a prover at runtime",
  request: {
    body: {
      required: true,
      description: "The prover's origin.",
      // Read by the handler: a bad url is invalid_prover_url (checkProverUrl's message).
      content: { "application/json": { schema: readByHandler(AdminProverBody) } },
    },
  },
  ok: { 201: json("The prover, added.", S.ProverBody) },
  errors: ["invalid_body", "invalid_prover_url", "prover_exists"],
});

admin.openapi(addProver, async (c) => {
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
      errorBody(
        "prover_exists",
        `${checked.url} is already in the fleet`,
        {},
        {
          prover: change.prover,
        },
      ),
      409,
    );
  }
  return c.json({ success: true, prover: found(change, checked.url) }, 201);
});

/** Drain: the prover finishes the proof it has and gets no new one. */
/** A route on one prover (`{id}`). */
const proverRoute = (
  method: "post" | "delete",
  path: "/provers/{id}" | "/provers/{id}/drain" | "/provers/{id}/resume",
  summary: string,
  ok: string,
  errors: ErrorCodeName[] = [],
) =>
  adminRoute({
    method,
    path,
    summary,
    request: { params: S.ProverIdParam },
    ok: { 200: json(ok, S.ProverBody) },
    errors: ["prover_not_found", ...errors],
  });

const drain = proverRoute(
  "post",
  "/provers/{id}/drain",
  "Drain a prover: it finishes its proof and gets no new one",
  "The prover.",
);

admin.openapi(drain, async (c) => {
  const { id } = c.req.valid("param");
  const change = await dispatcherOf(c.env).setDraining(id, true);
  return c.json({ success: true, prover: found(change, id) });
});

/** Resume a drained or quarantined prover: it may get work again (its contradictions reset). */
const resume = proverRoute(
  "post",
  "/provers/{id}/resume",
  "Resume a drained or quarantined prover (its contradictions start again)",
  "The prover.",
);

admin.openapi(resume, async (c) => {
  const { id } = c.req.valid("param");
  const change = await dispatcherOf(c.env).resume(id);
  return c.json({ success: true, prover: found(change, id) });
});

/** Removes a runtime-added prover once it is idle (409 while it proves; configured ones: drain). */
const removeProver = proverRoute(
  "delete",
  "/provers/{id}",
  "Remove a runtime-added, idle prover",
  "The prover, removed.",
  ["prover_proving", "prover_configured"],
);

admin.openapi(removeProver, async (c) => {
  const { id } = c.req.valid("param");
  const change = await dispatcherOf(c.env).removeProver(id);
  if (change.kind === "proving" || change.kind === "configured") {
    const [code, message] =
      change.kind === "proving"
        ? (["prover_proving", "the prover is proving a job; drain it and try again"] as const)
        : ([
            "prover_configured",
            "a prover from PROVER_BASE_URL(S) can be drained, not deleted",
          ] as const);
    return c.json(errorBody(code, message, {}, { prover: change.prover }), 409);
  }
  return c.json({ success: true, prover: found(change, id) });
});

function found(change: ProverChange, id: string) {
  if (change.kind === "not_found") throw notFound("prover_not_found", `no prover ${id}`);
  return change.prover;
}
