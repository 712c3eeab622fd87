import * as z from "zod";
import { configFrom } from "../core/config.ts";
import { JOB_ID_PATTERN } from "../core/job.ts";
import { retryDelaySeconds } from "../core/retries.ts";
import { WEBHOOKS_QUEUE_NAME } from "../core/webhook.ts";
import { isDeadLetterQueue, type JobMessage } from "./message.ts";
import { handleWebhooks } from "./webhooks.ts";

const jobMessage = z.object({
  jobId: z.string().regex(JOB_ID_PATTERN),
  // Absent in older messages and in the dispatcher's grants.
  attempt: z.number().int().positive().optional(),
});

/**
 * Every consumer. The jobs queue hands each job to its Durable Object, which submits the tape
 * and says whether to ack or retry (with backoff); the DLQ ends the attempt whose deliveries ran
 * out (the one its message names, never a newer one).
 * A message is acked only once its job has dealt with it: any failure retries it. The webhooks
 * queue goes to its own consumer (src/queue/webhooks.ts).
 */
export async function handleQueue(
  batch: MessageBatch<unknown>,
  env: Env,
  _ctx?: ExecutionContext,
): Promise<void> {
  if (batch.queue === WEBHOOKS_QUEUE_NAME) return handleWebhooks(batch, env);
  const deadLetters = isDeadLetterQueue(batch.queue);
  for (const message of batch.messages) {
    const body = jobMessage.safeParse(message.body);
    if (!body.success) {
      // Not ours (or corrupt): retrying cannot make it valid, and no job is waiting on it.
      console.warn(
        JSON.stringify({
          event: "queue_message_invalid",
          queue: batch.queue,
          messageId: message.id,
        }),
      );
      message.ack();
      continue;
    }
    const { jobId, attempt } = body.data satisfies JobMessage;
    try {
      const stub = env.JOB.getByName(jobId);
      if (deadLetters) {
        // Ends that attempt only: a stale dead letter leaves a newer attempt alone.
        const sentAt = message.timestamp?.getTime();
        await stub.deadLetter({
          attempt: attempt ?? null,
          sentAt: Number.isFinite(sentAt) ? sentAt! : null,
        });
        message.ack();
        continue;
      }
      const action = await stub.dispatch();
      if (action.ack) message.ack();
      else message.retry({ delaySeconds: action.retryDelaySeconds });
    } catch (e) {
      console.error(
        JSON.stringify({
          event: "queue_delivery_failed",
          queue: batch.queue,
          jobId,
          attempt: message.attempts,
          error: String(e),
        }),
      );
      let delaySeconds = 60;
      try {
        delaySeconds = retryDelaySeconds(message.attempts, configFrom(env));
      } catch {
        // Invalid config: keep the default delay; /api/health names the bad var.
      }
      message.retry({ delaySeconds });
    }
  }
}
