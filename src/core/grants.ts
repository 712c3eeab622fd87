import type { Config } from "./config.ts";
import { DEFAULT_TYPICAL_PROOF_MS } from "./estimate.ts";
import {
  canTakeWork,
  isHeld,
  proverState,
  type FleetConfig,
  type ProverRecord,
  type ProverState,
} from "./fleet.ts";
import { nextHealthCheckAt } from "./prover-health.ts";
import { free } from "./prover-work.ts";
import { holderCheckDueAt, lineAlarmAt, type LineConfig } from "./line-timing.ts";
import { speedOf } from "./speed.ts";

/**
 * Who gets a prover, and how long a prover stays held: the dispatcher's rules as pure functions
 * of (line, provers, now, config) → decision. ProverDispatcher (src/objects/prover-dispatcher.ts)
 * loads its SQL rows, asks these, and performs what they say (save, send, read `/health`).
 *
 * - A job goes to a free, healthy prover (`canTakeWork`), the one idle longest first, preferably
 *   not the one that lost or spoiled its last proof (`avoid`).
 * - A job with verdicts against its tape (src/core/verdicts.ts) goes only to a prover that gave
 *   none, while one that could give a second opinion can be had (available, proving, cooling
 *   after a 429, or due a `/health` read; not quarantined, drained, incompatible, unreachable or
 *   with its circuit open). When none can be had, one of those that gave a verdict gets it once
 *   PROVER_CIRCUIT_COOLDOWN_MS has passed since the job came back (`fallback`).
 * - A job that ended while its proof still runs keeps its prover held until the prover says the
 *   proof ended, or its answers fail for longer than PROVER_STALL_WINDOW_MS (it is gone), and at
 *   most PROVER_POLL_TIMEOUT_MS (the clean-up's own limit).
 * - An open circuit keeps the only prover that answers its `/health` idle at most for that
 *   prover's median proof time while jobs wait: it is probed then.
 */

export type GrantConfig = FleetConfig &
  Pick<Config, "stallWindowMs" | "pollTimeoutMs" | "pollBudgetMs">;

/** A job waiting in line, as the grant rules see it. */
export interface Waiting {
  jobId: string;
  /** Preferably not this prover (the one that lost or spoiled its last proof). */
  avoid: string | null;
  /** The provers that gave a verdict against its tape: only when no other can be had. */
  exclude: readonly string[];
  /** When it came back to the line with those verdicts (the fallback waits from here). */
  backAt: number;
}

/** A grant: `jobId` gets the prover on `url`; `fallback`: one that gave a verdict against it. */
export interface Grant {
  jobId: string;
  url: string;
  fallback: boolean;
}

/** States of a prover that can give a second opinion soon. */
const CAN_BE_HAD: ReadonlySet<ProverState> = new Set(["available", "proving", "busy", "unchecked"]);

/** Whether a prover that gave no verdict against this job can be had (now or soon). */
export function secondOpinionPossible(
  w: Waiting,
  provers: readonly ProverRecord[],
  now: number,
  cfg: GrantConfig,
): boolean {
  return provers.some(
    (p) => !w.exclude.includes(p.url) && CAN_BE_HAD.has(proverState(p, now, cfg).state),
  );
}

/** When a job nobody else can take may go back to a prover that gave a verdict against it. */
export const fallbackAt = (w: Waiting, cfg: Pick<Config, "circuitCooldownMs">) =>
  w.backAt + cfg.circuitCooldownMs;

const idleLongest = (a: ProverRecord, b: ProverRecord) =>
  (a.lastGrantedAt ?? 0) - (b.lastGrantedAt ?? 0) || a.id.localeCompare(b.id);

/** The prover this waiting job gets now, or null (with whether it is a fallback). */
export function pickFor(
  w: Waiting,
  provers: readonly ProverRecord[],
  now: number,
  cfg: GrantConfig,
): { prover: ProverRecord; fallback: boolean } | null {
  const free = provers.filter((p) => canTakeWork(p, now, cfg)).sort(idleLongest);
  if (free.length === 0) return null;
  const preferred = (list: ProverRecord[]) => list.find((p) => p.url !== w.avoid) ?? list[0]!;
  const allowed = free.filter((p) => !w.exclude.includes(p.url));
  if (allowed.length > 0) return { prover: preferred(allowed), fallback: false };
  if (secondOpinionPossible(w, provers, now, cfg) || now < fallbackAt(w, cfg)) return null;
  return { prover: preferred(free), fallback: true };
}

/**
 * The next grant: the first job, in the order the line serves them (`line`), that a free prover
 * may take now; null when none can. A job waiting for a second opinion lets the jobs behind it
 * have the provers it may not take.
 */
export function nextGrant(
  line: readonly Waiting[],
  provers: readonly ProverRecord[],
  now: number,
  cfg: GrantConfig,
): Grant | null {
  for (const w of line) {
    const pick = pickFor(w, provers, now, cfg);
    if (pick) return { jobId: w.jobId, url: pick.prover.url, fallback: pick.fallback };
  }
  return null;
}

/** When a job waiting for its fallback may have it (the earliest such time after now; null: none). */
export function fallbackWakeAt(
  line: readonly Waiting[],
  cfg: Pick<Config, "circuitCooldownMs">,
  now: number,
): number | null {
  const times = line
    .filter((w) => w.exclude.length > 0)
    .map((w) => fallbackAt(w, cfg))
    .filter((t) => t > now);
  return times.length ? Math.min(...times) : null;
}

// --- Holding a prover ----------------------------------------------------------------------------

/** Whether the dispatcher should ask the prover's holder whether it still needs it. */
export const holderCheckDue = (p: ProverRecord, now: number, cfg: LineConfig) =>
  p.holder !== null && (p.checkedAt ?? 0) <= holderCheckDueAt(now, cfg);

/**
 * The holder `holder` answered the check (`needed`): still needed, checked now; not, freed. A
 * prover whose holder changed meanwhile is left alone.
 */
export function onHolderChecked(
  p: ProverRecord,
  holder: string,
  needed: boolean,
  now: number,
): ProverRecord {
  if (p.holder !== holder) return p;
  return needed ? { ...p, checkedAt: now } : free(p);
}

/**
 * The job `jobId` no longer needs the prover: freed, unless `endingUrl` says its proof may still
 * run there (cancelled or timed out while proving): then it stays held for that proof, which
 * takes no new job, until `onProofEnding` or `endingHoldOver` frees it.
 */
export function onRelease(
  p: ProverRecord,
  jobId: string,
  endingUrl: string | null,
  now: number,
): ProverRecord {
  if (p.holder !== jobId) return p;
  if (endingUrl !== p.url) return free(p);
  const held = { ...free(p), expectedFreeAt: p.expectedFreeAt ?? null };
  return { ...held, ending: { jobId, since: now, failingSince: null } };
}

/**
 * What the prover said to the deletion of the proof an ended job `jobId` left running: `ended`
 * frees it; `alive` keeps it held; `unreachable` keeps it held until its answers have failed for
 * longer than PROVER_STALL_WINDOW_MS (then it counts as gone).
 */
export function onProofEnding(
  p: ProverRecord,
  jobId: string,
  said: "ended" | "alive" | "unreachable",
  now: number,
  cfg: Pick<Config, "stallWindowMs">,
): ProverRecord {
  if (!p.ending || p.ending.jobId !== jobId) return p;
  if (said === "ended") return free(p);
  if (said === "alive") return { ...p, ending: { ...p.ending, failingSince: null } };
  const failingSince = p.ending.failingSince ?? now;
  if (now - failingSince > cfg.stallWindowMs) return free(p);
  return { ...p, ending: { ...p.ending, failingSince } };
}

/**
 * Whether a hold for an ended job's proof is over by itself: PROVER_POLL_TIMEOUT_MS after it
 * began (the clean-up's own limit: no proof runs longer), whatever was or was not reported.
 */
export const endingHoldOver = (p: ProverRecord, now: number, cfg: Pick<Config, "pollTimeoutMs">) =>
  Boolean(p.ending) && now > p.ending!.since + cfg.pollTimeoutMs;

// --- An open circuit and the only prover that answers ------------------------------------------

/** The prover's median proof time; the fleet's before it has one; a typical proof before that. */
export function medianProofMs(p: ProverRecord, provers: readonly ProverRecord[]): number {
  return (
    speedOf(p.speed ?? []).proofMs.median ??
    speedOf(provers.flatMap((x) => x.speed ?? [])).proofMs.median ??
    DEFAULT_TYPICAL_PROOF_MS
  );
}

/** Whether a prover answers its `/health` and could work: its last reading was good. */
function answers(p: ProverRecord, now: number, cfg: GrantConfig): boolean {
  return p.health?.reachable === true && CAN_BE_HAD.has(proverState(p, now, cfg).state);
}

/**
 * When the open circuit of `p` is probed before its cool-down ends: its median proof time after
 * it opened, while `waiting` jobs wait and `p` is the only prover that answers its `/health` (its
 * last reading was good and no other prover that could work answers). Null: its cool-down rules.
 */
export function earlyProbeAt(
  p: ProverRecord,
  provers: readonly ProverRecord[],
  waiting: number,
  now: number,
  cfg: GrantConfig,
): number | null {
  if (waiting === 0 || !(p.circuitUntil > now) || !p.circuitOpenedAt) return null;
  if (p.quarantine || p.draining || p.holder || p.ending || p.health?.reachable !== true) {
    return null;
  }
  if (provers.some((o) => o.url !== p.url && answers(o, now, cfg))) return null;
  const at = p.circuitOpenedAt + medianProofMs(p, provers);
  return at < p.circuitUntil ? at : null;
}

/** Whether that early probe is due now (once: a failed one leaves the cool-down in charge). */
export function earlyProbeDue(
  p: ProverRecord,
  provers: readonly ProverRecord[],
  waiting: number,
  now: number,
  cfg: GrantConfig,
): boolean {
  const at = earlyProbeAt(p, provers, waiting, now, cfg);
  return at !== null && now >= at && (p.healthAt ?? -Infinity) < at;
}

// --- The line's wake-up ---------------------------------------------------------------------------

/**
 * When the dispatcher's alarm should ring (null: never, nobody waits): while jobs wait, when a
 * free prover that cannot take work yet may (its cool-down or open circuit ends, its early probe
 * or its next `/health` read is due: soon after a failed one), when a job waiting for its
 * fallback may have it, and at least every poll budget to check holders.
 */
export function lineWakeAt(
  provers: readonly ProverRecord[],
  excluding: readonly Waiting[],
  waiting: number,
  now: number,
  cfg: GrantConfig,
): number | null {
  const ends = provers
    .filter((p) => !isHeld(p) && !p.quarantine && !canTakeWork(p, now, cfg))
    .flatMap((p) => [
      p.cooldownUntil,
      p.circuitUntil,
      nextHealthCheckAt(p, cfg),
      earlyProbeAt(p, provers, waiting, now, cfg) ?? 0,
    ])
    .concat(fallbackWakeAt(excluding, cfg, now) ?? 0)
    .filter((t) => t > now);
  return lineAlarmAt(waiting, ends.length ? Math.min(...ends) : null, now, cfg);
}
