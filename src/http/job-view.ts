import { ApiError, notFound } from "./errors.ts";
import type { Estimate } from "../core/estimate.ts";
import type { Job } from "../core/job.ts";
import { JobIdParam } from "./schemas.ts";

/** How jobs look from outside: the shapes and checks the player and admin routes share. */

export const statusUrl = (jobId: string) => `/api/proofs/jobs/${jobId}`;

/** The job as players (and operators) see it: never the cancel token's hash nor the client's. */
export function publicJob(job: Job) {
  const { cancelTokenHash: _hash, client: _client, ...rest } = job;
  return rest;
}

/** The `:jobId` path parameter, checked with the API's schema (`JobIdParam`). */
export function checkedJobId(jobId: string): string {
  const r = JobIdParam.safeParse({ jobId });
  if (!r.success)
    throw new ApiError(400, "invalid_job_id", "a job id is the 64-hex SHA-256 of the tape");
  return r.data.jobId;
}

/** The job by id (400 for a malformed id, 404 when there is none), deadlines applied on read. */
export async function loadJob(env: Env, jobId: string): Promise<Job> {
  checkedJobId(jobId);
  const job = await env.JOB.getByName(jobId).get();
  if (!job) throw notFound("job_not_found", `no job ${jobId}`);
  return job;
}

/** A job with its place in line and its ETA: what `GET`, the `202` and the socket show. */
export interface JobView {
  job: Job;
  /** While it waits in the dispatcher's line: how many jobs are served before it (0: next). */
  queue: { ahead: number } | null;
  /** When it should reach a prover and be proved (null once it ended). */
  estimate: Estimate | null;
}

/** One live-status message on `GET /api/proofs/jobs/:jobId/ws`. */
export const socketMessage = (v: JobView) => ({
  type: "job" as const,
  job: publicJob(v.job),
  queue: v.queue,
  estimate: v.estimate,
});
