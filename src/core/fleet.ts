import type { Config } from "./config.ts";
import { addSample, type ProofSample } from "./speed.ts";

/**
 * The provers, each the unit of health: which one may get work now, and why not. Pure: the
 * dispatcher (src/objects/prover-dispatcher.ts) keeps one row per prover and asks these rules.
 *
 * A prover gets work only while it is `available`: not proving, not cooling down after a 429 or
 * a failed submission, its circuit closed, not draining, and its last `/health` reading fresh
 * and good (AST3 rules, a 32-byte image id equal to PROVER_EXPECTED_IMAGE_ID when set, a GPU
 * unless PROVER_ALLOW_CPU=1). Transport failures (network, timeout, 5xx, unreadable reply) on
 * submit, poll or health count against the prover: PROVER_CIRCUIT_FAILURES in a row open its
 * circuit for PROVER_CIRCUIT_COOLDOWN_MS, doubling with each reopening (at most ×16); when the
 * cool-down ends, a `/health` read is the half-open probe, and one success closes the circuit.
 * A prover whose verdicts were contradicted too often is quarantined (src/core/quarantine.ts): no
 * work whatever its `/health` says, until an operator resumes it.
 */

export type FleetConfig = Pick<
  Config,
  | "proverBaseUrl"
  | "proverBaseUrls"
  | "allowCpu"
  | "healthIntervalMs"
  | "circuitFailures"
  | "circuitCooldownMs"
  | "pollIntervalMs"
  | "requestTimeoutMs"
  | "verifyReceipts"
>;

/** The most a circuit's cool-down grows: ×16 the first. */
export const MAX_CIRCUIT_DOUBLINGS = 4;

/** What one `/health` read found, as the prover client judged it. */
export interface HealthReading {
  reachable: boolean;
  /** Rules, digest and image id are what this gateway needs. */
  compatible: boolean;
  /** Why the prover is unusable or degraded; empty when all is well. */
  problems: string[];
  accelerator: string | null;
  imageId: string | null;
  devMode: boolean | null;
}

/** One prover as the dispatcher keeps it. */
export interface ProverRecord {
  id: string;
  url: string;
  source: "config" | "runtime";
  /** The job proving on it (one at a time: the contract is single-flight). */
  holder: string | null;
  heldSince: number | null;
  /** When the dispatcher last made sure the holder still needs it. */
  checkedAt: number | null;
  /** No new work before this (a 429, or a failed submission). */
  cooldownUntil: number;
  draining: boolean;
  /** Transport failures in a row. */
  failures: number;
  /** While the circuit is open: when its cool-down ends (0: closed). */
  circuitUntil: number;
  /** When the circuit last opened (null or absent: closed, or opened before this was kept). */
  circuitOpenedAt?: number | null;
  /** How many times the circuit opened since it last closed (the cool-down doubles). */
  circuitOpens: number;
  health: HealthReading | null;
  healthAt: number | null;
  /** The last transport failure, for operators. */
  lastError: string | null;
  /** When it was last given a job (the least recently used free prover goes first). */
  lastGrantedAt: number | null;
  counts: { granted: number; faults: number; busy: number; contradictions?: number };
  /** Its newest succeeded proofs, timed by itself (src/core/speed.ts); absent in old rows. */
  speed?: ProofSample[];
  /** When the proof it has should end (its job said so on acceptance), for ETAs. */
  expectedFreeAt?: number | null;
  /**
   * Held for a job that ended while its proof still runs here (cancelled, or past its wall
   * time): no new work until the prover says that proof ended or the stall window says the
   * prover is gone (src/core/grants.ts). `failingSince`: when its reports began to fail.
   */
  ending?: { jobId: string; since: number; failingSince: number | null } | null;
  /** Contradicted verdicts since it was last resumed (src/core/quarantine.ts). */
  contradictions?: number;
  /** The jobs those verdicts were about, newest last (at most a few). */
  contradictedJobs?: string[];
  /** Quarantined: no work, whatever its `/health` says, until an operator resumes it. */
  quarantine?: { since: number; reason: string } | null;
}

export type ProverState =
  /** Proving a job. */
  | "proving"
  /** Free and healthy: the next job in line goes here. */
  | "available"
  /** Cooling down after a 429 or a failed submission. */
  | "busy"
  /** Its circuit is open after repeated transport failures. */
  | "open"
  /** Finishing what it has; no new work (an operator drained it). */
  | "draining"
  /** `/health` could not be read. */
  | "unreachable"
  /** Wrong rules, digest or image id. */
  | "incompatible"
  /** Runs on the CPU (its GPU is gone) and PROVER_ALLOW_CPU is not 1. */
  | "cpu"
  /** Reports `dev_mode: true` (its receipts prove nothing) while VERIFY_RECEIPTS=groth16. */
  | "dev_mode"
  /** No fresh `/health` reading yet: one is taken before it gets work. */
  | "unchecked"
  /** Its verdicts were contradicted too often (or it forged a receipt): no work until resumed. */
  | "quarantined";

/** A stable, URL-safe id for a prover origin (its host and port, made safe). */
export function proverId(url: string): string {
  const u = new URL(url);
  const host = `${u.hostname.replace(/^\[|\]$/g, "")}${u.port ? `-${u.port}` : ""}`;
  return host
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

/** The configured provers: PROVER_BASE_URL, then each of PROVER_BASE_URLS (deduplicated). */
export function configuredProvers(cfg: Pick<Config, "proverBaseUrl" | "proverBaseUrls">): string[] {
  return [...new Set([cfg.proverBaseUrl, ...cfg.proverBaseUrls])];
}

export function newProver(url: string, source: ProverRecord["source"]): ProverRecord {
  return {
    id: proverId(url),
    url,
    source,
    holder: null,
    heldSince: null,
    checkedAt: null,
    cooldownUntil: 0,
    draining: false,
    failures: 0,
    circuitUntil: 0,
    circuitOpens: 0,
    health: null,
    healthAt: null,
    lastError: null,
    lastGrantedAt: null,
    counts: { granted: 0, faults: 0, busy: 0 },
    speed: [],
  };
}

/** A proof on this prover succeeded in `elapsedMs` (its own timing) for a tape of `frames`. */
export function onProofTimed(
  p: ProverRecord,
  frames: number,
  elapsedMs: number,
  now: number,
): ProverRecord {
  return { ...p, speed: addSample(p.speed ?? [], { frames, elapsedMs, at: now }) };
}

/** What a health reading means for work, ignoring freshness. */
function healthState(h: HealthReading, cfg: FleetConfig): ProverState | null {
  if (!h.reachable) return "unreachable";
  if (!h.compatible) return "incompatible";
  if (h.accelerator === "cpu" && !cfg.allowCpu) return "cpu";
  if (h.devMode === true && cfg.verifyReceipts === "groth16") return "dev_mode";
  return null;
}

/** Whether the reading is recent enough to hand out work on. */
export const healthFresh = (p: ProverRecord, now: number, cfg: FleetConfig) =>
  p.healthAt !== null && now - p.healthAt <= cfg.healthIntervalMs;

/** The prover's state now, and why, in one sentence for operators. */
export function proverState(
  p: ProverRecord,
  now: number,
  cfg: FleetConfig,
): { state: ProverState; why: string } {
  if (p.quarantine) {
    return {
      state: "quarantined",
      why: `quarantined since ${new Date(p.quarantine.since).toISOString()}: ${p.quarantine.reason}; an operator must resume it`,
    };
  }
  if (p.holder) return { state: "proving", why: `proving job ${p.holder}` };
  if (p.ending) {
    return {
      state: "proving",
      why: `finishing the proof of job ${p.ending.jobId}, which ended (cancelled or timed out): free once the prover says that proof ended`,
    };
  }
  if (p.draining) return { state: "draining", why: "drained by an operator: gets no new work" };
  if (p.circuitUntil > now) {
    return {
      state: "open",
      why: `${p.failures} transport failure(s) in a row (last: ${p.lastError ?? "?"}); probed again at ${new Date(p.circuitUntil).toISOString()}`,
    };
  }
  if (p.health) {
    const bad = healthState(p.health, cfg);
    if (bad === "dev_mode") {
      return {
        state: bad,
        why: "dev_mode: true — its receipts prove nothing; no work while VERIFY_RECEIPTS=groth16",
      };
    }
    if (bad) return { state: bad, why: p.health.problems.join("; ") || bad };
  }
  if (!healthFresh(p, now, cfg)) return { state: "unchecked", why: "no recent /health reading" };
  if (p.cooldownUntil > now) {
    return { state: "busy", why: "cooling down after a 429 or a failed submission" };
  }
  return { state: "available", why: "free and healthy" };
}

export const canTakeWork = (p: ProverRecord, now: number, cfg: FleetConfig) =>
  proverState(p, now, cfg).state === "available";

/**
 * When the next `/health` read of this prover is due: PROVER_HEALTH_INTERVAL_MS after the last
 * one, but one poll interval after a read that failed (a single lost reply must not keep a prover
 * out for a whole interval: its circuit, not the reading, decides when it is really gone).
 */
export function nextHealthCheckAt(p: ProverRecord, cfg: FleetConfig): number {
  if (p.healthAt === null) return 0;
  return (
    p.healthAt + (p.health?.reachable === false ? cfg.pollIntervalMs : cfg.healthIntervalMs + 1)
  );
}

/**
 * Whether a `/health` read is due before this prover can get work: it is free, not drained, its
 * circuit is not open (a read at the end of the cool-down is the half-open probe), not cooling
 * down, and its reading is missing, stale, or failed a poll interval ago (a bad reading is read
 * again once stale, to see whether the prover recovered).
 */
export function healthCheckDue(p: ProverRecord, now: number, cfg: FleetConfig): boolean {
  if (p.holder || p.ending || p.quarantine || p.draining) return false;
  if (p.circuitUntil > now || p.cooldownUntil > now) return false;
  return now >= nextHealthCheckAt(p, cfg);
}

/** A `/health` read came back. A good one closes the circuit; a failed one counts as a fault. */
export function onHealth(
  p: ProverRecord,
  h: HealthReading,
  now: number,
  cfg: FleetConfig,
): ProverRecord {
  const read = { ...p, health: h, healthAt: now };
  if (!h.reachable) return onTransportFailure(read, h.problems[0] ?? "unreachable", now, cfg);
  return { ...read, failures: 0, circuitUntil: 0, circuitOpens: 0, circuitOpenedAt: null };
}

/** A submission or poll on this prover failed in transport: count it, maybe open the circuit. */
export function onTransportFailure(
  p: ProverRecord,
  error: string,
  now: number,
  cfg: FleetConfig,
): ProverRecord {
  const failures = p.failures + 1;
  const counted = {
    ...p,
    failures,
    lastError: error,
    counts: { ...p.counts, faults: p.counts.faults + 1 },
  };
  // Open once the run of failures reaches the threshold; a failure at the half-open probe (the
  // cool-down over, the run not broken by a success) reopens it. While open, failures only count.
  if (failures < cfg.circuitFailures || p.circuitUntil > now) return counted;
  const opens = p.circuitOpens + 1;
  const coolMs = cfg.circuitCooldownMs * 2 ** Math.min(opens - 1, MAX_CIRCUIT_DOUBLINGS);
  return { ...counted, circuitOpens: opens, circuitUntil: now + coolMs, circuitOpenedAt: now };
}

/**
 * The prover accepted a submission: it works; its run of failures is over. `expectedEndAt`:
 * when that proof should end (for ETAs of the jobs behind it).
 */
export function onAccepted(p: ProverRecord, expectedEndAt: number | null = null): ProverRecord {
  return {
    ...p,
    failures: 0,
    circuitUntil: 0,
    circuitOpens: 0,
    circuitOpenedAt: null,
    expectedFreeAt: expectedEndAt,
  };
}

/**
 * When the prover should be free to take the next job, for an ETA; null when it is out
 * (draining, incompatible, unreachable, on the CPU, in dev mode). A proving prover is free when
 * its proof should end (`typicalProofMs` after it began when its job said nothing), a cooling or
 * open one when that ends.
 */
export function freeAtFor(
  p: ProverRecord,
  now: number,
  cfg: FleetConfig,
  typicalProofMs: number,
): number | null {
  const { state } = proverState(p, now, cfg);
  switch (state) {
    case "available":
    case "unchecked":
      return now;
    case "proving":
      return p.expectedFreeAt ?? (p.heldSince ?? p.ending?.since ?? now) + typicalProofMs;
    case "busy":
      return p.cooldownUntil;
    case "open":
      return p.circuitUntil;
    default:
      return null;
  }
}

/**
 * Which available prover the head of the line gets: any but `avoid` (the prover that lost or
 * spoiled this job's last proof) while another is available, else `avoid` too; the one idle
 * longest first (even spread), then by id.
 */
export function choose(
  provers: ProverRecord[],
  avoid: string | null,
  now: number,
  cfg: FleetConfig,
): ProverRecord | null {
  const free = provers
    .filter((p) => canTakeWork(p, now, cfg))
    .sort((a, b) => (a.lastGrantedAt ?? 0) - (b.lastGrantedAt ?? 0) || a.id.localeCompare(b.id));
  return free.find((p) => p.url !== avoid) ?? free[0] ?? null;
}

/** How many provers are in each state (for `/api/health`). */
export function fleetSummary(
  provers: ProverRecord[],
  now: number,
  cfg: FleetConfig,
): Partial<Record<ProverState, number>> {
  const out: Partial<Record<ProverState, number>> = {};
  for (const p of provers) {
    const s = proverState(p, now, cfg).state;
    out[s] = (out[s] ?? 0) + 1;
  }
  return out;
}

/** The prover is given `jobId`. */
export function grant(p: ProverRecord, jobId: string, now: number): ProverRecord {
  return {
    ...p,
    holder: jobId,
    heldSince: now,
    checkedAt: now,
    lastGrantedAt: now,
    counts: { ...p.counts, granted: p.counts.granted + 1 },
  };
}

/** The prover's job left it (ended, rebuilt, or could not be submitted); `cooldownUntil` if it must rest. */
export function free(p: ProverRecord, cooldownUntil?: number): ProverRecord {
  return {
    ...p,
    holder: null,
    heldSince: null,
    checkedAt: null,
    expectedFreeAt: null,
    ending: null,
    cooldownUntil: cooldownUntil ?? p.cooldownUntil,
  };
}

/** Whether it holds work: a job proving, or the proof of a job that already ended. */
export const isHeld = (p: ProverRecord) => p.holder !== null || Boolean(p.ending);
