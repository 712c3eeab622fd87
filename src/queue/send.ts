import type { JobMessage } from "./message.ts";

/** Sends a job through the jobs queue: the one way anything puts a job on its way to a prover. */
export const sendJob = (env: Env, jobId: string) =>
  env.JOBS_QUEUE.send({ jobId } satisfies JobMessage);
