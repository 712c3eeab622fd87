/** The gateway's loosely typed fields, read defensively: ISO times, strings, numbers. */

export const iso = (ms: number | null | undefined): string | null =>
  typeof ms === "number" && Number.isFinite(ms) ? new Date(ms).toISOString() : null;
export const isoAlways = (ms: number): string => iso(ms) ?? new Date(0).toISOString();

export const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
export const num = (v: unknown): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;
