import { describe, expect, it } from "vitest";
import {
  addSample,
  DEFAULT_MS_PER_1000_FRAMES,
  speedFor,
  expectedFromSpeed,
  MARGIN_WARN_FRACTION,
  MIN_SPEED_FRAMES,
  msPerKFrames,
  pollWaitMs,
  rank,
  SPEED_SAMPLES,
  speedOf,
  timeoutMargins,
  type ProofSample,
} from "../../src/core/speed.ts";
import { CONFIGS, T0 } from "../support/configs.ts";

const sample = (frames: number, elapsedMs: number, at = T0): ProofSample => ({
  frames,
  elapsedMs,
  at,
});

describe("a prover's speed", () => {
  it("is time per 1,000 frames; tiny tapes count as MIN_SPEED_FRAMES", () => {
    expect(msPerKFrames(sample(2000, 10_000))).toBe(5000);
    expect(msPerKFrames(sample(MIN_SPEED_FRAMES, 1000))).toBe(10_000);
    expect(msPerKFrames(sample(MIN_SPEED_FRAMES - 1, 1000))).toBe(10_000);
    expect(msPerKFrames(sample(0, 1000))).toBe(10_000);
  });

  it("keeps the newest SPEED_SAMPLES proofs and ignores nonsense timings", () => {
    let s: ProofSample[] = [];
    for (let i = 0; i < SPEED_SAMPLES + 3; i++) s = addSample(s, sample(1000, i));
    expect(s).toHaveLength(SPEED_SAMPLES);
    expect(s[0]!.elapsedMs).toBe(3);
    expect(addSample(s, sample(1000, Number.NaN))).toEqual(s);
    expect(addSample(s, sample(1000, -1))).toEqual(s);
  });

  it("nearest rank: every figure is one of the values", () => {
    expect(rank([], 0.5)).toBeNull();
    expect(rank([3, 1, 2], 0.5)).toBe(2);
    expect(rank([1, 2, 3, 4], 0.5)).toBe(2);
    expect(
      rank(
        Array.from({ length: 20 }, (_, i) => i + 1),
        0.95,
      ),
    ).toBe(19);
    expect(
      rank(
        Array.from({ length: 21 }, (_, i) => i + 1),
        0.95,
      ),
    ).toBe(20);
    expect(rank([5, 9], 1)).toBe(9);
  });

  it("the admin view: proofs, median and p95 per 1,000 frames, proof time", () => {
    expect(speedOf([])).toEqual({
      proofs: 0,
      msPer1000Frames: { median: null, p95: null },
      proofMs: { median: null, p95: null, max: null },
    });
    const s = [sample(1000, 4000), sample(2000, 10_000), sample(1000, 6000)];
    expect(speedOf(s)).toEqual({
      proofs: 3,
      msPer1000Frames: { median: 5000, p95: 6000 },
      proofMs: { median: 6000, p95: 10_000, max: 10_000 },
    });
  });

  it("predicts a proof from the median speed and the tape's frames; unknown before any proof", () => {
    expect(expectedFromSpeed(null, 5000)).toBeNull();
    expect(expectedFromSpeed(5000, 13_829)).toBe(69_145);
    expect(expectedFromSpeed(5000, 10)).toBe(500);
    expect(expectedFromSpeed(Number.NaN, 100)).toBeNull();
  });
});

describe.each(CONFIGS)("adaptive polling (%s)", (_name, cfg) => {
  const ceiling = cfg.pollIntervalMs;
  const floor = Math.min(cfg.pollMinIntervalMs, ceiling);

  it("polls at the ceiling while the prover's speed is unknown, or after a failed read", () => {
    expect(pollWaitMs(null, false, T0, cfg)).toBe(ceiling);
    expect(pollWaitMs(T0 + 1, true, T0, cfg)).toBe(ceiling);
    expect(pollWaitMs(T0 - 10 * ceiling, true, T0, cfg)).toBe(ceiling);
  });

  it("early in a proof: the ceiling, until half the time left is shorter than it", () => {
    // Half of what is left, exactly at the ceiling and just past it.
    expect(pollWaitMs(T0 + 2 * ceiling, false, T0, cfg)).toBe(ceiling);
    expect(pollWaitMs(T0 + 2 * ceiling + 2, false, T0, cfg)).toBe(ceiling);
    expect(pollWaitMs(T0 + 2 * ceiling - 2, false, T0, cfg)).toBe(ceiling - 1);
    expect(pollWaitMs(T0 + 100 * ceiling, false, T0, cfg)).toBe(ceiling);
  });

  it("near the expected end: half the time left, never below the floor", () => {
    const left = 2 * floor + 2;
    expect(pollWaitMs(T0 + left, false, T0, cfg)).toBe(floor + 1);
    expect(pollWaitMs(T0 + 2 * floor, false, T0, cfg)).toBe(floor);
    expect(pollWaitMs(T0 + 2 * floor - 2, false, T0, cfg)).toBe(floor);
    expect(pollWaitMs(T0 + 1, false, T0, cfg)).toBe(floor);
    expect(pollWaitMs(T0, false, T0, cfg)).toBe(floor);
  });

  it("overdue: as long as it is overdue (floor, 2×, 4× …), up to the ceiling", () => {
    expect(pollWaitMs(T0 - floor, false, T0, cfg)).toBe(floor);
    expect(pollWaitMs(T0 - floor - 1, false, T0, cfg)).toBe(floor + 1);
    expect(pollWaitMs(T0 - ceiling + 1, false, T0, cfg)).toBe(ceiling - 1);
    expect(pollWaitMs(T0 - ceiling, false, T0, cfg)).toBe(ceiling);
    expect(pollWaitMs(T0 - 10 * ceiling, false, T0, cfg)).toBe(ceiling);
  });

  it("a whole proof that ends as predicted: reads close in on its end and fewer than at a fixed ceiling", () => {
    const proofMs = 30 * ceiling;
    const end = T0 + proofMs;
    let t = T0;
    let reads = 0;
    while (t < end) {
      t += pollWaitMs(end, false, t, cfg);
      reads++;
    }
    // The read that sees the end comes at most one floor after it.
    expect(t - end).toBeLessThanOrEqual(floor);
    // A fixed-interval poller at the ceiling needs 30 reads and is up to a whole ceiling late.
    expect(reads).toBeLessThan(30 + Math.ceil(Math.log2(ceiling / floor)) + 2);
  });
});

describe.each(CONFIGS)("timeout margins (%s)", (_name, cfg) => {
  const limit = cfg.pollTimeoutMs;
  const at = (fraction: number) => Math.floor(limit * fraction);

  it("no proofs: no figures, no warnings", () => {
    expect(timeoutMargins([], cfg)).toEqual({
      proofs: 0,
      proofMs: { p95: null, max: null },
      ofPollTimeout: { p95: null, max: null },
      ofWallTime: { p95: null, max: null },
      warnings: [],
    });
  });

  it("warns only above 80 % of PROVER_POLL_TIMEOUT_MS, naming it", () => {
    expect(MARGIN_WARN_FRACTION).toBe(0.8);
    const inside = timeoutMargins([sample(1000, at(MARGIN_WARN_FRACTION))], cfg);
    expect(inside.warnings).toEqual([]);
    const outside = timeoutMargins([sample(1000, at(MARGIN_WARN_FRACTION) + 1)], cfg);
    expect(outside.warnings).toHaveLength(2); // p95 and max: the one proof is both
    expect(outside.warnings[0]).toMatch(/p95 proof time .* of PROVER_POLL_TIMEOUT_MS/);
    expect(outside.ofPollTimeout.max).toBeCloseTo(MARGIN_WARN_FRACTION, 2);
  });

  it("warns about MAX_JOB_WALL_TIME_MS on its own boundary", () => {
    const big = { ...cfg, pollTimeoutMs: cfg.maxJobWallTimeMs * 10 };
    const edge = Math.floor(cfg.maxJobWallTimeMs * MARGIN_WARN_FRACTION);
    expect(timeoutMargins([sample(1, edge)], big).warnings).toEqual([]);
    const w = timeoutMargins([sample(1, edge + 1)], big).warnings;
    expect(w.every((x) => x.includes("MAX_JOB_WALL_TIME_MS"))).toBe(true);
    expect(w).toHaveLength(2);
  });

  it("p95 and max each count: one slow outlier in twenty warns about the max only", () => {
    const fast = Array.from({ length: 19 }, () => sample(1000, at(0.5)));
    const m = timeoutMargins([...fast, sample(1000, at(0.85))], cfg);
    expect(m.proofMs).toEqual({ p95: at(0.5), max: at(0.85) });
    expect(m.warnings).toHaveLength(1);
    expect(m.warnings[0]).toMatch(/^max proof time/);
  });
});

describe("the speed expected of a prover", () => {
  const s = (perK: number) => sample(1000, perK);
  it("its own median first, then the fleet's, then the documented default", () => {
    expect(speedFor([s(4000), s(5000), s(9000)], [s(1)])).toEqual({
      msPer1000Frames: 5000,
      basis: "prover",
    });
    expect(speedFor([], [s(3000), s(7000)])).toEqual({ msPer1000Frames: 3000, basis: "fleet" });
    expect(speedFor([], [])).toEqual({
      msPer1000Frames: DEFAULT_MS_PER_1000_FRAMES,
      basis: "default",
    });
    expect(DEFAULT_MS_PER_1000_FRAMES).toBe(6400);
  });
});
