import type { Config } from "./config.ts";
import type { ProverRecord } from "./fleet.ts";

/**
 * Charging provers whose verdicts were contradicted, and quarantining them. Pure: the dispatcher
 * (src/objects/prover-dispatcher.ts) keeps the records and performs what these return.
 *
 * A contradiction is a verdict against a tape found false: one the gateway checked itself (a 400
 * or a zero score for a tape it parsed as valid, a result whose journal is not the tape's, a
 * receipt that does not verify), or a refusal another prover's proof of the same tape disproved
 * (src/core/verdicts.ts). PROVER_QUARANTINE_AFTER of them since the prover was last resumed
 * quarantine it; a receipt that does not verify (a forgery, or a box whose receipts prove
 * nothing) quarantines it at once. A quarantined prover gets no work, whatever its `/health`
 * says, until an operator resumes it (`POST /api/admin/provers/:id/resume`).
 */

export type QuarantineConfig = Pick<Config, "quarantineAfter">;

/** How many contradicted jobs a prover's record names (the admin view shows them). */
export const CONTRADICTED_JOBS_KEPT = 20;

/** One contradicted verdict, as the job that found it out reports it. */
export interface Contradiction {
  jobId: string;
  /** What was false, in a few words for operators (no prover text beyond its error code). */
  reason: string;
  /** Quarantine at once (a receipt that does not verify). */
  atOnce: boolean;
}

/** What charging did: the prover as it now stands, and whether it was quarantined just now. */
export interface Charged {
  prover: ProverRecord;
  quarantined: boolean;
  /** One log line for operators. */
  line: Record<string, unknown>;
}

/** Charges the prover one contradiction; quarantines it at the limit (or at once). */
export function onContradicted(
  p: ProverRecord,
  c: Contradiction,
  now: number,
  cfg: QuarantineConfig,
): Charged {
  const contradictions = (p.contradictions ?? 0) + 1;
  const jobs = [...(p.contradictedJobs ?? []).filter((j) => j !== c.jobId), c.jobId].slice(
    -CONTRADICTED_JOBS_KEPT,
  );
  const counted: ProverRecord = {
    ...p,
    contradictions,
    contradictedJobs: jobs,
    counts: { ...p.counts, contradictions: (p.counts.contradictions ?? 0) + 1 },
  };
  const due = c.atOnce || contradictions >= cfg.quarantineAfter;
  const quarantined = due && !p.quarantine;
  const reason = c.atOnce
    ? c.reason
    : `${contradictions} contradicted verdict(s), PROVER_QUARANTINE_AFTER is ${cfg.quarantineAfter} (last: ${c.reason})`;
  const prover = quarantined ? { ...counted, quarantine: { since: now, reason } } : counted;
  const line = {
    event: quarantined ? "prover_quarantined" : "prover_contradicted",
    prover: p.url,
    jobId: c.jobId,
    reason: c.reason,
    contradictions,
    quarantineAfter: cfg.quarantineAfter,
  };
  return { prover, quarantined, line };
}

/**
 * An operator resumes the prover: it is no longer drained nor quarantined, and its count of
 * contradictions starts again (its lifetime count stays in `counts`).
 */
export function resumeProver(p: ProverRecord): ProverRecord {
  return { ...p, draining: false, quarantine: null, contradictions: 0, contradictedJobs: [] };
}

/** The admin view of a quarantine: since when, why, how many contradictions, which jobs. */
export function quarantineView(
  p: ProverRecord,
): { since: number; reason: string; contradictions: number; jobs: string[] } | null {
  if (!p.quarantine) return null;
  return {
    since: p.quarantine.since,
    reason: p.quarantine.reason,
    contradictions: p.contradictions ?? 0,
    jobs: [...(p.contradictedJobs ?? [])],
  };
}
