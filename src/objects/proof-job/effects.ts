import { configFrom } from "../../core/config.ts";
import type { Effect } from "../../core/effects.ts";
import { endsAttempt, type Job } from "../../core/job.ts";
import { webhookEventFor } from "../../core/webhook.ts";
import { sendJob } from "../../queue/send.ts";
import { sendWebhook } from "../../queue/webhook-send.ts";
import { indexRow, jobIndexOf } from "../job-index.ts";
import { releaseClientPlace } from "../client-quota.ts";
import { dispatcherOf } from "../prover-dispatcher.ts";
import { JOB, SUBMIT_LOCK, storedJob, type JobShell } from "./shell.ts";

/**
 * Performs one of the core's effects (an `effect` request) with the failure rule
 * src/core/effects.ts states. Durable Object RPCs are awaited inside try/catch: chaining
 * `.catch()` onto an RPC promise left the call undone here (seen in
 * test/integration/cancel.test.ts).
 */
export async function performEffect(shell: JobShell, jobId: string, e: Effect): Promise<void> {
  const { env, storage } = shell;
  switch (e.kind) {
    case "save": {
      const before = storedJob(storage);
      storage.kv.put(JOB, e.job);
      if (endsAttempt(before, e.job)) await announce(env, e.job);
      break;
    }
    case "forget":
      await storage.deleteAlarm();
      await storage.deleteAll();
      try {
        await jobIndexOf(env).forget(jobId);
      } catch {
        // best effort: a stale row points at a job that answers 404
      }
      break;
    case "alarm":
      if (!e.onlyIfNone || (await storage.getAlarm()) === null) await storage.setAlarm(e.at);
      break;
    case "lock":
      storage.kv.put(SUBMIT_LOCK, e.until);
      break;
    case "unlock":
      storage.kv.delete(SUBMIT_LOCK);
      break;
    case "release":
      await logged("dispatcher_release_failed", jobId, () =>
        dispatcherOf(env).release(jobId, e.observed, e.ending),
      );
      await releaseClientPlace(env, storedJob(storage)?.client, jobId);
      break;
    case "requeue":
      try {
        await dispatcherOf(env).requeue(jobId, e.arrivedAt, e.avoidUrl, e.exclude);
      } catch (err) {
        logError("dispatcher_requeue_failed", jobId, err);
        await sendJob(env, jobId).catch(() => undefined);
      }
      break;
    case "busy":
      await dispatcherOf(env).busy(jobId, e.arrivedAt, e.exclude);
      break;
    case "submitFailed":
      await dispatcherOf(env).submitFailed(jobId, e.arrivedAt, e.error, e.exclude);
      break;
    case "accepted":
      await logged("dispatcher_accepted_failed", jobId, () =>
        dispatcherOf(env).accepted(jobId, e.expectedEndAt),
      );
      break;
    case "pollFailed":
      await logged("dispatcher_open_circuit_failed", jobId, () =>
        dispatcherOf(env).openCircuit(e.url, e.error),
      );
      break;
    case "contradicted":
      await logged("dispatcher_contradicted_failed", jobId, () =>
        dispatcherOf(env).contradicted(e.url, jobId, e.reason, e.atOnce),
      );
      break;
    case "proofEnded":
      await logged("dispatcher_proof_ended_failed", jobId, () =>
        dispatcherOf(env).proofEnded(jobId, e.url, e.outcome),
      );
      break;
    case "index":
      await logged("job_index_failed", jobId, () => jobIndexOf(env).record(indexRow(e.job)));
      break;
    case "log":
      (e.level === "error" ? console.error : console.log)(JSON.stringify(e.line));
      break;
  }
}

/**
 * The attempt ended: its completion event goes to the settlement service's webhook (through the
 * webhooks queue: delivered, signed and retried off this path). A failed send is logged.
 */
async function announce(env: Env, job: Job): Promise<void> {
  const event = webhookEventFor(job, configFrom(env), Date.now());
  if (!event) return;
  try {
    await sendWebhook(env, event);
  } catch (err) {
    logError("webhook_enqueue_failed", job.jobId, err);
  }
}

function logError(event: string, jobId: string, error: unknown): void {
  console.error(JSON.stringify({ event, jobId, error: String(error) }));
}

/** Best effort: awaits `call` and logs `event` if it fails (the failure rules in effects.ts). */
async function logged(event: string, jobId: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    logError(event, jobId, err);
  }
}
