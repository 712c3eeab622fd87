/** What travels on the jobs queue and its dead-letter queue. Pure: ops tools and tests use it. */

/**
 * A queue message: which job's Durable Object (named by the job id) to hand it to, and which of
 * its attempts sent it. `attempt` is absent in messages sent before it was added, and in the
 * dispatcher's grants (the line knows jobs, not attempts).
 */
export interface JobMessage {
  jobId: string;
  attempt?: number;
}

/** The dead-letter queue is recognised by name: `<jobs queue>-dlq` (see wrangler.jsonc). */
export const isDeadLetterQueue = (queueName: string) => queueName.endsWith("-dlq");

/** A message that reached the dead-letter queue: its attempt (null: none named) and when it was sent. */
export interface DeadLetter {
  attempt: number | null;
  /** The message's send time (epoch ms; the DLQ keeps the original's), null when unknown. */
  sentAt: number | null;
}

/**
 * Whether a dead letter is about the job's current attempt, the only one it may end: the attempt
 * it names; without one, an attempt that had begun when the message was sent (a message sent
 * before an attempt began cannot be about it); with neither, the current attempt.
 */
export function deadLetterApplies(
  job: { attempt: number; attemptStartedAt: number },
  letter: DeadLetter,
): boolean {
  if (letter.attempt !== null) return letter.attempt === job.attempt;
  if (letter.sentAt !== null) return job.attemptStartedAt <= letter.sentAt;
  return true;
}
