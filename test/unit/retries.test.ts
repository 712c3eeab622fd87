import { describe, expect, it } from "vitest";
import { retryDelaySeconds, worstCaseRetrySchedule } from "../../src/core/retries.ts";

const cfg = { retryMinDelaySeconds: 2, retryMaxDelaySeconds: 60 };

describe("retry backoff", () => {
  it("doubles from the floor up to the ceiling (no jitter at random = 1)", () => {
    expect(worstCaseRetrySchedule(8, cfg)).toEqual([2, 4, 8, 16, 32, 60, 60, 60]);
  });
  it("jitter keeps each delay in the upper half, never under the floor", () => {
    expect(retryDelaySeconds(3, cfg, () => 0)).toBe(4);
    expect(retryDelaySeconds(1, cfg, () => 0)).toBe(2);
    expect(retryDelaySeconds(30, cfg, () => 0)).toBe(30);
  });
  it("a zero floor still backs off, and the ceiling binds", () => {
    expect(worstCaseRetrySchedule(3, { retryMinDelaySeconds: 0, retryMaxDelaySeconds: 1 })).toEqual(
      [1, 1, 1],
    );
  });
});
