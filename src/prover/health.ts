import type { Config } from "../core/config.ts";
import { ProverClient } from "./client.ts";
import type { ProverHealth } from "./health-reading.ts";

/** How long one prover health reading is reused (per isolate) so `/api/health` stays cheap. */
export const HEALTH_CACHE_MS = 15_000;

let cached: { key: string; at: number; value: ProverHealth } | null = null;

/** The prover's health and compatibility, cached for HEALTH_CACHE_MS per prover URL. */
export async function proverHealth(
  cfg: Config,
  now = Date.now(),
): Promise<ProverHealth & { checkedAt: number }> {
  const key = `${cfg.proverBaseUrl}|${cfg.proverExpectedImageId ?? ""}`;
  if (!cached || cached.key !== key || now - cached.at > HEALTH_CACHE_MS) {
    cached = { key, at: now, value: await new ProverClient(cfg).health() };
  }
  return { ...cached.value, checkedAt: cached.at };
}
