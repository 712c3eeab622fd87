import { DurableObject } from "cloudflare:workers";
import { configFrom, type Config } from "../core/config.ts";
import { dispatcherOf } from "./prover-dispatcher.ts";
import { indexRow, jobIndexOf } from "./job-index.ts";
import { isTerminal, type Job, type ResultDocument, type TapeInfo } from "../core/job.ts";
import {
  alarmAt,
  canRetry,
  cancel,
  expire,
  journalMismatch,
  newAttempt,
  newJob,
  nextPoll,
  onDeadLetter,
  onDelivery,
  onPoll,
  onResultInvalid,
  onResultStored,
  onResultStoreFailed,
  onSubmit,
  onWaiting,
  onWatchdog,
  watchdogAt,
  type MessageAction,
  type PollOutcome,
  type Whereabouts,
} from "../core/lifecycle.ts";
import { logTransition } from "../core/log.ts";
import { addCleanup, dueCleanups, onCleanup } from "../core/prover-cleanup.ts";
import { ProverClient } from "../prover/client.ts";
import { resultKey, tapeKey } from "../core/r2-keys.ts";
import { RULES_DIGEST_AST3 } from "../core/tape.ts";

/** The queue message that carries a job to the consumer. */
export interface JobMessage {
  jobId: string;
}

export type CreateResult =
  /** A new job, or a new attempt after `failed`/`cancelled`: the caller's cancel token is now the job's. */
  | { kind: "created"; job: Job }
  | { kind: "exists"; job: Job }
  | { kind: "enqueue_failed"; message: string };

/** Who asks to cancel: the hash of the bearer token they showed, or the admin. */
export type Canceller = { tokenHash: string | null } | { admin: true };

export type CancelResult =
  | { kind: "not_found" }
  | { kind: "forbidden" }
  | { kind: "cancelled"; job: Job }
  | { kind: "ended"; job: Job };

const JOB = "job";
const SUBMIT_LOCK = "submitLock";

/**
 * One Durable Object per job (named by the job id). Its storage is the source of truth;
 * nothing is kept in memory between calls, so an eviction loses nothing. After every change
 * the single alarm is re-armed from stored state (`alarmAt`), and the dispatcher hears when
 * the job leaves the line or its prover slot. Decisions come from the pure lifecycle core;
 * this class only loads, calls the core, performs effects and saves.
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
  ): Promise<CreateResult> {
    const cfg = configFrom(this.env);
    const now = Date.now();
    const stored = this.#load();
    const existing = stored ? expire(stored, now, cfg) : null;
    if (stored && existing && !canRetry(existing))
      return { kind: "exists", job: await this.#commit(stored, existing, "read", now, cfg) };
    const job = existing
      ? newAttempt(existing, now, cfg, cancelTokenHash)
      : newJob(jobId, tape, now, cfg, cancelTokenHash);
    await this.#commit(
      stored,
      job,
      existing ? (why === "redrive" ? "redrive" : "new_attempt") : "accepted",
      now,
      cfg,
    );
    try {
      await this.env.JOBS_QUEUE.send({ jobId } satisfies JobMessage);
    } catch (e) {
      // Undo, so that the player's retry of the same POST creates and enqueues it afresh.
      if (stored) this.ctx.storage.kv.put(JOB, stored);
      else this.ctx.storage.kv.delete(JOB);
      if (stored) await this.#arm(stored, now, cfg);
      else await this.ctx.storage.deleteAlarm();
      if (stored) await this.#index(stored);
      else
        await jobIndexOf(this.env)
          .forget(jobId)
          .catch(() => undefined);
      return { kind: "enqueue_failed", message: e instanceof Error ? e.message : String(e) };
    }
    return { kind: "created", job };
  }

  /** The job as stored, with its deadlines applied on read; null if there is none. */
  async get(): Promise<Job | null> {
    const job = this.#load();
    if (!job) return null;
    const cfg = configFrom(this.env);
    const now = Date.now();
    return this.#commit(job, expire(job, now, cfg), "read", now, cfg);
  }

  /** For the dispatcher: does this job still wait for, or hold, a prover? */
  async needsProver(): Promise<boolean> {
    const job = await this.get();
    return job !== null && !isTerminal(job.status);
  }

  /** Cancels the job if `who` may; ended jobs stay as they are. */
  async cancel(who: Canceller): Promise<CancelResult> {
    const stored = this.#load();
    if (!stored) return { kind: "not_found" };
    const cfg = configFrom(this.env);
    const now = Date.now();
    const allowed =
      "admin" in who ||
      (who.tokenHash !== null &&
        stored.cancelTokenHash !== null &&
        who.tokenHash === stored.cancelTokenHash);
    if (!allowed) return { kind: "forbidden" };
    const job = expire(stored, now, cfg);
    if (job.status === "succeeded" || job.status === "failed")
      return { kind: "ended", job: await this.#commit(stored, job, "read", now, cfg) };
    return {
      kind: "cancelled",
      job: await this.#commit(stored, cancel(job, now, cfg), "cancel", now, cfg),
    };
  }

  /**
   * A queue delivery: ask the dispatcher for a prover and, if granted, submit the tape.
   * Waiting in line and a busy prover ack the message; only submit errors retry it.
   */
  async dispatch(deliveryAttempt: number): Promise<MessageAction> {
    const cfg = configFrom(this.env);
    let now = Date.now();
    const stored = this.#load();
    if (!stored) return { ack: true };
    let job = onDelivery(expire(stored, now, cfg), now);
    /** The attempt this delivery works for: a cancel and repost meanwhile makes it stale. */
    const attempt = job.attempt;
    if (job.status !== "queued") {
      await this.#commit(stored, job, "delivery", now, cfg);
      // A grant may reach a job that ended meanwhile: hand the slot straight back.
      if (isTerminal(job.status)) await this.#release(job.jobId);
      return { ack: true };
    }
    if (this.#locked(now)) return this.#lockedRetry(now);
    await this.#commit(stored, job, "delivery", now, cfg);
    const admission = await dispatcherOf(this.env).admit(job.jobId, job.attemptStartedAt);
    now = Date.now();
    let current = this.#load();
    if (!current) return { ack: true }; // deleted meanwhile
    job = expire(current, now, cfg);
    if (job.status !== "queued" || job.attempt !== attempt) {
      // Ended while asking (hand back what the dispatcher just gave it), or a duplicate
      // delivery already had it accepted (it keeps its slot), or a new attempt replaced it
      // (which has its own message and keeps the job's slot).
      await this.#commit(current, job, "delivery", now, cfg);
      if (isTerminal(job.status)) await this.#release(job.jobId);
      return { ack: true };
    }
    if (admission.kind === "waiting") {
      await this.#commit(current, onWaiting(job, admission.ahead, now), "waiting", now, cfg);
      return { ack: true };
    }
    // Checked again: a duplicate delivery may have been granted while this one asked.
    if (this.#locked(now)) return this.#lockedRetry(now);
    this.ctx.storage.kv.put(SUBMIT_LOCK, now + cfg.requestTimeoutMs + 10_000);
    try {
      const object = await this.env.TAPES.get(tapeKey(job.tape.sha256));
      if (!object) throw new Error(`tape ${job.tape.sha256} is missing from R2`);
      const bytes = new Uint8Array(await object.arrayBuffer());
      const outcome = await this.#prover(cfg, admission.proverUrl).submit(bytes, {
        receiptKind: cfg.receiptKind,
        segmentLimitPo2: job.prover.segmentLimitPo2,
        verifyMode: cfg.verifyMode,
      });
      now = Date.now();
      current = this.#load();
      if (!current) return { ack: true };
      job = expire(current, now, cfg);
      if (job.status !== "queued" || job.attempt !== attempt) {
        // Cancelled, timed out or replaced by a new attempt while the prover was taking it:
        // that prover job belongs to no attempt now, an orphan to delete.
        if (outcome.kind === "accepted") {
          job = addCleanup(
            job,
            { url: admission.proverUrl, proverJobId: outcome.proverJobId, reason: "orphaned" },
            now,
            cfg,
          );
        }
        await this.#commit(current, job, "submit", now, cfg, true);
        return { ack: true };
      }
      const decided = onSubmit(job, outcome, admission.proverUrl, now, deliveryAttempt, cfg);
      await this.#commit(current, decided.job, `submit:${outcome.kind}`, now, cfg);
      if (decided.busy) await dispatcherOf(this.env).busy(job.jobId, job.attemptStartedAt);
      return decided.message;
    } finally {
      this.ctx.storage.kv.delete(SUBMIT_LOCK);
    }
  }

  #locked(now: number): boolean {
    const until = this.ctx.storage.kv.get<number>(SUBMIT_LOCK);
    return until !== undefined && until > now;
  }

  /** Another delivery of this job is submitting right now; look again once it must be done. */
  #lockedRetry(now: number): MessageAction {
    return {
      ack: false,
      retryDelaySeconds: Math.ceil((this.ctx.storage.kv.get<number>(SUBMIT_LOCK)! - now) / 1000),
    };
  }

  /** The DLQ consumer: the job's deliveries ran out. */
  async deadLetter(): Promise<Job | null> {
    const job = this.#load();
    if (!job) return null;
    const cfg = configFrom(this.env);
    const now = Date.now();
    return this.#commit(job, onDeadLetter(expire(job, now, cfg), now), "dead_letter", now, cfg);
  }

  /**
   * The alarm: tells the prover to forget abandoned jobs, then polls the proving job while the
   * per-alarm budget lasts and re-arms. For a queued job it is the wall-time watchdog; for an
   * ended one, clean-up after the retention period.
   */
  override async alarm(): Promise<void> {
    const cfg = configFrom(this.env);
    const startedAt = Date.now();
    let now = startedAt;
    let stored = this.#load();
    if (!stored) return;
    stored = await this.#cleanUp(stored, cfg);
    if (!stored) return;
    now = Date.now();
    if (isTerminal(stored.status)) {
      if (
        stored.cleanup.length === 0 &&
        now >= (stored.finishedAt ?? now) + cfg.completedJobRetentionMs
      ) {
        await this.ctx.storage.deleteAll();
        await jobIndexOf(this.env)
          .forget(stored.jobId)
          .catch(() => undefined);
      } else await this.#arm(stored, now, cfg);
      return;
    }
    let job = expire(stored, now, cfg);
    if (job.status === "queued" && now >= watchdogAt(job, cfg)!)
      job = await this.#watchdog(job, now);
    if (job.status === "proving") {
      // Crash watchdog: if this invocation dies mid-loop, polling resumes after it. Set past
      // the loop's own end, so it never fires while the loop is still running.
      await this.ctx.storage.setAlarm(startedAt + cfg.pollBudgetMs + cfg.requestTimeoutMs + 1_000);
    }
    while (job.status === "proving" && job.prover.jobId && job.prover.url) {
      const outcome = await this.#prover(cfg, job.prover.url).status(job.prover.jobId);
      now = Date.now();
      const polledJob = this.#load();
      if (!polledJob) return; // deleted meanwhile: nothing left to do
      stored = polledJob;
      job = expire(stored, now, cfg);
      if (job.status !== "proving") break;
      const polled = onPoll(job, outcome, now, cfg);
      job =
        polled.next.kind === "store"
          ? await this.#storeResult(polled.job, outcome, now, cfg)
          : polled.job;
      if (polled.next.kind !== "wait" || job.status !== "proving") break;
      const next = nextPoll(job, startedAt, now, cfg);
      this.#record(stored, job, "poll");
      if ("alarmAt" in next) {
        await this.ctx.storage.setAlarm(next.alarmAt);
        return;
      }
      await scheduler.wait(next.sleepMs);
      now = Date.now();
      const woken = this.#load();
      if (!woken) return;
      stored = woken;
      job = expire(stored, now, cfg);
    }
    await this.#commit(stored, job, "alarm", now, cfg, true);
  }

  /**
   * A queued job nothing has moved for `DISPATCH_WATCHDOG_MS`: if it is neither in the
   * dispatcher's line nor being submitted, its queue message was lost; send it again.
   */
  async #watchdog(job: Job, now: number): Promise<Job> {
    let where: Whereabouts;
    if (this.#locked(now)) where = "submitting";
    else {
      try {
        where = await dispatcherOf(this.env).whereIs(job.jobId);
      } catch {
        where = "absent"; // the delivery will ask the dispatcher again
      }
    }
    const checked = onWatchdog(job, where, now);
    if (!checked.redispatch) return checked.job;
    try {
      await this.env.JOBS_QUEUE.send({ jobId: job.jobId } satisfies JobMessage);
    } catch (e) {
      console.error(
        JSON.stringify({ event: "watchdog_send_failed", jobId: job.jobId, error: String(e) }),
      );
      return { ...job, watchdogCheckedAt: now }; // look again after the next interval
    }
    console.log(
      JSON.stringify({
        event: "watchdog_redispatch",
        jobId: job.jobId,
        attempt: job.attempt,
        where,
        idleMs: now - job.updatedAt,
      }),
    );
    return checked.job;
  }

  /** Sends the DELETEs that are due for abandoned prover jobs and saves what they achieved. */
  async #cleanUp(stored: Job, cfg: Config): Promise<Job | null> {
    const due = dueCleanups(stored, Date.now());
    if (due.length === 0) return stored;
    for (const entry of due) {
      const outcome = await this.#prover(cfg, entry.url).delete(entry.proverJobId);
      const current = this.#load();
      if (!current) return null;
      const next = onCleanup(
        current,
        current.cleanup.find((e) => e.proverJobId === entry.proverJobId && e.url === entry.url) ??
          entry,
        outcome,
        Date.now(),
        cfg.pollIntervalMs,
      );
      this.#record(current, next, "cleanup");
      console.log(
        JSON.stringify({
          event: "prover_cleanup",
          jobId: stored.jobId,
          proverJobId: entry.proverJobId,
          reason: entry.reason,
          outcome,
          tries: entry.tries + 1,
        }),
      );
    }
    return this.#load();
  }

  /**
   * Verifies the proof against the tape and writes the result document to R2, once per job:
   * the write is conditional (`If-None-Match: *`), so a duplicate alarm, or a retry after an
   * answer that was lost, keeps the first document, which is adopted if it proves this tape.
   * The job does not succeed until the result is stored; a failed write is retried next poll.
   */
  async #storeResult(job: Job, outcome: PollOutcome, now: number, cfg: Config): Promise<Job> {
    if (outcome.kind !== "succeeded") return job;
    const mismatch = journalMismatch(job.tape, outcome.journal, RULES_DIGEST_AST3);
    if (mismatch) return onResultInvalid(job, mismatch, now, cfg);
    const key = resultKey(job.jobId);
    const document: ResultDocument = {
      jobId: job.jobId,
      attempt: job.attempt,
      tape: job.tape,
      proverJobId: job.prover.jobId,
      journal: outcome.journal!,
      receiptKind: outcome.receiptKind,
      segments: outcome.segments,
      proverElapsedMs: outcome.elapsedMs,
      storedAt: now,
      prover: outcome.document,
    };
    let kept: ResultDocument = document;
    try {
      const written = await this.env.TAPES.put(key, JSON.stringify(document), {
        onlyIf: { etagDoesNotMatch: "*" },
        httpMetadata: { contentType: "application/json" },
      });
      if (written === null) {
        const earlier = await this.env.TAPES.get(key);
        if (!earlier) throw new Error(`${key} exists but could not be read`);
        kept = await earlier.json<ResultDocument>();
        const wrong = journalMismatch(job.tape, kept.journal ?? null, RULES_DIGEST_AST3);
        if (wrong)
          throw new Error(
            `${key} already holds a different result (${wrong}); it is not overwritten`,
          );
        console.log(
          JSON.stringify({
            event: "result_already_stored",
            jobId: job.jobId,
            attempt: job.attempt,
            storedAt: kept.storedAt,
          }),
        );
      }
    } catch (e) {
      console.error(
        JSON.stringify({
          event: "result_store_failed",
          jobId: job.jobId,
          attempt: job.attempt,
          error: String(e),
        }),
      );
      return onResultStoreFailed(job, e instanceof Error ? e.message : String(e), now);
    }
    return onResultStored(
      job,
      {
        key,
        receiptKind: kept.receiptKind,
        segments: kept.segments,
        proverElapsedMs: kept.proverElapsedMs,
        journal: kept.journal,
      },
      now,
      cfg,
    );
  }

  #prover(cfg: Config, url: string): ProverClient {
    return new ProverClient(cfg, url);
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
   * Saves a changed job, logs a transition, re-arms the alarm from the stored state (always
   * when `rearm`, else when the status or pending clean-ups changed or no alarm is armed) and
   * tells the dispatcher when the job left its place in line or its prover slot.
   */
  async #commit(
    before: Job | null,
    after: Job,
    reason: string,
    now: number,
    cfg: Config,
    rearm = false,
  ): Promise<Job> {
    this.#record(before, after, reason);
    const statusChanged = before === null || before.status !== after.status;
    if (
      rearm ||
      statusChanged ||
      before.cleanup !== after.cleanup ||
      (await this.ctx.storage.getAlarm()) === null
    ) {
      await this.#arm(after, now, cfg);
    }
    if (statusChanged || before.attempt !== after.attempt) await this.#index(after);
    if (before && statusChanged) {
      if (isTerminal(after.status) && !isTerminal(before.status)) await this.#release(after.jobId);
      else if (before.status === "proving" && after.status === "queued") await this.#requeue(after);
    }
    return after;
  }

  /** Keeps the admin index current (best effort: the next change corrects a missed one). */
  async #index(job: Job): Promise<void> {
    try {
      await jobIndexOf(this.env).record(indexRow(job));
    } catch (e) {
      console.error(
        JSON.stringify({ event: "job_index_failed", jobId: job.jobId, error: String(e) }),
      );
    }
  }

  /** Frees the job's place or slot. If the dispatcher cannot be reached, its holder check frees it later. */
  async #release(jobId: string): Promise<void> {
    try {
      await dispatcherOf(this.env).release(jobId);
    } catch (e) {
      console.error(
        JSON.stringify({ event: "dispatcher_release_failed", jobId, error: String(e) }),
      );
    }
  }

  /** A rebuilt job goes back in line at its arrival time; failing that, through the queue. */
  async #requeue(job: Job): Promise<void> {
    try {
      await dispatcherOf(this.env).requeue(job.jobId, job.attemptStartedAt);
    } catch (e) {
      console.error(
        JSON.stringify({ event: "dispatcher_requeue_failed", jobId: job.jobId, error: String(e) }),
      );
      await this.env.JOBS_QUEUE.send({ jobId: job.jobId } satisfies JobMessage).catch(
        () => undefined,
      );
    }
  }
}
