import { isTerminal, type Job } from "./job.ts";
import { alarmAt } from "./job-timing.ts";
import type { LifecycleConfig } from "./lifecycle.ts";
import { transitionLine } from "./log.ts";
import { contradictions, excludedProvers } from "./verdicts.ts";

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
   * frames, a sample of that prover's speed; `ending`: its proof may still run on `url` (it was
   * cancelled or timed out while proving), so that prover stays held until `proofEnded` says it
   * ended (failure: logged; its holder check frees it).
   */
  | { kind: "release"; observed?: ObservedProof; ending?: { url: string } }
  /**
   * Dispatcher: back in line at `arrivedAt`, to be submitted afresh, preferably not on
   * `avoidUrl` (the prover that had it) and, while another can be had, on none of `exclude`
   * (the provers that gave a verdict against its tape). Failure: sent through the queue instead.
   */
  | { kind: "requeue"; arrivedAt: number; avoidUrl: string | null; exclude: string[] }
  /**
   * Dispatcher: the prover said 429 to this job's submission; back to the head of the line (still
   * excluding `exclude`), the slot cools down.
   */
  | { kind: "busy"; arrivedAt: number; exclude: string[] }
  /**
   * Dispatcher: the prover failed this job's submission in transport; the prover is charged and
   * the job goes back to the head of the line at once (it waits; it is never failed for it).
   * Failure: thrown, so that the delivery is retried. `exclude`: as for `requeue`.
   */
  | { kind: "submitFailed"; arrivedAt: number; error: string; exclude: string[] }
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
   * Dispatcher: a verdict of the prover on `url` against this job's tape was found false
   * (src/core/verdicts.ts): it is charged one contradiction, and quarantined at the limit or,
   * `atOnce`, now (failure: logged).
   */
  | { kind: "contradicted"; url: string; reason: string; atOnce: boolean }
  /**
   * Dispatcher: what the prover on `url` said to the deletion of the proof this ended job left
   * running there (`ended`: 200/404, or the clean-up gave up at its limit; `alive`: 409
   * job_active; `unreachable`: no answer), so that it frees the prover it holds for it
   * (failure: logged; the hold ends by itself at PROVER_POLL_TIMEOUT_MS).
   */
  | { kind: "proofEnded"; url: string; outcome: "ended" | "alive" | "unreachable" }
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
 * - the dispatcher told when it left the line or its slot: `release` when it ended (with the
 *   prover to keep held when its proof may still run there), `requeue` when a proving job went
 *   back in line to be rebuilt (with the provers not to send it to);
 * - before that, each verdict this change found false charged to its prover (`contradicted`), so
 *   that a prover quarantined by it is not the one the line moves on to.
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
  for (const c of contradictions(before, after)) effects.push({ kind: "contradicted", ...c });
  if (before && statusChanged) {
    if (isTerminal(after.status) && !isTerminal(before.status)) {
      const observed = observedProof(after);
      const ending = stillRunning(before, after);
      effects.push({
        kind: "release",
        ...(observed ? { observed } : {}),
        ...(ending ? { ending: { url: ending } } : {}),
      });
    } else if (before.status === "proving" && after.status === "queued") {
      effects.push({
        kind: "requeue",
        arrivedAt: after.attemptStartedAt,
        avoidUrl: before.prover.url,
        exclude: excludedProvers(after),
      });
    }
  }
  return effects;
}

/**
 * The prover URL on which a job that just ended (cancelled, or past its wall time) left its proof
 * running: it was proving there, the prover had not reported the proof over, and its deletion is
 * pending. Null otherwise.
 */
export function stillRunning(before: Job, after: Job): string | null {
  const { url, jobId, status } = before.prover;
  if (before.status !== "proving" || !url || !jobId) return null;
  if (status === "succeeded" || status === "failed") return null;
  if (after.status !== "cancelled" && after.error?.code !== "wall_time_exceeded") return null;
  return after.cleanup.some((e) => e.url === url && e.proverJobId === jobId) ? url : null;
}

/** Clean-ups whose answer tells the dispatcher the proof it holds a prover for ended. */
export const HELD_UNTIL_DELETED: ReadonlySet<string> = new Set(["cancelled", "wall_time_exceeded"]);

/** Adds a `release` unless the effects already have one. */
export function withRelease(effects: Effect[]): Effect[] {
  return effects.some((e) => e.kind === "release") ? effects : [...effects, { kind: "release" }];
}
