import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { configFrom } from "../core/config.ts";
import type { AppEnv } from "./app-env.ts";
import { readBodyLimited } from "./body.ts";
import { requireBearer } from "./bearer.ts";
import { ApiError, conflict, notFound } from "./errors.ts";
import { publicJob } from "./job-view.ts";
import { ANY, answers, DEPENDENCIES, json, readByHandler, SECURITY } from "./route-spec.ts";
import { ClaimBody, ClaimReportBody, JobIdParam } from "./schemas.ts";
import { onInvalid } from "./validation.ts";

/**
 * The settlement service's side door (for example the game's on-chain claim relayer, told of each
 * proof by the completion webhook): it reports how the proof's claim is going. Behind
 * `Authorization: Bearer <SETTLEMENT_TOKEN>`; none configured: 403 settlement_disabled.
 */
export const settlement = new OpenAPIHono<AppEnv>({ defaultHook: onInvalid });

/** A report is a few hundred bytes; anything past this is not one. */
export const MAX_CLAIM_REPORT_BYTES = 4096;

settlement.use("*", async (c, next) => {
  const cfg = configFrom(c.env);
  await requireBearer(c.req.header("authorization"), cfg.settlementToken, {
    name: "SETTLEMENT_TOKEN",
    realm: "settlement",
    disabled: {
      code: "settlement_disabled",
      message: "claim reports are disabled: no SETTLEMENT_TOKEN is configured",
    },
  });
  c.set("config", cfg);
  await next();
});

const reportClaim = createRoute({
  method: "put",
  path: "/jobs/{jobId}/claim",
  summary: "Report how a proof's on-chain claim is going",
  description:
    "For the settlement service told of each proof by the completion webhook. Kept beside the result in R2 (it outlives the job's record), shown as `claim` in the job's views and pushed on its sockets. A claim that succeeded is settled: the same report again is accepted, another answers 409 claim_settled.",
  tags: ["settlement"],
  security: SECURITY.settlement,
  request: {
    params: JobIdParam,
    body: {
      required: true,
      description: "The claim's status, transaction, error.",
      // Read by the handler, at most MAX_CLAIM_REPORT_BYTES, then checked with ClaimReportBody.
      content: { "application/json": { schema: readByHandler(ClaimReportBody) } },
    },
  },
  responses: answers({ 200: json("The claim as now kept.", ClaimBody) }, [
    "settlement_disabled",
    "unauthorized",
    "config_invalid",
    "invalid_job_id",
    "body_too_large",
    "invalid_body",
    "job_not_found",
    "result_not_ready",
    "no_result",
    "claim_settled",
    ...DEPENDENCIES,
    ...ANY,
  ]),
});

settlement.openapi(reportClaim, async (c) => {
  const { jobId } = c.req.valid("param");
  let raw: Uint8Array;
  try {
    raw = await readBodyLimited(c.req.raw, MAX_CLAIM_REPORT_BYTES);
  } catch (e) {
    if (e instanceof ApiError && e.status === 413) {
      throw new ApiError(
        413,
        "body_too_large",
        `a claim report is at most ${MAX_CLAIM_REPORT_BYTES} bytes`,
      );
    }
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new ApiError(400, "invalid_body", 'send a JSON body {"status": "submitting", …}');
  }
  const body = ClaimReportBody.safeParse(json);
  if (!body.success) {
    const issue = body.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
    throw new ApiError(400, "invalid_body", `${where}${issue.message}`);
  }
  const result = await c.env.JOB.getByName(jobId).reportClaim(body.data);
  switch (result.kind) {
    case "not_found":
      throw notFound("job_not_found", `no job ${jobId}`);
    case "no_proof":
      throw new ApiError(
        409,
        result.job.status === "queued" || result.job.status === "proving"
          ? "result_not_ready"
          : "no_result",
        `there is no proof to claim: the job is ${result.job.status}`,
        { job: publicJob(result.job) },
      );
    case "refused":
      throw conflict("claim_settled", result.message);
    case "storage_failed":
      throw new ApiError(
        503,
        "storage_unavailable",
        "the claim report could not be stored; nothing changed, send it again",
        undefined,
        { "retry-after": "5" },
      );
    case "recorded":
      return c.json({ success: true, claim: result.claim });
  }
});
