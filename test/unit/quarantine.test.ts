import { describe, expect, it } from "vitest";
import type { Config } from "../../src/core/config.ts";
import {
  canTakeWork,
  newProver,
  proverState,
  type HealthReading,
  type ProverRecord,
} from "../../src/core/fleet.ts";
import { onHealth } from "../../src/core/prover-health.ts";
import { grant } from "../../src/core/prover-work.ts";
import {
  CONTRADICTED_JOBS_KEPT,
  onContradicted,
  quarantineView,
  resumeProver,
} from "../../src/core/quarantine.ts";
import { CONFIGS, configWith, T0, URL_A } from "../support/configs.ts";

const GOOD: HealthReading = {
  reachable: true,
  compatible: true,
  problems: [],
  accelerator: "cuda",
  imageId: "ab".repeat(32),
  devMode: false,
};

const LIMITS: [string, Config][] = [
  ...CONFIGS,
  ["PROVER_QUARANTINE_AFTER=1", configWith({ PROVER_QUARANTINE_AFTER: "1" })],
  ["PROVER_QUARANTINE_AFTER=5", configWith({ PROVER_QUARANTINE_AFTER: "5" })],
];

describe("PROVER_QUARANTINE_AFTER", () => {
  it("defaults to 2", () => {
    for (const [, cfg] of CONFIGS) expect(cfg.quarantineAfter).toBe(2);
  });
  it("is refused outside 1..100, naming the var", () => {
    for (const bad of ["0", "101", "1.5", "x"])
      expect(() => configWith({ PROVER_QUARANTINE_AFTER: bad })).toThrow(/PROVER_QUARANTINE_AFTER/);
  });
});

describe.each(LIMITS)("charging contradictions (%s)", (_name, cfg) => {
  const healthy = (): ProverRecord => onHealth(newProver(URL_A, "config"), GOOD, T0, cfg);
  const charge = (p: ProverRecord, n: number, atOnce = false) => {
    let q = p;
    for (let i = 1; i <= n; i++) {
      q = onContradicted(q, { jobId: `job-${i}`, reason: `lie ${i}`, atOnce }, T0 + i, cfg).prover;
    }
    return q;
  };
  const n = cfg.quarantineAfter;

  it("just under the limit: charged, still working", () => {
    const p = charge(healthy(), n - 1);
    expect(p.contradictions ?? 0).toBe(n - 1);
    expect(p.quarantine ?? null).toBeNull();
    expect(canTakeWork(p, T0 + n, cfg)).toBe(true);
    expect(quarantineView(p)).toBeNull();
  });

  it("at the limit: quarantined, no work whatever its /health says, the view names why and the jobs", () => {
    const last = onContradicted(
      charge(healthy(), n - 1),
      { jobId: `job-${n}`, reason: `lie ${n}`, atOnce: false },
      T0 + n,
      cfg,
    );
    expect(last.quarantined).toBe(true);
    expect(last.line).toMatchObject({
      event: "prover_quarantined",
      prover: URL_A,
      contradictions: n,
    });
    const p = onHealth(last.prover, GOOD, T0 + n + 1, cfg);
    expect(proverState(p, T0 + n + 1, cfg).state).toBe("quarantined");
    expect(canTakeWork(p, T0 + n + 1, cfg)).toBe(false);
    expect(quarantineView(p)).toEqual({
      since: T0 + n,
      reason: expect.stringContaining(`lie ${n}`),
      contradictions: n,
      jobs: Array.from({ length: n }, (_, i) => `job-${i + 1}`),
    });
    expect(quarantineView(p)!.reason).toContain("PROVER_QUARANTINE_AFTER");
    expect(p.counts.contradictions).toBe(n);
    // More contradictions count, but the quarantine keeps its start.
    const more = charge(p, 1);
    expect(more.quarantine!.since).toBe(T0 + n);
  });

  it("a receipt that does not verify quarantines at once, with its own reason", () => {
    const r = onContradicted(
      healthy(),
      { jobId: "j", reason: "returned a receipt that does not verify", atOnce: true },
      T0,
      cfg,
    );
    expect(r.quarantined).toBe(true);
    expect(r.prover.quarantine).toEqual({
      since: T0,
      reason: "returned a receipt that does not verify",
    });
  });

  it("a prover quarantined while it proves keeps its job but shows quarantined and gets no other", () => {
    const p = charge(grant(healthy(), "running", T0), n);
    expect(p.holder).toBe("running");
    expect(proverState(p, T0 + n, cfg).state).toBe("quarantined");
  });

  it("resume lifts the quarantine and the drain, and the count starts again (the lifetime count stays)", () => {
    const p = resumeProver({ ...charge(healthy(), n), draining: true });
    expect(p).toMatchObject({ quarantine: null, draining: false, contradictions: 0 });
    expect(p.counts.contradictions).toBe(n);
    expect(canTakeWork(p, T0 + n, cfg)).toBe(true);
    // After a resume it takes the whole limit again.
    expect(charge(p, n - 1).quarantine ?? null).toBeNull();
  });

  it("names at most the newest CONTRADICTED_JOBS_KEPT jobs, each once", () => {
    let p = healthy();
    for (let i = 0; i < CONTRADICTED_JOBS_KEPT + 5; i++)
      p = onContradicted(p, { jobId: `j${i}`, reason: "x", atOnce: false }, T0, cfg).prover;
    p = onContradicted(p, { jobId: "j30", reason: "x", atOnce: false }, T0, cfg).prover;
    const jobs = p.contradictedJobs!;
    expect(jobs).toHaveLength(CONTRADICTED_JOBS_KEPT);
    expect(new Set(jobs).size).toBe(jobs.length);
    expect(jobs.at(-1)).toBe("j30");
  });
});
