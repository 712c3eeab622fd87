import type { TimelineEntry } from "./prover-server.ts";

/**
 * How long a single-flight prover sat idle between one proof ending and the next being
 * accepted: the gateway's dispatch gap. Only meaningful while jobs were waiting, which is the
 * caller's business (the burst benchmark posts all its jobs before the first proof ends).
 */
export interface GapSummary {
  gapsMs: number[];
  count: number;
  medianMs: number | null;
  p90Ms: number | null;
  maxMs: number | null;
}

export function dispatchGaps(timeline: readonly TimelineEntry[]): GapSummary {
  const accepted = [...timeline].sort((a, b) => a.acceptedAt - b.acceptedAt);
  const gapsMs: number[] = [];
  for (let i = 1; i < accepted.length; i++) {
    const previousEnd = accepted[i - 1]!.finishedAt;
    if (previousEnd === null) continue; // accepted while the previous one still ran: not single-flight
    gapsMs.push(Math.max(0, accepted[i]!.acceptedAt - previousEnd));
  }
  const sorted = [...gapsMs].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : null);
  return { gapsMs, count: gapsMs.length, medianMs: at(0.5), p90Ms: at(0.9), maxMs: sorted.length ? sorted[sorted.length - 1]! : null };
}
