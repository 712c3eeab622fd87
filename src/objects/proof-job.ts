import { DurableObject } from "cloudflare:workers";
import { configFrom } from "../core/config.ts";
import { archivedJob } from "../core/archive.ts";
import type { Claim, ClaimReport } from "../core/claim.ts";
import type { Job, ResultDocument, TapeInfo } from "../core/job.ts";
import type { Canceller } from "../core/steps/reads.ts";
import type { MessageAction } from "../core/lifecycle.ts";
import { alarmFlow } from "../core/flows/alarm.ts";
import { dispatchFlow } from "../core/flows/dispatch.ts";
import { createFlow, intakeFlow } from "../core/flows/intake.ts";
import type { IntakeInput, IntakeResult } from "../core/intake.ts";
import type { Flow } from "../core/flows/io.ts";
import {
  cancelFlow,
  deadLetterFlow,
  holderFlow,
  readFlow,
  type CancelOutcome,
} from "../core/flows/reads.ts";
import { claimFlow, viewFlow } from "../core/flows/view.ts";
import { errorBody } from "../core/error-codes.ts";
import { resultKey } from "../core/r2-keys.ts";
import { socketMessage, viewIsFinal, type JobView } from "../http/job-view.ts";
import type { DeadLetter } from "../queue/message.ts";
import { answer as answerRequest } from "./proof-job/requests.ts";
import type { JobShell } from "./proof-job/shell.ts";

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
   * What the request and effect performers (./proof-job/) use of this object: read at each
   * request, so that they see the object's `env` as it is (tests swap it).
   */
  get #shell(): JobShell {
    return {
      env: this.env,
      storage: this.ctx.storage,
      drive: (flow) => this.#drive(flow),
      broadcast: () => this.#broadcast(),
      archived: () => this.archived(),
    };
  }

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
   * A tape arriving for this job, in one call from the front door: existing, kept or a new attempt,
   * with the client's place taken and the answer's view (`intakeFlow`).
   */
  async intake(input: IntakeInput): Promise<IntakeResult> {
    return this.#drive(intakeFlow(input, configFrom(this.env)));
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
        errorBody(
          "too_many_sockets",
          `this job already has ${MAX_SOCKETS_PER_JOB} live sockets; poll GET instead`,
        ),
        { status: 429 },
      );
    }
    const view = await this.view();
    if (!view) {
      return Response.json(errorBody("job_not_found", `no job ${this.ctx.id.name ?? ""}`), {
        status: 404,
      });
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
        answer = answerRequest(this.#shell, step.value, cfg);
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
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof (v as { then?: unknown } | null)?.then === "function";
