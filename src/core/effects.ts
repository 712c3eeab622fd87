import { isTerminal, type Job } from "./job.ts";
import { alarmAt, type LifecycleConfig } from "./lifecycle.ts";
import { transitionLine } from "./log.ts";

/**
 * What the job's Durable Object must do after a step of the core: the core decides, the shell
 * (src/objects/proof-job.ts) performs these in order and nothing else. A failed effect never
 * undoes the step: each one's failure rule is stated on it.
 */
export type Effect =
  /** Store the job: the Durable Object's storage is the source of truth. */
  | { kind: "save"; job: Job; reason: string }
  /**
   * Clear the job's storage and alarm, and its admin index row (retention over, or an undone
   * intake).
   */
  | { kind: "forget" }
  /** Arm the job's one alarm at `at`; with `onlyIfNone`, only when none is armed (a lost alarm). */
  | { kind: "alarm"; at: number; onlyIfNone: boolean }
  /**
   * Hold the submit lock until `until`: another delivery of the job waits instead of submitting.
   */
  | { kind: "lock"; until: number }
  /**
   * Drop the submit lock: the submission is answered and its outcome saved (right after the
   * `save`, so that a delivery the dispatcher sends at once is not made to wait for the lock).
   */
  | { kind: "unlock" }
  /**
   * Dispatcher: the job no longer needs its place in line or its prover slot; `observed`: its
   * proof succeeded on `url` in `elapsedMs` (the prover's own timing) for a tape of `frames`
   * frames, a sample of that prover's speed (failure: logged; its holder check frees it).
   */
  | { kind: "release"; observed?: ObservedProof }
  /**
   * Dispatcher: back in line at `arrivedAt`, to be submitted afresh, preferably not on
   * `avoidUrl` (the prover that had it). Failure: sent through the queue instead.
   */
  | { kind: "requeue"; arrivedAt: number; avoidUrl: string | null }
  /**
   * Dispatcher: the prover said 429 to this job's submission; back to the head of the line, the
   * slot cools down.
   */
  | { kind: "busy"; arrivedAt: number }
  /**
   * Dispatcher: the prover failed this job's submission in transport; the prover is charged and
   * the job goes back to the head of the line at once (it waits; it is never failed for it).
   * Failure: thrown, so that the delivery is retried.
   */
  | { kind: "submitFailed"; arrivedAt: number; error: string }
  /**
   * Dispatcher: the prover accepted the submission (its run of failures ends); its proof should
   * end at `expectedEndAt` (for the ETAs of the jobs behind it). Failure: logged.
   */
  | { kind: "accepted"; expectedEndAt: number | null }
  /**
   * Dispatcher: PROVER_CIRCUIT_FAILURES status reads in a row on `url` failed in transport: that
   * prover's circuit opens (failure: logged).
   */
  | { kind: "pollFailed"; url: string; error: string }
  /**
   * Dispatcher: the prover on `url` returned a receipt that does not verify (what only a broken,
   * misconfigured or dishonest prover does): its circuit opens at once (failure: logged).
   */
  | { kind: "proverFault"; url: string; error: string }
  /** The admin index row of the job (failure: logged; the next change corrects it). */
  | { kind: "index"; job: Job }
  /** One structured log line (never tape bytes, tokens or addresses). */
  | { kind: "log"; level: "info" | "error"; line: Record<string, unknown> };

/** A succeeded proof as its prover timed it: a sample of that prover's speed. */
export interface ObservedProof {
  url: string;
  frames: number;
  elapsedMs: number;
}

/** What a job that just succeeded tells the dispatcher about its prover's speed. */
export function observedProof(job: Job): ObservedProof | undefined {
  const elapsedMs = job.result?.proverElapsedMs;
  if (job.status !== "succeeded" || !job.prover.url || typeof elapsedMs !== "number") return;
  return { url: job.prover.url, frames: job.tape.frameCount, elapsedMs };
}

/** A step of the core: the job as it now stands (null: there is none) and what to do about it. */
export interface Step {
  job: Job | null;
  effects: Effect[];
}

/** Saves `after` if it changed, with its transition log line; touches nothing else. */
export function record(before: Job | null, after: Job, reason: string): Effect[] {
  if (before === after) return [];
  const line = transitionLine(before, after, reason);
  return [
    { kind: "save", job: after, reason },
    ...(line ? [{ kind: "log", level: "info", line } as const] : []),
  ];
}

/**
 * The effects of moving a job from `before` to `after`, from what changed:
 * - saved, with a log line when its status or its prover's status changed;
 * - its alarm re-armed from the new state when its status or pending clean-ups changed (or
 *   `rearm`), else only re-armed if none is armed, so that any read repairs a lost alarm;
 * - the admin index told when its status or attempt changed;
 * - the dispatcher told when it left the line or its slot: `release` when it ended, `requeue`
 *   when a proving job went back in line to be rebuilt.
 */
export function settle(
  before: Job | null,
  after: Job,
  reason: string,
  now: number,
  cfg: LifecycleConfig,
  rearm = false,
): Effect[] {
  const effects = record(before, after, reason);
  const statusChanged = before === null || before.status !== after.status;
  const onlyIfNone = !(rearm || statusChanged || before.cleanup !== after.cleanup);
  effects.push({ kind: "alarm", at: alarmAt(after, now, cfg), onlyIfNone });
  if (statusChanged || before.attempt !== after.attempt)
    effects.push({ kind: "index", job: after });
  if (before && statusChanged) {
    if (isTerminal(after.status) && !isTerminal(before.status)) {
      const observed = observedProof(after);
      effects.push(observed ? { kind: "release", observed } : { kind: "release" });
    } else if (before.status === "proving" && after.status === "queued") {
      effects.push({
        kind: "requeue",
        arrivedAt: after.attemptStartedAt,
        avoidUrl: before.prover.url,
      });
    }
  }
  return effects;
}

/** Adds a `release` unless the effects already have one. */
export function withRelease(effects: Effect[]): Effect[] {
  return effects.some((e) => e.kind === "release") ? effects : [...effects, { kind: "release" }];
}
