import type { WebhookEvent } from "../core/webhook.ts";

/**
 * What travels on the webhooks queue: the event's id, when it was first sent (the retry window
 * counts from here) and the body as the exact string every delivery sends and signs.
 */
export interface WebhookMessage {
  id: string;
  firstSentAt: number;
  body: string;
}

/**
 * Puts an event on its way to WEBHOOK_URL, off the request path: the consumer
 * (src/queue/webhooks.ts) delivers it, retrying until the receiver answers 2xx or the retry
 * window ends. The body is serialised here, once, so every retry sends identical bytes.
 * A null event (the job has not ended, or webhooks are off) sends nothing.
 */
export async function sendWebhook(env: Env, event: WebhookEvent | null): Promise<void> {
  if (!event) return;
  const message: WebhookMessage = {
    id: event.id,
    firstSentAt: Date.now(),
    body: JSON.stringify(event.payload),
  };
  await env.WEBHOOKS_QUEUE.send(message);
}
