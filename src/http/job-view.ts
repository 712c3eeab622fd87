import { ApiError, notFound } from "./errors.ts";
import { JOB_ID_PATTERN, type Job } from "../core/job.ts";

/** How jobs look from outside: the shapes and checks the player and admin routes share. */

export const statusUrl = (jobId: string) => `/api/proofs/jobs/${jobId}`;

/** The job as players (and operators) see it: never the cancel token's hash nor the client's. */
export function publicJob(job: Job) {
  const { cancelTokenHash: _hash, client: _client, ...rest } = job;
  return rest;
}

export function checkedJobId(jobId: string): string {
  if (!JOB_ID_PATTERN.test(jobId))
    throw new ApiError(400, "invalid_job_id", "a job id is the 64-hex SHA-256 of the tape");
  return jobId;
}

/** The job by id (400 for a malformed id, 404 when there is none), deadlines applied on read. */
export async function loadJob(env: Env, jobId: string): Promise<Job> {
  checkedJobId(jobId);
  const job = await env.JOB.getByName(jobId).get();
  if (!job) throw notFound("job_not_found", `no job ${jobId}`);
  return job;
}
