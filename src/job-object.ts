import { DurableObject } from "cloudflare:workers";
import { configFrom, type Config } from "./config.ts";
import { isTerminal, type Job, type TapeInfo } from "./job.ts";
import {
  alarmAt,
  expire,
  journalMismatch,
  newJob,
  nextPoll,
  onDeadLetter,
  onDelivery,
  onPoll,
  onResultInvalid,
  onResultStored,
  onSubmit,
  shouldSubmit,
  type MessageAction,
  type PollOutcome,
} from "./lifecycle.ts";
import { logTransition } from "./log.ts";
import { ProverClient } from "./prover-client.ts";
import { resultKey, tapeKey } from "./r2.ts";
import { RULES_DIGEST_AST3 } from "./tape.ts";

/** The queue message that carries a job to the consumer. */
export interface JobMessage {
  jobId: string;
}

export type CreateResult = { kind: "created"; job: Job } | { kind: "exists"; job: Job } | { kind: "enqueue_failed"; message: string };

const JOB = "job";
const SUBMIT_LOCK = "submitLock";

/**
 * One Durable Object per job (named by the job id). Its storage is the source of truth;
 * nothing is kept in memory between calls, so an eviction loses nothing. After every change
 * the single alarm is re-armed from stored state (`alarmAt`). Decisions come from the pure
 * lifecycle core; this class only loads, calls the core, performs effects and saves.
 */
export class ProofJob extends DurableObject<Env> {
  /** Registers a new job and enqueues it, or returns the existing one (content addressing). */
  async create(jobId: string, tape: TapeInfo): Promise<CreateResult> {
    const cfg = configFrom(this.env);
    const now = Date.now();
    const existing = this.#load();
    if (existing) return { kind: "exists", job: await this.#commit(existing, expire(existing, now), "read", now, cfg) };
    const job = newJob(jobId, tape, now, cfg);
    await this.#commit(null, job, "accepted", now, cfg);
    try {
      await this.env.JOBS_QUEUE.send({ jobId } satisfies JobMessage);
    } catch (e) {
      // Undo, so that the player's retry of the same POST creates and enqueues it afresh.
      this.ctx.storage.kv.delete(JOB);
      await this.ctx.storage.deleteAlarm();
      return { kind: "enqueue_failed", message: e instanceof Error ? e.message : String(e) };
    }
    return { kind: "created", job };
  }

  /** The job as stored, with the wall-time cap applied on read; null if there is none. */
  async get(): Promise<Job | null> {
    const job = this.#load();
    if (!job) return null;
    const cfg = configFrom(this.env);
    const now = Date.now();
    return this.#commit(job, expire(job, now), "read", now, cfg);
  }

  /** A queue delivery: send the tape to the prover if the job still needs it. */
  async dispatch(deliveryAttempt: number): Promise<MessageAction> {
    const cfg = configFrom(this.env);
    let now = Date.now();
    const stored = this.#load();
    if (!stored) return { ack: true };
    let job = onDelivery(expire(stored, now), now);
    if (!shouldSubmit(job)) {
      await this.#commit(stored, job, "delivery", now, cfg);
      return { ack: true };
    }
    const lockedUntil = this.ctx.storage.kv.get<number>(SUBMIT_LOCK);
    if (lockedUntil !== undefined && lockedUntil > now) {
      // Another delivery of this job is submitting right now; look again once it must be done.
      return { ack: false, retryDelaySeconds: Math.ceil((lockedUntil - now) / 1000) };
    }
    this.ctx.storage.kv.put(SUBMIT_LOCK, now + cfg.requestTimeoutMs + 10_000);
    await this.#commit(stored, job, "delivery", now, cfg);
    try {
      const object = await this.env.TAPES.get(tapeKey(job.tape.sha256));
      if (!object) throw new Error(`tape ${job.tape.sha256} is missing from R2`);
      const bytes = new Uint8Array(await object.arrayBuffer());
      const outcome = await this.#prover(cfg).submit(bytes, {
        receiptKind: cfg.receiptKind,
        segmentLimitPo2: cfg.segmentLimitPo2,
        verifyMode: cfg.verifyMode,
      });
      now = Date.now();
      const current = this.#load()!;
      job = expire(current, now);
      if (!shouldSubmit(job)) {
        await this.#commit(current, job, "submit", now, cfg);
        return { ack: true };
      }
      const decided = onSubmit(job, outcome, now, deliveryAttempt, cfg);
      await this.#commit(current, decided.job, `submit:${outcome.kind}`, now, cfg);
      return decided.message;
    } finally {
      this.ctx.storage.kv.delete(SUBMIT_LOCK);
    }
  }

  /** The DLQ consumer: the job's deliveries ran out. */
  async deadLetter(): Promise<Job | null> {
    const job = this.#load();
    if (!job) return null;
    const cfg = configFrom(this.env);
    const now = Date.now();
    return this.#commit(job, onDeadLetter(expire(job, now), now), "dead_letter", now, cfg);
  }

  /**
   * The alarm loop: polls the prover while the per-alarm budget lasts, then re-arms.
   * For a queued job the alarm is the wall-time watchdog; for a finished one, clean-up.
   */
  override async alarm(): Promise<void> {
    const cfg = configFrom(this.env);
    const startedAt = Date.now();
    let now = startedAt;
    let stored = this.#load();
    if (!stored) return;
    if (isTerminal(stored.status)) {
      if (now >= alarmAt(stored, now, cfg)) await this.ctx.storage.deleteAll();
      else await this.#arm(stored, now, cfg);
      return;
    }
    let job = expire(stored, now);
    if (job.status === "proving") {
      // Crash watchdog: if this invocation dies mid-loop, polling resumes after it. Set past
      // the loop's own end, so it never fires while the loop is still running.
      await this.ctx.storage.setAlarm(startedAt + cfg.pollBudgetMs + cfg.requestTimeoutMs + 1_000);
    }
    const prover = this.#prover(cfg);
    while (job.status === "proving" && job.prover.jobId) {
      const outcome = await prover.status(job.prover.jobId);
      now = Date.now();
      stored = this.#load()!;
      job = expire(stored, now);
      if (job.status !== "proving") break;
      const polled = onPoll(job, outcome, now);
      job = polled.next.kind === "store" ? await this.#storeResult(polled.job, outcome, now) : polled.job;
      if (polled.next.kind !== "wait" || job.status !== "proving") break;
      const next = nextPoll(job, startedAt, now, cfg);
      this.#record(stored, job, "poll");
      if ("alarmAt" in next) {
        await this.ctx.storage.setAlarm(next.alarmAt);
        return;
      }
      await scheduler.wait(next.sleepMs);
      now = Date.now();
      stored = this.#load()!;
      job = expire(stored, now);
    }
    await this.#commit(stored, job, "alarm", now, cfg, true);
  }

  /** Verifies the proof against the tape and writes the result document to R2. */
  async #storeResult(job: Job, outcome: PollOutcome, now: number): Promise<Job> {
    if (outcome.kind !== "succeeded") return job;
    const mismatch = journalMismatch(job.tape, outcome.journal, RULES_DIGEST_AST3);
    if (mismatch) return onResultInvalid(job, mismatch, now);
    const key = resultKey(job.jobId);
    const document = {
      jobId: job.jobId,
      tape: job.tape,
      proverJobId: job.prover.jobId,
      journal: outcome.journal,
      receiptKind: outcome.receiptKind,
      segments: outcome.segments,
      proverElapsedMs: outcome.elapsedMs,
      storedAt: now,
      prover: outcome.document,
    };
    try {
      await this.env.TAPES.put(key, JSON.stringify(document), { httpMetadata: { contentType: "application/json" } });
    } catch (e) {
      // Not succeeded until the result is stored: keep proving, the next poll stores it again.
      return {
        ...job,
        detail: "The proof is done; storing it failed and will be retried.",
        prover: {
          ...job.prover,
          lastError: { code: "result_store_failed", message: e instanceof Error ? e.message : String(e) },
        },
      };
    }
    return onResultStored(
      job,
      {
        key,
        receiptKind: outcome.receiptKind,
        segments: outcome.segments,
        proverElapsedMs: outcome.elapsedMs,
        journal: outcome.journal!,
      },
      now,
    );
  }

  #prover(cfg: Config): ProverClient {
    return new ProverClient(cfg);
  }

  #load(): Job | null {
    return this.ctx.storage.kv.get<Job>(JOB) ?? null;
  }

  /** Saves a changed job and logs the transition (no alarm change). */
  #record(before: Job | null, after: Job, reason: string): void {
    if (before === after) return;
    this.ctx.storage.kv.put(JOB, after);
    logTransition(before, after, reason);
  }

  async #arm(job: Job, now: number, cfg: Config): Promise<void> {
    await this.ctx.storage.setAlarm(alarmAt(job, now, cfg));
  }

  /**
   * Saves a changed job, logs a transition and re-arms the alarm from the stored state
   * (always when `rearm`, else when the status changed or no alarm is armed).
   */
  async #commit(before: Job | null, after: Job, reason: string, now: number, cfg: Config, rearm = false): Promise<Job> {
    this.#record(before, after, reason);
    if (rearm || before === null || before.status !== after.status || (await this.ctx.storage.getAlarm()) === null) {
      await this.#arm(after, now, cfg);
    }
    return after;
  }
}
