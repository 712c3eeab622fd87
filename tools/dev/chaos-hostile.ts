/**
 * What `npm run chaos -- --hostile MODE` checks about the hostile box, as pure functions of what
 * the run saw: kept apart from chaos.ts so the rules (and which of them wait for the gateway to
 * support quarantine) are read and tested in one place.
 */
import { LYING_MODES, type HostileMode, type HostileStats } from "./prover-hostile.ts";

/** One check of a hostile run: `skipped` says why it could not be applied to this gateway. */
export interface Check {
  name: string;
  status: "ok" | "FAIL" | "skipped";
  detail: string;
}

/** A prover as `GET /api/admin/provers` shows it, as far as chaos reads it. */
export interface ProverViewLike {
  url?: unknown;
  state?: unknown;
  why?: unknown;
  quarantine?: unknown;
}

/** True when the gateway's admin view puts this prover in quarantine. */
export const isQuarantined = (v: ProverViewLike | undefined): boolean => v?.state === "quarantined";

/**
 * Whether the gateway knows quarantine at all: its OpenAPI document names the `quarantined` state,
 * or a prover view carries a `quarantine` field or that state. Until then the quarantine checks
 * (and the other ones the same change brings) are skipped, not failed.
 */
export function quarantineSupported(openapi: unknown, views: ProverViewLike[] | null): boolean {
  if (views?.some((v) => isQuarantined(v) || (typeof v === "object" && "quarantine" in v)))
    return true;
  return (
    openapi !== null && openapi !== undefined && JSON.stringify(openapi).includes('"quarantined"')
  );
}

/** What the run saw of the hostile box and of its jobs. */
export interface HostileRun {
  mode: HostileMode;
  /** 1-based. */
  prover: number;
  stats: HostileStats;
  /** When chaos first saw it quarantined (ms from the run's start), and its lies by then. */
  quarantinedAt: number | null;
  liesAtQuarantine: number | null;
  /** The gateway supports quarantine (quarantineSupported). */
  supported: boolean;
  /** Lies allowed before quarantine (`--max-lies`). */
  maxLies: number;
  /** Random faults on the honest provers (`--rate` > 0): jobs may fail by design. */
  faultRate: number;
  jobs: {
    accepted: number;
    /** Ended succeeded, or cancelled by its own player, with no failed attempt on the way. */
    good: number;
    /** The others, one line each ("tape 3 failed prover_rejected (attempt 1)"). */
    bad: string[];
    mismatched: number;
  };
  /** `/health` requests that carried a key, summed over every prover, and all `/health` requests. */
  healthWithKey: number;
  health: number;
}

/** The checks of a hostile run, in the order they are printed. */
export function hostileChecks(r: HostileRun): Check[] {
  const pending = "skipped: the gateway has no `quarantined` prover state yet (issue 16)";
  const checks: Check[] = [];
  checks.push(
    r.faultRate > 0
      ? {
          name: "every job succeeded",
          status: "skipped",
          detail: `random faults on the honest provers (--rate ${r.faultRate}) end some jobs failed by design; ${r.jobs.good} of ${r.jobs.accepted} did`,
        }
      : {
          name: "every job succeeded",
          status: r.jobs.bad.length === 0 && r.jobs.good === r.jobs.accepted ? "ok" : "FAIL",
          detail: `${r.jobs.good} of ${r.jobs.accepted}${r.jobs.bad.length ? `; ${r.jobs.bad.slice(0, 6).join("; ")}${r.jobs.bad.length > 6 ? ` … (${r.jobs.bad.length})` : ""}` : ""}`,
        },
  );
  checks.push({
    name: "results match their tapes",
    status: r.jobs.mismatched === 0 ? "ok" : "FAIL",
    detail: `${r.jobs.mismatched} mismatched`,
  });
  const lies = r.stats.lies;
  const seen =
    r.quarantinedAt === null
      ? `never seen quarantined; ${lies} lie(s) told`
      : `quarantined at ${(r.quarantinedAt / 1000).toFixed(1)} s after ${r.liesAtQuarantine} lie(s); ${lies} in all`;
  const name = `quarantined after at most ${r.maxLies} lies`;
  if (!LYING_MODES.includes(r.mode))
    checks.push({
      name,
      status: "skipped",
      detail: `${r.mode} tells no verdict to contradict (a capped read or a refused redirect is a transport failure); ${seen}`,
    });
  else if (!r.supported) checks.push({ name, status: "skipped", detail: `${pending}; ${seen}` });
  else if (lies === 0)
    checks.push({ name, status: "skipped", detail: "it told no lie (it was given no work)" });
  else
    checks.push({
      name,
      status: r.quarantinedAt !== null && lies <= r.maxLies ? "ok" : "FAIL",
      detail: seen,
    });
  if (r.mode === "huge_replies") {
    const h = r.stats;
    const detail = `${h.hugeCompleted} of ${h.answers} huge replies written to the end; at most ${(h.hugeMaxBytes / 2 ** 20).toFixed(1)} MiB of one, ${(h.hugeBytes / 2 ** 20).toFixed(0)} MiB in all`;
    checks.push({
      name: "no huge reply read whole",
      status: !r.supported ? "skipped" : h.hugeCompleted === 0 ? "ok" : "FAIL",
      detail: r.supported ? detail : `${pending}; ${detail}`,
    });
  }
  if (r.mode === "redirect") {
    const s = r.stats.sink;
    const detail = `${s.requests} request(s) reached it, ${s.keyed} with a key (x-api-key ${s.withApiKey}, authorization ${s.withAuthorization})`;
    checks.push({
      name: "no request followed the redirect",
      status: !r.supported ? "skipped" : s.requests === 0 ? "ok" : "FAIL",
      detail: r.supported ? detail : `${pending}; ${detail}`,
    });
  }
  const health = `${r.healthWithKey} of ${r.health} /health request(s) carried a key`;
  checks.push({
    name: "no key on /health",
    status: !r.supported ? "skipped" : r.healthWithKey === 0 ? "ok" : "FAIL",
    detail: r.supported ? health : `${pending}; ${health}`,
  });
  return checks;
}

/** The checks as report lines. */
export const checkLines = (checks: Check[]): string[] =>
  checks.map((c) => `${c.status.padEnd(7)} ${c.name}: ${c.detail}`);
