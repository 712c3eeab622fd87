import { DurableObject } from "cloudflare:workers";
import { configFrom, type Config } from "../core/config.ts";
import { archivedJob } from "../core/archive.ts";
import type { Claim, ClaimReport } from "../core/claim.ts";
import type { Effect } from "../core/effects.ts";
import { endsAttempt, type Job, type ResultDocument, type TapeInfo } from "../core/job.ts";
import type { Canceller, StoreAttempt } from "../core/job-steps.ts";
import type { MessageAction } from "../core/lifecycle.ts";
import { alarmFlow } from "../core/flows/alarm.ts";
import { dispatchFlow } from "../core/flows/dispatch.ts";
import { createFlow } from "../core/flows/intake.ts";
import type { Answers, CachedOutlook, Flow, JobRequest } from "../core/flows/io.ts";
import { performEffects } from "../core/flows/perform.ts";
import {
  cancelFlow,
  deadLetterFlow,
  holderFlow,
  readFlow,
  type CancelOutcome,
} from "../core/flows/reads.ts";
import { claimFlow, viewFlow } from "../core/flows/view.ts";
import { claimKey, resultKey, tapeKey } from "../core/r2-keys.ts";
import { webhookEventFor } from "../core/webhook.ts";
import { socketMessage, viewIsFinal, type JobView } from "../http/job-view.ts";
import { ProverClient } from "../prover/client.ts";
import { jobKeyFor, keyFromGrant } from "../prover/keys.ts";
import type { DeadLetter } from "../queue/message.ts";
import { sendJob } from "../queue/send.ts";
import { sendWebhook } from "../queue/webhook-send.ts";
import { verifyProverReceipt } from "../verify/receipt.ts";
import { indexRow, jobIndexOf } from "./job-index.ts";
import { dispatcherOf } from "./prover-dispatcher.ts";

export type { Canceller };

export type CreateResult =
  /**
   * A new job, or a new attempt after `failed`/`cancelled`: the caller's cancel token is now the
   * job's.
   */
  | { kind: "created"; job: Job }
  | { kind: "exists"; job: Job }
  | { kind: "enqueue_failed"; message: string };

export type ClaimResult =
  | { kind: "not_found" }
  /** The job has not succeeded (yet): there is no proof to claim. */
  | { kind: "no_proof"; job: Job }
  | { kind: "refused"; message: string }
  | { kind: "storage_failed"; message: string }
  | { kind: "recorded"; claim: Claim };

export type CancelResult = CancelOutcome;

const JOB = "job";
const SUBMIT_LOCK = "submitLock";
const PLACE = "outlook";
const CLAIM = "claim";

/** How many live-status sockets one job serves at once. */
export const MAX_SOCKETS_PER_JOB = 20;

/**
 * One Durable Object per job (named by the job id): the shell around the job's flows
 * (src/core/flows). Each entry point runs one flow, a generator of the pure core that yields the
 * I/O it needs (`Request`); `#drive` performs each request against the bindings and hands the
 * answer back, and every decision is the flow's. Its storage is the source of truth; nothing is
 * kept in memory between calls, so an eviction loses nothing.
 */
export class ProofJob extends DurableObject<Env> {
  /**
   * Registers a new job and enqueues it, or returns the existing one (content addressing).
   * After `failed` or `cancelled` the same tape starts a fresh attempt instead.
   */
  async create(
    jobId: string,
    tape: TapeInfo,
    cancelTokenHash: string,
    why: "post" | "redrive" = "post",
    client: string | null = null,
    claimant: string | null = null,
  ): Promise<CreateResult> {
    const input = { jobId, tape, cancelTokenHash, why, client, claimant };
    return this.#drive(createFlow(input, configFrom(this.env)));
  }

  /**
   * The job as a player sees it: the job, its place in line and its ETA (`viewFlow`). Null when
   * there is no job.
   */
  async view(): Promise<JobView | null> {
    return this.#drive(viewFlow(configFrom(this.env)));
  }

  /** The job rebuilt from its stored result, when its record is gone (null: no valid result). */
  async archived(): Promise<Job | null> {
    const jobId = this.ctx.id.name;
    if (!jobId) return null;
    const object = await this.env.TAPES.get(resultKey(jobId));
    if (!object) return null;
    let doc: ResultDocument | null = null;
    try {
      doc = await object.json<ResultDocument>();
    } catch {
      return null; // unreadable: not a proof anyone can use
    }
    return archivedJob(jobId, doc);
  }

  /**
   * The settlement service's report on the proof's on-chain claim. Written to R2 first (so it
   * outlives the job's record), then kept here and pushed to the job's sockets.
   */
  async reportClaim(report: ClaimReport): Promise<ClaimResult> {
    return this.#drive(claimFlow(report, configFrom(this.env)));
  }

  /**
   * `GET /api/proofs/jobs/:jobId/ws` (the route checked the id, the upgrade and that the job
   * exists): a live-status socket on the hibernation API, so thousands of waiting players keep no
   * object awake. It gets the view at once and after every change; after a terminal status, that
   * last view and a normal close. At most MAX_SOCKETS_PER_JOB at once (429 too_many_sockets).
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    if (this.ctx.getWebSockets().length >= MAX_SOCKETS_PER_JOB) {
      return Response.json(
        {
          success: false,
          error: {
            code: "too_many_sockets",
            message: `this job already has ${MAX_SOCKETS_PER_JOB} live sockets; poll GET instead`,
          },
        },
        { status: 429 },
      );
    }
    const view = await this.view();
    if (!view) {
      return Response.json(
        {
          success: false,
          error: { code: "job_not_found", message: `no job ${this.ctx.id.name ?? ""}` },
        },
        { status: 404 },
      );
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    this.#send(server, view);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A player's message: nothing to answer (pings are answered by the runtime). */
  override async webSocketMessage(): Promise<void> {}

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, "bye");
    } catch {
      // already closed
    }
  }

  /** Sends the job's view to every socket; closes them once it has ended. */
  async #broadcast(): Promise<void> {
    if (this.ctx.getWebSockets().length === 0) return;
    const view = await this.view();
    if (!view) return;
    for (const ws of this.ctx.getWebSockets()) this.#send(ws, view);
  }

  #send(ws: WebSocket, view: JobView): void {
    try {
      ws.send(JSON.stringify(socketMessage(view)));
      if (viewIsFinal(view)) ws.close(1000, view.job.status);
    } catch {
      // a socket that went away: the runtime drops it
    }
  }

  /** The job as stored, with its deadlines applied on read; null if there is none. */
  async get(): Promise<Job | null> {
    return this.#drive(readFlow(configFrom(this.env)));
  }

  /**
   * The dispatcher's holder check: does this job still wait for, or hold, a prover? A queued
   * holder that nothing is submitting is sent again (its grant's message was lost).
   */
  async needsProver(): Promise<boolean> {
    return this.#drive(holderFlow(configFrom(this.env)));
  }

  /** Cancels the job if `who` may; ended jobs stay as they are. */
  async cancel(who: Canceller): Promise<CancelResult> {
    return this.#drive(cancelFlow(who, configFrom(this.env)));
  }

  /**
   * A queue delivery: ask the dispatcher for a prover and, if granted, submit the tape. Waiting
   * in line, a busy prover and a prover's failure all ack the message (the job waits in line);
   * only a failure inside the gateway (a throw) retries it.
   */
  async dispatch(): Promise<MessageAction> {
    return this.#drive(dispatchFlow(configFrom(this.env)));
  }

  /**
   * The DLQ consumer: the deliveries of attempt `letter.attempt` ran out. A dead letter of another
   * attempt than the job's current one changes nothing; without a letter (an operator, a test)
   * the current attempt is meant.
   */
  async deadLetter(letter?: DeadLetter): Promise<Job | null> {
    return this.#drive(deadLetterFlow(letter, configFrom(this.env)));
  }

  /**
   * The alarm: tells the prover to forget abandoned jobs, then, by the job's state, clears an
   * ended job after its retention, looks for a queued one that nothing moved (the dispatch
   * watchdog), or polls a proving one within the per-alarm budget.
   */
  override async alarm(): Promise<void> {
    return this.#drive(alarmFlow(configFrom(this.env)));
  }

  /**
   * Runs a flow: performs each request it yields and resumes it with the answer, or throws the
   * request's failure into it. Storage reads are answered at once (no await), so that nothing
   * runs between a flow's read and the decision it makes on it.
   */
  async #drive<T>(flow: Flow<T>): Promise<T> {
    const cfg = configFrom(this.env);
    let step = flow.next();
    while (!step.done) {
      let answer: unknown;
      try {
        answer = this.#answer(step.value, cfg);
        // (a Durable Object RPC answers with a thenable that is no `Promise`)
        if (isThenable(answer)) answer = await answer;
      } catch (e) {
        step = flow.throw(e);
        continue;
      }
      step = flow.next(answer);
    }
    return step.value;
  }

  /** The answer to one request (a promise when it awaits I/O). */
  #answer(r: JobRequest, cfg: Config): unknown {
    const kv = this.ctx.storage.kv;
    switch (r.kind) {
      case "now":
        return Date.now();
      case "load":
        return this.#load();
      case "lock":
        return kv.get<number>(SUBMIT_LOCK) ?? null;
      case "perform":
        return this.#drive(performEffects(r.jobId, r.effects));
      case "effect":
        return this.#perform(r.jobId, r.effect);
      case "broadcast":
        return this.#broadcast();
      case "enqueue":
        return sendJob(this.env, r.jobId, r.attempt);
      case "admit":
        return dispatcherOf(this.env).admit(r.jobId, r.arrivedAt, r.client, r.exclude);
      case "whereIs":
        return dispatcherOf(this.env).whereIs(r.jobId);
      case "outlook":
        return dispatcherOf(this.env).outlook(r.jobId);
      case "readTape":
        return this.#readTape(r.sha256);
      case "submit": {
        // The prover's key comes with the grant and is kept apart from the job (src/prover/keys.ts).
        const url = r.request.proverUrl;
        const key = keyFromGrant(kv, cfg, r.grant, url);
        return new ProverClient(cfg, url, key).submit(r.tape, r.request);
      }
      case "status":
        return this.#prover(cfg, r.url).status(r.proverJobId);
      case "verify":
        return verifyProverReceipt(r.document, r.imageId);
      case "deleteProverJob":
        return this.#prover(cfg, r.url).delete(r.proverJobId);
      case "writeResult":
        return this.#writeResult(r.jobId, r.document);
      case "deleteResult":
        return this.env.TAPES.delete(resultKey(r.jobId));
      case "archived":
        return this.archived();
      case "keptClaim":
        return kv.get<Claim>(CLAIM) ?? null;
      case "storedClaim":
        return this.#storedClaim(r.jobId);
      case "writeClaim":
        return this.env.TAPES.put(claimKey(r.jobId), JSON.stringify(r.claim), {
          httpMetadata: { contentType: "application/json" },
        });
      case "keepClaim":
        return kv.put(CLAIM, r.claim);
      case "cachedOutlook":
        return kv.get<CachedOutlook>(PLACE) ?? null;
      case "cacheOutlook":
        return kv.put(PLACE, r.cached);
      case "sleep":
        return scheduler.wait(r.ms);
    }
  }

  /** A prover client for a prover job of this job's, with the key its grant gave. */
  #prover(cfg: Config, url: string): ProverClient {
    return new ProverClient(cfg, url, jobKeyFor(this.ctx.storage.kv, cfg, url));
  }

  async #readTape(sha256: string): Promise<Answers["readTape"]> {
    const object = await this.env.TAPES.get(tapeKey(sha256));
    if (!object) throw new Error(`tape ${sha256} is missing from R2`);
    return new Uint8Array(await object.arrayBuffer());
  }

  /** The conditional write of the result, and what came of it (src/core/job-steps.ts). */
  async #writeResult(jobId: string, document: ResultDocument): Promise<StoreAttempt> {
    const key = resultKey(jobId);
    try {
      const written = await this.env.TAPES.put(key, JSON.stringify(document), {
        onlyIf: { etagDoesNotMatch: "*" },
        httpMetadata: { contentType: "application/json" },
      });
      if (written !== null) return { kind: "written" };
      const earlier = await this.env.TAPES.get(key);
      return { kind: "exists", earlier: earlier ? await earlier.json<ResultDocument>() : null };
    } catch (e) {
      return { kind: "error", message: e instanceof Error ? e.message : String(e) };
    }
  }

  async #storedClaim(jobId: string): Promise<Claim | null> {
    const object = await this.env.TAPES.get(claimKey(jobId));
    if (!object) return null;
    try {
      return await object.json<Claim>();
    } catch {
      return null;
    }
  }

  /**
   * The attempt ended: its completion event goes to the settlement service's webhook (through the
   * webhooks queue: delivered, signed and retried off this path). A failed send is logged.
   */
  async #announce(job: Job): Promise<void> {
    const event = webhookEventFor(job, configFrom(this.env), Date.now());
    if (!event) return;
    try {
      await sendWebhook(this.env, event);
    } catch (err) {
      logError("webhook_enqueue_failed", job.jobId, err);
    }
  }

  #load(): Job | null {
    return this.ctx.storage.kv.get<Job>(JOB) ?? null;
  }

  /**
   * Performs one of the core's effects with the failure rule src/core/effects.ts states. Durable
   * Object RPCs are awaited inside try/catch: chaining `.catch()` onto an RPC promise left the
   * call undone here (seen in test/integration/cancel.test.ts).
   */
  async #perform(jobId: string, e: Effect): Promise<void> {
    const storage = this.ctx.storage;
    switch (e.kind) {
      case "save": {
        const before = this.#load();
        storage.kv.put(JOB, e.job);
        if (endsAttempt(before, e.job)) await this.#announce(e.job);
        break;
      }
      case "forget":
        await storage.deleteAlarm();
        await storage.deleteAll();
        try {
          await jobIndexOf(this.env).forget(jobId);
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
          dispatcherOf(this.env).release(jobId, e.observed, e.ending),
        );
        break;
      case "requeue":
        try {
          await dispatcherOf(this.env).requeue(jobId, e.arrivedAt, e.avoidUrl, e.exclude);
        } catch (err) {
          logError("dispatcher_requeue_failed", jobId, err);
          await sendJob(this.env, jobId).catch(() => undefined);
        }
        break;
      case "busy":
        await dispatcherOf(this.env).busy(jobId, e.arrivedAt, e.exclude);
        break;
      case "submitFailed":
        await dispatcherOf(this.env).submitFailed(jobId, e.arrivedAt, e.error, e.exclude);
        break;
      case "accepted":
        await logged("dispatcher_accepted_failed", jobId, () =>
          dispatcherOf(this.env).accepted(jobId, e.expectedEndAt),
        );
        break;
      case "pollFailed":
        await logged("dispatcher_open_circuit_failed", jobId, () =>
          dispatcherOf(this.env).openCircuit(e.url, e.error),
        );
        break;
      case "contradicted":
        await logged("dispatcher_contradicted_failed", jobId, () =>
          dispatcherOf(this.env).contradicted(e.url, jobId, e.reason, e.atOnce),
        );
        break;
      case "proofEnded":
        await logged("dispatcher_proof_ended_failed", jobId, () =>
          dispatcherOf(this.env).proofEnded(jobId, e.url, e.outcome),
        );
        break;
      case "index":
        await logged("job_index_failed", jobId, () => jobIndexOf(this.env).record(indexRow(e.job)));
        break;
      case "log":
        (e.level === "error" ? console.error : console.log)(JSON.stringify(e.line));
        break;
    }
  }
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof (v as { then?: unknown } | null)?.then === "function";

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
