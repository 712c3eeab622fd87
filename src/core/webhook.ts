import type { Config } from "./config.ts";
import type { Job, JobError, Journal } from "./job.ts";

/**
 * Completion webhooks, the pure part: which event an ended job sends, how it is signed
 * (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` over
 * `id.timestamp.body`, so a receiver can use an existing verifier) and the retry schedule.
 * The queue consumer (src/queue/webhooks.ts) delivers; nothing here touches the job.
 */

/** The queue that carries webhook deliveries (wrangler.jsonc `queues`; its binding WEBHOOKS_QUEUE). */
export const WEBHOOKS_QUEUE_NAME = "proof-webhooks";

/** What a settlement service receives for an ended job, as `data` of the payload. */
export type WebhookData = {
  job_id: string;
  attempt: number;
  status: "succeeded" | "failed" | "cancelled";
  /** The Stellar address the attempt was posted for; null: none given. */
  claimant: string | null;
} & (
  | {
      status: "succeeded";
      journal: Journal | null;
      /** The verified on-chain seal (260 bytes hex); null when receipts are not verified. */
      seal: string | null;
      image_id: string | null;
      /** `GET` it for the whole result document. */
      result_url: string;
    }
  | { status: "failed"; error: JobError }
  | { status: "cancelled" }
);

/** The body, Standard Webhooks style. */
export interface WebhookPayload {
  type: "proof.succeeded" | "proof.failed" | "proof.cancelled";
  /** When the job ended (ISO 8601): the same for every send of the same event. */
  timestamp: string;
  data: WebhookData;
}

/** One event to deliver: `id` is the `webhook-id` every retry and every re-send repeats. */
export interface WebhookEvent {
  id: string;
  payload: WebhookPayload;
}

/**
 * The event an ended job sends, or null: the job has not ended, or webhooks are off (no
 * WEBHOOK_URL). The id is `msg_<jobId>_<attempt>_<status>` and the timestamp is the job's
 * `finishedAt`, so saving the same ended job twice yields the same event, byte for byte: a
 * receiver deduplicating by `webhook-id` sees one event per attempt's end.
 */
export function webhookEventFor(
  job: Job,
  cfg: Pick<Config, "webhookUrl" | "publicBaseUrl">,
  now: number,
): WebhookEvent | null {
  if (!cfg.webhookUrl) return null;
  const status = job.status;
  if (status !== "succeeded" && status !== "failed" && status !== "cancelled") return null;
  const base = {
    job_id: job.jobId,
    attempt: job.attempt,
    claimant: job.claimant ?? null,
  };
  let data: WebhookData;
  if (status === "succeeded") {
    data = {
      ...base,
      status,
      journal: job.result?.journal ?? null,
      seal: job.result?.seal ?? null,
      image_id: job.result?.imageId ?? null,
      result_url: `${cfg.publicBaseUrl ?? ""}/api/proofs/jobs/${job.jobId}/result`,
    };
  } else if (status === "failed") {
    data = {
      ...base,
      status,
      error: job.error ?? { code: "unknown", message: "The job failed." },
    };
  } else {
    data = { ...base, status };
  }
  return {
    id: `msg_${job.jobId}_${job.attempt}_${status}`,
    payload: {
      type: `proof.${status}`,
      timestamp: new Date(job.finishedAt ?? now).toISOString(),
      data,
    },
  };
}

/** Standard Webhooks keys are 24 to 64 random bytes. */
const KEY_MIN_BYTES = 24;
const KEY_MAX_BYTES = 64;

/** The key bytes of a `whsec_<base64>` secret, or null when it is not one. */
export function webhookKey(secret: string): Uint8Array<ArrayBuffer> | null {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!m || m[1]!.length % 4 !== 0) return null;
  let raw: string;
  try {
    raw = atob(m[1]!);
  } catch {
    return null;
  }
  if (raw.length < KEY_MIN_BYTES || raw.length > KEY_MAX_BYTES) return null;
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/**
 * The `webhook-signature` header: `v1,` + base64 HMAC-SHA256, keyed by the secret's bytes, over
 * `${id}.${timestampSeconds}.${body}` (the exact body bytes sent). Throws on a malformed secret
 * (the config refuses one first).
 */
export async function signWebhook(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): Promise<string> {
  const key = webhookKey(secret);
  if (!key) throw new Error("WEBHOOK_SECRET is not whsec_ + base64 of a 24 to 64-byte key");
  const hmacKey = await crypto.subtle.importKey(
    "raw",
    key,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    hmacKey,
    new TextEncoder().encode(`${id}.${timestampSeconds}.${body}`),
  );
  return `v1,${btoa(String.fromCharCode(...new Uint8Array(mac)))}`;
}

/** The first retry's delay; each next one doubles it. */
export const WEBHOOK_FIRST_RETRY_SECONDS = 5;
/** The longest pause between two deliveries (Queues allows 43 200 s). */
export const WEBHOOK_MAX_RETRY_SECONDS = 3_600;

/**
 * The pause after the `attempts`-th delivery failed (`message.attempts`, 1 for the first):
 * 5 s, 10 s, 20 s, … doubling up to 1 h. Not jittered: the events of different jobs end at
 * different times already, and a test can name the delay exactly.
 */
export function webhookRetryDelaySeconds(attempts: number): number {
  const n = Math.max(1, Math.floor(attempts));
  return Math.min(
    WEBHOOK_MAX_RETRY_SECONDS,
    WEBHOOK_FIRST_RETRY_SECONDS * 2 ** Math.min(n - 1, 30),
  );
}

/** True once a failing event has been tried for WEBHOOK_RETRY_WINDOW_MS: it is given up. */
export function webhookGivesUp(
  firstSentAt: number,
  now: number,
  cfg: Pick<Config, "webhookRetryWindowMs">,
): boolean {
  return now - firstSentAt >= cfg.webhookRetryWindowMs;
}
