import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, it } from "vitest";
import type { Config } from "../../src/core/config.ts";
import {
  isTerminal,
  unsubmitted,
  type Job,
  type Journal,
  type ReceiptCheck,
  type VerifiedReceipt,
  type ResultDocument,
  type TapeInfo,
} from "../../src/core/job.ts";
import type { Effect } from "../../src/core/effects.ts";
import { alarmFlow } from "../../src/core/flows/alarm.ts";
import { dispatchFlow } from "../../src/core/flows/dispatch.ts";
import { createFlow } from "../../src/core/flows/intake.ts";
import type { Flow, JobRequest } from "../../src/core/flows/io.ts";
import { cancelFlow, deadLetterFlow, readFlow } from "../../src/core/flows/reads.ts";
import type { StoreAttempt } from "../../src/core/steps/result.ts";
import {
  startsNewAttempt,
  expire,
  HISTORY_LENGTH,
  newAttempt,
  newJob,
  onDelivery,
  onWaiting,
  type Admission,
  type MessageAction,
  type PollOutcome,
  type SubmitOutcome,
  type Whereabouts,
} from "../../src/core/lifecycle.ts";
import { alarmAt, watchdogAt } from "../../src/core/job-timing.ts";
import { cancel, onDeadLetter } from "../../src/core/ending.ts";
import { journalMismatch, onResultInvalid, onResultStored } from "../../src/core/result-checks.ts";
import { onPoll, onSubmit } from "../../src/core/prover-answers.ts";
import type { CleanupOutcome } from "../../src/core/prover-cleanup.ts";
import { MAX_REJECTION_RETRIES, MIN_SEGMENT_LIMIT_PO2 } from "../../src/core/recovery.ts";
import { buildTape, parseTape, RULES_DIGEST_AST3 } from "../../src/core/tape.ts";
import { excludedProvers, tapeProvable } from "../../src/core/verdicts.ts";
import { CONFIGS as BASE_CONFIGS, configWith, T0 } from "../support/configs.ts";
import { TEST_VARS } from "../support/test-vars.ts";

/**
 * Model-based properties of the pure lifecycle core. Random sequences of outside events
 * (queue deliveries, dispatcher answers, submit and poll outcomes, alarms, R2 writes, cancels,
 * dead letters, reposts, clock jumps) drive one job through the real core: the very flows the
 * job's Durable Object runs (src/core/flows: create, get, cancel, deadLetter, dispatch, alarm),
 * driven here by the model's own small driver, which answers each I/O request from the event
 * (the clock, the dispatcher, the prover, R2, the queue) and performs the effect batches as the
 * object does (save, alarm, lock, the dispatcher's release/requeue/busy, index, forget). A
 * delivery's flow waits on its submission until a later event answers it. All gates, timings and
 * sequencing are the core's own; every job saved, and every effect, is checked against the
 * invariants below.
 *
 * Configs: the committed wrangler vars, the scaled-down workerd test vars, and a "tight" one
 * (segment limit 17, many recoveries) that can reach the segment-limit floor.
 */

const CONFIGS: [string, Config][] = [
  ...BASE_CONFIGS,
  [
    "tight: segment limit 17, 3 recoveries",
    configWith({ ...TEST_VARS, PROVER_SEGMENT_LIMIT_PO2: "17", PROVER_MAX_RECOVERIES: "3" }),
  ],
];

const JOB_ID = "b".repeat(64);
/** A verified receipt as src/verify would describe it (the core trusts the verdict it is given). */
const MODEL_RECEIPT: VerifiedReceipt = {
  verified: true,
  method: "groth16",
  verifierVersion: "3.0.0",
  selector: "73c457ba",
  seal: "73c457ba" + "00".repeat(256),
  imageId: "30cb1dceaa1c626ed7eb906e1567347806eefed4b759b829a3ca3696573b7090",
  journalRaw: "00".repeat(24),
  journalDigest: "00".repeat(32),
  claimDigest: "00".repeat(32),
};
const URLS = ["https://prover-a.example", "https://prover-b.example"] as const;
/**
 * Sequences per config for the model property (3 configs). FC_RUNS=20000 digs deeper; FC_SEED
 * replays.
 */
const RUNS = Number(process.env.FC_RUNS ?? 500);
const MAX_EVENTS = 60;

// ---------------------------------------------------------------------------------------------
// A real tape, parsed, and the journal a proof of it must carry.

interface TapeCase {
  tape: TapeInfo;
  journal: Journal;
}

const tapeArb: fc.Arbitrary<TapeCase> = fc
  .record({
    seed: fc.nat({ max: 0xffffffff }),
    inputs: fc.array(fc.nat({ max: 15 }), { maxLength: 24 }),
    finalScore: fc.integer({ min: 1, max: 0xffffffff }),
    finalRngState: fc.nat({ max: 0xffffffff }),
  })
  .map((o) => {
    const bytes = buildTape(o);
    const facts = parseTape(bytes);
    const tape: TapeInfo = { ...facts, sha256: createHash("sha256").update(bytes).digest("hex") };
    const journal: Journal = {
      seed: facts.seed,
      frame_count: facts.frameCount,
      final_score: facts.finalScore,
      final_rng_state: facts.finalRngState,
      tape_checksum: facts.checksum,
      rules_digest: RULES_DIGEST_AST3,
    };
    return { tape, journal };
  });

// ---------------------------------------------------------------------------------------------
// Events.

const JOURNAL_KEYS = [
  "seed",
  "frame_count",
  "final_score",
  "final_rng_state",
  "tape_checksum",
  "rules_digest",
] as const;

type JournalSpec =
  { j: "correct" } | { j: "null" } | { j: "wrong"; key: keyof Journal; delta: number };
/**
 * What the conditional R2 write of the result did: written, failed, or found an earlier document
 * (same proof, or another).
 */
type StoreSpec = "written" | "failed" | "exists_same" | "exists_other";
/**
 * What the Worker's check of the receipt says (asked only with VERIFY_RECEIPTS=groth16): valid
 * (for the tape's journal, or for another journal), forged, or no receipt it could check.
 */
type ReceiptSpec = "valid" | "valid_other_journal" | "forged" | "unchecked";
type PollSpec =
  | { p: "pending"; status: "queued" | "running" }
  | { p: "succeeded"; journal: JournalSpec; store: StoreSpec; receipt: ReceiptSpec }
  | { p: "failed"; code: string; message: string }
  | { p: "lost" }
  | { p: "transient"; code: string };
type SubmitSpec = { s: "accepted" } | { s: "busy" | "rejected" | "transient"; code: string };

type Ev =
  /** The clock moves on by `ms`. */
  | { e: "tick"; ms: number }
  /** The clock jumps to a deadline of the job (+ `off` ms), if that is ahead. */
  | { e: "jump"; to: "wall" | "poll" | "stall" | "retention"; off: number }
  /**
   * A queue delivery (`dispatch`): the dispatcher either queues it or grants a prover, and then the
   * submit starts.
   */
  | {
      e: "deliver";
      deliveryAttempt: number;
      admitMs: number;
      admission: { kind: "waiting"; ahead: number } | { kind: "granted"; url: string };
    }
  /**
   * The submit started by a granted delivery comes back (other events may have happened meanwhile).
   */
  | { e: "submitReturns"; outcome: SubmitSpec; random: number }
  /**
   * One alarm invocation: due clean-ups, the dispatch watchdog of a queued job, then polls while
   * the job is proving.
   */
  | {
      e: "alarm";
      cleanups: CleanupOutcome[];
      where: Exclude<Whereabouts, "submitting">;
      sendFails: boolean;
      polls: { poll: PollSpec; latencyMs: number }[];
    }
  | { e: "cancel"; allowed: boolean }
  | { e: "deadLetter" }
  /** The same tape posted again (a new attempt after failed/cancelled, else a read). */
  | { e: "post"; enqueueFails: boolean }
  | { e: "get" };

const FAILURES: { code: string; message: string }[] = [
  { code: "server_restarted", message: "the prover restarted" },
  { code: "internal_error", message: "panic" },
  { code: "proof_error", message: "CUDA out of memory" },
  { code: "proof_error", message: "allocation failed" },
  { code: "proof_error", message: "segment 3 panicked" },
  { code: "proof_timeout", message: "took too long" },
  { code: "zero_score_not_allowed", message: "score 0" },
  { code: "something_new", message: "a code this gateway does not know" },
  { code: "", message: "no code at all" },
];

const journalSpecArb: fc.Arbitrary<JournalSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ j: "correct" as const }) },
  { weight: 1, arbitrary: fc.constant({ j: "null" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      j: fc.constant("wrong" as const),
      key: fc.constantFrom(...JOURNAL_KEYS),
      delta: fc.integer({ min: 1, max: 0xffffffff }),
    }),
  },
);

const pollSpecArb: fc.Arbitrary<PollSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      p: fc.constant("pending" as const),
      status: fc.constantFrom("queued" as const, "running" as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      p: fc.constant("succeeded" as const),
      journal: journalSpecArb,
      store: fc.constantFrom<StoreSpec>(
        "written",
        "written",
        "failed",
        "exists_same",
        "exists_other",
      ),
      receipt: fc.constantFrom<ReceiptSpec>(
        "valid",
        "valid",
        "valid",
        "valid_other_journal",
        "forged",
        "unchecked",
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...FAILURES).map((f) => ({ p: "failed" as const, ...f })),
  },
  { weight: 1, arbitrary: fc.constant({ p: "lost" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      p: fc.constant("transient" as const),
      code: fc.constantFrom("prover_timeout", "prover_http_503", "bad_json"),
    }),
  },
);

const submitSpecArb: fc.Arbitrary<SubmitSpec> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ s: "accepted" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      s: fc.constant("busy" as const),
      code: fc.constantFrom("prover_busy", "no_slots", "at_capacity"),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      s: fc.constant("transient" as const),
      code: fc.constantFrom("prover_timeout", "prover_http_500", "unauthorized"),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      s: fc.constant("rejected" as const),
      code: fc.constantFrom("invalid_tape", "bad_options"),
    }),
  },
);

/**
 * Three mixes of events, one per sequence:
 * - chaos: everything, including huge clock jumps, dead letters and fatal prover failures;
 * - progress: the prover keeps taking the tape and losing or spoiling it (rebuilds, smaller
 *   segments, stalls) on a slowly moving clock, so jobs reach the recovery bound and the floor;
 * - churn: cancels and reposts racing submissions, so jobs go through many attempts and orphans.
 */
type Profile = "chaos" | "progress" | "churn";
const PROFILES: Record<Profile, Partial<Record<Ev["e"], number>>> = {
  chaos: {
    tick: 4,
    jump: 2,
    deliver: 6,
    submitReturns: 5,
    alarm: 7,
    cancel: 1,
    deadLetter: 1,
    post: 3,
    get: 1,
  },
  progress: { tick: 2, jump: 1, deliver: 6, submitReturns: 6, alarm: 7, post: 1, get: 1 },
  churn: {
    tick: 3,
    jump: 1,
    deliver: 5,
    submitReturns: 4,
    alarm: 3,
    cancel: 4,
    deadLetter: 1,
    post: 6,
  },
};

const rebuildPollArb: fc.Arbitrary<PollSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      p: fc.constant("pending" as const),
      status: fc.constantFrom("queued" as const, "running" as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(
        ...FAILURES.filter(
          (f) =>
            f.code.startsWith("pro") || f.code.endsWith("_error") || f.code === "server_restarted",
        ),
      )
      .map((f) => ({ p: "failed" as const, ...f })),
  },
  // Failures a tape may be to blame for: the ones that use PROVER_MAX_RECOVERIES.
  {
    weight: 5,
    arbitrary: fc
      .constantFrom(
        ...FAILURES.filter(
          (f) => f.code === "proof_timeout" || /memory|allocation/.test(f.message),
        ),
      )
      .map((f) => ({ p: "failed" as const, ...f })),
  },
  { weight: 2, arbitrary: fc.constant({ p: "lost" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      p: fc.constant("transient" as const),
      code: fc.constant("prover_timeout"),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      p: fc.constant("succeeded" as const),
      journal: journalSpecArb,
      store: fc.constantFrom<StoreSpec>("written", "failed", "exists_same", "exists_other"),
      receipt: fc.constantFrom<ReceiptSpec>("valid", "valid", "forged"),
    }),
  },
);

function eventArb(cfg: Config, profile: Profile): fc.Arbitrary<Ev> {
  const big = profile === "chaos" ? 1 : 0;
  const kinds: { [K in Ev["e"]]: fc.Arbitrary<Extract<Ev, { e: K }>> } = {
    tick: fc.record({
      e: fc.constant("tick" as const),
      ms: fc.oneof(
        { weight: 8, arbitrary: fc.integer({ min: 0, max: 2 * cfg.pollIntervalMs }) },
        { weight: 3, arbitrary: fc.integer({ min: 0, max: 2 * cfg.stallWindowMs }) },
        { weight: big, arbitrary: fc.integer({ min: 0, max: cfg.pollTimeoutMs }) },
        { weight: big, arbitrary: fc.constant(3 * cfg.maxJobWallTimeMs) },
      ),
    }),
    jump: fc.record({
      e: fc.constant("jump" as const),
      to:
        profile === "chaos"
          ? fc.constantFrom(
              "wall" as const,
              "poll" as const,
              "stall" as const,
              "retention" as const,
            )
          : fc.constant("stall" as const),
      off: fc.constantFrom(-1, 0, 1, 2),
    }),
    deliver: fc.record({
      e: fc.constant("deliver" as const),
      deliveryAttempt: fc.integer({ min: 1, max: 20 }),
      admitMs: fc.integer({ min: 0, max: 1000 }),
      admission: fc.oneof(
        {
          weight: profile === "progress" ? 0 : 1,
          arbitrary: fc.record({
            kind: fc.constant("waiting" as const),
            ahead: fc.nat({ max: 3 }),
          }),
        },
        {
          weight: 3,
          arbitrary: fc.record({
            kind: fc.constant("granted" as const),
            url: fc.constantFrom(...URLS),
          }),
        },
      ),
    }),
    submitReturns: fc.record({
      e: fc.constant("submitReturns" as const),
      outcome:
        profile === "chaos"
          ? submitSpecArb
          : fc.oneof(
              { weight: 5, arbitrary: fc.constant({ s: "accepted" as const }) },
              submitSpecArb,
            ),
      random: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    }),
    alarm: fc.record({
      e: fc.constant("alarm" as const),
      cleanups: fc.array(fc.constantFrom<CleanupOutcome>("deleted", "gone", "active", "error"), {
        maxLength: 3,
      }),
      where: fc.constantFrom("waiting" as const, "holding" as const, "absent" as const),
      sendFails: fc.boolean(),
      polls: fc.array(
        fc.record({
          poll: profile === "progress" ? rebuildPollArb : pollSpecArb,
          latencyMs: fc.integer({ min: 0, max: cfg.requestTimeoutMs }),
        }),
        { minLength: 1, maxLength: 5 },
      ),
    }),
    cancel: fc.record({ e: fc.constant("cancel" as const), allowed: fc.boolean() }),
    deadLetter: fc.constant({ e: "deadLetter" as const }),
    post: fc.record({
      e: fc.constant("post" as const),
      enqueueFails: fc.constantFrom(false, false, false, true),
    }),
    get: fc.constant({ e: "get" as const }),
  };
  const weights = PROFILES[profile];
  return fc.oneof(
    ...(Object.keys(kinds) as Ev["e"][])
      .filter((k) => (weights[k] ?? 0) > 0)
      .map((k) => ({ weight: weights[k]!, arbitrary: kinds[k] as fc.Arbitrary<Ev> })),
  );
}

/**
 * Up to MAX_EVENTS events of one profile ("max" size: without it fast-check keeps arrays to
 * about 10).
 */
const eventsArb = (cfg: Config): fc.Arbitrary<Ev[]> =>
  fc.oneof(
    ...(Object.keys(PROFILES) as Profile[]).map((p) =>
      fc.array(eventArb(cfg, p), { maxLength: MAX_EVENTS, size: "max" }),
    ),
  );

// ---------------------------------------------------------------------------------------------
// Invariants.

class Broken extends Error {
  override readonly name = "InvariantBroken";
}

function inv(cond: unknown, what: string, job?: Job): asserts cond {
  if (!cond) throw new Broken(job ? `${what}\n  job: ${JSON.stringify(job)}` : what);
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * What an ended job may still change within its attempt: the delivery count, the clean-ups,
 * updatedAt.
 */
function frozenPart(job: Job): unknown {
  const { updatedAt: _u, cleanup: _c, attempts, ...rest } = job;
  const { deliveries: _d, ...counters } = attempts;
  return { ...rest, counters };
}

const inCleanup = (job: Job, url: string | null, proverJobId: string | null) =>
  url !== null &&
  proverJobId !== null &&
  job.cleanup.some((e) => e.url === url && e.proverJobId === proverJobId);

/** Invariants of one saved job, at `now`. */
function checkState(job: Job, now: number, cfg: Config, expected: Journal): void {
  const p = job.prover;
  inv(
    job.attempts.recoveries <= cfg.maxRecoveries,
    `recoveries ${job.attempts.recoveries} > PROVER_MAX_RECOVERIES ${cfg.maxRecoveries}`,
    job,
  );
  inv(
    (job.attempts.rejections ?? 0) <= MAX_REJECTION_RETRIES,
    `a refused tape was tried ${job.attempts.rejections} more times (at most ${MAX_REJECTION_RETRIES})`,
    job,
  );
  inv(
    p.segmentLimitPo2 >= MIN_SEGMENT_LIMIT_PO2 &&
      p.segmentLimitPo2 <= cfg.segmentLimitPo2 &&
      Number.isInteger(p.segmentLimitPo2),
    `segmentLimitPo2 ${p.segmentLimitPo2} outside [16, ${cfg.segmentLimitPo2}]`,
    job,
  );
  inv(
    job.history.length <= HISTORY_LENGTH,
    `history length ${job.history.length} > ${HISTORY_LENGTH}`,
    job,
  );
  inv(job.updatedAt <= now, "updatedAt is in the future", job);
  inv(
    job.wallDeadlineAt === job.attemptStartedAt + cfg.maxJobWallTimeMs,
    "wallDeadlineAt is not attemptStartedAt + MAX_JOB_WALL_TIME_MS",
    job,
  );
  for (const e of job.cleanup)
    inv(e.nextAt <= e.until && e.tries >= 0, "a clean-up is scheduled past its own limit", job);
  inv(
    new Set(job.cleanup.map((e) => `${e.url} ${e.proverJobId}`)).size === job.cleanup.length,
    "duplicate clean-up entries",
    job,
  );

  switch (job.status) {
    case "queued":
      inv(
        p.jobId === null &&
          p.url === null &&
          p.acceptedAt === null &&
          p.pollDeadlineAt === null &&
          p.status === null,
        "a queued job still holds a prover job",
        job,
      );
      break;
    case "proving":
      inv(
        p.jobId !== null && p.url !== null && p.acceptedAt !== null && p.pollDeadlineAt !== null,
        "a proving job lacks prover.jobId/url/acceptedAt/pollDeadlineAt",
        job,
      );
      inv(
        p.pollDeadlineAt === p.acceptedAt + cfg.pollTimeoutMs,
        "pollDeadlineAt is not acceptedAt + PROVER_POLL_TIMEOUT_MS",
        job,
      );
      inv(
        p.status !== null && p.status !== "failed",
        `a proving job with prover.status ${p.status}`,
        job,
      );
      inv(
        !inCleanup(job, p.url, p.jobId),
        "the prover job being polled is scheduled for deletion",
        job,
      );
      break;
    case "succeeded":
      inv(job.result !== null, "succeeded without a result", job);
      inv(
        journalMismatch(job.tape, job.result.journal, RULES_DIGEST_AST3) === null,
        "succeeded with a journal that does not match the tape",
        job,
      );
      inv(
        sameJson(job.result.journal, expected),
        "succeeded with a journal other than the tape's",
        job,
      );
      inv(
        cfg.verifyReceipts === "off" || job.result.verified === true,
        "succeeded without a verified receipt while VERIFY_RECEIPTS=groth16",
        job,
      );
      inv(
        job.finishedAt !== null && job.error === null,
        "succeeded without finishedAt or with an error",
        job,
      );
      inv(p.jobId !== null, "succeeded without a prover job", job);
      break;
    case "failed": {
      inv(
        job.error !== null && typeof job.error.code === "string" && job.error.code.length > 0,
        "failed without an error code",
        job,
      );
      // No job ends on one prover's word against a tape the gateway reads as provable.
      inv(
        job.error.code !== "prover_rejected" || !tapeProvable(job.tape),
        "failed prover_rejected on a prover's word for a tape this gateway reads as provable",
        job,
      );
      const refusals = (job.verdicts ?? []).filter((v) => v.kind === "refused");
      if (job.error.code === "tape_rejected" || job.error.code === "prover_failed") {
        const last = refusals[refusals.length - 1];
        const earlier = refusals.slice(0, -1);
        inv(
          last !== undefined && earlier.length > 0,
          `${job.error.code} without two refusals on record`,
          job,
        );
        const other = earlier.some((v) => v.url !== last.url);
        inv(
          other ? job.error.unconfirmed === undefined : job.error.unconfirmed === true,
          "a verdict from one prover is not marked unconfirmed, or one from two provers is",
          job,
        );
      } else {
        inv(
          job.error.unconfirmed === undefined,
          "an error that is no verdict marked unconfirmed",
          job,
        );
      }
      break;
    }
    case "cancelled":
      inv(job.error === null, "cancelled with an error", job);
      break;
  }
  if (isTerminal(job.status)) {
    inv(
      job.finishedAt !== null && job.finishedAt <= now && job.finishedAt >= job.attemptStartedAt,
      "an ended job without a sensible finishedAt",
      job,
    );
  } else {
    inv(
      job.finishedAt === null && job.result === null && job.error === null,
      "a live job with finishedAt/result/error",
      job,
    );
  }

  // The one alarm, derived from state.
  const a = alarmAt(job, now, cfg);
  inv(Number.isFinite(a), `alarmAt is ${a}`, job);
  inv(a >= job.createdAt, `alarmAt ${a} is before the job was created`, job);
  if (!isTerminal(job.status)) {
    inv(
      a <= job.wallDeadlineAt + 1,
      `alarmAt ${a} is after the wall cap + 1 (${job.wallDeadlineAt + 1})`,
      job,
    );
    const watchdog = watchdogAt(job, cfg);
    inv(
      (watchdog === null) === (job.status !== "queued"),
      "a watchdog time for a job that is not queued, or none for a queued one",
      job,
    );
    if (watchdog !== null)
      inv(a <= watchdog, `alarmAt ${a} is after the dispatch watchdog ${watchdog}`, job);
    const inside =
      now <= job.wallDeadlineAt &&
      (job.status !== "proving" || now <= p.pollDeadlineAt!) &&
      (watchdog === null || now < watchdog);
    const noneDue = job.cleanup.every((e) => e.nextAt > now);
    if (inside && noneDue)
      inv(a > now, `alarmAt ${a} is not after now ${now} for a live job inside its deadlines`, job);
    if (job.status === "proving")
      inv(a <= now + cfg.pollIntervalMs, "a proving job's alarm is later than the next poll", job);
  } else {
    inv(
      a <= job.finishedAt! + cfg.completedJobRetentionMs,
      "an ended job's alarm is after its retention",
      job,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The outside world around the real flows (src/core/flows), as the object drives them.

/** A submission under way: the prover has the tape, its answer is still to come. */
interface Inflight {
  /** The delivery's flow, waiting for the prover's answer to its submission. */
  flow: Flow<MessageAction>;
  url: string;
  attempt: number;
  startedAt: number;
  deliveryAttempt: number;
  segmentLimitPo2: number;
}

interface ModelOptions {
  /** Also require that a submission is credited only to the attempt it was made for. */
  strictAttempts?: boolean;
}

/** One alarm invocation under way: what its flow asked for so far. */
interface Invocation {
  startedAt: number;
  cleanups: number;
  polls: number;
  polling: boolean;
  /** The last status read's script, and the job it was read for (until its save is checked). */
  poll?: PollSpec;
  pollOf?: Job;
  /** The last result write's script (until its save is checked). */
  write?: StoreSpec;
  /** The dispatch watchdog looked (at `at`), found the job `where`, and re-sent it or not. */
  watchdog?: { at: number; where: Whereabouts; resent: boolean };
}

class Model {
  job: Job;
  now = T0;
  inflight: Inflight | null = null;
  /** The alarm invocation under way (null: none). */
  invocation: Invocation | null = null;
  /** The effect batches performed since `batches()`. */
  performed: Effect[][] = [];
  /** The submit lock as the object stores it (null: none). */
  lock: number | null = null;
  /** The job's one alarm as armed (null: none, or it just fired). */
  armed: number | null = null;
  /** Cleared after its retention: later events find nothing. */
  gone = false;
  /** What an undone intake must put back. */
  undoTo: Job | null = null;
  released = 0;
  /** Contradictions charged to provers. */
  charged = 0;
  seq = 0;
  /** The attempt that was cancelled and the prover job it had then. */
  cancelled: { attempt: number; proverJobId: string | null } | null = null;
  /** Every job saved, for the terminal-job property. */
  readonly saved: Job[] = [];
  readonly stats = { succeeded: 0, failed: 0, cancelled: 0, attempts: 1, proving: 0, orphans: 0 };

  readonly cfg: Config;
  readonly tc: TapeCase;
  readonly opts: ModelOptions;

  constructor(cfg: Config, tc: TapeCase, opts: ModelOptions = {}) {
    this.cfg = cfg;
    this.tc = tc;
    this.opts = opts;
    this.job = newJob(JOB_ID, tc.tape, T0, cfg, "hash-1");
    checkState(this.job, this.now, cfg, tc.journal);
  }

  /**
   * The stored job, as the object loads it before a step, after checking what `expire` (which
   * every step applies first) does to it: past the wall cap nothing is left alive; ended jobs
   * are untouched.
   */
  checkedExpire(job: Job): Job {
    const r = expire(job, this.now, this.cfg);
    if (this.now > job.wallDeadlineAt)
      inv(
        isTerminal(r.status),
        `expire at ${this.now} > wallDeadlineAt ${job.wallDeadlineAt} left the job ${r.status}`,
        r,
      );
    if (isTerminal(job.status)) inv(r === job, "expire changed an ended job", r);
    if (job.status === "proving" && this.now > job.prover.pollDeadlineAt!)
      inv(r.status !== "proving", "expire past the poll deadline left the job proving", r);
    if (r.status === "proving")
      inv(r.prover.jobId === job.prover.jobId, "expire changed the prover job", r);
    return job;
  }

  /** Saves a job as the shell would, checking the step from the stored one. */
  commit(next: Job, reason: string): void {
    const prev = this.job;
    const { cfg } = this;
    inv(
      next.jobId === prev.jobId &&
        sameJson(next.tape, prev.tape) &&
        next.createdAt === prev.createdAt,
      `${reason}: identity changed`,
      next,
    );
    inv(
      next.updatedAt >= prev.updatedAt,
      `${reason}: updatedAt went backwards (${prev.updatedAt} → ${next.updatedAt})`,
      next,
    );
    if (next.attempt === prev.attempt) {
      inv(
        next.attemptStartedAt === prev.attemptStartedAt &&
          next.wallDeadlineAt === prev.wallDeadlineAt,
        `${reason}: the attempt's start or wall cap moved`,
        next,
      );
      for (const k of Object.keys(prev.attempts) as (keyof Job["attempts"])[]) {
        inv(
          (next.attempts[k] ?? 0) >= (prev.attempts[k] ?? 0),
          `${reason}: attempts.${k} went down (${prev.attempts[k]} → ${next.attempts[k]})`,
          next,
        );
      }
      inv(
        next.attempts.recoveries <= prev.attempts.recoveries + 1,
        `${reason}: more than one recovery in one step`,
        next,
      );
      inv(
        next.prover.segmentLimitPo2 <= prev.prover.segmentLimitPo2,
        `${reason}: segmentLimitPo2 grew within an attempt`,
        next,
      );
      inv(
        sameJson(next.history, prev.history),
        `${reason}: history changed within an attempt`,
        next,
      );
      if (isTerminal(prev.status)) {
        inv(next.status === prev.status, `${reason}: ${prev.status} became ${next.status}`, next);
        inv(
          sameJson(frozenPart(next), frozenPart(prev)),
          `${reason}: an ended (${prev.status}) job changed beyond deliveries/cleanup/updatedAt`,
          next,
        );
      }
      if (
        prev.status === "proving" &&
        (next.status === "cancelled" || next.error?.code === "wall_time_exceeded")
      ) {
        inv(
          inCleanup(next, prev.prover.url, prev.prover.jobId),
          `${reason}: abandoned prover job not scheduled for deletion`,
          next,
        );
      }
    } else {
      inv(reason === "new_attempt", `${reason}: the attempt number changed`, next);
      inv(next.attempt === prev.attempt + 1, "a new attempt skipped a number", next);
      inv(
        next.status === "queued" &&
          next.attemptStartedAt === this.now &&
          next.wallDeadlineAt === this.now + cfg.maxJobWallTimeMs,
        "a new attempt is not fresh",
        next,
      );
      inv(
        sameJson(next.attempts, newJob(next.jobId, next.tape, this.now, cfg).attempts),
        "a new attempt kept counters",
        next,
      );
      inv(
        sameJson(next.prover, unsubmitted(cfg.segmentLimitPo2)),
        "a new attempt kept prover state",
        next,
      );
      // (expire may have added the abandoned prover job just before)
      inv(
        prev.cleanup.every((e) => inCleanup(next, e.url, e.proverJobId)),
        "a new attempt dropped pending clean-ups",
        next,
      );
      const last = next.history[next.history.length - 1];
      inv(
        last !== undefined &&
          last.attempt === prev.attempt &&
          (last.status === "failed" || last.status === "cancelled"),
        "the ended attempt is not last in history",
        next,
      );
      inv(
        next.history.length === Math.min(HISTORY_LENGTH, prev.history.length + 1),
        "history did not grow by one (up to its length)",
        next,
      );
      this.stats.attempts++;
    }
    // Cancelled: nothing ever reaches the prover again in that attempt.
    if (this.cancelled && next.attempt === this.cancelled.attempt) {
      inv(next.status === "cancelled", `${reason}: a cancelled job became ${next.status}`, next);
      inv(
        next.prover.jobId === this.cancelled.proverJobId,
        `${reason}: a cancelled job got a new prover job`,
        next,
      );
    }
    if (next.status === "cancelled" && prev.status !== "cancelled")
      this.cancelled = { attempt: next.attempt, proverJobId: next.prover.jobId };
    if (next.status !== prev.status && isTerminal(next.status))
      this.stats[next.status as "succeeded" | "failed" | "cancelled"]++;
    if (next.status === "proving" && prev.status !== "proving") this.stats.proving++;
    checkState(next, this.now, cfg, this.tc.journal);
    this.job = next;
    this.saved.push(next);
  }

  /** Performs a step's effects as the shell does, checking each against the job it comes with. */
  perform(effects: Effect[], before: Job): void {
    const { cfg } = this;
    let job = before;
    for (const e of effects) {
      switch (e.kind) {
        case "save":
          if (e.reason === "undo") {
            // The queue refused a new attempt: the job is put back exactly as it was stored.
            inv(sameJson(e.job, this.undoTo), "undo did not restore the stored job", e.job);
            this.job = e.job;
          } else this.commit(e.job, e.reason);
          job = e.job;
          break;
        case "forget":
          inv(
            isTerminal(job.status) &&
              job.cleanup.length === 0 &&
              this.now >= job.finishedAt! + cfg.completedJobRetentionMs,
            "forgot a job that is live, has clean-ups pending, or is inside its retention",
            job,
          );
          this.gone = true;
          break;
        case "alarm":
          inv(Number.isFinite(e.at) && e.at >= job.createdAt, `alarm at ${e.at}`, job);
          if (!e.onlyIfNone || this.armed === null) this.armed = e.at;
          break;
        case "lock":
          inv(job.status === "queued", "a lock taken for a job that is not queued", job);
          inv(
            e.until > this.now + cfg.requestTimeoutMs,
            "the submit lock ends before the submit request can time out",
            job,
          );
          this.lock = e.until;
          break;
        case "unlock":
          inv(this.lock !== null, "dropped a submit lock nobody held", job);
          this.lock = null;
          break;
        case "release":
          inv(isTerminal(job.status), `released the slot of a ${job.status} job`, job);
          this.released++;
          break;
        case "requeue":
          inv(job.status === "queued", `requeued a ${job.status} job`, job);
          inv(e.arrivedAt === job.attemptStartedAt, "requeued at another place in line", job);
          inv(
            sameJson(e.exclude, excludedProvers(job)),
            "requeued without excluding exactly the provers that gave a verdict",
            job,
          );
          break;
        case "contradicted":
          inv(
            (job.verdicts ?? []).some(
              (v) =>
                v.url === e.url &&
                (v.kind === "lied" || (job.status === "succeeded" && job.prover.url !== e.url)),
            ),
            "charged a prover with no false verdict on record",
            job,
          );
          inv(
            e.atOnce === (e.reason === "returned a receipt that does not verify"),
            "only a receipt that does not verify quarantines at once",
            job,
          );
          this.charged++;
          break;
        case "busy":
        case "submitFailed":
          inv(job.status === "queued", `a ${e.kind} prover reported for a ${job.status} job`, job);
          inv(
            sameJson(e.exclude, excludedProvers(job)),
            `back in line (${e.kind}) without the provers that gave a verdict`,
            job,
          );
          break;
        case "index":
          inv(e.job === job, "indexed another job than the one saved", e.job);
          break;
        case "log":
          inv(
            !JSON.stringify(e.line).includes(job.cancelTokenHash ?? "\u0000"),
            "a log line carries the token hash",
            job,
          );
          break;
      }
    }
    // Every job that ended in this step gave its place or slot back.
    if (isTerminal(job.status) && !isTerminal(before.status) && job.attempt === before.attempt) {
      inv(
        effects.some((e) => e.kind === "release"),
        "a job ended without releasing its slot",
        job,
      );
    }
  }

  apply(ev: Ev): void {
    if (this.gone) return; // cleared after its retention: nothing of it is left to act on
    const { cfg } = this;
    switch (ev.e) {
      case "tick":
        this.now += ev.ms;
        return;
      case "jump": {
        const j = this.job;
        const base =
          ev.to === "wall"
            ? j.wallDeadlineAt
            : ev.to === "poll"
              ? j.prover.pollDeadlineAt
              : ev.to === "stall"
                ? (j.prover.firstFailedPollAt ?? this.now) + cfg.stallWindowMs
                : j.finishedAt === null
                  ? null
                  : j.finishedAt + cfg.completedJobRetentionMs;
        if (base !== null && base + ev.off > this.now) this.now = base + ev.off;
        return;
      }
      case "deliver":
        return this.deliver(ev);
      case "submitReturns":
        return this.submitReturns(ev.outcome, ev.random);
      case "alarm":
        return this.alarm(ev);
      case "cancel": {
        const who = ev.allowed
          ? { tokenHash: this.job.cancelTokenHash }
          : { tokenHash: "not-the-token" };
        const batches = this.batches();
        const done = this.drive(cancelFlow(who, cfg), ev);
        if (!ev.allowed)
          inv(
            done.done && done.value.kind === "forbidden" && batches.flat().length === 0,
            "a wrong token cancelled or changed the job",
            this.job,
          );
        return;
      }
      case "deadLetter":
        this.drive(deadLetterFlow(undefined, cfg), ev);
        return;
      case "post": {
        const input = {
          jobId: JOB_ID,
          tape: this.tc.tape,
          cancelTokenHash: `hash-${this.job.attempt + 1}`,
          why: "post" as const,
        };
        // What a refused enqueue must put back.
        this.undoTo = this.job;
        this.drive(createFlow(input, cfg), ev);
        return;
      }
      case "get":
        this.drive(readFlow(cfg), ev);
        return;
    }
  }

  deliver(ev: Extract<Ev, { e: "deliver" }>): void {
    // A submit still outstanding past the lock has long timed out on the wire.
    if (this.inflight && this.lock !== null && this.now >= this.lock) {
      this.submitReturns({ s: "transient", code: "prover_timeout" }, 0.5);
    }
    // Suspended on its submission (`inflight`), or done.
    this.drive(dispatchFlow(this.cfg), ev);
  }

  submitReturns(spec: SubmitSpec, _random: number): void {
    const flight = this.inflight;
    if (!flight) return;
    this.inflight = null;
    const { cfg } = this;
    // The prover client gives up after PROVER_REQUEST_TIMEOUT_MS.
    const s: SubmitSpec =
      this.now - flight.startedAt > cfg.requestTimeoutMs
        ? { s: "transient", code: "prover_timeout" }
        : spec;
    const outcome: SubmitOutcome =
      s.s === "accepted"
        ? { kind: "accepted", proverJobId: `p${++this.seq}` }
        : { kind: s.s, error: { code: s.code, message: `${s.s} ${s.code}` } };
    const stored = this.checkedExpire(this.job);
    const batches = this.batches();
    const done = this.drive(flight.flow, null, outcome);
    inv(done.done, "a returning submission did not finish its delivery", stored);
    const message = done.value;
    const effects = batches.flat();
    inv(
      effects.filter((e) => e.kind === "unlock").length === 1,
      "a returning submission must drop the submit lock once",
      stored,
    );
    const job = savedIn(effects) ?? stored;
    const expired = expire(stored, this.now, cfg);
    const stale = expired.status !== "queued" || expired.attempt !== flight.attempt;
    if (stale) {
      inv(message.ack, "a stale submission must ack its message", job);
      if (outcome.kind === "accepted") {
        inv(
          inCleanup(job, flight.url, outcome.proverJobId),
          "an orphaned prover job is not scheduled for deletion",
          job,
        );
        this.stats.orphans++;
      }
      if (this.opts.strictAttempts && job.attempt !== flight.attempt) {
        inv(
          job.status !== "proving",
          `a submission made for attempt ${flight.attempt} made attempt ${job.attempt} proving`,
          job,
        );
      }
      return;
    }
    // Every answer acks: a prover's failure sends the job back to the line, never to a retry.
    inv(message.ack, `${outcome.kind} submit must ack the message`, job);
    inv(
      effects.some((e) => e.kind === "submitFailed") === (outcome.kind === "transient"),
      "a transient submit must charge the prover and requeue the job (and only then)",
      job,
    );
    inv(
      effects.some((e) => e.kind === "busy") === (outcome.kind === "busy"),
      "busy effect wrong",
      job,
    );
    inv(
      job.attempts.submissions === stored.attempts.submissions + 1,
      "a submission was not counted",
      job,
    );
    if (outcome.kind === "accepted")
      inv(
        job.prover.segmentLimitPo2 === flight.segmentLimitPo2,
        "proving with other segments than submitted",
        job,
      );
    // A 400 for a tape the gateway parsed (every tape here) is a lie: back for another prover.
    const want = { accepted: "proving", busy: "queued", transient: "queued", rejected: "queued" }[
      outcome.kind
    ];
    inv(job.status === want, `${outcome.kind} submit → ${job.status}, expected ${want}`, job);
    if (outcome.kind === "rejected") {
      inv(
        effects.some((e) => e.kind === "contradicted" && e.url === flight.url) &&
          effects.some((e) => e.kind === "requeue" && e.exclude.includes(flight.url)),
        "a false 400 must charge its prover and send the job to another",
        job,
      );
    }
  }

  pollOutcome(spec: PollSpec): PollOutcome {
    switch (spec.p) {
      case "pending":
        return { kind: "pending", status: spec.status };
      case "succeeded": {
        const js = spec.journal;
        const journal: Journal | null =
          js.j === "correct"
            ? { ...this.tc.journal }
            : js.j === "null"
              ? null
              : { ...this.tc.journal, [js.key]: (this.tc.journal[js.key] + js.delta) >>> 0 };
        const r = spec.receipt;
        const committed =
          r === "valid_other_journal"
            ? { ...this.tc.journal, seed: this.tc.journal.seed ^ 1 }
            : this.tc.journal;
        const receipt: ReceiptCheck | undefined =
          r === "unchecked"
            ? undefined
            : r === "forged"
              ? { ok: false, reason: "the pairing check failed" }
              : { ok: true, journal: committed, receipt: { ...MODEL_RECEIPT } };
        return {
          kind: "succeeded",
          journal,
          receiptKind: "groth16",
          segments: 3,
          elapsedMs: 1234,
          document: { journal },
          receipt,
        };
      }
      case "failed":
        return { kind: "failed", error: { code: spec.code, message: spec.message } };
      case "lost":
        return { kind: "lost" };
      case "transient":
        return { kind: "transient", error: { code: spec.code, message: "no answer" } };
    }
  }

  /** What the conditional R2 write did, as the shell reports it to `storeTried`. */
  storeAttempt(store: StoreSpec, document: ResultDocument): StoreAttempt {
    switch (store) {
      case "written":
        return { kind: "written" };
      case "failed":
        return { kind: "error", message: "R2 put failed" };
      case "exists_same":
        return {
          kind: "exists",
          earlier: { ...document, receiptKind: "succinct", segments: 7, proverElapsedMs: 99 },
        };
      case "exists_other":
        return {
          kind: "exists",
          earlier: {
            ...document,
            journal: { ...document.journal, seed: (document.journal.seed + 1) >>> 0 },
          },
        };
    }
  }

  alarm(ev: Extract<Ev, { e: "alarm" }>): void {
    this.armed = null; // this alarm fired
    this.invocation = { startedAt: this.now, cleanups: 0, polls: 0, polling: false };
    const batches = this.batches();
    this.drive(alarmFlow(this.cfg), ev);
    const look = this.invocation.watchdog;
    this.invocation = null;
    if (!look) return;
    // The watchdog looked: it changed nothing but its check, and re-sent exactly a lost job.
    const found = savedIn(batches.flat());
    inv(
      found !== null && found.status === "queued" && found.watchdogCheckedAt === look.at,
      "the watchdog changed more than its check",
      found ?? this.job,
    );
    inv(
      look.resent === (look.where === "holding" || look.where === "absent"),
      `the watchdog ${look.resent ? "re-sent" : "kept"} a job that is ${look.where}`,
      found,
    );
  }

  // -------------------------------------------------------------------------------------------
  // The driver: runs the real flows (src/core/flows), answering their requests from the event.

  /**
   * Runs `flow` (resumed with `answer`, when it waited) until it returns, or until it waits on
   * the prover's answer to a submission (`inflight`) or the alarm invocation dies.
   */
  drive<T>(
    flow: Flow<T>,
    ev: Ev | null,
    answer?: unknown,
  ): { done: true; value: T } | { done: false } {
    let step = flow.next(answer);
    while (!step.done) {
      let next: unknown;
      try {
        next = this.answer(step.value, flow, ev);
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
        step = flow.throw(e);
        continue;
      }
      if (next === SUSPENDED) return { done: false };
      step = flow.next(next);
    }
    return { done: true, value: step.value };
  }

  /** Collects the effect batches performed from now on (until the next call). */
  batches(): Effect[][] {
    this.performed = [];
    return this.performed;
  }

  /** The outside world's answer to one request of a flow (`SUSPENDED`: none yet). */
  answer(r: JobRequest, flow: Flow<unknown>, ev: Ev | null): unknown {
    const { cfg } = this;
    const alarm = ev?.e === "alarm" ? ev : null;
    const run = this.invocation;
    switch (r.kind) {
      case "now":
        return this.now;
      case "load":
        return this.gone ? null : this.checkedExpire(this.job);
      case "lock":
        // Inside the alarm only the watchdog reads the lock: it looks now.
        // (held: it is being submitted; else the dispatcher's answer to `whereIs` says where)
        if (run) run.watchdog = { at: this.now, where: "submitting", resent: false };
        return this.lock;
      case "perform": {
        const before = this.job;
        this.perform(r.effects, before);
        this.performed.push(r.effects);
        this.afterPerform(r.effects);
        return undefined;
      }
      case "enqueue":
        if (run?.watchdog) run.watchdog.resent = true;
        // A re-sent message arrives as a later "deliver" event.
        if ((ev?.e === "post" && ev.enqueueFails) || alarm?.sendFails)
          throw new Refused("the queue refused the message");
        return undefined;
      case "admit": {
        inv(!this.inflight, "a delivery asked for a prover while another one submits", this.job);
        const d = ev as Extract<Ev, { e: "deliver" }>;
        this.now += d.admitMs; // the dispatcher answers
        return d.admission.kind === "waiting"
          ? d.admission
          : ({ kind: "granted", proverUrl: d.admission.url } satisfies Admission);
      }
      case "whereIs":
        run!.watchdog!.where = alarm!.where;
        return alarm!.where;
      case "readTape":
        return new Uint8Array(0);
      case "submit": {
        inv(this.lock !== null, "a submission without the lock", this.job);
        this.inflight = {
          flow: flow as Flow<MessageAction>,
          url: r.request.proverUrl,
          attempt: this.job.attempt,
          startedAt: this.now,
          deliveryAttempt: (ev as Extract<Ev, { e: "deliver" }>).deliveryAttempt,
          segmentLimitPo2: r.request.segmentLimitPo2,
        };
        return SUSPENDED;
      }
      case "deleteProverJob":
        return alarm!.cleanups[run!.cleanups++ % Math.max(1, alarm!.cleanups.length)] ?? "active";
      case "status": {
        if (!run!.polling) {
          run!.polling = true;
          inv(
            this.armed !== null &&
              this.armed >= run!.startedAt + cfg.pollBudgetMs + cfg.requestTimeoutMs,
            "polling without a crash-watchdog alarm past the loop",
            this.job,
          );
        }
        const spec = alarm!.polls[run!.polls++];
        // the invocation dies here (evicted): the crash-watchdog alarm resumes polling
        if (!spec) return SUSPENDED;
        this.now += spec.latencyMs;
        run!.poll = spec.poll;
        run!.pollOf = this.checkedExpire(this.job);
        const { receipt: _r, ...outcome } = this.pollOutcome(spec.poll) as PollOutcome & {
          receipt?: ReceiptCheck;
        };
        return outcome;
      }
      case "verify": {
        const o = this.pollOutcome(run!.poll!);
        // "unchecked": the prover sent no receipt the verifier could read.
        return (o.kind === "succeeded" && o.receipt) || { ok: false, reason: "no receipt" };
      }
      case "writeResult": {
        inv(run?.poll?.p === "succeeded", "store asked for without a proof", this.job);
        inv(
          journalMismatch(this.job.tape, r.document.journal, RULES_DIGEST_AST3) === null,
          "asked to store a result that does not prove the tape",
          this.job,
        );
        const store = run.poll.p === "succeeded" ? run.poll.store : "failed";
        run.write = store;
        return this.storeAttempt(store, r.document);
      }
      case "deleteResult":
        return undefined;
      case "sleep": {
        const job = this.job;
        inv(job.status === "proving", "sleep asked for a job that is not proving", job);
        const deadline = Math.min(job.wallDeadlineAt, job.prover.pollDeadlineAt!) + 1;
        inv(r.ms >= 0 && r.ms <= cfg.pollIntervalMs, `sleeps ${r.ms} ms`, job);
        inv(this.now + r.ms <= deadline, "sleeps past a deadline", job);
        inv(
          this.now + r.ms - run!.startedAt <= cfg.pollBudgetMs,
          "sleeps past the alarm's budget",
          job,
        );
        this.now += r.ms;
        return undefined;
      }
      default:
        throw new Error(`the model does not answer ${r.kind}`);
    }
  }

  /** What the alarm invocation's effects must show once a poll or a result write was answered. */
  afterPerform(effects: Effect[]): void {
    const run = this.invocation;
    const saved = savedIn(effects);
    if (!run || !saved) return;
    const { cfg } = this;
    const stored = run.pollOf;
    if (stored) {
      run.pollOf = undefined;
      if (stored.status === "proving" && expire(stored, this.now, cfg).status === "proving") {
        inv(saved.attempts.polls === stored.attempts.polls + 1, "a poll was not counted", saved);
      }
    }
    if (run.write === "failed" || run.write === "exists_other") {
      inv(
        saved.status === "proving" && saved.result === null,
        "a failed result write did not keep the job proving",
        saved,
      );
    }
    run.write = undefined;
    // The loop ends by re-arming the alarm for its next poll.
    const rearmed =
      effects.some((e) => e.kind === "save" && e.reason === "poll") &&
      effects.some((e) => e.kind === "alarm");
    if (rearmed) {
      const deadline = Math.min(saved.wallDeadlineAt, saved.prover.pollDeadlineAt!) + 1;
      inv(
        this.armed !== null && this.armed > this.now && this.armed <= deadline,
        `re-armed at ${this.armed} (now ${this.now}, deadline ${deadline})`,
        saved,
      );
    }
  }
}

/** The flow waits for an answer the script gives later (or never: the invocation died). */
const SUSPENDED = Symbol("suspended");

/** A request the outside world refuses (thrown into the flow, as the object's driver does). */
class Refused extends Error {}

/** The last job saved among `effects` (null: none). */
function savedIn(effects: Effect[]): Job | null {
  const saves = effects.filter((e) => e.kind === "save");
  return saves.length ? saves[saves.length - 1]!.job : null;
}

/** Runs a sequence; on a broken invariant, names the step. */
function run(cfg: Config, tc: TapeCase, events: Ev[], opts: ModelOptions = {}): Model {
  const m = new Model(cfg, tc, opts);
  events.forEach((ev, i) => {
    try {
      m.apply(ev);
    } catch (e) {
      if (e instanceof Broken)
        e.message = `step ${i} ${JSON.stringify(ev)} at now=T0+${m.now - T0}: ${e.message}`;
      throw e;
    }
  });
  return m;
}

/** Room for FC_RUNS deep runs (the default runs take well under a second each). */
const LONG = 600_000;

const params = (seedOffset: number, numRuns = RUNS): fc.Parameters<unknown> => ({
  numRuns,
  seed: process.env.FC_SEED ? Number(process.env.FC_SEED) + seedOffset : undefined,
});

// ---------------------------------------------------------------------------------------------

describe.each(CONFIGS)("the lifecycle core under random event sequences (%s)", (_name, cfg) => {
  const events = eventsArb(cfg);

  it(
    "every saved job keeps every invariant",
    () => {
      fc.assert(
        fc.property(tapeArb, events, (tc, evs) => {
          run(cfg, tc, evs);
        }),
        params(1),
      );
    },
    LONG,
  );

  it("the model reaches every state (guards against a vacuous model)", () => {
    const totals = {
      succeeded: 0,
      failed: 0,
      cancelled: 0,
      attempts: 0,
      proving: 0,
      orphans: 0,
      floor: 0,
      maxRecoveries: 0,
      fullHistory: 0,
      charged: 0,
    };
    fc.assert(
      fc.property(tapeArb, events, (tc, evs) => {
        const m = run(cfg, tc, evs);
        for (const k of ["succeeded", "failed", "cancelled", "proving", "orphans"] as const)
          totals[k] += m.stats[k];
        totals.attempts = Math.max(totals.attempts, m.stats.attempts);
        if (m.saved.some((j) => j.prover.segmentLimitPo2 === MIN_SEGMENT_LIMIT_PO2)) totals.floor++;
        if (m.saved.some((j) => j.attempts.recoveries === cfg.maxRecoveries))
          totals.maxRecoveries++;
        if (m.saved.some((j) => j.history.length === HISTORY_LENGTH)) totals.fullHistory++;
        totals.charged += m.charged;
      }),
      params(2, 400),
    );
    const reached = [
      totals.succeeded,
      totals.failed,
      totals.cancelled,
      totals.proving,
      totals.orphans,
      totals.maxRecoveries,
      totals.charged,
    ];
    // Only a config whose segment limit sits close to 16 can reach the floor within its recoveries.
    if (cfg.segmentLimitPo2 - MIN_SEGMENT_LIMIT_PO2 < cfg.maxRecoveries) reached.push(totals.floor);
    if (reached.some((n) => n === 0) || totals.attempts < 3)
      throw new Error(`the model is too weak: ${JSON.stringify(totals)}`);
  });

  it("whatever reaches an ended job, the shell's events leave its status, result and error alone (except a repost after failed/cancelled)", () => {
    fc.assert(
      fc.property(tapeArb, events, events, (tc, prefix, suffix) => {
        const m = run(cfg, tc, prefix);
        m.apply({ e: "cancel", allowed: true }); // end it, if it has not ended
        const ended = m.job;
        if (!isTerminal(ended.status)) throw new Error(`cancel left the job ${ended.status}`);
        for (const ev of suffix) {
          const before = m.job;
          m.apply(ev);
          if (m.job.attempt !== ended.attempt) {
            if (!(ev.e === "post" && startsNewAttempt(before)))
              throw new Error(`attempt changed by ${JSON.stringify(ev)}`);
            return; // a new attempt: the model property covers it from here
          }
          if (
            m.job.status !== ended.status ||
            !sameJson(m.job.result, ended.result) ||
            !sameJson(m.job.error, ended.error)
          ) {
            throw new Error(
              `${JSON.stringify(ev)} changed an ended job: ${ended.status} → ${m.job.status}`,
            );
          }
        }
      }),
      params(3, 150),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The core functions called directly on ended jobs (no shell gate in front of them).

type RawEvent =
  | { r: "expire"; dt: number }
  | { r: "cancel"; dt: number }
  | { r: "deadLetter"; dt: number }
  | { r: "delivery"; dt: number }
  | { r: "waiting"; dt: number; ahead: number }
  | { r: "submit"; dt: number; outcome: SubmitSpec; deliveryAttempt: number }
  | { r: "poll"; dt: number; poll: PollSpec }
  | { r: "resultInvalid"; dt: number }
  | { r: "resultStored"; dt: number };

const dtArb = fc.oneof(fc.nat({ max: 10_000 }), fc.nat({ max: 100_000_000 }));

function applyRaw(job: Job, ev: RawEvent, cfg: Config, tc: TapeCase, m: Model): Job {
  const now = job.updatedAt + ev.dt;
  switch (ev.r) {
    case "expire":
      return expire(job, now, cfg);
    case "cancel":
      return cancel(job, now, cfg);
    case "deadLetter":
      return onDeadLetter(job, now);
    case "delivery":
      return onDelivery(job, now);
    case "waiting":
      return onWaiting(job, ev.ahead, now);
    case "submit": {
      const s = ev.outcome;
      const outcome: SubmitOutcome =
        s.s === "accepted"
          ? { kind: "accepted", proverJobId: "late" }
          : { kind: s.s, error: { code: s.code, message: s.code } };
      return onSubmit(job, outcome, URLS[0], now, cfg).job;
    }
    case "poll":
      return onPoll(job, m.pollOutcome(ev.poll), now, cfg).job;
    case "resultInvalid":
      return onResultInvalid(job, "journal seed is wrong", now, cfg);
    case "resultStored":
      return onResultStored(
        job,
        { key: "k", receiptKind: "groth16", segments: 1, proverElapsedMs: 1, journal: tc.journal },
        now,
        cfg,
      );
  }
}

const rawArbs = {
  guarded: fc.oneof(
    fc.record({ r: fc.constant("expire" as const), dt: dtArb }),
    fc.record({ r: fc.constant("cancel" as const), dt: dtArb }),
    fc.record({ r: fc.constant("deadLetter" as const), dt: dtArb }),
    fc.record({ r: fc.constant("delivery" as const), dt: dtArb }),
    fc.record({ r: fc.constant("waiting" as const), dt: dtArb, ahead: fc.nat({ max: 5 }) }),
  ),
  onSubmit: fc.record({
    r: fc.constant("submit" as const),
    dt: dtArb,
    outcome: submitSpecArb,
    deliveryAttempt: fc.integer({ min: 1, max: 20 }),
  }),
  onPoll: fc.record({ r: fc.constant("poll" as const), dt: dtArb, poll: pollSpecArb }),
  onResultInvalid: fc.record({ r: fc.constant("resultInvalid" as const), dt: dtArb }),
  onResultStored: fc.record({ r: fc.constant("resultStored" as const), dt: dtArb }),
} satisfies Record<string, fc.Arbitrary<RawEvent>>;

/** Ended jobs as the model reaches them (every config, every way of ending). */
function endedJobs(cfg: Config) {
  return fc.tuple(tapeArb, eventsArb(cfg)).map(([tc, evs]) => {
    const m = run(cfg, tc, evs);
    m.apply({ e: "cancel", allowed: true });
    return { tc, m, ended: [...new Set(m.saved.filter((j) => isTerminal(j.status)))] };
  });
}

function terminalStaysTerminal(raw: fc.Arbitrary<RawEvent>, numRuns = 150) {
  for (const [, cfg] of CONFIGS) {
    fc.assert(
      fc.property(
        endedJobs(cfg),
        fc.array(raw, { minLength: 1, maxLength: 4 }),
        ({ tc, m, ended }, evs) => {
          for (const job of ended) {
            for (const ev of evs) {
              const after = applyRaw(job, ev, cfg, tc, m);
              if (
                after.status !== job.status ||
                !sameJson(after.result, job.result) ||
                !sameJson(after.error, job.error)
              ) {
                throw new Error(
                  `${JSON.stringify(ev)} turned an ended ${job.status} job into ${after.status} (error ${JSON.stringify(after.error)})`,
                );
              }
            }
          }
        },
      ),
      params(4, numRuns),
    );
  }
}

describe("ended jobs stay ended under the core functions themselves", () => {
  it("expire, cancel, onDeadLetter, onDelivery, onWaiting", () =>
    terminalStaysTerminal(rawArbs.guarded));
  it("newAttempt is the only way out, and only after failed or cancelled", () => {
    for (const [, cfg] of CONFIGS) {
      fc.assert(
        fc.property(endedJobs(cfg), dtArb, ({ ended }, dt) => {
          for (const job of ended) {
            if (!startsNewAttempt(job)) {
              if (job.status !== "succeeded")
                throw new Error(`startsNewAttempt refused a ${job.status} job`);
              continue;
            }
            const next = newAttempt(job, job.updatedAt + dt, cfg, "t");
            if (
              next.status !== "queued" ||
              next.attempt !== job.attempt + 1 ||
              next.error !== null ||
              next.result !== null
            ) {
              throw new Error("newAttempt did not start a fresh attempt");
            }
          }
        }),
        params(5, 100),
      );
    }
  });
  // Found by this file: these four transitions did not check the status they were given (safe
  // only because the shell gated them). Called on an ended job, onSubmit "accepted" made it
  // proving, onPoll "lost" rebuilt it, onResultStored turned a failed job into succeeded. They
  // now leave a job that is not in their state alone.
  it("onSubmit", () => terminalStaysTerminal(rawArbs.onSubmit, 50));
  it("onPoll", () => terminalStaysTerminal(rawArbs.onPoll, 50));
  it("onResultInvalid", () => terminalStaysTerminal(rawArbs.onResultInvalid, 50));
  it("onResultStored", () => terminalStaysTerminal(rawArbs.onResultStored, 50));
});

describe("a submission is credited only to the attempt it was made for", () => {
  // Found by this file (shell, src/objects/proof-job.ts): a delivery of attempt N is granted a
  // prover and starts submitting; meanwhile the player cancels and posts the tape again (attempt
  // N+1, queued). dispatch() used to credit the returning submission to attempt N+1, proving on a
  // prover job made for attempt N. Its flow (src/core/flows/dispatch.ts, run by the model above)
  // now compares attempts and treats that prover job as an orphan; test/integration/queue.test.ts
  // drives the real shell through it.
  it.each(CONFIGS)(
    "%s",
    (_name, cfg) => {
      fc.assert(
        fc.property(tapeArb, eventsArb(cfg), (tc, evs) => {
          run(cfg, tc, evs, { strictAttempts: true });
        }),
        params(6),
      );
    },
    LONG,
  );
});
