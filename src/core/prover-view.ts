import { proverState, type FleetConfig, type ProverRecord, type ProverState } from "./fleet.ts";
import { quarantineView } from "./quarantine.ts";
import { speedOf, type Speed } from "./speed.ts";

/** How the admin API and `/api/health` show a prover: pure views of its record. */

/** A prover as the admin API shows it. */
export interface ProverView {
  id: string;
  url: string;
  state: ProverState;
  why: string;
  source: ProverRecord["source"];
  job: string | null;
  heldSince: number | null;
  health: (ProverRecord["health"] & { checkedAt: number | null }) | null;
  circuit: { failures: number; openUntil: number | null; opens: number; lastError: string | null };
  counts: { granted: number; faults: number; busy: number; contradictions: number };
  /** Quarantined: since when, why, its contradictions since last resumed and their jobs. */
  quarantine: ReturnType<typeof quarantineView>;
  /** Its newest succeeded proofs: how many, time per 1,000 frames, proof time. */
  speed: Speed;
}

export function proverView(p: ProverRecord, now: number, cfg: FleetConfig): ProverView {
  const { state, why } = proverState(p, now, cfg);
  return {
    id: p.id,
    url: p.url,
    state,
    why,
    source: p.source,
    job: p.holder ?? p.ending?.jobId ?? null,
    heldSince: p.heldSince ?? p.ending?.since ?? null,
    health: p.health ? { ...p.health, checkedAt: p.healthAt } : null,
    circuit: {
      failures: p.failures,
      openUntil: p.circuitUntil > now ? p.circuitUntil : null,
      opens: p.circuitOpens,
      lastError: p.lastError,
    },
    counts: { ...p.counts, contradictions: p.counts.contradictions ?? 0 },
    quarantine: quarantineView(p),
    speed: speedOf(p.speed ?? []),
  };
}

/** A prover as the single-prover gateway showed it: who holds it, until when it cools down. */
export interface SlotView {
  url: string;
  holder: string | null;
  heldSince: number | null;
  cooldownUntil: number;
}

export const slotOf = (p: ProverRecord): SlotView => ({
  url: p.url,
  holder: p.holder,
  heldSince: p.heldSince,
  cooldownUntil: p.cooldownUntil,
});
