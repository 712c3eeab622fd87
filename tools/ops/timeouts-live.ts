/**
 * `npm run timeouts -- --live <gateway URL>`: the timeout margins a running gateway observes.
 * Needs the admin token (`--token` or ADMIN_TOKEN in the environment): reads
 * `/api/admin/health` (the fleet's observed proof times against PROVER_POLL_TIMEOUT_MS and
 * MAX_JOB_WALL_TIME_MS, with the gateway's own warnings above 80 %; the anonymous `/api/health`
 * has counts only) and `/api/admin/provers` for each prover's speed.
 * Exit 0: no warning; 1: a proof time is above 80 % of a timeout (raise it before proofs reach
 * it); 2: bad arguments, no token, or the gateway could not be read.
 */
import { MARGIN_WARN_FRACTION, type Speed, type TimeoutMargins } from "../../src/core/speed.ts";

export interface LiveInput {
  health: {
    config?: { pollTimeoutMs?: number; maxJobWallTimeMs?: number };
    line?: { timeouts?: TimeoutMargins; waiting?: number } | null;
    warnings?: string[];
  };
  /** Null when /api/admin/provers could not be read. */
  provers: { id: string; state: string; speed?: Speed }[] | null;
}

const pct = (v: number | null | undefined) => (v == null ? "—" : `${Math.round(v * 100)} %`);
const ms = (v: number | null | undefined) => (v == null ? "—" : `${v} ms`);

/** The report and its exit code (0: no warning, 1: warnings), from what the gateway answered. */
export function liveReport(input: LiveInput, base: string): { text: string; code: number } {
  const cfg = input.health.config ?? {};
  const t = input.health.line?.timeouts;
  const out = [`Timeout margins observed by ${base}`, ""];
  if (!t) {
    out.push("The gateway reports no proof times (its line could not be read).");
    return { text: out.join("\n"), code: 2 };
  }
  out.push(
    `  proofs seen (newest per prover)  ${t.proofs}`,
    `  proof time p95 / max             ${ms(t.proofMs.p95)} / ${ms(t.proofMs.max)}`,
    `  of PROVER_POLL_TIMEOUT_MS ${cfg.pollTimeoutMs ?? "?"} ms   p95 ${pct(t.ofPollTimeout.p95)}, max ${pct(t.ofPollTimeout.max)}`,
    `  of MAX_JOB_WALL_TIME_MS ${cfg.maxJobWallTimeMs ?? "?"} ms     p95 ${pct(t.ofWallTime.p95)}, max ${pct(t.ofWallTime.max)}`,
  );
  const warnings = [...t.warnings];
  if (input.provers) {
    out.push(
      "",
      "  prover                         state        proofs  ms/1000 frames med/p95  proof p95/max",
    );
    for (const p of input.provers) {
      const s = p.speed;
      out.push(
        `  ${p.id.padEnd(30)} ${p.state.padEnd(12)} ${String(s?.proofs ?? 0).padStart(6)}  ${`${s?.msPer1000Frames.median ?? "—"} / ${s?.msPer1000Frames.p95 ?? "—"}`.padEnd(23)} ${ms(s?.proofMs.p95)} / ${ms(s?.proofMs.max)}`,
      );
      const max = s?.proofMs.max;
      if (max != null && cfg.pollTimeoutMs && max > MARGIN_WARN_FRACTION * cfg.pollTimeoutMs) {
        warnings.push(
          `prover ${p.id}: max proof time ${max} ms is ${pct(max / cfg.pollTimeoutMs)} of PROVER_POLL_TIMEOUT_MS`,
        );
      }
    }
  } else {
    out.push("", "  (per-prover speeds: /api/admin/provers could not be read)");
  }
  out.push("");
  if (t.proofs === 0) out.push("No proof has been timed yet: nothing to compare.");
  if (warnings.length === 0) {
    out.push(
      `ok: every observed proof time is within ${pct(MARGIN_WARN_FRACTION)} of its timeouts.`,
    );
  } else {
    out.push(`${warnings.length} warning(s):`);
    for (const w of warnings) out.push(`  - ${w}`);
  }
  return { text: out.join("\n"), code: warnings.length ? 1 : 0 };
}

/** Fetches the gateway's figures and prints the report; returns the exit code. */
export async function liveMain(
  base: string,
  token: string | undefined,
  print: (s: string) => void = console.log,
  fetcher: typeof fetch = fetch,
): Promise<number> {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    print(`--live wants the gateway's URL, got ${JSON.stringify(base)}`);
    return 2;
  }
  const origin = url.origin;
  if (!token) {
    print("the margins are the operator's to see: pass --token or set ADMIN_TOKEN");
    return 2;
  }
  const auth = { headers: { authorization: `Bearer ${token}` } };
  let health: LiveInput["health"];
  try {
    const r = await fetcher(`${origin}/api/admin/health`, auth);
    if (!r.ok && r.status !== 503) throw new Error(`HTTP ${r.status}`);
    health = (await r.json()) as LiveInput["health"];
  } catch (e) {
    print(`cannot read ${origin}/api/admin/health: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  let provers: LiveInput["provers"] = null;
  try {
    const r = await fetcher(`${origin}/api/admin/provers`, auth);
    if (r.ok) provers = ((await r.json()) as { provers: LiveInput["provers"] }).provers;
    else print(`note: /api/admin/provers answered ${r.status}; per-prover speeds left out`);
  } catch (e) {
    print(`note: /api/admin/provers could not be read: ${String(e)}`);
  }
  const { text, code } = liveReport({ health, provers }, origin);
  print(text);
  return code;
}
