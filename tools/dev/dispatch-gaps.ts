/**
 * The dispatch gap: how long a single-flight prover sat idle between one proof ending (or being
 * lost) and the next job being accepted. Pure functions over the dev prover's timeline
 * (`stats().timeline`, `GET /__dev/stats`), for `npm run burst` and tests.
 */

/** One job the dev prover accepted (all times ms since the epoch). */
export interface TimelineEntry {
  /** The prover's job id. */
  id: string;
  /** When the submission was answered 202. */
  acceptedAt: number;
  /** When it left the prover's queue and began proving; null until then (or if lost queued). */
  startedAt: number | null;
  /** When its proof ended, or when a restart lost it; null while queued or running. */
  finishedAt: number | null;
  /**
   * "succeeded", the failure's error_code ("proof_error", "proof_timeout", …) or "lost"; null
   * while active.
   */
  outcome: string | null;
}

/** The idle time in front of one accepted job. */
export interface DispatchGap {
  /** The job accepted after the gap. */
  id: string;
  /** The job whose end opened the gap. */
  afterId: string;
  /** When that job's proof ended (or it was lost). */
  idleFrom: number;
  /** When `id` was accepted. */
  acceptedAt: number;
  /** `acceptedAt - idleFrom`. */
  ms: number;
}

/** Nearest-rank statistics of a list of gaps (ms); all null when it is empty. */
export interface GapSummary {
  count: number;
  median: number | null;
  p90: number | null;
  max: number | null;
}

/**
 * For every accepted job after the first (in acceptance order): the gap between the previous
 * job's end and this job's acceptance. A job accepted while the previous one had not ended yet
 * (not single-flight, or a snapshot taken mid-proof) opens no gap and is skipped. Whether work
 * was waiting during a gap is the caller's business: filter `gaps` and `summarizeGaps` the rest.
 */
export function dispatchGaps(timeline: readonly TimelineEntry[]): {
  gaps: DispatchGap[];
  summary: GapSummary;
} {
  const accepted = [...timeline].sort((a, b) => a.acceptedAt - b.acceptedAt);
  const gaps: DispatchGap[] = [];
  for (let i = 1; i < accepted.length; i++) {
    const prev = accepted[i - 1]!;
    const next = accepted[i]!;
    if (prev.finishedAt === null) continue;
    gaps.push({
      id: next.id,
      afterId: prev.id,
      idleFrom: prev.finishedAt,
      acceptedAt: next.acceptedAt,
      ms: next.acceptedAt - prev.finishedAt,
    });
  }
  return { gaps, summary: summarizeGaps(gaps.map((g) => g.ms)) };
}

/** Count, median, p90 and max (nearest rank: every figure is one of the values). */
export function summarizeGaps(values: readonly number[]): GapSummary {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (q: number) =>
    sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! : null;
  return { count: sorted.length, median: rank(0.5), p90: rank(0.9), max: rank(1) };
}
