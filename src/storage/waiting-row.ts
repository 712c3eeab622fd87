import type { Waiting } from "../core/grants.ts";

/** One row of the line's `waiting` table (src/storage/line-schema.ts), and how the rules see it. */
export interface WaitingRow extends Record<string, SqlStorageValue> {
  job_id: string;
  arrived_at: number;
  avoid_url: string | null;
  /** JSON array of the provers it goes to only when no other can be had; null: none. */
  exclude: string | null;
  /** When it came back to the line with those (0: never). */
  back_at: number;
  client: string;
  /** 0: back at the head (it was already served once); 1: waits its client's turn. */
  priority: number;
}

/** The provers a waiting row must not go to while another can be had. */
export function excludeOf(row: WaitingRow): string[] {
  if (!row.exclude) return [];
  try {
    const list: unknown = JSON.parse(row.exclude);
    return Array.isArray(list) ? list.filter((u): u is string => typeof u === "string") : [];
  } catch {
    return [];
  }
}

/** A waiting row as the grant rules see it (src/core/grants.ts). */
export const waitingOf = (row: WaitingRow): Waiting => ({
  jobId: row.job_id,
  avoid: row.avoid_url,
  exclude: excludeOf(row),
  backAt: row.back_at ?? 0,
});
