import { settle, withRelease, type Effect, type Step } from "../effects.ts";
import { isTerminal, type Job } from "../job.ts";
import { isLocked, lockedRetry, submitLockUntil } from "../job-timing.ts";
import {
  expire,
  onDelivery,
  onWaiting,
  type Admission,
  type LifecycleConfig,
  type MessageAction,
  type SubmitOutcome,
} from "../lifecycle.ts";
import { onSubmit } from "../prover-answers.ts";
import { addCleanup } from "../prover-cleanup.ts";
import { expectedFromSpeed } from "../speed.ts";
import { excludedProvers } from "../verdicts.ts";

/** A queue delivery: it asks the dispatcher for a prover (`deliver`, `admitted`), then submits (`submitted`). */

export type StepConfig = LifecycleConfig & { verifyMode: string };

const ACK: MessageAction = { ack: true };

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
