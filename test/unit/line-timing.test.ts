import { describe, expect, it } from "vitest";
import {
  holderCheckDueAt,
  lineAlarmAt,
  moveAlarm,
  PLACE_CACHE_MAX_MS,
  PLACE_CACHE_MIN_MS,
  placeFreshUntil,
  slotCooldownUntil,
} from "../../src/core/line-timing.ts";
import { CONFIGS, T0 } from "../support/configs.ts";

describe.each(CONFIGS)("the line's timing rules (%s)", (_name, cfg) => {
  it("a slot that met a 429 cools down for exactly one poll interval", () => {
    expect(slotCooldownUntil(T0, cfg)).toBe(T0 + cfg.pollIntervalMs);
  });

  it("a holder is due for its check once one poll budget has passed since the last, not before", () => {
    const due = holderCheckDueAt(T0, cfg);
    // The dispatcher asks holders whose checked_at <= due.
    const lastChecked = (ago: number) => T0 - ago;
    expect(lastChecked(cfg.pollBudgetMs) <= due).toBe(true); // just inside: due
    expect(lastChecked(cfg.pollBudgetMs - 1) <= due).toBe(false); // just outside: not yet
  });

  it("with nobody waiting the dispatcher sleeps; while jobs wait it wakes at least every poll budget", () => {
    expect(lineAlarmAt(0, T0 + 5, T0, cfg)).toBeNull();
    expect(lineAlarmAt(1, null, T0, cfg)).toBe(T0 + cfg.pollBudgetMs);
    expect(lineAlarmAt(3, T0 + cfg.pollBudgetMs + 1, T0, cfg)).toBe(T0 + cfg.pollBudgetMs);
  });

  it("a slot cooling down wakes it when the cool-down ends, if that comes first", () => {
    expect(lineAlarmAt(1, T0 + cfg.pollBudgetMs - 1, T0, cfg)).toBe(T0 + cfg.pollBudgetMs - 1);
    expect(lineAlarmAt(1, T0 + cfg.pollBudgetMs, T0, cfg)).toBe(T0 + cfg.pollBudgetMs);
  });
});

describe("moving the dispatcher's alarm", () => {
  it("arms a missing alarm, moves a later or past one, keeps an earlier pending one", () => {
    expect(moveAlarm(null, T0 + 10, T0)).toBe(true);
    expect(moveAlarm(T0 + 11, T0 + 10, T0)).toBe(true);
    expect(moveAlarm(T0 + 10, T0 + 10, T0)).toBe(false);
    expect(moveAlarm(T0 + 9, T0 + 10, T0)).toBe(false);
    expect(moveAlarm(T0, T0 + 10, T0)).toBe(false);
    expect(moveAlarm(T0 - 1, T0 + 10, T0)).toBe(true);
  });
});

describe("a waiting job's cached place in line", () => {
  it("one second per job ahead, between 2 s and 60 s", () => {
    expect(PLACE_CACHE_MIN_MS).toBe(2_000);
    expect(PLACE_CACHE_MAX_MS).toBe(60_000);
    expect(placeFreshUntil(0, T0)).toBe(T0 + 2_000);
    expect(placeFreshUntil(2, T0)).toBe(T0 + 2_000);
    expect(placeFreshUntil(3, T0)).toBe(T0 + 3_000);
    expect(placeFreshUntil(60, T0)).toBe(T0 + 60_000);
    expect(placeFreshUntil(61, T0)).toBe(T0 + 60_000);
    expect(placeFreshUntil(100_000, T0)).toBe(T0 + 60_000);
  });
});
