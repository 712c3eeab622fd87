import * as z from "zod";
import { ConfigError, configFrom, type Config } from "../core/config.ts";
import { signWebhook, webhookGivesUp, webhookRetryDelaySeconds } from "../core/webhook.ts";
import type { WebhookMessage } from "./webhook-send.ts";

const webhookMessage = z.object({
  // Standard Webhooks: the id is signed as `id.timestamp.body`, so it must hold no dot.
  id: z.string().regex(/^msg_[A-Za-z0-9_]{1,200}$/),
  firstSentAt: z.number().int().nonnegative(),
  body: z.string().min(1).max(100_000),
}) satisfies z.ZodType<WebhookMessage>;

type Delivery = { ok: true; status: number } | { ok: false; status: number | null; reason: string };

const log = (level: "log" | "warn" | "error", line: Record<string, unknown>) =>
  console[level](JSON.stringify(line));

/**
 * The webhooks queue consumer: each message is one event POSTed to WEBHOOK_URL, signed afresh for
 * this attempt (`webhook-timestamp` is now; the id and body never change). A 2xx acks it; anything
 * else (another status, a redirect, a timeout, a network error) retries it with
 * `webhookRetryDelaySeconds`, until WEBHOOK_RETRY_WINDOW_MS after its first send, when it is
 * acked and logged `webhook_given_up`. A batch's deliveries run side by side.
 */
export async function handleWebhooks(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  let cfg: Config | ConfigError;
  try {
    cfg = configFrom(env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    cfg = e;
  }
  await Promise.all(batch.messages.map((m) => handleOne(m, batch.queue, cfg)));
}

async function handleOne(
  message: Message<unknown>,
  queue: string,
  cfg: Config | ConfigError,
): Promise<void> {
  const parsed = webhookMessage.safeParse(message.body);
  if (!parsed.success) {
    // Not ours (or corrupt): retrying cannot make it valid.
    log("warn", { event: "queue_message_invalid", queue, messageId: message.id });
    message.ack();
    return;
  }
  const { id, firstSentAt, body } = parsed.data;
  const attempts = message.attempts;
  if (cfg instanceof ConfigError) {
    // Nothing can be sent until the operator fixes the vars (/api/health names them): keep it.
    const retryInSeconds = webhookRetryDelaySeconds(attempts);
    log("error", { event: "webhook_failed", id, attempts, reason: cfg.code, retryInSeconds });
    message.retry({ delaySeconds: retryInSeconds });
    return;
  }
  if (!cfg.webhookUrl || !cfg.webhookSecret) {
    log("warn", { event: "webhook_dropped", id, attempts, reason: "webhooks_off" });
    message.ack();
    return;
  }
  const result = await deliver(cfg.webhookUrl, cfg.webhookSecret, cfg.webhookTimeoutMs, id, body);
  if (result.ok) {
    log("log", { event: "webhook_delivered", id, attempts, status: result.status });
    message.ack();
    return;
  }
  const now = Date.now();
  const givesUp = webhookGivesUp(firstSentAt, now, cfg);
  const retryInSeconds = givesUp ? null : webhookRetryDelaySeconds(attempts);
  log("warn", {
    event: "webhook_failed",
    id,
    attempts,
    status: result.status,
    reason: result.reason,
    retryInSeconds,
  });
  if (retryInSeconds !== null) {
    message.retry({ delaySeconds: retryInSeconds });
    return;
  }
  log("error", {
    event: "webhook_given_up",
    id,
    attempts,
    firstSentAt,
    sinceFirstSentMs: now - firstSentAt,
    windowMs: cfg.webhookRetryWindowMs,
  });
  message.ack();
}

/**
 * One POST. Redirects are not followed (a 3xx is a failure: the receiver should be configured at
 * its real URL, and its signature must not be sent elsewhere) and the reply is never read: only
 * its status counts, and its body is cancelled.
 */
async function deliver(
  url: string,
  secret: string,
  timeoutMs: number,
  id: string,
  body: string,
): Promise<Delivery> {
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = await signWebhook(secret, id, timestamp, body);
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signature,
      },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const name = e instanceof Error ? e.name : "";
    return {
      ok: false,
      status: null,
      reason: name === "TimeoutError" || name === "AbortError" ? "timeout" : "network",
    };
  }
  try {
    await res.body?.cancel();
  } catch {
    // The status is all that was needed.
  }
  if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
  return {
    ok: false,
    status: res.status,
    reason: res.status >= 300 && res.status < 400 ? "redirect" : "status",
  };
}
