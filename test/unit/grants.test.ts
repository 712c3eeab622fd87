import { describe, expect, it } from "vitest";
import {
  newProver,
  proverState,
  type HealthReading,
  type ProverRecord,
} from "../../src/core/fleet.ts";
import { onAccepted, onHealth, onTransportFailure } from "../../src/core/prover-health.ts";
import { grant } from "../../src/core/prover-work.ts";
import {
  earlyProbeAt,
  earlyProbeDue,
  endingHoldOver,
  fallbackAt,
  fallbackWakeAt,
  holderCheckDue,
  lineWakeAt,
  medianProofMs,
  nextGrant,
  onHolderChecked,
  onProofEnding,
  onRelease,
  pickFor,
  secondOpinionPossible,
  type Waiting,
} from "../../src/core/grants.ts";
import { onContradicted } from "../../src/core/quarantine.ts";
import { CONFIGS, T0, URL_A, URL_B } from "../support/configs.ts";

const URL_C = "https://prover-c.example";
const GOOD: HealthReading = {
  reachable: true,
  compatible: true,
  problems: [],
  accelerator: "cuda",
  imageId: "ab".repeat(32),
  devMode: false,
};
const waiting = (patch: Partial<Waiting> = {}): Waiting => ({
  jobId: "j1",
  avoid: null,
  exclude: [],
  backAt: 0,
  ...patch,
});

describe.each(CONFIGS)("who gets a prover (%s)", (_name, cfg) => {
  const ready = (url: string, lastGrantedAt: number | null = null): ProverRecord => ({
    ...onHealth(newProver(url, "config"), GOOD, T0, cfg),
    lastGrantedAt,
  });
  const quarantined = (url: string) =>
    onContradicted(ready(url), { jobId: "x", reason: "r", atOnce: true }, T0, cfg).prover;

  it("a job with no verdicts: the prover idle longest, preferably not the one it avoids", () => {
    const provers = [ready(URL_A, T0 - 1), ready(URL_B, T0 - 5)];
    expect(pickFor(waiting(), provers, T0, cfg)).toMatchObject({
      prover: { url: URL_B },
      fallback: false,
    });
    expect(pickFor(waiting({ avoid: URL_B }), provers, T0, cfg)?.prover.url).toBe(URL_A);
    // Avoiding is a preference: the only free prover is still taken.
    expect(pickFor(waiting({ avoid: URL_A }), [ready(URL_A)], T0, cfg)?.prover.url).toBe(URL_A);
  });

  it("a job with verdicts goes only to a prover that gave none, even one idle for less time", () => {
    const provers = [ready(URL_A, T0 - 9), ready(URL_B, T0 - 1)];
    expect(pickFor(waiting({ exclude: [URL_A] }), provers, T0, cfg)).toMatchObject({
      prover: { url: URL_B },
      fallback: false,
    });
  });

  it.each([
    ["proving", (p: ProverRecord) => grant(p, "other", T0)],
    ["busy", (p: ProverRecord) => ({ ...p, cooldownUntil: T0 + 1 })],
    ["unchecked", (p: ProverRecord) => ({ ...p, healthAt: T0 - cfg.healthIntervalMs - 1 })],
  ])(
    "it waits for another prover that can be had (%s), never falling back, however long",
    (state, make) => {
      const b = make(ready(URL_B));
      expect(proverState(b, T0, cfg).state).toBe(state);
      const w = waiting({ exclude: [URL_A], backAt: T0 - 10 * cfg.circuitCooldownMs });
      expect(secondOpinionPossible(w, [ready(URL_A), b], T0, cfg)).toBe(true);
      expect(pickFor(w, [ready(URL_A), b], T0, cfg)).toBeNull();
    },
  );

  it.each([
    ["quarantined", (p: ProverRecord) => quarantined(p.url)],
    ["draining", (p: ProverRecord) => ({ ...p, draining: true })],
    ["incompatible", (p: ProverRecord) => onHealth(p, { ...GOOD, compatible: false }, T0, cfg)],
    ["open", (p: ProverRecord) => ({ ...p, circuitUntil: T0 + 1e9, failures: 9 })],
    [
      "unreachable",
      (p: ProverRecord) => ({
        ...p,
        health: { ...GOOD, reachable: false },
        failures: 0,
        circuitUntil: 0,
      }),
    ],
  ])(
    "no other prover can be had (the other is %s): the same prover once PROVER_CIRCUIT_COOLDOWN_MS has passed, not 1 ms before",
    (state, make) => {
      const b = make(ready(URL_B));
      expect(proverState(b, T0, cfg).state).toBe(state);
      const w = waiting({ exclude: [URL_A], backAt: T0 });
      expect(secondOpinionPossible(w, [ready(URL_A), b], T0, cfg)).toBe(false);
      expect(fallbackAt(w, cfg)).toBe(T0 + cfg.circuitCooldownMs);
      const at = T0 + cfg.circuitCooldownMs;
      const provers = [onHealth(ready(URL_A), GOOD, at, cfg), b];
      expect(pickFor(w, provers, at - 1, cfg)).toBeNull();
      expect(pickFor(w, provers, at, cfg)).toMatchObject({
        prover: { url: URL_A },
        fallback: true,
      });
    },
  );

  it("a one-prover fleet is the same case: no other prover exists", () => {
    const w = waiting({ exclude: [URL_A], backAt: T0 });
    const at = T0 + cfg.circuitCooldownMs;
    const a = onHealth(ready(URL_A), GOOD, at, cfg);
    expect(pickFor(w, [a], at - 1, cfg)).toBeNull();
    expect(pickFor(w, [a], at, cfg)?.fallback).toBe(true);
  });

  it("the next grant is the first job in line a free prover may take: one waiting for a second opinion lets the next have the prover it may not take", () => {
    const line = [
      waiting({ jobId: "refused-by-a", exclude: [URL_A], backAt: T0 }),
      waiting({ jobId: "next" }),
    ];
    const provers = [ready(URL_A), grant(ready(URL_B), "other", T0)];
    expect(nextGrant(line, provers, T0, cfg)).toEqual({
      jobId: "next",
      url: URL_A,
      fallback: false,
    });
    // Once b is free, the refused job gets it first.
    const freed = [ready(URL_A), ready(URL_B)];
    expect(nextGrant(line, freed, T0, cfg)).toEqual({
      jobId: "refused-by-a",
      url: URL_B,
      fallback: false,
    });
    expect(nextGrant(line, [grant(ready(URL_A), "x", T0)], T0, cfg)).toBeNull();
  });

  it("never a quarantined prover, whatever its /health says", () => {
    const q = onHealth(quarantined(URL_A), GOOD, T0, cfg);
    expect(proverState(q, T0, cfg).state).toBe("quarantined");
    expect(nextGrant([waiting()], [q], T0, cfg)).toBeNull();
    // Not even as a fallback.
    expect(nextGrant([waiting({ exclude: [URL_A] })], [q], T0 + 1e9, cfg)).toBeNull();
  });

  it("wakes the line when a job's fallback comes due (the earliest, only those after now)", () => {
    const line = [
      waiting({ jobId: "a", exclude: [URL_A], backAt: T0 }),
      waiting({ jobId: "b", exclude: [URL_B], backAt: T0 - 5 }),
      waiting({ jobId: "c" }),
    ];
    expect(fallbackWakeAt(line, cfg, T0)).toBe(T0 - 5 + cfg.circuitCooldownMs);
    expect(fallbackWakeAt(line, cfg, T0 + cfg.circuitCooldownMs)).toBeNull();
    expect(fallbackWakeAt([waiting()], cfg, T0)).toBeNull();
  });
});

describe.each(CONFIGS)("holding a prover (%s)", (_name, cfg) => {
  const ready = (url = URL_A) => onHealth(newProver(url, "config"), GOOD, T0, cfg);
  const held = () => onAccepted(grant(ready(), "j1", T0), T0 + 60_000);

  it("the holder check is due one poll budget after the last, not 1 ms before; its answer keeps or frees", () => {
    const p = held();
    expect(holderCheckDue(p, T0 + cfg.pollBudgetMs - 1, cfg)).toBe(false);
    expect(holderCheckDue(p, T0 + cfg.pollBudgetMs, cfg)).toBe(true);
    expect(onHolderChecked(p, "j1", true, T0 + 5)).toMatchObject({
      holder: "j1",
      checkedAt: T0 + 5,
    });
    expect(onHolderChecked(p, "j1", false, T0 + 5)).toMatchObject({ holder: null });
    // The holder changed while the check was asked: left alone.
    expect(onHolderChecked(p, "j0", false, T0 + 5)).toBe(p);
  });

  it("a job that ended while its proof runs keeps the prover held (state proving) for that proof; one whose proof is over frees it", () => {
    const ending = onRelease(held(), "j1", URL_A, T0 + 10);
    expect(ending).toMatchObject({
      holder: null,
      ending: { jobId: "j1", since: T0 + 10, failingSince: null },
      expectedFreeAt: T0 + 60_000,
    });
    expect(proverState(ending, T0 + 10, cfg).state).toBe("proving");
    expect(nextGrant([waiting({ jobId: "next" })], [ending], T0 + 10, cfg)).toBeNull();
    expect(onRelease(held(), "j1", null, T0 + 10)).toMatchObject({ holder: null, ending: null });
    // Another job's release changes nothing.
    expect(onRelease(held(), "j2", URL_A, T0 + 10)).toMatchObject({ holder: "j1" });
  });

  it("the prover says the proof ended (DELETE 200/404): freed at once; job_active (409): held", () => {
    const ending = onRelease(held(), "j1", URL_A, T0);
    expect(onProofEnding(ending, "j1", "ended", T0 + 1, cfg)).toMatchObject({ ending: null });
    expect(onProofEnding(ending, "j1", "alive", T0 + 1e6, cfg).ending).not.toBeNull();
    // Another job's report is not this hold's.
    expect(onProofEnding(ending, "j2", "ended", T0 + 1, cfg)).toBe(ending);
  });

  it("answers that fail for PROVER_STALL_WINDOW_MS keep it held, 1 ms longer and the prover counts as gone; an answer in between starts the count again", () => {
    let p = onRelease(held(), "j1", URL_A, T0);
    p = onProofEnding(p, "j1", "unreachable", T0 + 100, cfg);
    expect(p.ending?.failingSince).toBe(T0 + 100);
    const inside = onProofEnding(p, "j1", "unreachable", T0 + 100 + cfg.stallWindowMs, cfg);
    expect(inside.ending).not.toBeNull();
    const outside = onProofEnding(p, "j1", "unreachable", T0 + 101 + cfg.stallWindowMs, cfg);
    expect(outside).toMatchObject({ ending: null, holder: null });
    const alive = onProofEnding(p, "j1", "alive", T0 + 200, cfg);
    expect(alive.ending?.failingSince).toBeNull();
    expect(
      onProofEnding(alive, "j1", "unreachable", T0 + 101 + cfg.stallWindowMs, cfg).ending,
    ).not.toBeNull();
  });

  it("whatever was reported, the hold ends at PROVER_POLL_TIMEOUT_MS (the clean-up's limit), not 1 ms before", () => {
    const p = onRelease(held(), "j1", URL_A, T0);
    expect(endingHoldOver(p, T0 + cfg.pollTimeoutMs, cfg)).toBe(false);
    expect(endingHoldOver(p, T0 + cfg.pollTimeoutMs + 1, cfg)).toBe(true);
    expect(endingHoldOver(held(), T0 + 1e12, cfg)).toBe(false);
  });
});

describe.each(CONFIGS)("an open circuit and the only prover that answers (%s)", (_name, cfg) => {
  // Between the first cool-down and the longest (×16): the cap bites only after a few reopenings.
  const MEDIAN = 2 * cfg.circuitCooldownMs;
  /** A prover that proved once in MEDIAN ms, whose circuit opened at T0 for `reopenings` + 1. */
  const opened = (url = URL_A, reopenings = 4): ProverRecord => {
    let p: ProverRecord = {
      ...onHealth(newProver(url, "config"), GOOD, T0 - 1, cfg),
      speed: [{ frames: 1000, elapsedMs: MEDIAN, at: T0 - 1 }],
      circuitOpens: reopenings,
    };
    for (let i = 0; i < cfg.circuitFailures; i++) p = onTransportFailure(p, "reset", T0, cfg);
    return p;
  };

  it("the cool-down doubles up to ×16; the early probe comes at the median proof time after opening", () => {
    const p = opened();
    expect(p.circuitUntil).toBe(T0 + 16 * cfg.circuitCooldownMs);
    expect(p.circuitOpenedAt).toBe(T0);
    expect(medianProofMs(p, [p])).toBe(MEDIAN);
    expect(earlyProbeAt(p, [p], 1, T0, cfg)).toBe(T0 + MEDIAN);
  });

  it("the only prover that answers its /health is probed at its median proof time while jobs wait, not 1 ms before", () => {
    const p = opened();
    expect(earlyProbeDue(p, [p], 1, T0 + MEDIAN - 1, cfg)).toBe(false);
    expect(earlyProbeDue(p, [p], 1, T0 + MEDIAN, cfg)).toBe(true);
    // Once probed (a reading at or after that time), not again: the probe's answer decides.
    const probed = onHealth(p, GOOD, T0 + MEDIAN, cfg);
    expect(proverState(probed, T0 + MEDIAN, cfg).state).toBe("available");
    const failed = onHealth(p, { ...GOOD, reachable: false }, T0 + MEDIAN, cfg);
    expect(proverState(failed, T0 + MEDIAN, cfg).state).toBe("open");
    expect(earlyProbeDue(failed, [failed], 1, T0 + MEDIAN + 1, cfg)).toBe(false);
  });

  it("not while no job waits, nor while another prover that can work answers its /health", () => {
    const p = opened();
    expect(earlyProbeDue(p, [p], 0, T0 + MEDIAN, cfg)).toBe(false);
    const b = onHealth(newProver(URL_B, "config"), GOOD, T0, cfg);
    expect(earlyProbeDue(p, [p, b], 1, T0 + MEDIAN, cfg)).toBe(false);
    // Another prover that answers but cannot work (drained, incompatible) does not count.
    expect(earlyProbeDue(p, [p, { ...b, draining: true }], 1, T0 + MEDIAN, cfg)).toBe(true);
    const bad = onHealth(newProver(URL_C, "config"), { ...GOOD, compatible: false }, T0, cfg);
    expect(earlyProbeDue(p, [p, bad], 1, T0 + MEDIAN, cfg)).toBe(true);
  });

  it("a cool-down no longer than the median proof time keeps its own end", () => {
    expect(earlyProbeAt(opened(URL_A, 0), [opened(URL_A, 0)], 1, T0, cfg)).toBeNull();
    // ×2 ends exactly at the median proof time: nothing to bring forward.
    expect(earlyProbeAt(opened(URL_A, 1), [opened(URL_A, 1)], 1, T0, cfg)).toBeNull();
    expect(earlyProbeAt(opened(URL_A, 2), [opened(URL_A, 2)], 1, T0, cfg)).toBe(T0 + MEDIAN);
  });

  it("no proof timed yet: the fleet's median, else a typical proof", () => {
    const p = { ...opened(), speed: [] };
    const other = { ...newProver(URL_B, "config"), speed: [{ frames: 1, elapsedMs: 3, at: 0 }] };
    expect(medianProofMs(p, [p, other])).toBe(3);
    expect(medianProofMs(p, [p])).toBeGreaterThan(0);
  });
});

describe.each(CONFIGS)("when the line wakes (%s)", (_name, cfg) => {
  const healthy = (url: string) => onHealth(newProver(url, "config"), GOOD, T0, cfg);
  const cooling = (url: string) => ({ ...healthy(url), cooldownUntil: T0 + cfg.pollIntervalMs });
  const back = (backAt: number) => waiting({ exclude: [URL_A], backAt });

  it("never while nobody waits, whatever the provers", () => {
    expect(lineWakeAt([cooling(URL_A)], [back(T0)], 0, T0, cfg)).toBeNull();
  });

  it("every poll budget while jobs wait and nothing ends sooner", () => {
    expect(lineWakeAt([healthy(URL_A)], [], 1, T0, cfg)).toBe(T0 + cfg.pollBudgetMs);
  });

  it("when a free prover's cool-down ends; a held prover's does not count", () => {
    expect(lineWakeAt([cooling(URL_A)], [], 1, T0, cfg)).toBe(T0 + cfg.pollIntervalMs);
    const held = { ...grant(cooling(URL_A), "j9", T0), cooldownUntil: T0 + cfg.pollIntervalMs };
    expect(lineWakeAt([held], [], 1, T0, cfg)).toBe(T0 + cfg.pollBudgetMs);
  });

  it("when a job waiting for its fallback may have it; a fallback already due does not", () => {
    expect(lineWakeAt([], [back(T0)], 1, T0, cfg)).toBe(T0 + cfg.circuitCooldownMs);
    const due = back(T0 - cfg.circuitCooldownMs);
    expect(lineWakeAt([], [due], 1, T0, cfg)).toBe(T0 + cfg.pollBudgetMs);
  });
});
