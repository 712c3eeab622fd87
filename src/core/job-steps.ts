import {
  HELD_UNTIL_DELETED,
  record,
  settle,
  withRelease,
  type Effect,
  type Step,
} from "./effects.ts";
import {
  isTerminal,
  type Job,
  type ResultDocument,
  type ResultSummary,
  type ProofStats,
  type TapeInfo,
} from "./job.ts";
import {
  alarmAt,
  cancel,
  crashWatchdogAt,
  expire,
  isLocked,
  journalMismatch,
  lockedRetry,
  newAttempt,
  newJob,
  nextPoll,
  onDeadLetter,
  onDelivery,
  onPoll,
  onReceiptInvalid,
  onResultInvalid,
  onResultStored,
  onResultStoreFailed,
  onSubmit,
  onWaiting,
  onWatchdog,
  receiptProblem,
  retentionOver,
  submitLockUntil,
  watchdogAt,
  type Admission,
  type LifecycleConfig,
  type MessageAction,
  type PollOutcome,
  type SubmitOutcome,
  type Whereabouts,
} from "./lifecycle.ts";
import { decideIntake } from "./intake.ts";
import { addCleanup, onCleanup, type CleanupOutcome } from "./prover-cleanup.ts";
import { resultKey } from "./r2-keys.ts";
import { expectedFromSpeed } from "./speed.ts";
import { RULES_DIGEST_AST3 } from "./tape.ts";
import { excludedProvers } from "./verdicts.ts";

/**
 * Each entry point of the job's Durable Object as steps of the pure core. The object loads the
 * job, calls a step, performs its effects (src/core/effects.ts), does the one piece of I/O the
 * step asks for next (ask the dispatcher, submit, poll, write the result) and hands the answer
 * to the next step. Every decision, gate and timing lives here; the object decides nothing.
 */

export type StepConfig = LifecycleConfig & { verifyMode: string };

const ACK: MessageAction = { ack: true };

// --- Intake ----------------------------------------------------------------------------------

export interface NewAttemptInput {
  jobId: string;
  tape: TapeInfo;
  cancelTokenHash: string;
  why: "post" | "redrive";
  /** The posting client's hash (null: unknown, e.g. an operator's redrive). */
  client?: string | null;
  /**
   * The Stellar address the poster claims for (null: none). A redrive keeps the attempt's own; a
   * new post after `failed`/`cancelled` is its poster's, with or without one.
   */
  claimant?: string | null;
}

export type CreateStep =
  /** Identical bytes already have a live or succeeded job: nothing new. */
  | { kind: "exists"; job: Job; effects: Effect[] }
  /**
   * A new job, or a new attempt after failed/cancelled: after the effects, send it through the
   * queue.
   */
  | { kind: "created"; job: Job; effects: Effect[] };

export function create(
  stored: Job | null,
  input: NewAttemptInput,
  now: number,
  cfg: LifecycleConfig,
): CreateStep {
  const decision = decideIntake(stored ? expire(stored, now, cfg) : null);
  if (decision.kind === "existing") {
    const { job } = decision;
    return { kind: "exists", job, effects: settle(stored, job, "read", now, cfg) };
  }
  const existing = decision.kind === "new_attempt" ? decision.job : null;
  const client = input.client ?? existing?.client ?? null;
  const claimant =
    input.why === "redrive" ? (existing?.claimant ?? null) : (input.claimant ?? null);
  const job = existing
    ? { ...newAttempt(existing, now, cfg, input.cancelTokenHash, client), claimant }
    : { ...newJob(input.jobId, input.tape, now, cfg, input.cancelTokenHash, client), claimant };
  const reason = !existing ? "accepted" : input.why === "redrive" ? "redrive" : "new_attempt";
  return { kind: "created", job, effects: settle(stored, job, reason, now, cfg) };
}

/**
 * The queue refused the new attempt: put back what was stored, so that a retried POST starts
 * afresh.
 */
export function createUndone(stored: Job | null, now: number, cfg: LifecycleConfig): Effect[] {
  if (!stored) return [{ kind: "forget" }];
  return [
    { kind: "save", job: stored, reason: "undo" },
    { kind: "alarm", at: alarmAt(stored, now, cfg), onlyIfNone: false },
    { kind: "index", job: stored },
  ];
}

// --- Reads, cancel, dead letters ------------------------------------------------------------

/** A read: the deadlines are applied (and saved) on every read, and a lost alarm re-armed. */
export function read(stored: Job, now: number, cfg: LifecycleConfig): Step {
  const job = expire(stored, now, cfg);
  return { job, effects: settle(stored, job, "read", now, cfg) };
}

/** Who asks to cancel: the hash of the bearer token they showed, or the admin. */
export type Canceller = { tokenHash: string | null } | { admin: true };

export const mayCancel = (job: Job, who: Canceller) =>
  "admin" in who ||
  (who.tokenHash !== null && job.cancelTokenHash !== null && who.tokenHash === job.cancelTokenHash);

export type CancelStep =
  | { kind: "forbidden"; job: Job; effects: [] }
  /** Already succeeded or failed: it stays as it is. */
  | { kind: "ended"; job: Job; effects: Effect[] }
  | { kind: "cancelled"; job: Job; effects: Effect[] };

export function cancelStep(
  stored: Job,
  who: Canceller,
  now: number,
  cfg: LifecycleConfig,
): CancelStep {
  if (!mayCancel(stored, who)) return { kind: "forbidden", job: stored, effects: [] };
  const job = expire(stored, now, cfg);
  if (job.status === "succeeded" || job.status === "failed") {
    return { kind: "ended", job, effects: settle(stored, job, "read", now, cfg) };
  }
  const cancelled = cancel(job, now, cfg);
  return {
    kind: "cancelled",
    job: cancelled,
    effects: settle(stored, cancelled, "cancel", now, cfg),
  };
}

/** The DLQ consumer: the job's deliveries ran out before the prover took it. */
export function deadLetter(stored: Job, now: number, cfg: LifecycleConfig): Step {
  const job = onDeadLetter(expire(stored, now, cfg), now);
  return { job, effects: settle(stored, job, "dead_letter", now, cfg) };
}

// --- A queue delivery: admit, submit ---------------------------------------------------------

export type DeliveryStep = Step & {
  next:
    | { kind: "answer"; message: MessageAction }
    /**
     * Ask the dispatcher for a prover (none of `exclude` while another can be had), then call
     * `admitted` for this attempt.
     */
    | { kind: "admit"; attempt: number; arrivedAt: number; exclude: string[] };
};

/**
 * A queue delivery reached the job. Only a queued job asks for a prover; one that ended hands
 * back any slot a grant just gave it. While another delivery submits (the lock), this one comes
 * back later and changes nothing.
 */
export function deliver(
  stored: Job,
  lockUntil: number | null,
  now: number,
  cfg: LifecycleConfig,
): DeliveryStep {
  const job = onDelivery(expire(stored, now, cfg), now);
  if (job.status !== "queued") {
    const effects = settle(stored, job, "delivery", now, cfg);
    return {
      job,
      effects: isTerminal(job.status) ? withRelease(effects) : effects,
      next: { kind: "answer", message: ACK },
    };
  }
  if (isLocked(lockUntil, now)) {
    return {
      job: stored,
      effects: [],
      next: { kind: "answer", message: lockedRetry(lockUntil!, now) },
    };
  }
  return {
    job,
    effects: settle(stored, job, "delivery", now, cfg),
    next: {
      kind: "admit",
      attempt: job.attempt,
      arrivedAt: job.attemptStartedAt,
      exclude: excludedProvers(job),
    },
  };
}

export interface SubmitRequest {
  proverUrl: string;
  /** How long the proof should take on that prover (null: unknown); see `submitted`. */
  expectedProofMs: number | null;
  receiptKind: string;
  segmentLimitPo2: number;
  verifyMode: string;
}

export type AdmittedStep = Step & {
  next:
    | { kind: "answer"; message: MessageAction }
    /** Holding the lock (an effect), read the tape from R2, submit it, then call `submitted`. */
    | { kind: "submit"; request: SubmitRequest };
};

/**
 * The dispatcher answered the delivery of attempt `forAttempt`. The job may have moved while it
 * asked: ended (hand back the slot), accepted by a duplicate delivery (which keeps the slot), or
 * replaced by a new attempt (which has its own message).
 */
export function admitted(
  current: Job | null,
  forAttempt: number,
  admission: Admission,
  lockUntil: number | null,
  now: number,
  cfg: StepConfig,
): AdmittedStep {
  if (!current) return { job: null, effects: [], next: { kind: "answer", message: ACK } };
  const job = expire(current, now, cfg);
  if (job.status !== "queued" || job.attempt !== forAttempt) {
    const effects = settle(current, job, "delivery", now, cfg);
    return {
      job,
      effects: isTerminal(job.status) ? withRelease(effects) : effects,
      next: { kind: "answer", message: ACK },
    };
  }
  if (admission.kind === "waiting") {
    const waiting = onWaiting(job, admission.ahead, now);
    return {
      job: waiting,
      effects: settle(current, waiting, "waiting", now, cfg),
      next: { kind: "answer", message: ACK },
    };
  }
  // Checked again: a duplicate delivery may have been granted while this one asked.
  if (isLocked(lockUntil, now)) {
    return { job, effects: [], next: { kind: "answer", message: lockedRetry(lockUntil!, now) } };
  }
  return {
    job,
    effects: [{ kind: "lock", until: submitLockUntil(now, cfg) }],
    next: {
      kind: "submit",
      request: {
        proverUrl: admission.proverUrl,
        expectedProofMs: expectedFromSpeed(admission.msPer1000Frames ?? null, job.tape.frameCount),
        receiptKind: cfg.receiptKind,
        segmentLimitPo2: job.prover.segmentLimitPo2,
        verifyMode: cfg.verifyMode,
      },
    },
  };
}

/**
 * The prover answered the submission made for attempt `forAttempt`. If the job was cancelled,
 * timed out or replaced by a new attempt meanwhile, a prover job it accepted belongs to no
 * attempt: an orphan, deleted on the prover. Otherwise the core's `onSubmit` decides, and a
 * busy prover (429) or a false 400 puts the job back at the head of the line (after the latter,
 * for another prover; its prover is charged by `settle`).
 */
export function submitted(
  current: Job | null,
  forAttempt: number,
  proverUrl: string,
  outcome: SubmitOutcome,
  now: number,
  cfg: LifecycleConfig,
  expectedProofMs: number | null = null,
): Step & { message: MessageAction } {
  if (!current) return { job: null, effects: [], message: ACK };
  let job = expire(current, now, cfg);
  if (job.status !== "queued" || job.attempt !== forAttempt) {
    if (outcome.kind === "accepted") {
      const orphan = { url: proverUrl, proverJobId: outcome.proverJobId, reason: "orphaned" };
      job = addCleanup(job, orphan, now, cfg);
    }
    return { job, effects: unlocked(settle(current, job, "submit", now, cfg, true)), message: ACK };
  }
  const decided = onSubmit(job, outcome, proverUrl, now, cfg, expectedProofMs);
  const effects = unlocked(settle(current, decided.job, `submit:${outcome.kind}`, now, cfg));
  const arrivedAt = job.attemptStartedAt;
  // Back in line, it keeps the provers it must not go to.
  const exclude = excludedProvers(decided.job);
  if (decided.line === "busy") effects.push({ kind: "busy", arrivedAt, exclude });
  if (decided.line === "fault" && outcome.kind === "transient") {
    effects.push({ kind: "submitFailed", arrivedAt, error: outcome.error.code, exclude });
  }
  if (decided.line === "lied") {
    effects.push({ kind: "requeue", arrivedAt, avoidUrl: proverUrl, exclude });
  }
  if (outcome.kind === "accepted") {
    effects.push({ kind: "accepted", expectedEndAt: decided.job.prover.expectedEndAt ?? null });
  }
  return { job: decided.job, effects, message: decided.message };
}

/** The effects with `unlock` right after the job's `save` (first, when nothing is saved). */
function unlocked(effects: Effect[]): Effect[] {
  const at = effects.findIndex((e) => e.kind === "save") + 1;
  return [...effects.slice(0, at), { kind: "unlock" }, ...effects.slice(at)];
}

// --- The alarm ---------------------------------------------------------------------------------

/**
 * One prover clean-up answered (the alarm sends the due ones first). Saved, no alarm change. The
 * deletion of a proof a cancelled or timed-out job left running tells the dispatcher, which
 * holds that prover until the proof ends, what the prover said (`proofEnded`).
 */
export function cleanedUp(
  current: Job,
  entry: Job["cleanup"][number],
  outcome: CleanupOutcome,
  now: number,
  cfg: LifecycleConfig,
): Step {
  const stored =
    current.cleanup.find((e) => e.proverJobId === entry.proverJobId && e.url === entry.url) ??
    entry;
  const job = onCleanup(current, stored, outcome, now, cfg.pollIntervalMs);
  const line = {
    event: "prover_cleanup",
    jobId: current.jobId,
    proverJobId: entry.proverJobId,
    reason: entry.reason,
    outcome,
    tries: entry.tries + 1,
  };
  const effects: Effect[] = [
    ...record(current, job, "cleanup"),
    { kind: "log", level: "info", line },
  ];
  if (HELD_UNTIL_DELETED.has(entry.reason)) {
    const kept = job.cleanup.some(
      (e) => e.proverJobId === entry.proverJobId && e.url === entry.url,
    );
    const said =
      outcome === "deleted" || outcome === "gone" || !kept
        ? "ended"
        : outcome === "active"
          ? "alive"
          : "unreachable";
    effects.push({ kind: "proofEnded", url: entry.url, outcome: said });
  }
  return { job, effects };
}

export type AlarmStep = Step & {
  next:
    /** Nothing more in this invocation. */
    | { kind: "end" }
    /**
     * Ask the dispatcher where this waiting job is (unless the lock says it is being submitted),
     * then `watchdogFound`.
     */
    | { kind: "watchdog"; job: Job }
    /**
     * Poll the prover job (`job.prover`), then `polled`; the crash-watchdog alarm is among the
     * effects.
     */
    | { kind: "poll"; job: Job }
    /** The job needs nothing now: `alarmEnds`. */
    | { kind: "settle"; job: Job };
};

/**
 * An alarm invocation, after the due clean-ups: an ended job is cleared once its retention is
 * over; a queued job nothing moved for DISPATCH_WATCHDOG_MS is looked for; a proving job is polled.
 */
export function alarmBegins(
  stored: Job,
  alarmStartedAt: number,
  now: number,
  cfg: LifecycleConfig,
): AlarmStep {
  if (isTerminal(stored.status)) {
    if (retentionOver(stored, now, cfg))
      return { job: null, effects: [{ kind: "forget" }], next: { kind: "end" } };
    return {
      job: stored,
      effects: [{ kind: "alarm", at: alarmAt(stored, now, cfg), onlyIfNone: false }],
      next: { kind: "end" },
    };
  }
  const job = expire(stored, now, cfg);
  if (job.status === "queued" && now >= watchdogAt(job, cfg)!)
    return { job, effects: [], next: { kind: "watchdog", job } };
  return afterWatchdog(job, alarmStartedAt, cfg);
}

/** Whether the alarm loop polls this job (again): it is proving on a prover job it knows. */
export const pollsAgain = (job: Job) =>
  job.status === "proving" && job.prover.jobId !== null && job.prover.url !== null;

/** What the alarm does once the watchdog (if any) has looked: poll a proving job, else settle. */
export function afterWatchdog(job: Job, alarmStartedAt: number, cfg: LifecycleConfig): AlarmStep {
  if (pollsAgain(job)) {
    return {
      job,
      effects: [{ kind: "alarm", at: crashWatchdogAt(alarmStartedAt, cfg), onlyIfNone: false }],
      next: { kind: "poll", job },
    };
  }
  return { job, effects: [], next: { kind: "settle", job } };
}

export interface WatchdogStep {
  job: Job;
  /** Send the job through the queue; if that fails, carry on with `ifSendFails` instead. */
  resend: { ifSendFails: Job; line: Record<string, unknown> } | null;
}

/**
 * The watchdog found a queued job `where`. Neither in line nor being submitted: its message was
 * lost (or the runtime died before delivering it), so it is sent again; deliveries are
 * idempotent, so a message that was only slow does no harm. A failed send looks again one
 * interval later.
 */
export function watchdogFound(job: Job, where: Whereabouts, now: number): WatchdogStep {
  const checked = onWatchdog(job, where, now);
  if (!checked.redispatch) return { job: checked.job, resend: null };
  const line = {
    event: "watchdog_redispatch",
    jobId: job.jobId,
    attempt: job.attempt,
    where,
    idleMs: now - job.updatedAt,
  };
  return { job: checked.job, resend: { ifSendFails: { ...job, watchdogCheckedAt: now }, line } };
}

/** Where the watchdog looks when the lock is held: being submitted right now. */
export const whereLocked = (lockUntil: number | null, now: number): Whereabouts | null =>
  isLocked(lockUntil, now) ? "submitting" : null;

export type PollStep = Step & {
  next:
    /** Write `document` to R2 (only if none is stored), then `storeTried`. */
    | { kind: "store"; document: ResultDocument }
    /** Sleep, reload, and poll again in this invocation. */
    | { kind: "sleep"; ms: number }
    /** The invocation ends; the alarm (among the effects) polls next. */
    | { kind: "rearmed" }
    /** The job left `proving` (or the poll ended it): `alarmEnds`. */
    | { kind: "settle"; job: Job };
};

/**
 * Applies one status read inside the alarm loop that started at `alarmStartedAt`. A finished
 * proof whose journal is not this tape's rebuilds the job; a matching one is to be stored.
 * While proving goes on, the loop sleeps within the per-alarm budget or re-arms the alarm.
 */
export function polled(
  stored: Job,
  outcome: PollOutcome,
  alarmStartedAt: number,
  now: number,
  cfg: LifecycleConfig,
): PollStep {
  const job = expire(stored, now, cfg);
  if (job.status !== "proving") return { job, effects: [], next: { kind: "settle", job } };
  const r = onPoll(job, outcome, now, cfg);
  // Failed status reads are the prover's fault: once this job has seen PROVER_CIRCUIT_FAILURES of
  // them in a row (it is the only one polling that prover), the prover's circuit opens.
  const streak = r.job.prover.consecutivePollFailures;
  const charged: Effect[] =
    outcome.kind === "transient" && job.prover.url && streak === cfg.circuitFailures
      ? [{ kind: "pollFailed", url: job.prover.url, error: outcome.error.code }]
      : [];
  if (r.next.kind === "store" && outcome.kind === "succeeded") {
    const mismatch = journalMismatch(r.job.tape, outcome.journal, RULES_DIGEST_AST3);
    if (mismatch) {
      const rebuilt = onResultInvalid(r.job, mismatch, now, cfg);
      return { job: rebuilt, effects: [], next: { kind: "settle", job: rebuilt } };
    }
    const forged = receiptProblem(r.job, outcome, cfg);
    if (forged) {
      const rebuilt = onReceiptInvalid(r.job, forged, now, cfg);
      const url = job.prover.url!;
      const line = {
        event: "receipt_invalid",
        jobId: job.jobId,
        attempt: job.attempt,
        prover: url,
        proverJobId: job.prover.jobId,
        reason: forged,
      };
      // Its prover is quarantined at once (`contradicted`, from `settle` as the alarm ends).
      return {
        job: rebuilt,
        effects: [{ kind: "log", level: "error", line }],
        next: { kind: "settle", job: rebuilt },
      };
    }
    return {
      job: r.job,
      effects: [],
      next: { kind: "store", document: resultDocument(r.job, outcome, now, cfg.receiptKind) },
    };
  }
  if (r.next.kind !== "wait") {
    return { job: r.job, effects: charged, next: { kind: "settle", job: r.job } };
  }
  const effects = [...charged, ...record(stored, r.job, "poll")];
  const next = nextPoll(r.job, alarmStartedAt, now, cfg);
  if ("alarmAt" in next) {
    effects.push({ kind: "alarm", at: next.alarmAt, onlyIfNone: false });
    return { job: r.job, effects, next: { kind: "rearmed" } };
  }
  return { job: r.job, effects, next: { kind: "sleep", ms: next.sleepMs } };
}

/** The document stored in R2 for a proof that matches its tape. */
export function resultDocument(
  job: Job,
  outcome: Extract<PollOutcome, { kind: "succeeded" }>,
  now: number,
  requestedReceiptKind: string,
): ResultDocument {
  return {
    jobId: job.jobId,
    attempt: job.attempt,
    tape: job.tape,
    proverJobId: job.prover.jobId,
    journal: outcome.journal!,
    receiptKind: outcome.receiptKind,
    segments: outcome.segments,
    proverElapsedMs: outcome.elapsedMs,
    storedAt: now,
    receipt: outcome.receipt?.ok ? outcome.receipt.receipt : { verified: false, method: "off" },
    prover: outcome.document,
    claimant: job.claimant ?? null,
    requestedReceiptKind,
  };
}

/** What the conditional R2 write of the result did. */
export type StoreAttempt =
  | { kind: "written" }
  /** A document was already there (`earlier`; null when it could not be read back). */
  | { kind: "exists"; earlier: ResultDocument | null }
  | { kind: "error"; message: string };

/**
 * The result is written once: a document already stored is adopted when its journal proves this
 * tape, never overwritten otherwise. The job succeeds only once a result is stored; a failed
 * write keeps it proving, and the next poll (the prover still has the proof) stores it.
 */
export function storeTried(
  job: Job,
  document: ResultDocument,
  attempt: StoreAttempt,
  now: number,
  cfg: LifecycleConfig,
): Step & { job: Job } {
  const key = resultKey(job.jobId);
  let problem: string | null = null;
  let kept = document;
  const effects: Effect[] = [];
  if (attempt.kind === "error") problem = attempt.message;
  else if (attempt.kind === "exists") {
    const wrong = attempt.earlier
      ? journalMismatch(job.tape, attempt.earlier.journal ?? null, RULES_DIGEST_AST3)
      : null;
    if (!attempt.earlier) problem = `${key} exists but could not be read`;
    else if (wrong)
      problem = `${key} already holds a different result (${wrong}); it is not overwritten`;
    else {
      kept = attempt.earlier;
      const line = {
        event: "result_already_stored",
        jobId: job.jobId,
        attempt: job.attempt,
        storedAt: kept.storedAt,
      };
      effects.push({ kind: "log", level: "info", line });
    }
  }
  if (problem !== null) {
    const line = {
      event: "result_store_failed",
      jobId: job.jobId,
      attempt: job.attempt,
      error: problem,
    };
    return {
      job: onResultStoreFailed(job, problem, now),
      effects: [{ kind: "log", level: "error", line }],
    };
  }
  const summary = resultSummary(kept);
  return { job: onResultStored(job, summary, now, cfg), effects };
}

/** What the job keeps of its stored result document (the job view and the webhook show it). */
export function resultSummary(doc: ResultDocument): ResultSummary {
  const receipt = doc.receipt?.verified ? doc.receipt : null;
  return {
    key: resultKey(doc.jobId),
    receiptKind: doc.receiptKind,
    segments: doc.segments,
    proverElapsedMs: doc.proverElapsedMs,
    journal: doc.journal,
    verified: receipt !== null,
    seal: receipt?.seal ?? null,
    imageId: receipt?.imageId ?? null,
    requestedReceiptKind: doc.requestedReceiptKind ?? null,
    stats: proofStats(doc.prover),
  };
}

/** The prover's `result.proof.stats`, numbers only (whatever else a prover puts there is dropped). */
export function proofStats(proverDocument: unknown): ProofStats | null {
  const stats = (proverDocument as { result?: { proof?: { stats?: unknown } } } | null)?.result
    ?.proof?.stats;
  if (!stats || typeof stats !== "object") return null;
  const s = stats as Record<string, unknown>;
  const n = (v: unknown) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : 0);
  return {
    segments: n(s.segments),
    total_cycles: n(s.total_cycles),
    user_cycles: n(s.user_cycles),
    paging_cycles: n(s.paging_cycles),
    reserved_cycles: n(s.reserved_cycles),
  };
}

/** The end of an alarm invocation: save what it changed and re-arm the alarm from the new state. */
export function alarmEnds(stored: Job, job: Job, now: number, cfg: LifecycleConfig): Effect[] {
  return settle(stored, job, "alarm", now, cfg, true);
}

/** For the dispatcher's holder check: does the job still wait for, or hold, a prover? */
export const needsProver = (job: Job | null) => job !== null && !isTerminal(job.status);

/**
 * The dispatcher's holder check (a poll budget after it granted the job a prover, and every
 * poll budget after): the job still needs it while it has not ended. A job that holds its prover
 * yet is still queued and not being submitted lost the grant's queue message (or its delivery
 * failed inside the gateway): it is sent again now, so that the prover does not sit idle until
 * the job's own, spread-out watchdog looks.
 */
export function holderCheck(
  job: Job | null,
  lockUntil: number | null,
  now: number,
): { needed: boolean; resend: WatchdogStep | null } {
  if (!needsProver(job)) return { needed: false, resend: null };
  if (job!.status !== "queued" || isLocked(lockUntil, now)) return { needed: true, resend: null };
  return { needed: true, resend: watchdogFound(job!, "holding", now) };
}

/** After the holder check re-sent the job (`sent`: as it then stands): save it, re-arm. */
export const holderResent = (job: Job, sent: Job, now: number, cfg: LifecycleConfig) =>
  settle(job, sent, "holder_check", now, cfg);
