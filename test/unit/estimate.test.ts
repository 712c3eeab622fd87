import { describe, expect, it } from "vitest";
import {
  DEFAULT_TYPICAL_FRAMES,
  DEFAULT_TYPICAL_PROOF_MS,
  estimateFor,
  outlookOf,
  startAfter,
  type Outlook,
} from "../../src/core/estimate.ts";
import { newProver, type HealthReading } from "../../src/core/fleet.ts";
import { newJob } from "../../src/core/lifecycle.ts";
import { cancel } from "../../src/core/ending.ts";
import { onSubmit } from "../../src/core/prover-answers.ts";
import { onHealth } from "../../src/core/prover-health.ts";
import { grant, onProofTimed } from "../../src/core/prover-work.ts";
import { DEFAULT_MS_PER_1000_FRAMES, expectedFromSpeed } from "../../src/core/speed.ts";
import { CONFIGS, T0, URL_A, URL_B } from "../support/configs.ts";
import { SAMPLE_TAPE } from "../support/sample-job.ts";

const tape = { ...SAMPLE_TAPE, sha256: "e".repeat(64) };
const own = (perK: number) => expectedFromSpeed(perK, tape.frameCount)!;
const outlook = (o: Partial<Outlook> = {}): Outlook => ({
  ahead: 0,
  waiting: 0,
  freeAt: [T0],
  typicalProofMs: 60_000,
  msPer1000Frames: 5_000,
  basis: "measured",
  ...o,
});

describe("when the k-th job ahead starts (provers take the line in turn)", () => {
  const T = 60_000;
  it("with fewer jobs ahead than provers: the k-th free prover", () => {
    const free = [T0 + 30_000, T0, T0 + 10_000];
    expect(startAfter(0, free, T, T0)).toBe(T0);
    expect(startAfter(1, free, T, T0)).toBe(T0 + 10_000);
    expect(startAfter(2, free, T, T0)).toBe(T0 + 30_000);
  });
  it("one more than the provers: a whole proof after the first free one", () => {
    const free = [T0, T0 + 10_000];
    expect(startAfter(2, free, T, T0)).toBe(T0 + T);
    expect(startAfter(3, free, T, T0)).toBe(T0 + 10_000 + T);
    expect(startAfter(4, free, T, T0)).toBe(T0 + 2 * T);
  });
  it("a prover free in the past is free now; none at all: unknown", () => {
    expect(startAfter(0, [T0 - 5_000], T, T0)).toBe(T0);
    expect(startAfter(0, [], T, T0)).toBeNull();
  });
  it("the documented default before anything was timed: 64 s per job ahead", () => {
    expect(DEFAULT_TYPICAL_FRAMES).toBe(10_000);
    expect(DEFAULT_TYPICAL_PROOF_MS).toBe((DEFAULT_MS_PER_1000_FRAMES * 10_000) / 1000);
    expect(DEFAULT_TYPICAL_PROOF_MS).toBe(64_000);
  });
});

describe.each(CONFIGS)("a job's ETA (%s)", (_name, cfg) => {
  const queued = () => newJob(tape.sha256, tape, T0, cfg);
  it("waiting: starts when its turn comes, ends its own proof later", () => {
    const e = estimateFor(queued(), outlook({ ahead: 3, freeAt: [T0, T0 + 1_000] }), T0);
    // Jobs 0..2 ahead take the two provers in turn; it is the 4th: prover 2's second slot.
    expect(e).toEqual({
      startAt: T0 + 1_000 + 60_000,
      finishAt: T0 + 1_000 + 60_000 + own(5_000),
      basis: "measured",
    });
  });
  it("not in line yet (its message is on the way): everyone waiting is ahead of it", () => {
    const e = estimateFor(queued(), outlook({ ahead: null, waiting: 2 }), T0)!;
    expect(e.startAt).toBe(T0 + 2 * 60_000);
  });
  it("nothing known of the line: a default ETA of its own proof from now", () => {
    expect(estimateFor(queued(), null, T0)).toEqual({
      startAt: null,
      finishAt: T0 + own(DEFAULT_MS_PER_1000_FRAMES),
      basis: "default",
    });
    const noProver = estimateFor(queued(), outlook({ freeAt: [] }), T0)!;
    expect(noProver.startAt).toBeNull();
  });
  it("proving: when its prover's speed says it ends, never in the past", () => {
    const accepted = { kind: "accepted", proverJobId: "p" } as const;
    const proving = onSubmit(queued(), accepted, URL_A, T0 + 10, cfg, 40_000).job;
    expect(estimateFor(proving, null, T0 + 20)).toEqual({
      startAt: null,
      finishAt: T0 + 10 + 40_000,
      basis: "measured", // an expected end comes only from a measured speed
    });
    // Nothing measured: its own proof at the default speed from its acceptance.
    const guessed = onSubmit(queued(), accepted, URL_A, T0 + 10, cfg).job;
    expect(estimateFor(guessed, null, T0 + 20)).toEqual({
      startAt: null,
      finishAt: T0 + 10 + own(DEFAULT_MS_PER_1000_FRAMES),
      basis: "default",
    });
    // Just inside and just past the expected end.
    expect(estimateFor(proving, null, T0 + 10 + 40_000)!.finishAt).toBe(T0 + 10 + 40_000);
    expect(estimateFor(proving, null, T0 + 10 + 40_001)!.finishAt).toBe(T0 + 10 + 40_001);
  });
  it("ended: no ETA", () => {
    expect(estimateFor(cancel(queued(), T0 + 1, cfg), outlook(), T0 + 2)).toBeNull();
  });
});

describe.each(CONFIGS)("what the line looks like from a waiting job (%s)", (_name, cfg) => {
  const GOOD: HealthReading = {
    reachable: true,
    compatible: true,
    problems: [],
    accelerator: "cuda",
    imageId: "ab".repeat(32),
    devMode: false,
  };
  const healthy = (url: string) => onHealth(newProver(url, "config"), GOOD, T0, cfg);
  const line = { ahead: 2, inLine: 3, live: 3 };

  it("before anything was timed: the default proof time and speed, a free prover free now", () => {
    expect(outlookOf("j1", line, [healthy(URL_A)], T0, cfg)).toEqual({
      ahead: 2,
      waiting: 3,
      freeAt: [T0],
      typicalProofMs: DEFAULT_TYPICAL_PROOF_MS,
      msPer1000Frames: DEFAULT_MS_PER_1000_FRAMES,
      basis: "default",
    });
  });

  it("from measured proofs: their median time, and a proving prover free when its proof should end", () => {
    const timed = onProofTimed(healthy(URL_A), 2_000, 20_000, T0);
    const proving = { ...grant(timed, "other", T0), expectedFreeAt: T0 + 5_000 };
    const out = outlookOf("j1", line, [proving], T0, cfg);
    expect(out).toMatchObject({ freeAt: [T0 + 5_000], typicalProofMs: 20_000, basis: "measured" });
    expect(out.msPer1000Frames).toBe(10_000);
  });

  it("a prover that cannot work (unreachable) has no place in the ETA", () => {
    const down = onHealth(newProver(URL_B, "config"), { ...GOOD, reachable: false }, T0, cfg);
    expect(outlookOf("j1", line, [healthy(URL_A), down], T0, cfg).freeAt).toEqual([T0]);
  });

  it("a job not in line yet waits behind every live job not on a prover (itself left out)", () => {
    const notYet = { ahead: null, inLine: 1, live: 4 };
    const holdingOther = grant(healthy(URL_A), "other", T0);
    expect(outlookOf("j1", notYet, [holdingOther], T0, cfg).waiting).toBe(3);
    const holdingItself = grant(healthy(URL_A), "j1", T0);
    expect(outlookOf("j1", notYet, [holdingItself], T0, cfg).waiting).toBe(4);
    expect(outlookOf("j1", { ...notYet, live: 0 }, [holdingOther], T0, cfg).waiting).toBe(1);
  });
});
