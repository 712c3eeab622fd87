/**
 * The checks `npm run chaos -- --hostile MODE` applies to the hostile box: each on both sides of
 * its boundary, and skipped (not failed) until the gateway knows quarantine.
 */
import { describe, it, expect } from "vitest";
import {
  hostileChecks,
  isQuarantined,
  quarantineSupported,
  type HostileRun,
} from "../../tools/dev/chaos-hostile.ts";
import { freshHostileStats } from "../../tools/dev/prover-hostile.ts";

const run = (o: Partial<HostileRun> & { lies?: number; sinkRequests?: number } = {}) => {
  const stats = freshHostileStats(o.mode ?? "lie_zero_score", null);
  stats.lies = o.lies ?? 2;
  stats.sink.requests = o.sinkRequests ?? 0;
  return {
    mode: "lie_zero_score",
    prover: 3,
    quarantinedAt: 5_000,
    liesAtQuarantine: stats.lies,
    supported: true,
    maxLies: 4,
    faultRate: 0,
    jobs: { accepted: 60, good: 60, bad: [], mismatched: 0 },
    healthWithKey: 0,
    health: 30,
    ...o,
    stats,
  } satisfies HostileRun;
};
const status = (r: HostileRun, name: RegExp) =>
  hostileChecks(r).find((c) => name.test(c.name))?.status;

describe("hostile chaos checks", () => {
  it("all ok: every job succeeded, quarantined within the lie budget, no key anywhere", () => {
    expect(hostileChecks(run()).map((c) => c.status)).toEqual(["ok", "ok", "ok", "ok"]);
  });

  it("quarantine: at the lie budget ok, one lie over it FAIL, never quarantined FAIL", () => {
    expect(status(run({ lies: 4 }), /quarantined/)).toBe("ok");
    expect(status(run({ lies: 5 }), /quarantined/)).toBe("FAIL");
    expect(status(run({ quarantinedAt: null, liesAtQuarantine: null }), /quarantined/)).toBe(
      "FAIL",
    );
  });

  it("skips what needs the gateway's quarantine until it has it, and says why", () => {
    const checks = hostileChecks(
      run({ supported: false, quarantinedAt: null, lies: 20, healthWithKey: 21, health: 21 }),
    );
    const q = checks.find((c) => /quarantined/.test(c.name))!;
    expect([q.status, q.detail]).toEqual([
      "skipped",
      expect.stringMatching(/no `quarantined` prover state yet.*20 lie/),
    ]);
    expect(checks.find((c) => /health/.test(c.name))).toMatchObject({
      status: "skipped",
      detail: expect.stringContaining("21 of 21"),
    });
    // the job checks never wait for the gateway
    expect(
      status(
        run({ supported: false, jobs: { accepted: 60, good: 59, bad: ["x"], mismatched: 0 } }),
        /every job/,
      ),
    ).toBe("FAIL");
  });

  it("every job: 60 of 60 ok, 59 of 60 FAIL; with random faults on the honest provers, skipped", () => {
    expect(status(run(), /every job/)).toBe("ok");
    const one = { accepted: 60, good: 59, bad: ["tape 4 failed"], mismatched: 0 };
    expect(status(run({ jobs: one }), /every job/)).toBe("FAIL");
    expect(status(run({ jobs: one, faultRate: 0.2 }), /every job/)).toBe("skipped");
    expect(status(run({ jobs: { ...one, good: 60, bad: [], mismatched: 1 } }), /results/)).toBe(
      "FAIL",
    );
  });

  it("huge_replies and redirect tell no lie: quarantine is not asked of them; redirect: no request may follow", () => {
    expect(status(run({ mode: "huge_replies", quarantinedAt: null }), /quarantined/)).toBe(
      "skipped",
    );
    expect(status(run({ mode: "redirect", sinkRequests: 0 }), /redirect/)).toBe("ok");
    expect(status(run({ mode: "redirect", sinkRequests: 1 }), /redirect/)).toBe("FAIL");
    expect(status(run({ mode: "lie_zero_score" }), /redirect/)).toBeUndefined();
    expect(status(run({ healthWithKey: 1 }), /health/)).toBe("FAIL");
    const huge = run({ mode: "huge_replies" });
    expect(status(huge, /huge reply/)).toBe("ok");
    huge.stats.hugeCompleted = 1;
    expect(status(huge, /huge reply/)).toBe("FAIL");
    expect(status({ ...huge, supported: false }, /huge reply/)).toBe("skipped");
  });

  it("knows quarantine from the OpenAPI document or from a prover view", () => {
    expect(quarantineSupported({ enum: ["available", "open"] }, [{ state: "available" }])).toBe(
      false,
    );
    expect(quarantineSupported({ enum: ["available", "quarantined"] }, null)).toBe(true);
    expect(quarantineSupported(null, [{ state: "available", quarantine: null }])).toBe(true);
    expect(quarantineSupported(null, [{ state: "quarantined" }])).toBe(true);
    expect(isQuarantined({ state: "quarantined" })).toBe(true);
    expect(isQuarantined({ state: "available", quarantine: null })).toBe(false);
    expect(isQuarantined(undefined)).toBe(false);
  });
});
