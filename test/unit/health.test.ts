import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { readWranglerConfig } from "../../tools/ops/wrangler-config.ts";

// src/http/health.ts imports the Durable Object classes, whose base class only workerd has.
vi.mock("cloudflare:workers", () => ({ DurableObject: class {} }));

interface FleetReading {
  at: number;
  line: { waiting: number; provers: Record<string, number> } | null;
}
interface HealthModule {
  PUBLIC_HEALTH_CACHE_MS: number;
  HEALTH_RATE_LIMIT: number;
  HEALTH_RATE_PERIOD_SECONDS: number;
  WORKING_STATES: ReadonlySet<string>;
  fleetStatus(provers: Record<string, number> | null): "ok" | "degraded";
  fleetReading(env: unknown, now: number): Promise<FleetReading>;
}
// Imported by a computed name: the Node typecheck would otherwise follow it into Worker code.
const healthFile = "../../src/http/health.ts";
const H = (await import(healthFile)) as HealthModule;

describe("the health's status is the fleet's", () => {
  it("ok while one prover is in a working state, degraded with none (or no reading)", () => {
    expect(H.fleetStatus(null)).toBe("degraded");
    expect(H.fleetStatus({})).toBe("degraded");
    expect(H.fleetStatus({ available: 0, proving: 0 })).toBe("degraded");
    expect(H.fleetStatus({ available: 1 })).toBe("ok");
    expect(H.fleetStatus({ open: 2, unreachable: 1, incompatible: 1 })).toBe("degraded");
    expect(H.fleetStatus({ open: 2, busy: 1 })).toBe("ok");
    // A state this code does not know (added later) does not count as working.
    expect(H.fleetStatus({ some_new_state: 3 })).toBe("degraded");
  });

  it("the working states are those that prove or get work without an operator", () => {
    expect([...H.WORKING_STATES].sort()).toEqual(["available", "busy", "proving", "unchecked"]);
  });
});

describe("the public health reads the line once per PUBLIC_HEALTH_CACHE_MS per isolate", () => {
  /** A dispatcher binding whose `summary` answers `next()`; counts the calls. */
  function fakeEnv(next: () => Promise<unknown>) {
    const env = {
      calls: 0,
      DISPATCHER: { getByName: () => ({ summary: () => (env.calls++, next()) }) },
    };
    return env;
  }
  const summary = (waiting: number) =>
    Promise.resolve({ waiting, provers: { available: 1 }, slots: [{ url: "x", holder: "y" }] });

  it("is 5 s, and the reading keeps only counts", () => {
    expect(H.PUBLIC_HEALTH_CACHE_MS).toBe(5_000);
  });

  it("a reading is reused just inside the period and taken again at its end", async () => {
    let waiting = 0;
    const env = fakeEnv(() => summary(++waiting));
    const first = await H.fleetReading(env, 1_000);
    expect(first).toEqual({ at: 1_000, line: { waiting: 1, provers: { available: 1 } } });
    expect(await H.fleetReading(env, 1_000 + H.PUBLIC_HEALTH_CACHE_MS - 1)).toBe(first);
    expect(env.calls).toBe(1);
    const second = await H.fleetReading(env, 1_000 + H.PUBLIC_HEALTH_CACHE_MS);
    expect(second).toEqual({ at: 6_000, line: { waiting: 2, provers: { available: 1 } } });
    expect(env.calls).toBe(2);
  });

  it("a failed read is a reading too (no line), kept as long, so a failing dispatcher is not hammered", async () => {
    const env = fakeEnv(() => Promise.reject(new Error("down")));
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await H.fleetReading(env, 0)).toEqual({ at: 0, line: null });
    expect(await H.fleetReading(env, H.PUBLIC_HEALTH_CACHE_MS - 1)).toEqual({ at: 0, line: null });
    expect(env.calls).toBe(1);
    error.mockRestore();
  });

  it("while one request takes a new reading, the others get the last one without asking", async () => {
    let open!: () => void;
    let waiting = 0;
    const env = fakeEnv(() =>
      waiting++ === 0 ? summary(1) : new Promise((r) => (open = () => r(summary(2)))),
    );
    await H.fleetReading(env, 0);
    const refreshing = H.fleetReading(env, 10_000);
    expect(await H.fleetReading(env, 10_001)).toMatchObject({ at: 0, line: { waiting: 1 } });
    expect(env.calls).toBe(2);
    open();
    expect(await refreshing).toMatchObject({ at: 10_000, line: { waiting: 2 } });
    expect(await H.fleetReading(env, 10_002)).toMatchObject({ at: 10_000 });
    expect(env.calls).toBe(2);
  });
});

describe("HEALTH_RATE_LIMITER", () => {
  it("wrangler.jsonc's binding is the limit and period the code answers with", () => {
    const cfg = readWranglerConfig(fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url)));
    const binding = cfg.ratelimits?.find((r) => r.name === "HEALTH_RATE_LIMITER");
    expect(binding?.simple).toEqual({
      limit: H.HEALTH_RATE_LIMIT,
      period: H.HEALTH_RATE_PERIOD_SECONDS,
    });
    const ids = cfg.ratelimits!.map((r) => r.namespace_id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
