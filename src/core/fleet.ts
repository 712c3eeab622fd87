import type { Config } from "./config.ts";
import type { ProofSample } from "./speed.ts";

/**
 * The provers, each the unit of health: which one may get work now, and why not. Pure: the
 * dispatcher (src/objects/prover-dispatcher.ts) keeps one row per prover and asks these rules.
 *
 * Its health and circuit are src/core/prover-health.ts; giving it work and taking it back,
 * src/core/prover-work.ts.
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
/** Whether it holds work: a job proving, or the proof of a job that already ended. */
export const isHeld = (p: ProverRecord) => p.holder !== null || Boolean(p.ending);
