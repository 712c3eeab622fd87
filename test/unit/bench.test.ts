import { describe, expect, it } from "vitest";
import {
  dispatcherCalls,
  gapFigures,
  nearestRank,
  perMinute,
  table,
  utilization,
  waitingGaps,
  workWaiting,
  type BacklogJob,
} from "../../tools/dev/bench-figures.ts";
import type { TimelineEntry } from "../../tools/dev/dispatch-gaps.ts";

const entry = (
  id: string,
  acceptedAt: number,
  startedAt: number | null,
  finishedAt: number | null,
): TimelineEntry => ({
  id,
  acceptedAt,
  startedAt,
  finishedAt,
  outcome: finishedAt === null ? null : "succeeded",
});

describe("workWaiting", () => {
  const job = (
    postedAt: number,
    acceptedAt: number | null,
    endedAt: number | null,
  ): BacklogJob => ({
    postedAt,
    acceptedAt,
    endedAt,
  });
  it("counts a job from its POST until a prover accepts it", () => {
    const jobs = [job(100, 500, 900)];
    expect(workWaiting(jobs, 99)).toBe(false);
    expect(workWaiting(jobs, 100)).toBe(true);
    expect(workWaiting(jobs, 499)).toBe(true);
    expect(workWaiting(jobs, 500)).toBe(false);
  });
  it("counts a job never accepted until it ends", () => {
    const jobs = [job(100, null, 700)];
    expect(workWaiting(jobs, 699)).toBe(true);
    expect(workWaiting(jobs, 700)).toBe(false);
    expect(workWaiting([job(100, null, null)], 10_000)).toBe(true);
  });
});

describe("waitingGaps", () => {
  it("pools each prover's own gaps that opened while a job waited", () => {
    const a = [entry("a1", 0, 10, 1000), entry("a2", 1300, 1310, 2300)];
    const b = [entry("b1", 5, 15, 1005), entry("b2", 1100, 1110, 2100)];
    // Every job posted at 0; a2 accepted at 1300, b2 at 1100.
    const jobs: BacklogJob[] = [
      { postedAt: 0, acceptedAt: 0, endedAt: 1000 },
      { postedAt: 0, acceptedAt: 5, endedAt: 1005 },
      { postedAt: 0, acceptedAt: 1300, endedAt: 2300 },
      { postedAt: 0, acceptedAt: 1100, endedAt: 2100 },
    ];
    expect(waitingGaps([a, b], jobs)).toEqual([300, 95]);
  });
  it("leaves out a gap that opened with nothing waiting", () => {
    const a = [entry("a1", 0, 10, 1000), entry("a2", 5000, 5010, 6000)];
    const jobs: BacklogJob[] = [
      { postedAt: 0, acceptedAt: 0, endedAt: 1000 },
      { postedAt: 1001, acceptedAt: 5000, endedAt: 6000 }, // posted just after the GPU went idle
    ];
    expect(waitingGaps([a], jobs)).toEqual([]);
    jobs[1]!.postedAt = 1000;
    expect(waitingGaps([a], jobs)).toEqual([4000]);
  });
});

describe("gap figures", () => {
  it("takes the nearest rank: always one of the values", () => {
    const twenty = Array.from({ length: 20 }, (_, i) => 20 - i); // 1..20, unsorted
    expect(nearestRank(twenty, 0.95)).toBe(19);
    expect(nearestRank([...twenty, 21], 0.95)).toBe(20);
    expect(nearestRank([], 0.95)).toBeNull();
    expect(gapFigures(twenty)).toEqual({ count: 20, median: 10, p95: 19, max: 20 });
    expect(gapFigures([])).toEqual({ count: 0, median: null, p95: null, max: null });
  });
});

describe("utilization", () => {
  it("counts proving time only (started → finished), clipped to the window", () => {
    const t = [
      entry("1", 0, 100, 1100), // 100 before the window, 900 inside
      entry("2", 1100, 1200, 2200),
      entry("3", 2200, null, null), // accepted, never started: no GPU time
    ];
    expect(utilization(t, 200, 2200)).toBe((900 + 1000) / 2000);
    expect(utilization([entry("r", 0, 1000, null)], 0, 2000)).toBe(0.5); // still running at `to`
    expect(utilization(t, 5, 5)).toBeNull();
  });
});

describe("perMinute", () => {
  it("scales to a minute", () => {
    expect(perMinute(12, 30_000)).toBe(24);
    expect(perMinute(1, 0)).toBeNull();
  });
});

describe("dispatcherCalls", () => {
  const health = (calls: unknown) => ({ success: true, line: { waiting: 0, slots: [], calls } });
  it("takes the difference of two readings and leaves out the bench's own reads", () => {
    const calls = dispatcherCalls(
      health({ summary: 1, total: 1 }),
      health({ summary: 2, position: 30, admit: 12, release: 12, accepted: 12, total: 68 }),
    );
    expect(calls).toEqual({
      byMethod: { summary: 1, position: 30, admit: 12, release: 12, accepted: 12 },
      total: 67,
      work: 36,
    });
  });
  it("is null when the gateway does not count calls", () => {
    expect(dispatcherCalls(health(undefined), health(undefined))).toBeNull();
    expect(dispatcherCalls({ line: null }, health({ total: 3 }))).toBeNull();
    expect(dispatcherCalls(health({ total: 1 }), health({ summary: 2 }))).toBeNull();
    expect(dispatcherCalls(null, undefined)).toBeNull();
  });
});

describe("table", () => {
  it("pads every column but the last to its widest cell", () => {
    expect(
      table([
        ["a", "bb", "c"],
        ["ccc", "d", "eeee"],
      ]),
    ).toEqual(["a    bb  c", "ccc  d   eeee"]);
  });
});
