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
