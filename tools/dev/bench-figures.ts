/**
 * The figures of `npm run bench`, as pure functions of what a run saw: the dev provers' timelines,
 * when each job was posted, accepted and ended, and the dispatcher's call counters that
 * `/api/admin/health` reports. Nothing here measures or asserts speed; it only does the arithmetic.
 */
import { dispatchGaps, summarizeGaps, type TimelineEntry } from "./dispatch-gaps.ts";

/** One job of the backlog as the bench saw it (ms since the epoch). */
export interface BacklogJob {
  /** When its POST was answered: from then on the gateway had it. */
  postedAt: number;
  /** When a prover accepted its (last) submission; null if none did. */
  acceptedAt: number | null;
  /** When it ended; null if it had not when the run stopped. */
  endedAt: number | null;
}

/** True when a job had been posted by `t` and was neither accepted by a prover nor ended yet. */
export function workWaiting(jobs: readonly BacklogJob[], t: number): boolean {
  return jobs.some(
    (j) =>
      j.postedAt <= t &&
      (j.acceptedAt === null ? j.endedAt === null || j.endedAt > t : j.acceptedAt > t),
  );
}

/**
 * The idle gaps of every prover (each timeline on its own: one GPU's end to that GPU's next
 * acceptance) that opened while work was waiting, pooled, in ms.
 */
export function waitingGaps(
  timelines: readonly (readonly TimelineEntry[])[],
  jobs: readonly BacklogJob[],
): number[] {
  return timelines.flatMap((t) =>
    dispatchGaps(t)
      .gaps.filter((g) => workWaiting(jobs, g.idleFrom))
      .map((g) => g.ms),
  );
}

/** Nearest rank, as in `summarizeGaps`: always one of the values; null when there are none. */
export function nearestRank(values: readonly number[], q: number): number | null {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! : null;
}

export interface GapFigures {
  count: number;
  median: number | null;
  p95: number | null;
  max: number | null;
}

/** `summarizeGaps` with a p95 in place of its p90. */
export function gapFigures(values: readonly number[]): GapFigures {
  const { count, median, max } = summarizeGaps(values);
  return { count, median, p95: nearestRank(values, 0.95), max };
}

/**
 * The fraction of [from, to] one prover spent proving: each timeline entry from `startedAt` to
 * `finishedAt` (still running: to `to`), clipped to the window. Null for an empty window.
 */
export function utilization(
  timeline: readonly TimelineEntry[],
  from: number,
  to: number,
): number | null {
  if (to <= from) return null;
  let busy = 0;
  for (const e of timeline) {
    if (e.startedAt === null) continue;
    busy += Math.max(0, Math.min(e.finishedAt ?? to, to) - Math.max(e.startedAt, from));
  }
  return busy / (to - from);
}

/** Succeeded jobs per minute of `ms`; null when no time passed. */
export function perMinute(count: number, ms: number): number | null {
  return ms > 0 ? (count * 60_000) / ms : null;
}

/**
 * Dispatcher methods the bench's own reads call: `summary` once per `GET /api/admin/health`,
 * `position` once per `GET /api/proofs/jobs/:id` of a job still in line (a polling player does
 * the same).
 */
export const READ_METHODS = ["outlook", "summary", "position"] as const;

export interface DispatcherCalls {
  /** Calls between the two readings, by method (the counters' `total` left out). */
  byMethod: Record<string, number>;
  /** Every call between the two readings. */
  total: number;
  /** `total` less the READ_METHODS calls: what the jobs themselves cost. */
  work: number;
}

/**
 * The calls made to the dispatcher between two `/api/admin/health` bodies, from their `line.calls`
 * (`{ [method]: count, total: count }` since the dispatcher last started). Null when either
 * body has no numeric `line.calls.total` (a gateway that does not count them).
 */
export function dispatcherCalls(before: unknown, after: unknown): DispatcherCalls | null {
  const a = callCounters(before);
  const b = callCounters(after);
  if (!a || !b) return null;
  const byMethod: Record<string, number> = {};
  for (const [method, count] of Object.entries(b)) {
    if (method === "total") continue;
    const delta = count - (a[method] ?? 0);
    if (delta) byMethod[method] = delta;
  }
  const total = b.total! - a.total!;
  const reads = READ_METHODS.reduce((sum, m) => sum + (byMethod[m] ?? 0), 0);
  return { byMethod, total, work: total - reads };
}

function callCounters(health: unknown): Record<string, number> | null {
  const calls = (health as { line?: { calls?: unknown } } | null)?.line?.calls;
  if (typeof calls !== "object" || calls === null) return null;
  const counters: Record<string, number> = {};
  for (const [k, v] of Object.entries(calls)) if (typeof v === "number") counters[k] = v;
  return typeof counters.total === "number" ? counters : null;
}

/** Columns padded to their widest cell, two spaces apart (the last one not padded). */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "),
  );
}
