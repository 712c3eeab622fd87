import type { Claim } from "../claim.ts";
import type { Effect } from "../effects.ts";
import type { Outlook } from "../estimate.ts";
import type { Job, ReceiptCheck, ResultDocument } from "../job.ts";
import type {
  Admission,
  LifecycleConfig,
  PollOutcome,
  SubmitOutcome,
  Whereabouts,
} from "../lifecycle.ts";
import type { Reservation } from "../intake.ts";
import type { CleanupOutcome } from "../prover-cleanup.ts";
import { alarmEnds } from "../steps/alarm.ts";
import type { SubmitRequest } from "../steps/dispatch.ts";
import type { StoreAttempt } from "../steps/result.ts";

/**
 * The I/O a job's flow asks for (src/core/flows): each entry point of the job's Durable Object is
 * a generator that yields these requests and receives each answer (`gen.next(answer)`). The
 * object's driver performs them against the real bindings; the model-based test answers them
 * from a script. A request that fails in the shell is thrown into the flow (`gen.throw`), which
 * decides what a failure means. Requests name what is asked, never how the shell does it.
 */
export type JobRequest =
  /** The clock (epoch ms). */
  | { kind: "now" }
  /** The job as stored (null: there is none). */
  | { kind: "load" }
  /** The stored submit lock's end (null: none). */
  | { kind: "lock" }
  /** Perform the core's effects (one step's), in order: see `performEffects`. */
  | { kind: "perform"; jobId: string; effects: Effect[] }
  /** Perform one effect (inside `performEffects`); its failure rule is stated on it. */
  | { kind: "effect"; jobId: string; effect: Effect }
  /** Send the job's view to its live-status sockets. */
  | { kind: "broadcast" }
  /** Send the job through the jobs queue (throws when the queue refuses). */
  | { kind: "enqueue"; jobId: string; attempt: number }
  /** Ask the dispatcher for a prover (throws: the delivery is retried). */
  | {
      kind: "admit";
      jobId: string;
      arrivedAt: number;
      client: string | undefined;
      exclude: string[];
    }
  /** Ask the dispatcher where a waiting job is (throws: it cannot say). */
  | { kind: "whereIs"; jobId: string }
  /** Ask the dispatcher what the line ahead of a waiting job looks like (throws: it cannot say). */
  | { kind: "outlook"; jobId: string }
  /** The tape's bytes from R2 (throws when they are missing). */
  | { kind: "readTape"; sha256: string }
  /** Submit the tape to the prover `grant` named (classified by the prover client). */
  | { kind: "submit"; tape: Uint8Array<ArrayBuffer>; request: SubmitRequest; grant: Admission }
  /** Read the prover job's status (classified by the prover client). */
  | { kind: "status"; url: string; proverJobId: string }
  /** Verify a finished proof's receipt in the Worker (VERIFY_RECEIPTS=groth16). */
  | { kind: "verify"; document: unknown; imageId: string }
  /** Tell the prover to forget a prover job (a clean-up). */
  | { kind: "deleteProverJob"; url: string; proverJobId: string }
  /** Write the result document to R2 once (`If-None-Match: *`), reading back one already there. */
  | { kind: "writeResult"; jobId: string; document: ResultDocument }
  /** Take a result document this job wrote back out of R2 (throws when R2 fails). */
  | { kind: "deleteResult"; jobId: string }
  /** The job rebuilt from its stored result, once its record is gone (null: no valid result). */
  | { kind: "archived" }
  /** The claim kept beside the live record (null: none). */
  | { kind: "keptClaim" }
  /** The claim stored in R2 beside the result (null: none, or unreadable). */
  | { kind: "storedClaim"; jobId: string }
  /** Write the claim to R2 beside the result (throws when R2 fails). */
  | { kind: "writeClaim"; jobId: string; claim: Claim }
  /** Keep the claim beside the live record. */
  | { kind: "keepClaim"; claim: Claim }
  /** The outlook kept for `placeFreshUntil` (null: none). */
  | { kind: "cachedOutlook" }
  /** Keep an outlook for `placeFreshUntil`. */
  | { kind: "cacheOutlook"; cached: CachedOutlook }
  /** Take the client's place for a new attempt (throws: its count cannot be read). */
  | { kind: "reservePlace"; client: string; jobId: string; cap: number | null }
  /** Give the client's place back (best effort, never throws). */
  | { kind: "releasePlace"; client: string | null; jobId: string }
  /** Wait `ms` inside this invocation. */
  | { kind: "sleep"; ms: number };

/** An outlook as kept in the job's storage, with when it was asked and for which attempt. */
export interface CachedOutlook {
  outlook: Outlook;
  at: number;
  attempt: number;
}

/** The answer to each request kind. */
export interface Answers {
  now: number;
  load: Job | null;
  lock: number | null;
  perform: void;
  effect: void;
  broadcast: void;
  enqueue: void;
  admit: Admission;
  whereIs: Whereabouts;
  outlook: Outlook;
  readTape: Uint8Array<ArrayBuffer>;
  submit: SubmitOutcome;
  status: PollOutcome;
  verify: ReceiptCheck;
  deleteProverJob: CleanupOutcome;
  writeResult: StoreAttempt;
  deleteResult: void;
  archived: Job | null;
  keptClaim: Claim | null;
  storedClaim: Claim | null;
  writeClaim: void;
  keepClaim: void;
  cachedOutlook: CachedOutlook | null;
  cacheOutlook: void;
  reservePlace: Reservation;
  releasePlace: void;
  sleep: void;
}

export type AnswerOf<R extends JobRequest> = Answers[R["kind"]];

/** A flow: yields requests, is resumed with their answers, returns what the entry point answers. */
export type Flow<T> = Generator<JobRequest, T, unknown>;

/** Asks for one piece of I/O and returns its answer: `const x = yield* ask({ kind: … })`. */
export function* ask<R extends JobRequest>(request: R): Flow<AnswerOf<R>> {
  return (yield request) as AnswerOf<R>;
}

export const now = () => ask({ kind: "now" });
export const load = () => ask({ kind: "load" });
export const lock = () => ask({ kind: "lock" });

/** Performs one step's effects (the shell runs them through `performEffects`). */
export const perform = (jobId: string, effects: Effect[]) =>
  ask({ kind: "perform", jobId, effects });

/** One log line, as an effect. */
export const log = (jobId: string, level: "info" | "error", line: Record<string, unknown>) =>
  perform(jobId, [{ kind: "log", level, line }]);

/** The job as stored if it is still exactly `base` (nothing saved it since); null otherwise. */
export function* unchanged(base: Job): Flow<Job | null> {
  const current = yield* load();
  return current !== null && JSON.stringify(current) === JSON.stringify(base) ? current : null;
}

/** Re-arms the alarm from the job as it is now (after a step found it changed meanwhile). */
export function* rearm(jobId: string, cfg: LifecycleConfig): Flow<void> {
  const current = yield* load();
  if (current) yield* perform(jobId, alarmEnds(current, current, yield* now(), cfg));
}
