/**
 * `npm run chaos`: a repeatable chaos run of the whole gateway on this machine. Starts `--provers`
 * dev provers (a fleet, wired in through PROVER_BASE_URL + PROVER_BASE_URLS) with seeded random
 * faults (5xx, resets, slow and hung replies, malformed JSON, 401s, injected 429s, restarts that
 * lose every job, failed, lost and mismatching proofs) on every prover, or on prover
 * `--fault-prover K` alone (the others run clean: one flaky prover's circuit opens and the others
 * take the work), and `wrangler dev` with short timeouts and a throw-away --persist-to folder.
 * Simulated players, each with its own CF-Connecting-IP and under the 30 POSTs/minute limit (a 429
 * is waited out), post N distinct tapes at seeded intervals, re-post some (the answer must name the
 * same job) and cancel a few with their cancel token. At seeded moments while jobs wait or prove it
 * SIGKILLs wrangler dev with its workerd children (queue messages in flight are lost; Durable
 * Object storage and alarms survive) and starts it again on the same port and state folder,
 * `--kills` times (0: never). At other seeded moments it takes down a prover that is proving a
 * job the gateway has not ended (a seeded choice among them) for `--prover-outage-ms` (default
 * twice the stall window, so the gateway must give the job up and rebuild it elsewhere), then
 * brings it back on the same port: `--prover-kills` times a whole-server kill that loses every
 * job, `--prover-partitions` times a network partition that keeps its jobs proving, so that it
 * comes back holding a stale job the gateway should delete. It follows every accepted job through the public API to its end, checks
 * each stored result's journal against the tape that was posted, watches the line through the admin
 * API (ADMIN_TOKEN is set for the run) for jobs waiting while a prover is available, and prints a
 * summary with one block per prover.
 *
 * A job is *lost* when the gateway accepted it and then answers 404; *stuck* when it is not ended
 * past its wall-time cap, or the gateway ended it `wall_time_exceeded` (the cap here is generous:
 * a job that reaches it went nowhere). A job that was on a killed or partitioned prover must end
 * succeeded, cancelled (when a player asked) or failed with a code the injected faults cause
 * (PROVER_OUTAGE_OK_CODES); anything else is an anomaly. Exit 0 when no job is lost or stuck, no
 * result mismatches its tape and nothing else broke the API's promises (anomalies); 1 otherwise;
 * 2 on bad arguments. A stale job a partitioned prover still holds at the end, and provers idle
 * while jobs wait, are reported as warnings. One seed makes the same tapes, client timing, fault
 * draws and kill moments (how they interleave with real time still varies a little).
 *
 *   npm run chaos [-- --jobs 20] [--rate 0.2] [--seed 1] [--kills 1] [--proof-ms 800]
 *                 [--provers 1] [--fault-prover K] [--prover-kills 0] [--prover-partitions 0]
 *                 [--prover-outage-ms MS] [--clients N] [--log FILE] [--var NAME:VALUE ...]
 *
 * `--hostile MODE` makes prover `--hostile-prover K` (default the last) hostile for the whole run
 * (tools/dev/prover-hostile.ts: lie_zero_score, lie_unknown_code, reject_all, huge_replies,
 * redirect), with no random faults on it. It then defaults to `--jobs 60 --rate 0 --cancel-rate 0`
 * so that every job must succeed on the honest majority, reports the box's lies, when the gateway
 * quarantined it, the jobs it proved and the key it was sent, and checks them
 * (tools/dev/chaos-hostile.ts): the checks that need the gateway's quarantine are skipped, and say so,
 * until GET /api/admin/provers knows a `quarantined` state. Every run prints a `figures` line; a
 * hostile run also prints the same run with every prover honest, to compare.
 *
 * `--log FILE` keeps wrangler's and the dev provers' output (`[prover K]`) and the run's own
 * events (`[chaos]`); `--var` overrides the short timeouts below (the run refuses vars that break
 * the config's nesting rules).
 */
import { createWriteStream } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isTerminal, type Job, type TapeInfo } from "../../src/core/job.ts";
import { journalMismatch } from "../../src/core/result-checks.ts";
import { audit } from "../ops/timeouts.ts";
import { parseVarFlag, readWranglerConfig } from "../ops/wrangler-config.ts";
import { buildTape, parseTape, RULES_DIGEST_AST3 } from "../../src/core/tape.ts";
import { sha256Hex } from "../../src/core/hex.ts";
import { JOB_FAULTS, mulberry32, TRANSPORT_FAULTS, type FaultKind } from "./prover-faults.ts";
import { HOSTILE_MODES, isHostileMode, type HostileMode } from "./prover-hostile.ts";
import {
  checkLines,
  hostileChecks,
  isQuarantined,
  quarantineSupported,
  type Check,
} from "./chaos-hostile.ts";
import { randomBytes } from "node:crypto";
import type { DevProver, StoredJob } from "./prover-server.ts";
import { startLocalRun } from "./stack.ts";
import { wholeOption } from "./args.ts";

/**
 * Every fault the dev prover knows but a forged receipt (which quarantines a prover at once, so a
 * one-prover run could prove nothing after it; the hostile modes test quarantine): each is one the
 * real prover or its network can produce, and the gateway must ride it out or end the job cleanly.
 * Three end a job `failed` by design: `fail_zero_score` (prover_rejected), `fail_unknown`
 * (prover_failed) and `fail_proof_error` twice on one job (tape_rejected: the guest refused the
 * tape).
 */
const CHAOS_FAULTS: FaultKind[] = [
  ...TRANSPORT_FAULTS,
  ...JOB_FAULTS.filter((k) => k !== "forged_receipt"),
];

/** Players send at most this many POSTs in any minute (the gateway allows 30). */
const POSTS_PER_MINUTE = 25;
/** A job not ended this long past its wall-time cap (while the gateway is up) is stuck. */
const STUCK_MARGIN_MS = 15_000;
/** How long a player keeps re-sending one POST the gateway does not answer. */
const POST_GIVE_UP_MS = 120_000;
/**
 * How a job that was on a killed or partitioned prover may legitimately end failed: codes the
 * injected faults of a later submission cause (fail_zero_score, fail_unknown, repeated proof
 * errors or timeouts). Anything else means the outage itself ended it.
 */
const PROVER_OUTAGE_OK_CODES = [
  "prover_rejected",
  "tape_rejected",
  "prover_failed",
  "recovery_exhausted",
  "poll_timeout",
];
/** How long an outage waits for a prover that proves a job before it gives up. */
const OUTAGE_TARGET_WAIT_MS = 60_000;
/** How often the admin API is read to catch jobs waiting while a prover is available. */
const LINE_SAMPLE_MS = 2_000;
/** How long after the last job ended a stale job on a partitioned prover may still be deleted. */
const STALE_DELETE_WAIT_MS = 45_000;
/** How often a hostile run reads the admin API to catch the moment the box is quarantined. */
const QUARANTINE_SAMPLE_MS = 500;

function usage(message: string): never {
  console.log(
    `${message}\nusage: npm run chaos [-- --jobs 20] [--rate 0.2] [--seed 1] [--kills 1] [--proof-ms 800] [--provers 1] [--fault-prover K] ` +
      `[--prover-kills 0] [--prover-partitions 0] [--prover-outage-ms MS] [--clients N] [--cancel-rate 0.1] [--log FILE] [--var NAME:VALUE ...]\n` +
      `       [--hostile ${HOSTILE_MODES.join("|")}] [--hostile-prover K] [--max-lies N]`,
  );
  process.exit(2);
}

function options() {
  try {
    return parseArgs({
      options: {
        jobs: { type: "string" },
        rate: { type: "string" },
        seed: { type: "string", default: "1" },
        kills: { type: "string", default: "1" },
        "proof-ms": { type: "string", default: "800" },
        provers: { type: "string", default: "1" },
        "fault-prover": { type: "string" },
        "prover-kills": { type: "string", default: "0" },
        "prover-partitions": { type: "string", default: "0" },
        "prover-outage-ms": { type: "string" },
        clients: { type: "string" },
        "cancel-rate": { type: "string" },
        hostile: { type: "string" },
        "hostile-prover": { type: "string" },
        "max-lies": { type: "string" },
        log: { type: "string" },
        var: { type: "string", multiple: true, default: [] },
      },
    }).values;
  } catch (e) {
    return usage(e instanceof Error ? e.message : String(e));
  }
}
const values = options();
const whole = wholeOption(usage);
const hostileMode: HostileMode | null =
  values.hostile === undefined
    ? null
    : isHostileMode(values.hostile)
      ? values.hostile
      : usage(`--hostile wants one of ${HOSTILE_MODES.join(", ")}, got "${values.hostile}"`);
/** A hostile run: every job must succeed, so no random faults and no cancels unless asked. */
const n = whole("jobs", values.jobs ?? (hostileMode ? "60" : "20"), 1);
const fraction = (name: string, v: string) => {
  const x = Number(v);
  if (v.trim() === "" || !(x >= 0 && x <= 1))
    usage(`--${name} wants a number from 0 to 1, got "${v}"`);
  return x;
};
const rate = fraction("rate", values.rate ?? (hostileMode ? "0" : "0.2"));
const cancelRate = fraction("cancel-rate", values["cancel-rate"] ?? (hostileMode ? "0" : "0.1"));
const seed = whole("seed", values.seed, 0) >>> 0;
const kills = whole("kills", values.kills, 0);
const proofMs = whole("proof-ms", values["proof-ms"], 1);
const proverCount = whole("provers", values.provers, 1);
/** 1-based; null: faults on every prover. */
const faultProver =
  values["fault-prover"] === undefined ? null : whole("fault-prover", values["fault-prover"], 1);
if (faultProver !== null && faultProver > proverCount)
  usage(`--fault-prover ${faultProver} names no prover: there are ${proverCount} (--provers)`);
/** 1-based; null: every prover honest. */
const hostileProver =
  hostileMode === null
    ? null
    : values["hostile-prover"] === undefined
      ? proverCount
      : whole("hostile-prover", values["hostile-prover"], 1);
if (hostileMode === null && (values["hostile-prover"] ?? values["max-lies"]) !== undefined)
  usage("--hostile-prover and --max-lies need --hostile MODE");
if (hostileProver !== null && proverCount < 2)
  usage(`--hostile needs a fleet with honest provers in it: --provers 3 (got ${proverCount})`);
if (hostileProver !== null && hostileProver > proverCount)
  usage(`--hostile-prover ${hostileProver} names no prover: there are ${proverCount} (--provers)`);
const proverKills = whole("prover-kills", values["prover-kills"], 0);
const proverPartitions = whole("prover-partitions", values["prover-partitions"], 0);
const clients =
  values.clients === undefined
    ? Math.min(10, Math.max(5, Math.ceil(n / 20)))
    : whole("clients", values.clients, 1);

/**
 * Short, test-like timeouts that still nest (ORDER_RULES); the wall-time cap grows with the run.
 */
const CHAOS_VARS: Record<string, string> = {
  // A few players post all the tapes: the per-client cap is not what this run is about.
  MAX_WAITING_PER_CLIENT: "1000",
  PROVER_REQUEST_TIMEOUT_MS: "2500", // a `slow` reply (2 s) still arrives; a `hang` times out
  PROVER_POLL_INTERVAL_MS: "200",
  PROVER_POLL_MIN_INTERVAL_MS: "20",
  // Synthetic tapes: the dev prover's receipts for them are fakes.
  VERIFY_RECEIPTS: "off",
  PROVER_POLL_BUDGET_MS: "5000",
  PROVER_STALL_WINDOW_MS: "6000",
  PROVER_POLL_TIMEOUT_MS: "30000",
  PROVER_MAX_RECOVERIES: "6",
  // Even the last job in line can finish: one prover drains the line at about a proof plus
  // 1.5 s a job, and each fault on the way costs up to a few seconds (a slow or hung reply, a
  // restart that loses the proof): measured up to 4.7 s a job at --rate 0.3 with 0.8 s proofs.
  MAX_JOB_WALL_TIME_MS: String(Math.round(60_000 + n * (proofMs + 1_500 + rate * 12_000))),
  RETRY_MIN_DELAY_SECONDS: "0",
  MAX_RETRY_DELAY_SECONDS: "1",
  DISPATCH_WATCHDOG_MS: "3000",
  // The fleet's timings, scaled like the poll interval (production: 30 s and 10 s).
  PROVER_HEALTH_INTERVAL_MS: "2000",
  PROVER_CIRCUIT_COOLDOWN_MS: "700",
};
const overrides: Record<string, string> = {
  ...CHAOS_VARS,
  // Random faults model an honest but flaky box, and some of them are lies the gateway can check
  // (fail_zero_score, result_mismatch): with the default PROVER_QUARANTINE_AFTER (2) a one-prover
  // run would quarantine its only GPU and stall. Quarantine is what `--hostile` runs check.
  ...(hostileMode ? {} : { PROVER_QUARANTINE_AFTER: "100" }),
};
try {
  for (const flag of values.var) {
    const [name, value] = parseVarFlag(flag);
    overrides[name] = value;
  }
} catch (e) {
  usage(e instanceof Error ? e.message : String(e));
}
const wranglerConfig = readWranglerConfig(
  fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url)),
);
const problems = audit(wranglerConfig, overrides).problems;
if (problems.length)
  usage(`these vars do not nest:\n${problems.map((p) => `  ${p.message}`).join("\n")}`);
const stallWindowMs = Number(overrides.PROVER_STALL_WINDOW_MS);
/** Contradictions before the gateway quarantines a prover (its default until the var exists). */
const quarantineAfter =
  Number(overrides.PROVER_QUARANTINE_AFTER ?? wranglerConfig.vars?.PROVER_QUARANTINE_AFTER) || 2;
/** "At most a few lies": the gateway's limit, plus a lie or two still in flight as it is reached. */
const maxLies =
  values["max-lies"] === undefined ? quarantineAfter + 2 : whole("max-lies", values["max-lies"], 1);
/** Longer than the stall window by default: the gateway must give the prover job up. */
const outageMs =
  values["prover-outage-ms"] === undefined
    ? 2 * stallWindowMs
    : whole("prover-outage-ms", values["prover-outage-ms"], 0);
/** For the admin API (provers' state and counts); never printed. */
const adminToken = randomBytes(24).toString("hex");

// Every random choice comes from its own stream of the one seed.
const stream = (salt: number) => mulberry32((seed ^ Math.imul(salt + 1, 0x9e3779b9)) >>> 0);
const between = (rng: () => number, lo: number, hi: number) =>
  lo + Math.floor(rng() * (hi - lo + 1));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bump = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const short = (jobId: string) => jobId.slice(0, 8);

/** One tape a player posts, and everything seen of its job. */
interface Tracked {
  index: number;
  client: number;
  bytes: Uint8Array;
  tape: TapeInfo;
  jobId: string;
  accepted: boolean;
  /** From the 202 that started the current attempt; null when that answer never arrived. */
  token: string | null;
  job: Job | null;
  queueAhead: number | null;
  /** Statuses seen, in order ("queued", "proving/running", …), for the report. */
  trail: string[];
  /** When the last trail entry was first seen (local clock). */
  changedAt: number;
  cancelAsked: boolean;
  /** "cancelled", or the 409 code that came back (job_succeeded / job_failed). */
  cancelAnswer: string | null;
  /** "kill 1: queued", … for every kill that found it not ended. */
  atKills: string[];
  /** The prover outages that took a prover job of its tape down with them. */
  atOutages: OutageHit[];
  notFound: number;
  end: null | "ended" | "lost" | "stuck";
  /** Why its stored result does not prove its tape (null: checked and fine, or not succeeded). */
  mismatch: string | null;
  /** Every attempt seen to end failed ("attempt 1: prover_rejected"), even one re-posted later. */
  failures: string[];
}

/** Seeded, distinct, valid tapes: random seeds, 100–1000 frames, non-zero scores. */
async function chaosTapes(count: number, rng: () => number): Promise<Tracked[]> {
  const seeds = new Set<number>();
  const out: Tracked[] = [];
  for (let index = 0; index < count; index++) {
    let tapeSeed: number;
    do tapeSeed = Math.floor(rng() * 2 ** 32);
    while (seeds.has(tapeSeed));
    seeds.add(tapeSeed);
    const inputs = Uint8Array.from({ length: between(rng, 100, 1000) }, () =>
      Math.floor(rng() * 16),
    );
    const bytes = buildTape({
      seed: tapeSeed,
      inputs,
      finalScore: between(rng, 1, 99_999),
      finalRngState: Math.floor(rng() * 2 ** 32),
    });
    const jobId = await sha256Hex(bytes);
    out.push({
      index,
      client: index % clients,
      bytes,
      tape: { ...parseTape(bytes), sha256: jobId },
      jobId,
      accepted: false,
      token: null,
      job: null,
      queueAhead: null,
      trail: [],
      changedAt: 0,
      cancelAsked: false,
      cancelAnswer: null,
      atKills: [],
      atOutages: [],
      notFound: 0,
      end: null,
      mismatch: null,
      failures: [],
    });
  }
  return out;
}

/** One prover outage (a kill or a partition) and what it took down. */
interface Outage {
  n: number;
  kind: "kill" | "partition";
  /** 1-based. */
  prover: number;
  /** Local clock, from t0; `endAt` null while it lasts; null `at`: no prover proved, skipped. */
  at: number | null;
  endAt: number | null;
  /** The prover's unfinished jobs when it went down. */
  jobs: StoredJob[];
  /** How the gateway saw that prover just before it came back (admin API). */
  seenDuring: string | null;
  /** Why it did not happen (null: it did). */
  skipped: string | null;
}

/** A tape whose prover job was on a prover when it went down. */
interface OutageHit {
  outage: Outage;
  proverJobId: string;
  /** The gateway's own view named that prover job when it went down (not abandoned already). */
  bound: boolean;
  /** The job as the gateway showed it just before. */
  before: Job | null;
}

/** What one player does, decided up front from its own stream. */
interface Step {
  t: Tracked;
  /** Pause before this POST. */
  gapMs: number;
  repost: boolean;
  /** Cancel the job this long after its 202 (first posts only). */
  cancelAfterMs: number | null;
}

function playerSteps(mine: Tracked[], rng: () => number): Step[] {
  const steps: Step[] = mine.map((t) => {
    const cancel = rng() < cancelRate;
    return {
      t,
      gapMs: between(rng, 800, 4000),
      repost: false,
      cancelAfterMs: cancel ? between(rng, 0, 5000) : null,
    };
  });
  // Some tapes are posted again one to four steps later; never a cancelled one (that starts a new
  // attempt).
  for (let i = steps.length - 1; i >= 0; i--) {
    const first = steps[i]!;
    if (first.cancelAfterMs !== null || rng() >= 0.15) continue;
    steps.splice(Math.min(steps.length, i + 1 + between(rng, 0, 3)), 0, {
      t: first.t,
      gapMs: between(rng, 300, 3000),
      repost: true,
      cancelAfterMs: null,
    });
  }
  return steps;
}

const tapes = await chaosTapes(n, stream(0));
const wranglerVars = Object.entries(overrides).map(([k, v]) => `${k}:${v}`);
const logFile = values.log ? createWriteStream(values.log) : null;
const stamp = () => new Date().toISOString().slice(11, 23);
/** Known once the run has started: which prover (1-based) a URL is. */
let proverIndex = (url: string): string => url;
const note = (line: string) => logFile?.write(`${stamp()} [chaos] ${line}\n`);
const run = await startLocalRun({
  name: "chaos",
  snapshot: true,
  proofMs,
  provers: proverCount,
  // The hostile box is hostile before the gateway first reads its /health.
  each: (i) => (i + 1 === hostileProver ? { hostile: hostileMode } : {}),
  vars: [...wranglerVars, `ADMIN_TOKEN:${adminToken}`],
  crashable: true,
  // proof_timeout's self-restart comes soon enough to matter here; a restart keeps the port shut
  // 1 s.
  prover: {
    seed,
    timedOutProofKillMs: 2_000,
    restartOutageMs: 1_000,
    log: logFile
      ? (line, url) => logFile.write(`${stamp()} [prover ${proverIndex(url)}] ${line}\n`)
      : undefined,
  },
  onOutput: logFile ? (text) => logFile.write(text) : undefined,
}).catch((e: unknown) => {
  console.log(`chaos: could not start: ${e instanceof Error ? e.message : String(e)}`);
  return process.exit(1);
});
const { base, stack } = run;
const provers: DevProver[] = [stack.prover, ...stack.fleet];
proverIndex = (url) => String(provers.findIndex((p) => p.url === url) + 1 || url);
const indexOfUrl = (url: string | null | undefined) =>
  url ? provers.findIndex((p) => p.url === url) + 1 : 0;
// Prover 1 draws from the run's seed as a lone prover always did; the others from their own.
const faultSeeds = provers.map((_, i) =>
  i === 0 ? seed : Math.floor(stream(300 + i)() * 2 ** 32),
);
provers.forEach((p, i) => {
  if ((faultProver === null || faultProver === i + 1) && hostileProver !== i + 1)
    p.setRandomFaults({ rate, kinds: CHAOS_FAULTS, seed: faultSeeds[i] });
});
const hostileBox = hostileProver === null ? null : provers[hostileProver - 1]!;
const byFacts = new Map(tapes.map((t) => [`${t.tape.seed}:${t.tape.checksum}`, t]));

const t0 = Date.now();
const tally = {
  postsSent: 0,
  rateLimited: 0,
  /**
   * POSTs answered 200 without a token: the 202 was lost with a killed gateway, the retry found the
   * job.
   */
  acceptedOnRetry: 0,
  repostSame: 0,
  repostNewAttempt: 0,
  postRetries: {} as Record<string, number>,
  getErrors: {} as Record<string, number>,
};
const anomalies: string[] = [];
const killLog: { at: number; queued: number; proving: number; downMs: number }[] = [];
let gatewayUpSince = Date.now();
let gatewayUp = true;
let playersDone = false;
let killsDone = false;
let outagesDone = false;
const outages: Outage[] = [];
/** Samples of the line (admin API) that found jobs waiting while a prover was available. */
const idle = { samples: 0, waiting: 0, idle: 0, longestMs: 0, examples: [] as string[] };

interface Answer {
  status: number;
  body: any;
  retryAfter: string | null;
}

/** One request to the gateway; null when it could not be reached (down, restarting, reset). */
async function call(
  method: string,
  path: string,
  init: { body?: Uint8Array; headers?: Record<string, string> } = {},
): Promise<Answer | null> {
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      body: init.body ? Buffer.from(init.body) : undefined,
      headers: init.headers,
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the report
    }
    return { status: res.status, body, retryAfter: res.headers.get("retry-after") };
  } catch {
    return null;
  }
}

/** Takes in what a read said about a job. */
function see(t: Tracked, job: Job, queueAhead: number | null = null): void {
  if (job.jobId !== t.jobId)
    anomalies.push(
      `tape ${t.index}: the gateway answered with job ${short(job.jobId)}, not ${short(t.jobId)}`,
    );
  const last = t.job;
  if (last && job.attempt === last.attempt) {
    if (job.updatedAt < last.updatedAt) return; // a read that left before the last one we took in
    if (isTerminal(last.status) && job.status !== last.status) {
      anomalies.push(
        `tape ${t.index}: job ${short(t.jobId)} went from ${last.status} back to ${job.status}`,
      );
      t.end = null;
    }
  }
  t.job = job;
  t.queueAhead = queueAhead;
  const label =
    job.status === "proving" && job.prover.status ? `proving/${job.prover.status}` : job.status;
  if (t.trail.at(-1) !== label) {
    t.trail.push(label);
    t.changedAt = Date.now();
  }
  if (job.status === "failed") {
    const what = `attempt ${job.attempt}: ${job.error?.code ?? "unknown"}`;
    if (!t.failures.includes(what)) t.failures.push(what);
  }
  if (isTerminal(job.status)) t.end ??= "ended";
}

/**
 * A player: posts its tapes at its own pace, re-posts some, cancels a few; keeps under the rate
 * limit.
 */
async function player(client: number, steps: Step[]): Promise<void> {
  const ip = `198.51.100.${client + 1}`;
  const sent: number[] = [];
  const later: Promise<void>[] = [];
  for (const step of steps) {
    await sleep(step.gapMs);
    const { t } = step;
    const since = Date.now();
    for (;;) {
      // Client-side pacing: never more than POSTS_PER_MINUTE in any 60 s.
      while (
        sent.length >= POSTS_PER_MINUTE &&
        Date.now() - sent[sent.length - POSTS_PER_MINUTE]! < 60_000
      ) {
        await sleep(60_000 - (Date.now() - sent[sent.length - POSTS_PER_MINUTE]!) + 10);
      }
      sent.push(Date.now());
      tally.postsSent++;
      const r = await call("POST", "/api/proofs/jobs", {
        body: t.bytes,
        headers: { "content-type": "application/octet-stream", "cf-connecting-ip": ip },
      });
      if (r?.status === 429) {
        tally.rateLimited++;
        await sleep(Math.max(1, Number(r.retryAfter) || 1) * 1000);
        continue;
      }
      if (r === null || r.status >= 500) {
        bump(
          tally.postRetries,
          r ? `${r.status} ${r.body?.error?.code ?? ""}`.trim() : "unreachable",
        );
        if (Date.now() - since > POST_GIVE_UP_MS) {
          anomalies.push(
            `tape ${t.index}: POST not answered for ${s(POST_GIVE_UP_MS)} (last: ${r ? r.status : "unreachable"})`,
          );
          break;
        }
        await sleep(1000);
        continue;
      }
      if (r.status !== 200 && r.status !== 202) {
        anomalies.push(`tape ${t.index}: POST answered ${r.status} ${JSON.stringify(r.body)}`);
        break;
      }
      const job = r.body.job as Job;
      if (step.repost) {
        if (r.status === 200) tally.repostSame++;
        else {
          tally.repostNewAttempt++;
          // Only an ended attempt is replaced: if nobody cancelled it, it failed (maybe unseen).
          const prev = `attempt ${job.attempt - 1}:`;
          if (!t.cancelAsked && !t.failures.some((f) => f.startsWith(prev)))
            t.failures.push(`${prev} ended before its re-post (not seen)`);
          if (t.job?.status === "succeeded")
            anomalies.push(
              `tape ${t.index}: re-post of a succeeded job started attempt ${job.attempt}`,
            );
          t.end = null;
        }
      } else {
        t.accepted = true;
        if (r.status === 200) tally.acceptedOnRetry++;
      }
      if (r.status === 202) t.token = r.body.cancel_token ?? null;
      see(t, job);
      if (step.cancelAfterMs !== null && t.token) later.push(cancelLater(t, step.cancelAfterMs));
      break;
    }
  }
  await Promise.all(later);
}

async function cancelLater(t: Tracked, afterMs: number): Promise<void> {
  await sleep(afterMs);
  t.cancelAsked = true;
  const since = Date.now();
  for (;;) {
    const r = await call("DELETE", `/api/proofs/jobs/${t.jobId}`, {
      headers: { authorization: `Bearer ${t.token}` },
    });
    if (r === null || r.status >= 500) {
      if (Date.now() - since > POST_GIVE_UP_MS)
        return void anomalies.push(
          `tape ${t.index}: DELETE not answered for ${s(POST_GIVE_UP_MS)}`,
        );
      await sleep(1000);
      continue;
    }
    if (r.status === 200) {
      t.cancelAnswer = "cancelled";
      see(t, r.body.job);
    } else if (r.status === 409) t.cancelAnswer = r.body.error?.code ?? "409";
    else
      anomalies.push(
        `tape ${t.index}: DELETE with its own token answered ${r.status} ${JSON.stringify(r.body)}`,
      );
    return;
  }
}

/**
 * The kills: each once enough jobs are accepted (seeded), after a seeded pause, down a seeded
 * while.
 */
async function killer(rng: () => number): Promise<void> {
  const plan = Array.from({ length: kills }, () => ({
    after: between(rng, Math.ceil(n * 0.15), Math.max(1, Math.ceil(n * 0.85))),
    waitMs: between(rng, 0, 2000),
    downMs: between(rng, 0, 3000),
  }));
  plan.sort((a, b) => a.after - b.after);
  for (const [i, k] of plan.entries()) {
    while (
      (tapes.filter((t) => t.accepted).length < k.after && !playersDone) ||
      Date.now() - gatewayUpSince < 3000
    )
      await sleep(100);
    await sleep(k.waitMs);
    const open = tapes.filter((t) => t.job && !isTerminal(t.job.status));
    for (const t of open) t.atKills.push(`kill ${i + 1}: ${t.trail.at(-1)}`);
    const at = Date.now();
    gatewayUp = false;
    await stack.killGateway();
    await sleep(k.downMs);
    stack.startGateway();
    await run.gatewayReady();
    gatewayUp = true;
    gatewayUpSince = Date.now();
    killLog.push({
      at: at - t0,
      queued: open.filter((t) => t.job!.status === "queued").length,
      proving: open.filter((t) => t.job!.status === "proving").length,
      downMs: gatewayUpSince - at,
    });
    console.log(
      `kill ${i + 1}/${kills} at ${s(at - t0)}: ${open.length} jobs not ended; gateway back after ${s(gatewayUpSince - at)}`,
    );
  }
}

const active = (j: StoredJob) => j.status === "queued" || j.status === "running";
/** The tape a prover job proves (seeds are distinct per run; the checksum makes sure). */
const tapeOf = (j: StoredJob) => byFacts.get(`${j.facts.seed}:${j.facts.checksum}`);
/** A prover job of this run whose gateway job has not ended: the gateway may count on it. */
const live = (j: StoredJob) => {
  const t = tapeOf(j);
  return active(j) && !!t?.job && !isTerminal(t.job.status);
};
const admin = (path: string) =>
  call("GET", `/api/admin${path}`, { headers: { authorization: `Bearer ${adminToken}` } });

/** The health view with the line: the admin one, or `/api/health` on a gateway without it. */
async function lineHealth(): Promise<Answer | null> {
  const r = await admin("/health");
  return r?.status === 404 ? call("GET", "/api/health") : r;
}

/** The gateway's view of each prover (admin API), or null when it cannot be read. */
async function proverViews(): Promise<any[] | null> {
  const r = await admin("/provers");
  return r?.status === 200 && Array.isArray(r.body?.provers) ? r.body.provers : null;
}

/**
 * The prover outages: each once enough jobs are accepted (seeded) and after a seeded pause, on a
 * prover that proves a job the gateway has not ended (a seeded pick among those), for `outageMs`.
 * They may overlap on different provers; one prover of a fleet always stays up.
 */
async function outager(rng: () => number): Promise<void> {
  const kinds: Outage["kind"][] = [
    ...Array<"kill">(proverKills).fill("kill"),
    ...Array<"partition">(proverPartitions).fill("partition"),
  ];
  const plan = kinds.map((kind) => ({
    kind,
    after: between(rng, Math.ceil(n * 0.15), Math.max(1, Math.ceil(n * 0.85))),
    waitMs: between(rng, 0, 2000),
    pick: rng(),
  }));
  plan.sort((a, b) => a.after - b.after);
  const counter = { kill: 0, partition: 0 };
  const running: Promise<void>[] = [];
  for (const o of plan) {
    while (tapes.filter((t) => t.accepted).length < o.after && !playersDone) await sleep(100);
    await sleep(o.waitMs);
    const outage: Outage = {
      n: ++counter[o.kind],
      kind: o.kind,
      prover: 0,
      at: null,
      endAt: null,
      jobs: [],
      seenDuring: null,
      skipped: null,
    };
    outages.push(outage);
    // Outages may overlap (on different provers), but one prover of a fleet always stays up.
    const since = Date.now();
    let candidates: number[] = [];
    for (;;) {
      const up = provers.filter((p) => !p.down).length;
      candidates = provers.flatMap((p, k) =>
        !p.down &&
        (up >= 2 || provers.length === 1) &&
        k + 1 !== hostileProver &&
        p.jobs().some(live)
          ? [k]
          : [],
      );
      const open = tapes.some((t) => t.accepted && t.end === null);
      if (candidates.length || Date.now() - since > OUTAGE_TARGET_WAIT_MS || (playersDone && !open))
        break;
      await sleep(20);
    }
    const label = `prover ${o.kind} ${outage.n}`;
    if (!candidates.length) {
      const why =
        Date.now() - since > OUTAGE_TARGET_WAIT_MS
          ? `no prover proved a job for ${s(OUTAGE_TARGET_WAIT_MS)}`
          : "every job had ended";
      outage.skipped = why;
      console.log(`${label}: skipped, ${why}`);
      note(`${label}: skipped, ${why}`);
      continue;
    }
    const k = candidates[Math.floor(o.pick * candidates.length)]!;
    running.push(takeDown(outage, label, k));
  }
  await Promise.all(running);
}

/** Takes prover `k` down for `outageMs` (a kill or a partition) and records what it held. */
async function takeDown(outage: Outage, label: string, k: number): Promise<void> {
  const p = provers[k]!;
  outage.prover = k + 1;
  outage.jobs = p.jobs().filter(active);
  outage.at = Date.now() - t0;
  const down = outage.kind === "kill" ? p.restart({ outageMs }) : p.partition({ outageMs });
  // Did the gateway count on that prover job? Its view names it at once, or within a moment when
  // the 202 was on its way as the prover went down (the prover can tell it nothing new now).
  const hits = outage.jobs.flatMap((pj) => {
    const t = tapeOf(pj);
    return t ? [{ t, pj }] : [];
  });
  await Promise.all(
    hits.map(async ({ t, pj }) => {
      let job: Job | null = t.job;
      for (let i = 0; i < 10; i++) {
        const r = await call("GET", `/api/proofs/jobs/${t.jobId}`);
        if (r?.status === 200) job = r.body.job;
        if (!job || isTerminal(job.status) || job.prover.jobId !== null) break;
        await sleep(200);
      }
      t.atOutages.push({
        outage,
        proverJobId: pj.id,
        bound: job?.prover.jobId === pj.id,
        before: job,
      });
    }),
  );
  const what = hits.map(
    ({ t, pj }) =>
      `tape ${t.index} ${short(t.jobId)} (prover job ${pj.id.slice(0, 8)} ${pj.status})`,
  );
  console.log(
    `${label} at ${s(outage.at)}: prover ${k + 1} down for ${s(outageMs)}${outage.kind === "kill" ? ", its jobs lost" : ", its jobs kept"}: ${what.join(", ") || "no job of this run"}`,
  );
  note(`${label}: prover ${k + 1} ${p.url} down for ${outageMs} ms: ${what.join(", ")}`);
  // Just before it comes back (past the stall window by default): how does the gateway see it?
  await sleep(t0 + outage.at + Math.max(outageMs / 2, outageMs - 1500) - Date.now());
  const seen = (await proverViews())?.find((v) => v.url === p.url);
  outage.seenDuring = seen ? `${seen.state} (${seen.why})` : null;
  await down;
  outage.endAt = Date.now() - t0;
  console.log(`${label}: prover ${k + 1} back at ${s(outage.endAt)}`);
  note(`${label}: prover ${k + 1} back`);
}

/**
 * Reads the line and the provers (admin API) every LINE_SAMPLE_MS while the gateway is up: jobs
 * waiting while a prover is available should not last beyond a grant's round trip.
 */
async function lineWatch(): Promise<void> {
  let streakSince: number | null = null;
  while (!(playersDone && killsDone && outagesDone && tapes.every((t) => !t.accepted || t.end))) {
    await sleep(LINE_SAMPLE_MS);
    if (!gatewayUp) {
      streakSince = null;
      continue;
    }
    // The admin health: read afresh (the anonymous one is a few seconds old by design).
    const [h, views] = await Promise.all([lineHealth(), proverViews()]);
    const waiting = h?.body?.line?.waiting;
    if (typeof waiting !== "number" || views === null) continue;
    idle.samples++;
    const free = views.filter((v) => v.state === "available");
    if (waiting > 0) idle.waiting++;
    if (waiting > 0 && free.length > 0) {
      const now = Date.now();
      idle.idle++;
      streakSince ??= now;
      idle.longestMs = Math.max(idle.longestMs, now - streakSince);
      const example = `at ${s(now - t0)}: ${waiting} waiting, available ${free.map((v) => `prover ${indexOfUrl(v.url)}`).join(", ")}`;
      if (idle.examples.length < 8) idle.examples.push(example);
      note(`line: ${example}`);
    } else streakSince = null;
  }
}

/** The hostile box as the gateway's admin view showed it. */
const hostileSeen = {
  /** Ms from t0 when it was first seen quarantined, and the lies it had told by then. */
  quarantinedAt: null as number | null,
  liesAtQuarantine: null as number | null,
  /** A view carried a `quarantine` field or state: the gateway knows quarantine. */
  supported: false,
  /** The view's `quarantine` and `why` when it was first seen quarantined. */
  detail: null as string | null,
};

function seeHostile(views: any[] | null): void {
  if (!hostileBox || views === null) return;
  if (quarantineSupported(null, views)) hostileSeen.supported = true;
  const v = views.find((x) => x.url === hostileBox.url);
  if (hostileSeen.quarantinedAt !== null || !isQuarantined(v)) return;
  hostileSeen.quarantinedAt = Date.now() - t0;
  hostileSeen.liesAtQuarantine = hostileBox.stats().hostile.lies;
  hostileSeen.detail = JSON.stringify({ why: v.why, quarantine: v.quarantine }).slice(0, 400);
  // The gateway's own moment, when it says (same machine, same clock), else when it was seen.
  if (typeof v.quarantine?.since === "number")
    hostileSeen.quarantinedAt = Math.min(hostileSeen.quarantinedAt, v.quarantine.since - t0);
  const line = `hostile prover ${hostileProver} quarantined at ${s(hostileSeen.quarantinedAt)} after ${hostileSeen.liesAtQuarantine} lie(s): ${hostileSeen.detail}`;
  console.log(line);
  note(line);
}

/** Reads the admin API every QUARANTINE_SAMPLE_MS in a hostile run to see the quarantine begin. */
async function hostileWatch(): Promise<void> {
  if (!hostileBox) return;
  while (!(playersDone && killsDone && outagesDone && tapes.every((t) => !t.accepted || t.end))) {
    await sleep(QUARANTINE_SAMPLE_MS);
    if (gatewayUp && hostileSeen.quarantinedAt === null) seeHostile(await proverViews());
  }
}

/** Reads every open job until it ends, vanishes (lost) or outlives its wall-time cap (stuck). */
async function follow(): Promise<void> {
  let reportAt = Date.now() + 15_000;
  for (;;) {
    const open = tapes.filter((t) => t.accepted && t.end === null);
    if (playersDone && killsDone && outagesDone && open.length === 0) return;
    if (Date.now() >= reportAt) {
      reportAt += 15_000;
      const count = (status: string) => open.filter((t) => t.job?.status === status).length;
      console.log(
        `  ${s(Date.now() - t0)}: ${tapes.filter((t) => t.accepted).length} accepted, ${count("queued")} queued, ${count("proving")} proving, ${tapes.filter((t) => t.end).length} resolved`,
      );
    }
    for (let i = 0; i < open.length; i += 16) {
      await Promise.all(
        open.slice(i, i + 16).map(async (t) => {
          const r = await call("GET", `/api/proofs/jobs/${t.jobId}`);
          const now = Date.now();
          if (r?.status === 200) {
            t.notFound = 0;
            see(t, r.body.job, r.body.queue?.ahead ?? null);
          } else if (r?.status === 404) {
            if (++t.notFound >= 3) t.end = "lost";
          } else if (r) bump(tally.getErrors, String(r.status));
          if (t.end !== null || !t.job) return;
          const late = now - t.job.wallDeadlineAt;
          // Past the cap and readable for a while (or unreadable far too long): the gateway did not
          // end it.
          if (
            (late > STUCK_MARGIN_MS && gatewayUp && now - gatewayUpSince > 5000) ||
            late > STUCK_MARGIN_MS + 60_000
          )
            t.end = "stuck";
        }),
      );
    }
    await sleep(1000);
  }
}

/** The stored result of every succeeded job must prove the tape that was posted. */
async function verifyResults(): Promise<void> {
  for (const t of tapes.filter((x) => x.job?.status === "succeeded")) {
    let r: Answer | null = null;
    for (let i = 0; i < 10 && r === null; i++)
      r = (await call("GET", `/api/proofs/jobs/${t.jobId}/result`)) ?? (await sleep(1000), null);
    if (r?.status !== 200)
      t.mismatch = `result ${r ? `${r.status} ${JSON.stringify(r.body)}` : "unreachable"}`;
    else if (r.body.jobId !== t.jobId) t.mismatch = `result names job ${r.body.jobId}`;
    else t.mismatch = journalMismatch(t.tape, r.body.journal ?? null, RULES_DIGEST_AST3);
  }
}

/** The flags that repeat this run; without `--hostile`, the same run with every prover honest. */
const againArgs = (withHostile: boolean) =>
  `--seed ${seed} --jobs ${n} --rate ${rate} --cancel-rate ${cancelRate} --kills ${kills} --proof-ms ${proofMs}` +
  ` --provers ${proverCount}${faultProver === null ? "" : ` --fault-prover ${faultProver}`} --prover-kills ${proverKills} --prover-partitions ${proverPartitions} --prover-outage-ms ${outageMs}` +
  `${values.clients === undefined ? "" : ` --clients ${clients}`}${values.var.map((v) => ` --var ${v}`).join("")}` +
  `${withHostile && hostileMode ? ` --hostile ${hostileMode} --hostile-prover ${hostileProver} --max-lies ${maxLies}` : ""}`;

let code = 0;
try {
  console.log(
    `chaos seed ${seed}: ${n} tapes from ${clients} players, ${proverCount} prover(s), fault rate ${rate} on ${faultProver === null ? "every prover" : `prover ${faultProver} only`}${hostileMode ? ` (never the hostile one)` : ""}, ` +
      `${kills} gateway kill(s), ${proverKills} prover kill(s), ${proverPartitions} prover partition(s) of ${s(outageMs)}, proofs ${proofMs} ms, ` +
      `cancels ${cancelRate}, wall-time cap ${s(Number(overrides.MAX_JOB_WALL_TIME_MS))}` +
      `${hostileMode ? `\n  hostile: prover ${hostileProver} is ${hostileMode} for the whole run; quarantine expected after ${quarantineAfter} contradictions, checked at most ${maxLies} lies` : ""}` +
      `\n  again: npm run chaos -- ${againArgs(true)}`,
  );
  provers.forEach((p, i) => note(`prover ${i + 1}: ${p.url}`));
  const steps = Array.from({ length: clients }, (_, c) =>
    playerSteps(
      tapes.filter((t) => t.client === c),
      stream(100 + c),
    ),
  );
  const following = follow();
  const watching = lineWatch();
  const watchingHostile = hostileWatch();
  await Promise.all([
    Promise.all(steps.map((st, c) => player(c, st))).finally(() => (playersDone = true)),
    killer(stream(1)).finally(() => (killsDone = true)),
    outager(stream(2)).finally(() => (outagesDone = true)),
  ]);
  await following;
  await watching;
  await watchingHostile;
  const duration = Date.now() - t0;
  await verifyResults();
  // A partitioned prover's stale jobs: the gateway's clean-up may still be on its way.
  const staleJobs = outages
    .filter((o) => o.kind === "partition" && o.at !== null)
    .flatMap((o) => o.jobs.map((j) => ({ outage: o, job: j, prover: provers[o.prover - 1]! })));
  const staleFate = (x: (typeof staleJobs)[number]) => {
    if (x.prover.stats().deletedJobs.includes(x.job.id)) return "deleted";
    const still = x.prover.jobs().find((j) => j.id === x.job.id);
    return still ? `still stored (${still.status})` : "gone without a DELETE (a restart wiped it)";
  };
  for (const until = Date.now() + STALE_DELETE_WAIT_MS; Date.now() < until; await sleep(500))
    if (staleJobs.every((x) => !staleFate(x).startsWith("still"))) break;
  const line = (await lineHealth())?.body?.line ?? null;
  const views = await proverViews();
  seeHostile(views);
  const stats = provers.map((p) => p.stats());

  const accepted = tapes.filter((t) => t.accepted);
  const ended = (status: string) =>
    accepted.filter((t) => t.end === "ended" && t.job?.status === status);
  const failedBy: Record<string, number> = {};
  for (const t of ended("failed")) bump(failedBy, t.job!.error?.code ?? "unknown");
  const capped = ended("failed").filter((t) => t.job!.error?.code === "wall_time_exceeded");
  const stuck = [...accepted.filter((t) => t.end === "stuck"), ...capped];
  const lost = accepted.filter((t) => t.end === "lost");
  const mismatched = tapes.filter((t) => t.mismatch);
  for (const t of ended("cancelled"))
    if (!t.cancelAsked)
      anomalies.push(
        `tape ${t.index}: job ${short(t.jobId)} ended cancelled, but nobody cancelled it`,
      );
  const cancelAnswers: Record<string, number> = {};
  for (const t of tapes.filter((x) => x.cancelAsked))
    bump(cancelAnswers, t.cancelAnswer ?? "no answer");
  const sum = (f: (j: Job) => number | undefined) =>
    accepted.reduce((a, t) => a + (t.job ? (f(t.job) ?? 0) : 0), 0);
  const list = (m: Record<string, number>) =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";

  // A job that was on a prover when it went down must have ended well, elsewhere or later.
  const hits = accepted.flatMap((t) => t.atOutages.map((h) => ({ t, h })));
  const outageOk = (t: Tracked) =>
    t.end === "ended" &&
    (t.job!.status === "succeeded" ||
      (t.job!.status === "cancelled" && t.cancelAsked) ||
      (t.job!.status === "failed" && PROVER_OUTAGE_OK_CODES.includes(t.job!.error?.code ?? "")));
  for (const { t, h } of hits)
    if (!outageOk(t))
      anomalies.push(
        `tape ${t.index}: job ${short(t.jobId)} was on prover ${h.outage.prover} at its ${h.outage.kind} ${h.outage.n} and ended ` +
          `${t.end === "ended" ? `${t.job!.status}${t.job!.error ? ` ${t.job!.error.code}` : ""}` : t.end}`,
      );
  const hitLine = ({ t, h }: (typeof hits)[number]) => {
    const j = t.job!;
    const rebuilt = j.prover.jobId !== h.proverJobId;
    const where = indexOfUrl(j.prover.url);
    return (
      `            tape ${t.index} ${short(t.jobId)} (prover job ${h.proverJobId.slice(0, 8)}, ${h.bound ? "the gateway's current one" : `not the gateway's (it had ${h.before ? `${h.before.status}${h.before.prover.jobId ? ` on ${h.before.prover.jobId.slice(0, 8)}` : ""}` : "no view"})`}) → ` +
      `${t.end === "ended" ? `${j.status}${j.error ? ` ${j.error.code}` : ""}` : t.end}` +
      `${!h.bound ? "" : rebuilt ? `, rebuilt${where ? ` on prover ${where}` : ""}` : ", same prover job"}` +
      `${j.lastRecovery ? ` (last recovery: ${j.lastRecovery.code})` : ""}; prover rebuilds ${j.attempts.proverRebuilds}, submissions ${j.attempts.submissions}`
    );
  };
  const bound = hits.filter((x) => x.h.bound);
  // Sent to a prover again after the kill took its prover job (whatever the later submissions met).
  const rebuiltAfterKill = bound.filter(
    (x) =>
      x.h.outage.kind === "kill" &&
      x.t.end === "ended" &&
      x.t.job!.status !== "cancelled" &&
      x.t.job!.prover.jobId !== x.h.proverJobId,
  );
  const elsewhere = bound.filter(
    (x) =>
      x.t.job!.status === "succeeded" &&
      x.t.job!.prover.url !== provers[x.h.outage.prover - 1]!.url,
  );
  const finishedOn: Record<string, number> = {};
  for (const t of ended("succeeded")) bump(finishedOn, `prover ${indexOfUrl(t.job!.prover.url)}`);
  const outageLines = outages.flatMap((o) => {
    const head = `${o.kind} ${o.n}: ${o.at === null ? `skipped (${o.skipped})` : `prover ${o.prover} at ${s(o.at)}, back at ${o.endAt === null ? "?" : s(o.endAt)}; the gateway saw it before it came back: ${o.seenDuring ?? "unknown"}`}`;
    const mine = hits.filter((x) => x.h.outage === o).map(hitLine);
    const stale =
      o.kind === "partition"
        ? staleJobs
            .filter((x) => x.outage === o)
            .map((x) => `            stale prover job ${x.job.id.slice(0, 8)}: ${staleFate(x)}`)
        : [];
    return [head, ...mine, ...stale];
  });
  const proverBlock = (p: DevProver, i: number) => {
    const st = stats[i]!;
    const v = views?.find((x) => x.url === p.url);
    const mine = outages.filter((o) => o.prover === i + 1 && o.at !== null);
    const kindsOf = (kind: Outage["kind"]) => mine.filter((o) => o.kind === kind);
    const when = (list: Outage[]) =>
      list.map((o) => `at ${s(o.at!)}–${o.endAt === null ? "?" : s(o.endAt)}`).join(", ");
    const faulty = (faultProver === null || faultProver === i + 1) && hostileProver !== i + 1;
    const h = st.hostile;
    const label =
      hostileProver === i + 1
        ? `hostile: ${hostileMode}`
        : faulty && rate > 0
          ? `random faults, seed ${faultSeeds[i]}`
          : "clean";
    return [
      `prover ${i + 1}    ${p.url}  (${label})`,
      ...(hostileProver === i + 1
        ? [
            `            ${h.lies} lie(s) told, ${h.answers} hostile answer(s)` +
              `${h.hugeBytes ? `; ${(h.hugeBytes / 2 ** 20).toFixed(1)} MiB of padding written, ${h.hugeCompleted} huge replies to their end, at most ${(h.hugeMaxBytes / 2 ** 20).toFixed(1)} MiB of one` : ""}` +
              `${h.sink.url ? `; its redirect target got ${h.sink.requests} request(s), ${h.sink.keyed} with a key ${JSON.stringify(h.sink.byRoute)}` : ""}`,
          ]
        : []),
      `            ${st.accepted} submissions accepted (of ${st.submissions} received), ${st.rateLimited} 429s (${list(Object.fromEntries(Object.entries(st.errorCodes).filter(([k]) => ["prover_busy", "at_capacity", "no_slots"].includes(k))))}), ${st.polls} polls, ${st.deletes} deletes, ${st.health} health reads`,
      `            proofs: ${st.finished.succeeded} succeeded, ${st.finished.lost} lost (lose_job), failed ${list(st.finished.failed)}; results stored from it: ${finishedOn[`prover ${i + 1}`] ?? 0}`,
      `            ${st.faultsTotal} faults injected: ${list(st.faults as Record<string, number>)}`,
      `            ${st.restarts - kindsOf("kill").length} fault restart(s); ${kindsOf("kill").length} kill(s)${kindsOf("kill").length ? ` ${when(kindsOf("kill"))}` : ""}; ${st.partitions} partition(s)${kindsOf("partition").length ? ` ${when(kindsOf("partition"))}` : ""}`,
      `            /health reads with a key: ${st.healthWithKey} of ${st.health}`,
      `            gateway's view: ${v ? `${v.state} (${v.why}); granted ${v.counts.granted}, faults ${v.counts.faults}, busy ${v.counts.busy}; circuit opened ${v.circuit.opens}×, failures in a row ${v.circuit.failures}` : "unknown"}`,
    ];
  };

  const describe = (t: Tracked) => {
    const j = t.job!;
    const before =
      t.trail.filter((x) => !["succeeded", "failed", "cancelled"].includes(x)).at(-1) ?? "?";
    const ahead = t.queueAhead === null ? "" : ` (${t.queueAhead} ahead in line)`;
    const how =
      t.end === "stuck"
        ? `still ${t.trail.at(-1)}${ahead} ${s(Date.now() - j.wallDeadlineAt)} past its cap, unchanged since ${s(t.changedAt - t0)}`
        : `ended wall_time_exceeded; last seen ${before}`;
    return (
      `  ${short(t.jobId)} (tape ${t.index})  ${how}; seen ${t.trail.join(" → ")}` +
      `\n           deliveries ${j.attempts.deliveries}, submissions ${j.attempts.submissions}, polls ${j.attempts.polls}, recoveries ${j.attempts.recoveries}, ` +
      `redispatches ${j.attempts.redispatches ?? "n/a"}; prover ${j.prover.jobId ? `${j.prover.jobId.slice(0, 8)} ${j.prover.status}` : "none"}` +
      `${j.prover.lastError ? `, last error ${j.prover.lastError.code}` : ""}; ${t.atKills.join(", ") || "not in flight at a kill"}`
    );
  };

  // The figures to set a hostile run beside the same run with every prover honest.
  const withFailure = accepted.filter((t) => t.failures.length > 0);
  const good = (t: Tracked) =>
    t.end === "ended" &&
    t.failures.length === 0 &&
    (t.job!.status === "succeeded" || (t.job!.status === "cancelled" && t.cancelAsked));
  const hs = hostileProver === null ? null : stats[hostileProver - 1]!.hostile;
  const provedByHostile = hostileProver === null ? 0 : (finishedOn[`prover ${hostileProver}`] ?? 0);
  let checks: Check[] = [];
  if (hostileMode !== null && hostileProver !== null && hs !== null) {
    const doc = (await call("GET", "/api/openapi.json"))?.body ?? null;
    checks = hostileChecks({
      mode: hostileMode,
      prover: hostileProver,
      stats: hs,
      quarantinedAt: hostileSeen.quarantinedAt,
      liesAtQuarantine: hostileSeen.liesAtQuarantine,
      supported: hostileSeen.supported || quarantineSupported(doc, views),
      maxLies,
      faultRate: rate,
      jobs: {
        accepted: accepted.length,
        good: accepted.filter(good).length,
        bad: accepted
          .filter((t) => !good(t))
          .map(
            (t) =>
              `tape ${t.index} ${t.end === "ended" ? t.job!.status : t.end}${t.failures.length ? ` (${t.failures.join(", ")})` : ""}`,
          ),
        mismatched: mismatched.length,
      },
      healthWithKey: stats.reduce((a, x) => a + x.healthWithKey, 0),
      health: stats.reduce((a, x) => a + x.health, 0),
    });
  }
  const failedChecks = checks.filter((c) => c.status === "FAIL");
  const figures =
    `hostile ${hostileMode === null ? "none" : `${hostileMode} on prover ${hostileProver}`}; ${accepted.length} jobs: ` +
    `${ended("succeeded").length} succeeded, ${ended("failed").length} failed, ${ended("cancelled").length} cancelled, ${withFailure.length} with a failed attempt` +
    (hs === null
      ? ""
      : `; lies ${hs.lies} (${hs.answers} hostile answers); quarantined ${hostileSeen.quarantinedAt === null ? "no" : `at ${s(hostileSeen.quarantinedAt)} after ${hostileSeen.liesAtQuarantine} lie(s)`}; jobs it proved ${provedByHostile}`) +
    `; wall ${s(duration)}`;

  console.log(
    [
      "",
      `seed        ${seed}`,
      `accepted    ${accepted.length} of ${n} tapes (${tally.postsSent} POSTs; ${tally.acceptedOnRetry} accepted on a retry after the answer was lost; ${tally.rateLimited} answered 429)`,
      `re-posts    ${tally.repostSame} answered 200 with the same job, ${tally.repostNewAttempt} started a new attempt`,
      `succeeded   ${ended("succeeded").length} (results checked against their tapes: ${ended("succeeded").length - mismatched.length} ok)`,
      `failed      ${ended("failed").length} (${list(failedBy)})`,
      `cancelled   ${ended("cancelled").length} (${tapes.filter((t) => t.cancelAsked).length} cancels sent: ${list(cancelAnswers)})`,
      `lost        ${lost.length}${lost.length ? `: ${lost.map((t) => `${short(t.jobId)} (last seen ${t.trail.at(-1)})`).join(", ")}` : ""}`,
      `stuck       ${stuck.length} (${accepted.filter((t) => t.end === "stuck").length} not ended past the cap, ${capped.length} ended by it: wall_time_exceeded)`,
      `mismatches  ${mismatched.length}${mismatched.length ? `: ${mismatched.map((t) => `${short(t.jobId)} ${t.mismatch}`).join("; ")}` : ""}`,
      `anomalies   ${anomalies.length}`,
      `gateway     ${killLog.length} SIGKILL + restart(s)${killLog.length ? ":" : ""} ${killLog.map((k) => `at ${s(k.at)} (${k.queued} queued, ${k.proving} proving) down ${s(k.downMs)}`).join("; ")}`,
      `            POST retries: ${list(tally.postRetries)}; GET errors: ${list(tally.getErrors)}; line now: ${line ? `${line.waiting} waiting${Array.isArray(line.slots) ? `, slots ${JSON.stringify(line.slots.map((x: { holder: string | null }) => x.holder && short(x.holder)))}` : ""}` : "unknown"}`,
      `            job counters: ${sum((j) => j.attempts.deliveries)} deliveries, ${sum((j) => j.attempts.submissions)} submissions, ${sum((j) => j.attempts.recoveries)} recoveries, ${sum((j) => j.attempts.redispatches)} watchdog re-sends`,
      `            prover rebuilds: ${sum((j) => j.attempts.proverRebuilds)}; results stored by prover: ${list(finishedOn)}`,
      ...provers.flatMap(proverBlock),
      `outages     ${outages.filter((o) => o.at !== null).length} of ${proverKills + proverPartitions} (${proverKills} kill(s), ${proverPartitions} partition(s), ${s(outageMs)} each; stall window ${s(stallWindowMs)})`,
      ...outageLines.map((l) => (l.startsWith(" ") ? l : `            ${l}`)),
      ...(hits.length
        ? [
            `            jobs on a downed prover: ${hits.length} (${bound.length} the gateway counted on); ended well ${hits.filter((x) => outageOk(x.t)).length}; ` +
              `rebuilt after prover kill: ${rebuiltAfterKill.length} (${rebuiltAfterKill.filter((x) => x.t.job!.status === "succeeded").length} succeeded, ` +
              `${rebuiltAfterKill.filter((x) => x.t.job!.status === "failed").length} failed with an injected code); succeeded on another prover: ${elsewhere.length}`,
          ]
        : []),
      ...(staleJobs.length
        ? [
            `            stale jobs on partitioned provers deleted by the gateway: ${staleJobs.filter((x) => staleFate(x) === "deleted").length} of ${staleJobs.length}`,
          ]
        : []),
      `line        ${idle.samples} samples of the line, ${idle.waiting} with jobs waiting: ${idle.idle} found a prover available meanwhile (longest run ${s(idle.longestMs)})` +
        `${idle.examples.length ? `\n            ${idle.examples.join("\n            ")}` : ""}`,
      `duration    ${s(duration)}`,
      `figures     ${figures}`,
      ...(hostileMode === null
        ? []
        : [
            `compare     npm run chaos -- ${againArgs(false)}   (the same run, every prover honest)`,
          ]),
      ...(stuck.length ? ["", `stuck jobs (${stuck.length}):`, ...stuck.map(describe)] : []),
      ...(anomalies.length ? ["", "anomalies:", ...anomalies.map((a) => `  ${a}`)] : []),
      ...(checks.length
        ? [
            "",
            `hostile checks (prover ${hostileProver}, ${hostileMode}):`,
            ...checkLines(checks).map((l) => `  ${l}`),
          ]
        : []),
    ].join("\n"),
  );
  code =
    lost.length || stuck.length || mismatched.length || anomalies.length || failedChecks.length
      ? 1
      : 0;
  console.log(
    code
      ? `\nchaos: FAILED (lost ${lost.length}, stuck ${stuck.length}, mismatches ${mismatched.length}, anomalies ${anomalies.length}` +
          `${checks.length ? `, hostile checks failed ${failedChecks.length} of ${checks.length}: ${failedChecks.map((c) => c.name).join("; ") || "none"}` : ""})`
      : `\nchaos: ok${
          checks.some((c) => c.status === "skipped")
            ? ` (hostile checks skipped: ${checks
                .filter((c) => c.status === "skipped")
                .map((c) => c.name)
                .join("; ")})`
            : ""
        }`,
  );
} catch (e) {
  console.log(
    `FAIL ${e instanceof Error ? e.message : String(e)}\n--- wrangler output (tail) ---\n${run.output().slice(-4000)}`,
  );
  code = 1;
}
logFile?.end();
await run.finish(code);
