import { ApiError, notFound } from "./errors.ts";
import type { Job } from "../core/job.ts";
import type { JobView } from "../core/view.ts";
import { JobIdParam } from "./schemas.ts";

export { settlementOf, viewIsFinal, type JobView, type Settlement } from "../core/view.ts";

/** How jobs look from outside: the shapes and checks the player and admin routes share. */

export const statusUrl = (jobId: string) => `/api/proofs/jobs/${jobId}`;

/** The job as players (and operators) see it: never the cancel token's hash nor the client's. */
export function publicJob(job: Job) {
  const { cancelTokenHash: _hash, client: _client, ...rest } = job;
  return rest;
}

/** What a malformed job id answers. */
export const invalidJobId = () =>
  new ApiError(400, "invalid_job_id", "a job id is the 64-hex SHA-256 of the tape");

/** The `:jobId` path parameter, checked with the API's schema (`JobIdParam`). */
export function checkedJobId(jobId: string): string {
  const r = JobIdParam.safeParse({ jobId });
  if (!r.success) throw invalidJobId();
  return r.data.jobId;
}

/** The job by id (400 for a malformed id, 404 when there is none), deadlines applied on read. */
export async function loadJob(env: Env, jobId: string): Promise<Job> {
  checkedJobId(jobId);
  const job = await env.JOB.getByName(jobId).get();
  if (!job) throw notFound("job_not_found", `no job ${jobId}`);
  return job;
}

/** One live-status message on `GET /api/proofs/jobs/:jobId/ws`. */
export const socketMessage = (v: JobView) => ({
  type: "job" as const,
  job: publicJob(v.job),
  queue: v.queue,
  estimate: v.estimate,
  claim: v.claim,
  settlement: v.settlement,
});

/** The answer's fields shared by `GET` and the `POST` of a tape already proved. */
export const viewBody = (v: JobView) => {
  const { type: _type, ...body } = socketMessage(v);
  return body;
};
