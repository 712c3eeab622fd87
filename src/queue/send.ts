import type { JobMessage } from "./message.ts";

/**
 * Sends a job through the jobs queue: the one way anything puts a job on its way to a prover.
 * `attempt` names the attempt it is sent for (its dead letter ends that attempt only).
 */
export const sendJob = (env: Env, jobId: string, attempt?: number) =>
  env.JOBS_QUEUE.send(
    (attempt === undefined ? { jobId } : { jobId, attempt }) satisfies JobMessage,
  );
