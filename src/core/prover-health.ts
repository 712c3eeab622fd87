import type { FleetConfig, HealthReading, ProverRecord } from "./fleet.ts";

/**
 * A prover's health, pure: when its `/health` is read, what a reading does, and its circuit
 * breaker over transport failures (submit, poll or health): PROVER_CIRCUIT_FAILURES in a row open
 * it for PROVER_CIRCUIT_COOLDOWN_MS, doubling with each reopening (at most ×16); when the
 * cool-down ends, a `/health` read is the half-open probe, and one success closes it.
 */

/** The most a circuit's cool-down grows: ×16 the first. */
export const MAX_CIRCUIT_DOUBLINGS = 4;
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
