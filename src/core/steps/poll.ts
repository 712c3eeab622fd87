import { record, type Effect, type Step } from "../effects.ts";
import type { Job, ResultDocument } from "../job.ts";
import { nextPoll } from "../job-timing.ts";
import { expire, type LifecycleConfig, type PollOutcome } from "../lifecycle.ts";
import {
  journalMismatch,
  onReceiptInvalid,
  onResultInvalid,
  receiptProblem,
} from "../result-checks.ts";
import { onPoll } from "../prover-answers.ts";
import { RULES_DIGEST_AST3 } from "../tape.ts";

/** One status read of a proving job, applied inside the alarm loop. */

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
