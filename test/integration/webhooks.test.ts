import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import worker from "../../src/index.ts";
import { parseConfig } from "../../src/core/config.ts";
import {
  webhookEventFor,
  webhookRetryDelaySeconds,
  WEBHOOKS_QUEUE_NAME,
} from "../../src/core/webhook.ts";
import type { Job } from "../../src/core/job.ts";
import { newJob } from "../../src/core/lifecycle.ts";
import { sendWebhook, type WebhookMessage } from "../../src/queue/webhook-send.ts";
import { SAMPLE_TAPE } from "../support/sample-job.ts";
import { TEST_WEBHOOK_SECRET } from "../support/test-vars.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Origin of the webhook receiver test/support/global-setup.ts starts. */
    webhookUrl: string;
  }
}

/** One request the receiver got (test/support/global-setup.ts `startWebhookReceiver`). */
interface Delivery {
  path: string;
  id: string | null;
  timestamp: string | null;
  contentType: string | null;
  signatureValid: boolean;
  body: string;
  status: number | null;
}

const RECEIVER = inject("webhookUrl");
const PUBLIC = "https://gateway.test";
const TIMEOUT_MS = 300;

/** The Worker's env with webhooks on, pointed at one of the receiver's paths. */
function hooksEnv(path: string, extra: Record<string, string> = {}): Env {
  const vars = {
    WEBHOOK_URL: `${RECEIVER}${path}`,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    PUBLIC_BASE_URL: PUBLIC,
    WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    ...extra,
  };
  return { ...env, ...vars };
}

const deliveries = async (): Promise<Delivery[]> => (await fetch(`${RECEIVER}/deliveries`)).json();

let counter = 0;
/** A message as sendWebhook puts it on the queue: a fresh id per call. */
function message(firstSentAt = Date.now()): WebhookMessage {
  const id = `msg_${"c".repeat(64)}_${++counter}_succeeded`;
  const body = JSON.stringify({
    type: "proof.succeeded",
    timestamp: new Date(firstSentAt).toISOString(),
    data: { job_id: "c".repeat(64), attempt: counter, note: "ünïcode ✓" },
  });
  return { id, firstSentAt, body };
}

/**
 * Delivers messages to the Worker's queue handler as the webhooks queue would, and reports what
 * it acked and what it retried with which delay (`getQueueResult` lists retried ids only, so each
 * message's `retry` is watched for its options).
 */
async function deliver(e: Env, bodies: unknown[], attempts = 1) {
  const batch = createMessageBatch(
    WEBHOOKS_QUEUE_NAME,
    bodies.map((body, i) => ({ id: `m${i + 1}`, timestamp: new Date(), attempts, body })),
  );
  const delays = new Map<string, number | undefined>();
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (options?: QueueRetryOptions) => {
      delays.set(m.id, options?.delaySeconds);
      retry(options);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, e, ctx);
  const result = await getQueueResult(batch, ctx);
  return {
    explicitAcks: result.explicitAcks,
    retryMessages: result.retryMessages
      .map(({ msgId }) => ({ msgId, delaySeconds: delays.get(msgId) }))
      .sort((a, b) => a.msgId.localeCompare(b.msgId)),
  };
}

/** Every JSON log line the Worker prints during a test. */
let logs: Record<string, unknown>[] = [];

beforeEach(async () => {
  await fetch(`${RECEIVER}/reset`, { method: "POST" });
  logs = [];
  for (const level of ["log", "warn", "error"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      try {
        logs.push(JSON.parse(String(args[0])));
      } catch {
        // not one of ours
      }
    });
  }
});
afterEach(() => vi.restoreAllMocks());

const events = (name: string) => logs.filter((l) => l.event === name);

describe("the webhooks queue consumer", () => {
  it("a refused first delivery is retried after the first delay; the next one is accepted: same id, same body, both signed", async () => {
    const m = message();
    const e = hooksEnv("/hook");
    expect(await deliver(e, [m], 1)).toEqual({
      explicitAcks: [],
      retryMessages: [{ msgId: "m1", delaySeconds: webhookRetryDelaySeconds(1) }],
    });
    expect(webhookRetryDelaySeconds(1)).toBeLessThanOrEqual(10);
    expect(events("webhook_failed")).toEqual([
      expect.objectContaining({ id: m.id, attempts: 1, status: 500, retryInSeconds: 5 }),
    ]);
    expect(await deliver(e, [m], 2)).toEqual({ explicitAcks: ["m1"], retryMessages: [] });
    expect(events("webhook_delivered")).toEqual([
      expect.objectContaining({ id: m.id, attempts: 2, status: 204 }),
    ]);

    const seen = await deliveries();
    expect(seen.map((d) => [d.path, d.id, d.status])).toEqual([
      ["/hook", m.id, 500],
      ["/hook", m.id, 204],
    ]);
    for (const d of seen) {
      expect(d.signatureValid).toBe(true);
      expect(d.body).toBe(m.body);
      expect(d.contentType).toBe("application/json");
      // webhook-timestamp: this attempt's time, in whole seconds.
      expect(d.timestamp).toMatch(/^\d+$/);
      expect(Math.abs(Number(d.timestamp) - Date.now() / 1000)).toBeLessThan(30);
    }
  });

  it("an event from sendWebhook arrives signed, with the body it was enqueued with", async () => {
    const sent: unknown[] = [];
    const fakeQueue = { send: async (body: unknown) => void sent.push(body) };
    const e = hooksEnv("/hook");
    const cfg = parseConfig(e as unknown as Record<string, unknown>);
    const jobId = "d".repeat(64);
    const job: Job = {
      ...newJob(jobId, { ...SAMPLE_TAPE, sha256: jobId }, Date.now() - 1000, cfg),
      status: "cancelled",
      finishedAt: Date.now(),
      claimant: null,
    };
    const before = Date.now();
    await sendWebhook(
      { ...e, WEBHOOKS_QUEUE: fakeQueue as unknown as Queue },
      webhookEventFor(job, cfg, Date.now()),
    );
    // Nothing to send: webhooks off, or a job that has not ended.
    await sendWebhook({ ...env, WEBHOOKS_QUEUE: fakeQueue as unknown as Queue }, null);
    expect(sent).toHaveLength(1);
    const m = sent[0] as WebhookMessage;
    expect(m).toEqual({
      id: `msg_${jobId}_1_cancelled`,
      firstSentAt: expect.any(Number),
      body: expect.any(String),
    });
    expect(m.firstSentAt).toBeGreaterThanOrEqual(before);
    expect(JSON.parse(m.body)).toEqual({
      type: "proof.cancelled",
      timestamp: new Date(job.finishedAt!).toISOString(),
      data: { job_id: jobId, attempt: 1, status: "cancelled", claimant: null },
    });

    await deliver(e, [m], 1);
    expect(await deliver(e, [m], 2)).toEqual({ explicitAcks: ["m1"], retryMessages: [] });
    const seen = await deliveries();
    expect(seen).toHaveLength(2);
    expect(seen.every((d) => d.signatureValid && d.body === m.body && d.id === m.id)).toBe(true);
  });

  it("a batch is delivered side by side, each message acked or retried on its own", async () => {
    const [a, b, c] = [message(), message(), message()];
    const e = hooksEnv("/hook");
    // b was refused before (its second delivery now), a and c are new.
    await deliver(e, [b], 1);
    expect(await deliver(e, [a, b, c], 2)).toEqual({
      explicitAcks: ["m2"],
      retryMessages: [
        { msgId: "m1", delaySeconds: webhookRetryDelaySeconds(2) },
        { msgId: "m3", delaySeconds: webhookRetryDelaySeconds(2) },
      ],
    });
    const seen = await deliveries();
    expect(seen.map((d) => [d.id, d.status])).toEqual(
      expect.arrayContaining([
        [a.id, 500],
        [b.id, 204],
        [c.id, 500],
      ]),
    );
    expect(seen).toHaveLength(4);
  });

  it("a redirect is a failure: retried, and its target is never called", async () => {
    const m = message();
    expect(await deliver(hooksEnv("/redirect"), [m], 3)).toEqual({
      explicitAcks: [],
      retryMessages: [{ msgId: "m1", delaySeconds: webhookRetryDelaySeconds(3) }],
    });
    expect(webhookRetryDelaySeconds(3)).toBe(20);
    // Give a followed redirect time to land, then look.
    await scheduler.wait(100);
    expect((await deliveries()).map((d) => [d.path, d.status])).toEqual([["/redirect", 302]]);
    expect(events("webhook_failed")).toEqual([
      expect.objectContaining({ id: m.id, status: 302, reason: "redirect" }),
    ]);
  });

  it("a receiver that never answers times out after WEBHOOK_TIMEOUT_MS and is retried", async () => {
    const m = message();
    const start = Date.now();
    expect(await deliver(hooksEnv("/hang"), [m], 1)).toEqual({
      explicitAcks: [],
      retryMessages: [{ msgId: "m1", delaySeconds: webhookRetryDelaySeconds(1) }],
    });
    const took = Date.now() - start;
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
    expect(took).toBeLessThan(TIMEOUT_MS + 3_000);
    expect((await deliveries()).map((d) => [d.path, d.id, d.signatureValid])).toEqual([
      ["/hang", m.id, true],
    ]);
    expect(events("webhook_failed")).toEqual([
      expect.objectContaining({ id: m.id, status: null, reason: "timeout" }),
    ]);
  });

  it("an unreachable receiver is retried", async () => {
    // A port nothing listens on: the receiver's own, once closed, is not ours to close; port 9 is
    // the discard port, closed on any test machine.
    const e = hooksEnv("", { WEBHOOK_URL: "http://127.0.0.1:9/hook" });
    expect(await deliver(e, [message()], 4)).toEqual({
      explicitAcks: [],
      retryMessages: [{ msgId: "m1", delaySeconds: webhookRetryDelaySeconds(4) }],
    });
    expect(events("webhook_failed")).toEqual([
      expect.objectContaining({ status: null, reason: expect.stringMatching(/network|timeout/) }),
    ]);
  });

  it("the retry window: a failure just inside it is retried, past it the event is given up (acked, not retried)", async () => {
    const windowMs = 60_000;
    const e = hooksEnv("/hook", { WEBHOOK_RETRY_WINDOW_MS: String(windowMs) });
    // Just inside (a few seconds of slack for the delivery itself).
    const inside = message(Date.now() - windowMs + 5_000);
    expect(await deliver(e, [inside], 30)).toEqual({
      explicitAcks: [],
      retryMessages: [{ msgId: "m1", delaySeconds: webhookRetryDelaySeconds(30) }],
    });
    expect(events("webhook_given_up")).toEqual([]);
    // Past it: refused once more, and given up.
    const past = message(Date.now() - windowMs - 1);
    expect(await deliver(e, [past], 31)).toEqual({
      explicitAcks: ["m1"],
      retryMessages: [],
    });
    expect(events("webhook_given_up")).toEqual([
      expect.objectContaining({ id: past.id, attempts: 31, windowMs }),
    ]);
    // It was still tried first: a receiver back up in time would have taken it.
    expect((await deliveries()).map((d) => d.id)).toEqual([inside.id, past.id]);
  });

  it("past the window a delivery that succeeds is simply delivered", async () => {
    const m = message(Date.now() - 10 * 86_400_000);
    const e = hooksEnv("/hook");
    await deliver(e, [m], 1);
    expect(events("webhook_given_up")).toHaveLength(1);
    logs = [];
    expect(await deliver(e, [m], 2)).toEqual({ explicitAcks: ["m1"], retryMessages: [] });
    expect(events("webhook_delivered")).toHaveLength(1);
  });

  it("webhooks turned off meanwhile: acked, nothing sent", async () => {
    expect(await deliver(env, [message()], 2)).toEqual({
      explicitAcks: ["m1"],
      retryMessages: [],
    });
    expect(await deliveries()).toEqual([]);
    expect(events("webhook_dropped")).toEqual([
      expect.objectContaining({ reason: "webhooks_off" }),
    ]);
  });

  it("an invalid message is acked and logged, never sent", async () => {
    const e = hooksEnv("/hook");
    const bad = [
      { jobId: "e".repeat(64) },
      { ...message(), id: "msg_with.dot" },
      { ...message(), body: 42 },
      "nonsense",
    ];
    expect(await deliver(e, bad)).toEqual({
      explicitAcks: ["m1", "m2", "m3", "m4"],
      retryMessages: [],
    });
    expect(await deliveries()).toEqual([]);
    expect(events("queue_message_invalid")).toHaveLength(4);
  });

  it("an invalid config keeps the event (retried), it never drops it", async () => {
    const e = hooksEnv("/hook", { PUBLIC_BASE_URL: "" });
    expect(await deliver(e, [message()], 1)).toEqual({
      explicitAcks: [],
      retryMessages: [{ msgId: "m1", delaySeconds: webhookRetryDelaySeconds(1) }],
    });
    expect(await deliveries()).toEqual([]);
  });

  it("no secret appears in a log line", async () => {
    const e = hooksEnv("/hook");
    const m = message();
    await deliver(e, [m], 1);
    await deliver(e, [m], 2);
    await deliver(hooksEnv("/hang"), [message(0)], 1);
    const text = JSON.stringify(logs);
    expect(logs.length).toBeGreaterThanOrEqual(4);
    expect(text).not.toContain(TEST_WEBHOOK_SECRET.slice("whsec_".length, 20));
  });
});
