/** What travels on the jobs queue and its dead-letter queue. Pure: ops tools and tests use it. */

/** A queue message: which job's Durable Object (named by the job id) to hand it to. */
export interface JobMessage {
  jobId: string;
}

/** The dead-letter queue is recognised by name: `<jobs queue>-dlq` (see wrangler.jsonc). */
export const isDeadLetterQueue = (queueName: string) => queueName.endsWith("-dlq");
