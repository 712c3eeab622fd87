import type { FleetConfig, ProverRecord } from "./fleet.ts";
import { freeAtFor } from "./prover-work.ts";
import { isTerminal, type Job } from "./job.ts";
import { DEFAULT_MS_PER_1000_FRAMES, expectedFromSpeed, speedFor, speedOf } from "./speed.ts";

/**
 * The ETA a player sees: when the job should reach a prover and when its proof should be ready,
 * from its place in line, when each prover is expected to be free, the fleet's measured proof
 * times and the job's own frame count. Pure; the dispatcher supplies the `Outlook`.
 */

/** Epoch ms; `startAt` null once the job is on a prover (or when nothing can say). */
export interface Estimate {
  startAt: number | null;
  finishAt: number;
  /** `measured`: from proofs the fleet has timed; `default`: nothing timed yet (see below). */
  basis: "measured" | "default";
}

/** What the dispatcher knows of the line ahead of a waiting job. */
export interface Outlook {
  /** Jobs served before this one if nothing new arrives; null: it is not in line (yet). */
  ahead: number | null;
  /**
   * Jobs waiting for a prover, in line or on their way to it (a job not in line yet counts them
   * all ahead of it).
   */
  waiting: number;
  /** When each prover that can take work is expected to be free (epoch ms; past = now). */
  freeAt: number[];
  /** A typical proof of a job ahead (the fleet's median proof time), ms. */
  typicalProofMs: number;
  /** The speed to expect for this job's own proof. */
  msPer1000Frames: number;
  basis: Estimate["basis"];
}

/** Frames of a typical tape ahead before anything has been timed (a long game's worth). */
export const DEFAULT_TYPICAL_FRAMES = 10_000;

/** Before any proof was timed: 6.4 s per 1,000 frames × 10,000 frames = 64 s per job ahead. */
export const DEFAULT_TYPICAL_PROOF_MS = expectedFromSpeed(
  DEFAULT_MS_PER_1000_FRAMES,
  DEFAULT_TYPICAL_FRAMES,
)!;

/**
 * What the line looks like from the waiting job `jobId`: its place (`ahead`, null: not in line),
 * the jobs in line (`inLine`) and not ended (`live`, itself left out), and the fleet: when each
 * prover that can work should be free, and the speed its measured proofs show.
 */
export function outlookOf(
  jobId: string,
  line: { ahead: number | null; inLine: number; live: number },
  provers: readonly ProverRecord[],
  now: number,
  cfg: FleetConfig,
): Outlook {
  const samples = provers.flatMap((p) => p.speed ?? []);
  const typicalProofMs = speedOf(samples).proofMs.median ?? DEFAULT_TYPICAL_PROOF_MS;
  const freeAt = provers
    .map((p) => freeAtFor(p, now, cfg, typicalProofMs))
    .filter((t): t is number => t !== null);
  // A job not in line yet (its message is on the way, e.g. right after its POST) comes after
  // every live job that is not on a prover yet: those in line and those on their way too.
  const holders = provers.filter((p) => p.holder && p.holder !== jobId).length;
  return {
    ahead: line.ahead,
    waiting: Math.max(line.inLine, line.live - holders),
    freeAt,
    typicalProofMs,
    msPer1000Frames: speedFor([], samples).msPer1000Frames,
    basis: samples.length ? "measured" : "default",
  };
}

/**
 * When the `k`-th job ahead (0-based) starts, and the job after them: provers free at `freeAt`
 * take the line in turn, each job taking `proofMs`. Exact when the provers free up within one
 * proof of each other (the usual case), a close approximation otherwise; O(provers log provers).
 */
export function startAfter(ahead: number, freeAt: readonly number[], proofMs: number, now: number) {
  const free = [...freeAt].map((t) => Math.max(t, now)).sort((a, b) => a - b);
  if (free.length === 0) return null;
  const p = free.length;
  return free[ahead % p]! + Math.floor(ahead / p) * proofMs;
}

export function estimateFor(job: Job, outlook: Outlook | null, now: number): Estimate | null {
  if (isTerminal(job.status)) return null;
  const speed = outlook?.msPer1000Frames ?? DEFAULT_MS_PER_1000_FRAMES;
  const own = expectedFromSpeed(speed, job.tape.frameCount)!;
  const basis = outlook?.basis ?? "default";
  if (job.status === "proving" && job.prover.acceptedAt !== null) {
    // Its expected end is set only from a measured speed (src/core/speed.ts).
    const measured = job.prover.expectedEndAt ?? null;
    const end = measured ?? job.prover.acceptedAt + own;
    // Overdue: it should be ready any moment; never an ETA in the past.
    return { startAt: null, finishAt: Math.max(end, now), basis: measured ? "measured" : basis };
  }
  if (!outlook) return { startAt: null, finishAt: now + own, basis: "default" };
  const ahead = outlook.ahead ?? outlook.waiting;
  const startAt = startAfter(ahead, outlook.freeAt, outlook.typicalProofMs, now);
  if (startAt === null) return { startAt: null, finishAt: now + own, basis };
  return { startAt, finishAt: startAt + own, basis };
}
