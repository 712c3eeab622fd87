import type { Config } from "./config.ts";

/**
 * What the fleet learns from the proofs it sees: each prover's speed (time per 1,000 frames of
 * tape, from the prover's own `elapsed_ms`), the poll schedule a proof gets from it, and how
 * close observed proof times come to the timeouts. Pure: the dispatcher keeps the samples, the
 * job's alarm loop asks for its next wait, `/api/health` reports the margins.
 */

/** One succeeded proof as its prover timed it. */
export interface ProofSample {
  frames: number;
  /** The prover's `elapsed_ms`: running time of the proof. */
  elapsedMs: number;
  /** When the gateway saw it end. */
  at: number;
}

/** How many recent proofs per prover the speed figures come from. */
export const SPEED_SAMPLES = 50;

/** A tape shorter than this counts as this long for speed (fixed costs dominate tiny tapes). */
export const MIN_SPEED_FRAMES = 100;

/**
 * The speed assumed for a prover before any prover of the fleet has proved anything: 6.4 s per
 * 1,000 frames, the contract's example (13,829 frames in 88 s on the GPU, ../shared/PROVER_API.md).
 */
export const DEFAULT_MS_PER_1000_FRAMES = 6_400;

/** The prover's time per 1,000 frames in one proof. */
export const msPerKFrames = (s: Pick<ProofSample, "frames" | "elapsedMs">) =>
  (s.elapsedMs * 1000) / Math.max(s.frames, MIN_SPEED_FRAMES);

/** Adds a proof to a prover's samples, keeping the newest SPEED_SAMPLES. */
export function addSample(samples: readonly ProofSample[], s: ProofSample): ProofSample[] {
  if (!(s.elapsedMs >= 0) || !(s.frames >= 0)) return [...samples];
  return [...samples, s].slice(-SPEED_SAMPLES);
}

/** Nearest rank: every figure is one of the values (null for none). */
export function rank(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** A prover's speed as the admin API shows it. */
export interface Speed {
  /** Proofs the figures come from (the newest SPEED_SAMPLES). */
  proofs: number;
  msPer1000Frames: { median: number | null; p95: number | null };
  proofMs: { median: number | null; p95: number | null; max: number | null };
}

export function speedOf(samples: readonly ProofSample[]): Speed {
  const perK = samples.map(msPerKFrames);
  const ms = samples.map((s) => s.elapsedMs);
  const round = (v: number | null) => (v === null ? null : Math.round(v));
  return {
    proofs: samples.length,
    msPer1000Frames: { median: round(rank(perK, 0.5)), p95: round(rank(perK, 0.95)) },
    proofMs: { median: rank(ms, 0.5), p95: rank(ms, 0.95), max: rank(ms, 1) },
  };
}

/**
 * The speed to expect of one prover: its own median time per 1,000 frames; before it has proved
 * anything, the fleet's (all provers' samples pooled); before the fleet has, the default.
 */
export function speedFor(
  own: readonly ProofSample[],
  fleet: readonly ProofSample[],
): { msPer1000Frames: number; basis: "prover" | "fleet" | "default" } {
  const mine = rank(own.map(msPerKFrames), 0.5);
  if (mine !== null) return { msPer1000Frames: Math.round(mine), basis: "prover" };
  const all = rank(fleet.map(msPerKFrames), 0.5);
  if (all !== null) return { msPer1000Frames: Math.round(all), basis: "fleet" };
  return { msPer1000Frames: DEFAULT_MS_PER_1000_FRAMES, basis: "default" };
}

/**
 * How long a proof of `frames` frames should take on a prover whose median time per 1,000 frames
 * is `msPer1000Frames`; null when that is unknown (the prover has proved nothing yet).
 */
export function expectedFromSpeed(msPer1000Frames: number | null, frames: number): number | null {
  if (msPer1000Frames === null || !(msPer1000Frames >= 0)) return null;
  return Math.round((msPer1000Frames * Math.max(frames, MIN_SPEED_FRAMES)) / 1000);
}

// --- Adaptive polling --------------------------------------------------------------------------

export type PollConfig = Pick<Config, "pollIntervalMs" | "pollMinIntervalMs">;

/**
 * The pause before the next status read of a proof expected to end at `expectedEndAt`:
 * - the last read failed, or no time to go by at all: the ceiling, PROVER_POLL_INTERVAL_MS;
 * - before the expected end: half the time left, so reads close in on it (sparse early, dense
 *   near the end);
 * - after it: as long as the proof is overdue, so reads spread out again (floor, 2×, 4× …);
 * always between PROVER_POLL_MIN_INTERVAL_MS (the floor) and the ceiling.
 */
export function pollWaitMs(
  expectedEndAt: number | null,
  lastReadFailed: boolean,
  now: number,
  cfg: PollConfig,
): number {
  const ceiling = cfg.pollIntervalMs;
  if (expectedEndAt === null || lastReadFailed) return ceiling;
  const floor = Math.min(cfg.pollMinIntervalMs, ceiling);
  const left = expectedEndAt - now;
  const wait = left > 0 ? left / 2 : -left;
  return Math.min(ceiling, Math.max(floor, Math.round(wait)));
}

// --- Timeout margins ---------------------------------------------------------------------------

/** Proof times past this fraction of a timeout are a warning (the seed audit's 80 %). */
export const MARGIN_WARN_FRACTION = 0.8;

export type MarginConfig = Pick<Config, "pollTimeoutMs" | "maxJobWallTimeMs">;

export interface TimeoutMargins {
  /** Proofs the figures come from, across the fleet. */
  proofs: number;
  proofMs: { p95: number | null; max: number | null };
  /** Each observed figure as a fraction of each timeout (null: no proofs yet). */
  ofPollTimeout: { p95: number | null; max: number | null };
  ofWallTime: { p95: number | null; max: number | null };
  /** One sentence per figure above MARGIN_WARN_FRACTION of a timeout, naming the var. */
  warnings: string[];
}

/** Observed proof times (p95, max) against PROVER_POLL_TIMEOUT_MS and MAX_JOB_WALL_TIME_MS. */
export function timeoutMargins(samples: readonly ProofSample[], cfg: MarginConfig): TimeoutMargins {
  const ms = samples.map((s) => s.elapsedMs);
  const p95 = rank(ms, 0.95);
  const max = rank(ms, 1);
  const frac = (v: number | null, of: number) => (v === null ? null : round3(v / of));
  const warnings: string[] = [];
  const limits = [
    ["PROVER_POLL_TIMEOUT_MS", cfg.pollTimeoutMs],
    ["MAX_JOB_WALL_TIME_MS", cfg.maxJobWallTimeMs],
  ] as const;
  for (const [name, limit] of limits) {
    for (const [label, v] of [
      ["p95", p95],
      ["max", max],
    ] as const) {
      if (v !== null && v > MARGIN_WARN_FRACTION * limit) {
        warnings.push(
          `${label} proof time ${v} ms is ${Math.round((v / limit) * 100)} % of ${name} (${limit} ms): raise ${name} before proofs reach it`,
        );
      }
    }
  }
  return {
    proofs: samples.length,
    proofMs: { p95, max },
    ofPollTimeout: { p95: frac(p95, cfg.pollTimeoutMs), max: frac(max, cfg.pollTimeoutMs) },
    ofWallTime: { p95: frac(p95, cfg.maxJobWallTimeMs), max: frac(max, cfg.maxJobWallTimeMs) },
    warnings,
  };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
