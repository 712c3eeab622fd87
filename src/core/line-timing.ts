import type { Config } from "./config.ts";

/**
 * The timing rules of the line in front of the provers (src/objects/prover-dispatcher.ts keeps
 * the line and the slots in SQL; what it waits for, and how long, is decided here).
 */

export type LineConfig = Pick<Config, "pollIntervalMs" | "pollBudgetMs">;

/**
 * A slot whose prover said 429 to the job we granted it to (someone else's proof, or a
 * cancelled one it cannot stop), or whose grant could not be sent, is offered again after
 * this: one poll interval, the time a proof's end takes to be noticed anyway.
 */
export const slotCooldownUntil = (now: number, cfg: LineConfig) => now + cfg.pollIntervalMs;

/**
 * A slot holder last checked at or before this is asked again whether it still needs its
 * prover: one that ended without telling the dispatcher must not block the line for longer
 * than one poll budget (a live job tells the dispatcher itself at least that often).
 */
export const holderCheckDueAt = (now: number, cfg: LineConfig) => now - cfg.pollBudgetMs;

/**
 * When the dispatcher wakes: while jobs wait, when the first cooling slot is free again, and at
 * least every poll budget to check slot holders; with nobody waiting, never (null).
 */
export function lineAlarmAt(
  waiting: number,
  firstCooldownEnd: number | null,
  now: number,
  cfg: LineConfig,
): number | null {
  if (waiting === 0) return null;
  return Math.min(firstCooldownEnd ?? Infinity, now + cfg.pollBudgetMs);
}

/** An armed alarm is moved only when it is missing, later than needed, or already past. */
export const moveAlarm = (armed: number | null, wanted: number, now: number) =>
  armed === null || armed > wanted || armed < now;

/**
 * How long a waiting job's place in line (asked of the dispatcher for a player's `GET`) is
 * served from the job's own cache: one second per job ahead, between 2 s and 60 s. A player
 * polling every second thus costs the dispatcher one call per job every few seconds near the
 * head of the line and one a minute far back, however often the players poll.
 */
export const PLACE_CACHE_MIN_MS = 2_000;
export const PLACE_CACHE_MAX_MS = 60_000;
export const placeFreshUntil = (ahead: number, askedAt: number) =>
  askedAt + Math.min(PLACE_CACHE_MAX_MS, Math.max(PLACE_CACHE_MIN_MS, ahead * 1_000));
