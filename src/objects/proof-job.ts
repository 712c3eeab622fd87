import { DurableObject } from "cloudflare:workers";
import { configFrom, type Config } from "../core/config.ts";
import type { Effect } from "../core/effects.ts";
import { estimateFor, type Outlook } from "../core/estimate.ts";
import { archivedJob } from "../core/archive.ts";
import { applyClaimReport, type Claim, type ClaimReport } from "../core/claim.ts";
import { endsAttempt, type Job, type ResultDocument, type TapeInfo } from "../core/job.ts";
import { webhookEventFor } from "../core/webhook.ts";
import { settlementOf, socketMessage, viewIsFinal, type JobView } from "../http/job-view.ts";
import { sendWebhook } from "../queue/webhook-send.ts";
import {
  admitted,
  afterWatchdog,
  alarmBegins,
  alarmEnds,
  cancelStep,
  cleanedUp,
  create,
  createUndone,
  deadLetter,
  deliver,
  holderCheck,
  holderResent,
  needsProver as stillNeedsProver,
  polled,
  pollsAgain,
  read,
  storeTried,
  submitted,
  watchdogFound,
  whereLocked,
  type Canceller,
  type StoreAttempt,
  type WatchdogStep,
} from "../core/job-steps.ts";
import { expire, type MessageAction, type PollOutcome } from "../core/lifecycle.ts";
import { placeFreshUntil } from "../core/line-timing.ts";
import { dueCleanups } from "../core/prover-cleanup.ts";
import { claimKey, resultKey, tapeKey } from "../core/r2-keys.ts";
import { ProverClient } from "../prover/client.ts";
import { jobKeyFor, keyFromGrant } from "../prover/keys.ts";
import { deadLetterApplies, type DeadLetter } from "../queue/message.ts";
import { sendJob } from "../queue/send.ts";
import { verifyProverReceipt } from "../verify/receipt.ts";
import { indexRow, jobIndexOf } from "./job-index.ts";
import { dispatcherOf } from "./prover-dispatcher.ts";
import { releaseClientPlace } from "./client-quota.ts";
import { jobIntake, type IntakeInput, type IntakeResult } from "./job-intake.ts";

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

export type CancelResult =
  | { kind: "not_found" }
  | { kind: "forbidden" }
  | { kind: "cancelled"; job: Job }
  | { kind: "ended"; job: Job };

const JOB = "job";
const SUBMIT_LOCK = "submitLock";
const PLACE = "outlook";
const CLAIM = "claim";

/** How many live-status sockets one job serves at once. */
export const MAX_SOCKETS_PER_JOB = 20;

/** What the job's view is built from, kept in storage for `placeFreshUntil`. */
interface CachedOutlook {
  outlook: Outlook;
  at: number;
  attempt: number;
}

/**
 * One Durable Object per job (named by the job id): the shell around the core's job steps
 * (src/core/job-steps.ts). Each method loads the job, calls a step, performs the effects it
 * returns, and does the one piece of I/O the step asks for next. Its storage is the source of
 * truth; nothing is kept in memory between calls, so an eviction loses nothing.
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
    const cfg = configFrom(this.env);
    const now = Date.now();
    const stored = this.#load();
    const step = create(stored, { jobId, tape, cancelTokenHash, why, client, claimant }, now, cfg);
    await this.#perform(jobId, step.effects);
    if (step.kind === "exists") return step;
    try {
      await sendJob(this.env, jobId, step.job.attempt);
    } catch (e) {
      // Undone only if nothing changed the new attempt while the queue answered (an admin's
      // cancel in that window stays).
      if (this.#unchanged(step.job)) {
        await this.#perform(jobId, createUndone(stored, Date.now(), cfg));
      }
      return { kind: "enqueue_failed", message: e instanceof Error ? e.message : String(e) };
    }
    return step;
  }

  /**
   * A tape arriving for this job, in one call from the front door: existing, kept or a new attempt,
   * with the client's place taken and the answer's view (src/objects/job-intake.ts).
   */
  async intake(input: IntakeInput): Promise<IntakeResult> {
    return jobIntake(
      {
        env: this.env,
        get: () => this.get(),
        archived: () => this.archived(),
        view: () => this.view(),
        create: (...args) => this.create(...args),
      },
      input,
    );
  }

  /**
   * The job as a player sees it: the job, its place in line (`queue`, while it waits in the
   * dispatcher's line) and its ETA. What the line looks like is asked of the dispatcher at most
   * once per `placeFreshUntil` (kept in storage), so that players polling often, or many sockets
   * on one job, do not each ask it. Null when there is no job.
   */
  async view(): Promise<JobView | null> {
    const job = await this.get();
    const settlement = settlementOf(configFrom(this.env));
    if (!job) {
      // The record was cleared after its retention: the proof, if R2 keeps it, still answers.
      const archived = await this.archived();
      if (!archived) return null;
      return { job: archived, queue: null, estimate: null, claim: await this.#claim(), settlement };
    }
    const now = Date.now();
    const outlook = job.status === "queued" ? await this.#outlook(job, now) : null;
    return {
      job,
      queue: outlook && outlook.ahead !== null ? { ahead: outlook.ahead } : null,
      estimate: estimateFor(job, outlook ?? this.#cachedOutlook(job), now),
      // A live record's claim is only ever written here (`reportClaim`): no R2 read for it.
      claim: job.status === "succeeded" ? this.#keptClaim() : null,
      settlement,
    };
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
   * The claim: kept in storage while the job's record lives (one read per view), in R2 beside the
   * result for as long as that is kept.
   */
  #keptClaim(): Claim | null {
    return this.ctx.storage.kv.get<Claim>(CLAIM) ?? null;
  }

  async #claim(): Promise<Claim | null> {
    const kept = this.#keptClaim();
    if (kept) return kept;
    const jobId = this.ctx.id.name;
    const object = jobId ? await this.env.TAPES.get(claimKey(jobId)) : null;
    if (!object) return null;
    try {
      return await object.json<Claim>();
    } catch {
      return null;
    }
  }

  /**
   * The settlement service's report on the proof's on-chain claim. Written to R2 first (so it
   * outlives the job's record), then kept here and pushed to the job's sockets.
   */
  async reportClaim(report: ClaimReport): Promise<ClaimResult> {
    const live = await this.get();
    const job = live ?? (await this.archived());
    if (!job) return { kind: "not_found" };
    if (job.status !== "succeeded") return { kind: "no_proof", job };
    const update = applyClaimReport(await this.#claim(), report, job.claimant ?? null, Date.now());
    if (!update.ok) return { kind: "refused", message: update.message };
    if (!update.changed) return { kind: "recorded", claim: update.claim };
    try {
      await this.env.TAPES.put(claimKey(job.jobId), JSON.stringify(update.claim), {
        httpMetadata: { contentType: "application/json" },
      });
    } catch (e) {
      return { kind: "storage_failed", message: e instanceof Error ? e.message : String(e) };
    }
    // A cleared record keeps no storage here: R2 alone holds its claim.
    if (live && this.#load()) {
      this.ctx.storage.kv.put(CLAIM, update.claim);
      await this.#broadcast();
    }
    return { kind: "recorded", claim: update.claim };
  }

  async #outlook(job: Job, now: number): Promise<Outlook | null> {
    const cached = this.ctx.storage.kv.get<CachedOutlook>(PLACE);
    if (
      cached &&
      cached.attempt === job.attempt &&
      now < placeFreshUntil(cached.outlook.ahead ?? cached.outlook.waiting, cached.at)
    )
      return cached.outlook;
    let outlook: Outlook;
    try {
      outlook = await dispatcherOf(this.env).outlook(job.jobId);
    } catch {
      return null; // the dispatcher cannot say: no place, a default ETA
    }
    // Not in line yet (its message is on the way): asked again next time, not kept.
    if (outlook.ahead !== null) {
      this.ctx.storage.kv.put(PLACE, { outlook, at: now, attempt: job.attempt } as CachedOutlook);
    }
    return outlook;
  }

  /** The last outlook, for the speed a proving job's ETA falls back on (null: none). */
  #cachedOutlook(job: Job): Outlook | null {
    const cached = this.ctx.storage.kv.get<CachedOutlook>(PLACE);
    return cached && cached.attempt === job.attempt ? cached.outlook : null;
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
    const stored = this.#load();
    if (!stored) return null;
    const step = read(stored, Date.now(), configFrom(this.env));
    await this.#perform(stored.jobId, step.effects);
    // As it is now: the read's effects await the index and the sockets.
    return this.#load();
  }

  /**
   * The dispatcher's holder check: does this job still wait for, or hold, a prover? A queued
   * holder that nothing is submitting is sent again (its grant's message was lost).
   */
  async needsProver(): Promise<boolean> {
    const job = await this.get();
    const now = Date.now();
    const check = holderCheck(job, this.#lock(), now);
    if (!check.resend) return check.needed;
    const sent = await this.#resend(check.resend);
    // What the send did is recorded only on the job it was decided for: a cancel (or anything
    // else) that landed while the queue answered stays, and the answer is the job's as it is now.
    if (!this.#unchanged(job!)) return stillNeedsProver(this.#load());
    await this.#perform(job!.jobId, holderResent(job!, sent, now, configFrom(this.env)));
    return check.needed;
  }

  /** Cancels the job if `who` may; ended jobs stay as they are. */
  async cancel(who: Canceller): Promise<CancelResult> {
    const stored = this.#load();
    if (!stored) return { kind: "not_found" };
    const step = cancelStep(stored, who, Date.now(), configFrom(this.env));
    await this.#perform(stored.jobId, step.effects);
    return step.kind === "forbidden" ? { kind: "forbidden" } : { kind: step.kind, job: step.job };
  }

  /**
   * A queue delivery: ask the dispatcher for a prover and, if granted, submit the tape. Waiting
   * in line, a busy prover and a prover's failure all ack the message (the job waits in line);
   * only a failure inside the gateway (a throw) retries it.
   */
  async dispatch(): Promise<MessageAction> {
    const cfg = configFrom(this.env);
    const stored = this.#load();
    if (!stored) return { ack: true };
    const { jobId } = stored;
    const delivery = deliver(stored, this.#lock(), Date.now(), cfg);
    await this.#perform(jobId, delivery.effects);
    if (delivery.next.kind === "answer") return delivery.next.message;
    const { attempt, arrivedAt, exclude } = delivery.next;
    const admission = await dispatcherOf(this.env).admit(
      jobId,
      arrivedAt,
      stored.client ?? undefined,
      exclude,
    );
    const grant = admitted(this.#load(), attempt, admission, this.#lock(), Date.now(), cfg);
    await this.#perform(jobId, grant.effects);
    if (grant.next.kind === "answer") return grant.next.message;
    const { request } = grant.next;
    try {
      const object = await this.env.TAPES.get(tapeKey(stored.tape.sha256));
      if (!object) throw new Error(`tape ${stored.tape.sha256} is missing from R2`);
      const tape = new Uint8Array(await object.arrayBuffer());
      // Cancelled (or replaced) while the tape was read: nothing to submit, the slot is released.
      const current = this.#load();
      if (current?.status !== "queued" || current.attempt !== attempt) return { ack: true };
      // The prover's key comes with the grant and is kept apart from the job (src/prover/keys.ts).
      const key = keyFromGrant(this.ctx.storage.kv, cfg, admission, request.proverUrl);
      const outcome = await new ProverClient(cfg, request.proverUrl, key).submit(tape, request);
      const now = Date.now();
      const step = submitted(
        this.#load(),
        attempt,
        request.proverUrl,
        outcome,
        now,
        cfg,
        request.expectedProofMs,
      );
      await this.#perform(jobId, step.effects);
      return step.message;
    } finally {
      // The lock lives as long as this submission: dropped once its answer is saved (an effect),
      // and here when anything threw on the way.
      this.ctx.storage.kv.delete(SUBMIT_LOCK);
    }
  }

  /**
   * The DLQ consumer: the deliveries of attempt `letter.attempt` ran out. A dead letter of another
   * attempt than the job's current one changes nothing (`deadLetterApplies`); without a letter
   * (an operator, a test) the current attempt is meant.
   */
  async deadLetter(letter?: DeadLetter): Promise<Job | null> {
    const stored = this.#load();
    if (!stored) return null;
    if (letter && !deadLetterApplies(stored, letter)) {
      console.log(
        JSON.stringify({
          event: "dead_letter_stale",
          jobId: stored.jobId,
          attempt: stored.attempt,
          letterAttempt: letter.attempt,
        }),
      );
      return stored;
    }
    const step = deadLetter(stored, Date.now(), configFrom(this.env));
    await this.#perform(stored.jobId, step.effects);
    return step.job;
  }

  /**
   * The alarm: tells the prover to forget abandoned jobs, then, by the job's state, clears an
   * ended job after its retention, looks for a queued one that nothing moved (the dispatch
   * watchdog), or polls a proving one within the per-alarm budget.
   */
  override async alarm(): Promise<void> {
    const cfg = configFrom(this.env);
    const startedAt = Date.now();
    const first = this.#load();
    if (!first) return;
    const { jobId } = first;
    for (const entry of dueCleanups(first, startedAt)) {
      const key = jobKeyFor(this.ctx.storage.kv, cfg, entry.url);
      const outcome = await new ProverClient(cfg, entry.url, key).delete(entry.proverJobId);
      const current = this.#load();
      if (!current) return;
      await this.#perform(jobId, cleanedUp(current, entry, outcome, Date.now(), cfg).effects);
    }
    let stored = this.#load();
    if (!stored) return;
    let now = Date.now();
    let step = alarmBegins(stored, startedAt, now, cfg);
    await this.#perform(jobId, step.effects);
    if (step.next.kind === "watchdog") {
      const found = await this.#watchdog(stored, step.next.job, now);
      // The job moved while the dispatcher or the queue answered: that step re-armed its alarm.
      if (!found) return this.#rearm(jobId, cfg);
      step = afterWatchdog(found, startedAt, cfg);
      await this.#perform(jobId, step.effects);
    }
    if (step.next.kind === "end") return;
    let job = step.next.job;
    while (step.next.kind === "poll" && pollsAgain(job)) {
      const key = jobKeyFor(this.ctx.storage.kv, cfg, job.prover.url!);
      let outcome = await new ProverClient(cfg, job.prover.url!, key).status(job.prover.jobId!);
      if (outcome.kind === "succeeded" && cfg.verifyReceipts === "groth16") {
        const receipt = verifyProverReceipt(outcome.document, cfg.proverExpectedImageId!);
        outcome = { ...outcome, receipt };
      }
      now = Date.now();
      const current = this.#load();
      if (!current) return; // deleted meanwhile: nothing left to do
      stored = current;
      const poll = polled(stored, outcome, startedAt, now, cfg);
      // The write, then the poll applied again to the job as it then is (`#store`).
      if (poll.next.kind === "store") {
        return this.#store(stored, outcome, poll.next.document, now, startedAt, cfg);
      }
      if (poll.next.kind === "settle") {
        // The job left `proving`: saved at once, before the dispatcher is told anything.
        const ends = alarmEnds(stored, poll.job!, now, cfg);
        return this.#perform(jobId, savesFirst([...poll.effects, ...ends]));
      }
      await this.#perform(jobId, savesFirst(poll.effects));
      if (poll.next.kind === "rearmed") return;
      await scheduler.wait(poll.next.ms);
      now = Date.now();
      const woken = this.#load();
      if (!woken) return;
      stored = woken;
      job = expire(stored, now, cfg);
    }
    // Only the job's own storage was awaited since `stored` was read (the watchdog checked its
    // own awaits): still, nothing is saved over a change.
    if (!this.#unchanged(stored)) return this.#rearm(jobId, cfg);
    await this.#perform(jobId, alarmEnds(stored, job, now, cfg));
  }

  /** Re-arms the alarm from the job as it is now (after a step found it changed meanwhile). */
  async #rearm(jobId: string, cfg: Config): Promise<void> {
    const current = this.#load();
    if (current) await this.#perform(jobId, alarmEnds(current, current, Date.now(), cfg));
  }

  /** The job as stored if it is still exactly `base` (nothing saved it since); null otherwise. */
  #unchanged(base: Job): Job | null {
    const current = this.#load();
    return current !== null && JSON.stringify(current) === JSON.stringify(base) ? current : null;
  }

  /**
   * Where a waiting job is, for its watchdog; it is sent again if it was lost. `job` is `base`
   * (as stored) with its deadlines applied. Null when the job changed while the dispatcher or the
   * queue answered: what was found is about a job that is no longer there.
   */
  async #watchdog(base: Job, job: Job, now: number): Promise<Job | null> {
    let where = whereLocked(this.#lock(), now);
    try {
      where ??= await dispatcherOf(this.env).whereIs(job.jobId);
    } catch {
      where = "absent"; // the delivery will ask the dispatcher again
    }
    if (!this.#unchanged(base)) return null;
    const found = await this.#resend(watchdogFound(job, where, now));
    return this.#unchanged(base) ? found : null;
  }

  /** Sends the job through the queue when the watchdog step says so; the job as it then stands. */
  async #resend(found: WatchdogStep): Promise<Job> {
    if (!found.resend) return found.job;
    try {
      await sendJob(this.env, found.job.jobId, found.job.attempt);
    } catch (e) {
      console.error(
        JSON.stringify({ event: "watchdog_send_failed", jobId: found.job.jobId, error: String(e) }),
      );
      return found.resend.ifSendFails;
    }
    console.log(JSON.stringify(found.resend.line));
    return found.job;
  }

  /**
   * Writes the result document once (`If-None-Match: *`); the core decides what came of it, for
   * the job as it is once R2 has answered. Still proving this proof: the poll is applied to it
   * again (whatever changed meanwhile, a delivery counted, is kept), then the write. Moved on
   * (cancelled, ended, a new attempt): the proof is no longer this job's, and a document this
   * write put in R2 is taken back, so that it never answers for the job (after its record is
   * cleared, `archived` would).
   */
  async #store(
    base: Job,
    outcome: PollOutcome,
    document: ResultDocument,
    polledAt: number,
    startedAt: number,
    cfg: Config,
  ): Promise<void> {
    const key = resultKey(base.jobId);
    let attempt: StoreAttempt;
    try {
      const written = await this.env.TAPES.put(key, JSON.stringify(document), {
        onlyIf: { etagDoesNotMatch: "*" },
        httpMetadata: { contentType: "application/json" },
      });
      if (written !== null) attempt = { kind: "written" };
      else {
        const earlier = await this.env.TAPES.get(key);
        attempt = {
          kind: "exists",
          earlier: earlier ? await earlier.json<ResultDocument>() : null,
        };
      }
    } catch (e) {
      attempt = { kind: "error", message: e instanceof Error ? e.message : String(e) };
    }
    const now = Date.now();
    const current = this.#load();
    if (!current) return;
    const again = polled(current, outcome, startedAt, polledAt, cfg);
    if (again.next.kind === "store" && sameProof(current, base)) {
      const step = storeTried(again.job!, document, attempt, now, cfg);
      const ends = alarmEnds(current, step.job, now, cfg);
      await this.#perform(base.jobId, savesFirst([...again.effects, ...step.effects, ...ends]));
      return;
    }
    if (attempt.kind === "written" && current.status !== "succeeded") {
      try {
        await this.env.TAPES.delete(key);
      } catch (e) {
        logError("result_take_back_failed", base.jobId, e);
      }
      const line = {
        event: "result_discarded",
        jobId: base.jobId,
        attempt: base.attempt,
        status: current.status,
      };
      console.log(JSON.stringify(line));
    }
    await this.#rearm(base.jobId, cfg);
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

  /** Whether the job is queued (in attempt `attempt`, when given). */
  #waits(attempt: number | null): boolean {
    const job = this.#load();
    return job?.status === "queued" && (attempt === null || job.attempt === attempt);
  }

  #lock(): number | null {
    return this.ctx.storage.kv.get<number>(SUBMIT_LOCK) ?? null;
  }

  /**
   * Performs the core's effects, in order, each with the failure rule src/core/effects.ts states.
   * Durable Object RPCs are awaited inside try/catch: chaining `.catch()` onto an RPC promise
   * left the call undone here (seen in test/integration/cancel.test.ts).
   */
  async #perform(jobId: string, effects: Effect[]): Promise<void> {
    let attempt: number | null = null;
    for (const e of effects) {
      if (e.kind === "save") attempt = e.job.attempt;
      // Back in line only while the job still waits there: a cancel that landed during an
      // earlier effect's await has released it, and a stale requeue would hand it a prover.
      if (BACK_IN_LINE.has(e.kind) && !this.#waits(attempt)) {
        console.log(JSON.stringify({ event: "back_in_line_skipped", jobId, effect: e.kind }));
        continue;
      }
      await this.#performEach(jobId, [e]);
    }
    // Live status: every saved change reaches the job's sockets at once.
    if (effects.some((e) => e.kind === "save")) await this.#broadcast();
  }

  async #performEach(jobId: string, effects: Effect[]): Promise<void> {
    const storage = this.ctx.storage;
    for (const e of effects) {
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
          await releaseClientPlace(this.env, this.#load()?.client, jobId);
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
          await logged("job_index_failed", jobId, () =>
            jobIndexOf(this.env).record(indexRow(e.job)),
          );
          break;
        case "log":
          (e.level === "error" ? console.error : console.log)(JSON.stringify(e.line));
          break;
      }
    }
  }
}

/** Effects that put the job back in the dispatcher's line. */
const BACK_IN_LINE: ReadonlySet<Effect["kind"]> = new Set(["requeue", "busy", "submitFailed"]);

/** The job's saves first, the rest in order: nothing is awaited between a read and its save. */
const savesFirst = (effects: Effect[]): Effect[] => [
  ...effects.filter((e) => e.kind === "save"),
  ...effects.filter((e) => e.kind !== "save"),
];

/** Whether two readings of a job are on the same proof: attempt, prover and prover job. */
const sameProof = (a: Job, b: Job) =>
  a.attempt === b.attempt && a.prover.url === b.prover.url && a.prover.jobId === b.prover.jobId;

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
