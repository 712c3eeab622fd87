import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.ts";
import { cancel, newJob, onSubmit } from "../../src/lifecycle.ts";
import { addCleanup, dueCleanups, nextCleanupAt, onCleanup } from "../../src/prover-cleanup.ts";

const cfg = parseConfig({ PROVER_BASE_URL: "https://prover.example" });
const T0 = 1_700_000_000_000;
const tape = { sizeBytes: 40, seed: 1, frameCount: 12, finalScore: 90, finalRngState: 7, checksum: 99, sha256: "a".repeat(64) };
const cancelled = () =>
  cancel(onSubmit(newJob("a".repeat(64), tape, T0, cfg), { kind: "accepted", proverJobId: "p1" }, "https://prover.example", T0, 1, cfg).job, T0, cfg);
const FIRST = cfg.pollIntervalMs;

describe("deleting abandoned prover jobs", () => {
  it("is due at once, and never listed twice", () => {
    const j = cancelled();
    expect(dueCleanups(j, T0)).toHaveLength(1);
    expect(nextCleanupAt(j)).toBe(T0);
    expect(addCleanup(j, { url: "https://prover.example", proverJobId: "p1", reason: "again" }, T0, cfg)).toBe(j);
  });
  it.each([["deleted"], ["gone"]] as const)("%s: done", (outcome) => {
    const j = cancelled();
    const after = onCleanup(j, j.cleanup[0]!, outcome, T0 + 1, FIRST);
    expect(after.cleanup).toEqual([]);
    expect(nextCleanupAt(after)).toBe(Infinity);
  });
  it.each([["active"], ["error"]] as const)("%s: tried again later, doubling from the first delay", (outcome) => {
    let j = cancelled();
    const waits: number[] = [];
    let now = T0;
    for (let i = 0; i < 4; i++) {
      j = onCleanup(j, j.cleanup[0]!, outcome, now, FIRST);
      waits.push(j.cleanup[0]!.nextAt - now);
      now = j.cleanup[0]!.nextAt;
    }
    expect(waits).toEqual([FIRST, FIRST * 2, FIRST * 4, FIRST * 8]);
    expect(dueCleanups(j, now - 1)).toEqual([]);
    expect(dueCleanups(j, now)).toHaveLength(1);
  });
  it("gives up once the next try would come after `until` (the prover's own limit has ended the proof by then)", () => {
    const j = cancelled();
    const entry = j.cleanup[0]!;
    expect(entry.until).toBe(T0 + cfg.pollTimeoutMs);
    // Just inside: the next try lands exactly on `until`.
    const inside = onCleanup(j, entry, "active", entry.until - FIRST, FIRST);
    expect(inside.cleanup).toHaveLength(1);
    // Just outside: it would land 1 ms after.
    const outside = onCleanup(j, entry, "active", entry.until - FIRST + 1, FIRST);
    expect(outside.cleanup).toEqual([]);
  });
});
