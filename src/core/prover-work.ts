import { canTakeWork, proverState, type FleetConfig, type ProverRecord } from "./fleet.ts";
import { addSample } from "./speed.ts";

/**
 * A prover given work and freed of it, pure: which free prover the head of the line gets, the
 * grant, the release, when a prover should be free again (for ETAs) and the speed samples its
 * proofs leave.
 */

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
/** A proof on this prover succeeded in `elapsedMs` (its own timing) for a tape of `frames`. */
export function onProofTimed(
  p: ProverRecord,
  frames: number,
  elapsedMs: number,
  now: number,
): ProverRecord {
  return { ...p, speed: addSample(p.speed ?? [], { frames, elapsedMs, at: now }) };
}
