import { describe, expect, it } from "vitest";
import { timeoutMargins } from "../../src/core/speed.ts";
import { liveMain, liveReport, type LiveInput } from "../../tools/ops/timeouts-live.ts";

const cfg = { pollTimeoutMs: 660_000, maxJobWallTimeMs: 720_000 };
const health = (elapsed: number[]): LiveInput["health"] => {
  const timeouts = timeoutMargins(
    elapsed.map((elapsedMs) => ({ frames: 10_000, elapsedMs, at: 0 })),
    cfg,
  );
  return { config: cfg, line: { timeouts }, warnings: timeouts.warnings };
};
const speed = (max: number) => ({
  proofs: 1,
  msPer1000Frames: { median: max / 10, p95: max / 10 },
  proofMs: { median: max, p95: max, max },
});

describe("npm run timeouts -- --live", () => {
  it("ok while every observed proof is within 80 % of the timeouts", () => {
    const r = liveReport({ health: health([100_000, 528_000]), provers: null }, "http://gw");
    expect(r.code).toBe(0);
    expect(r.text).toContain("p95 80 %");
    expect(r.text).toContain("per-prover speeds: /api/admin/provers could not be read");
  });

  it("exit 1 and a warning naming the var just past 80 %", () => {
    const r = liveReport({ health: health([528_001]), provers: null }, "http://gw");
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/PROVER_POLL_TIMEOUT_MS/);
  });

  it("with the admin token: one row per prover, and a prover's own max counts", () => {
    const provers = [
      { id: "gpu-1", state: "available", speed: speed(100_000) },
      { id: "gpu-2", state: "proving", speed: speed(528_001) },
    ];
    const ok = liveReport({ health: health([100_000]), provers: provers.slice(0, 1) }, "http://gw");
    expect(ok.code).toBe(0);
    expect(ok.text).toContain("gpu-1");
    const bad = liveReport({ health: health([100_000]), provers }, "http://gw");
    expect(bad.code).toBe(1);
    expect(bad.text).toContain("prover gpu-2: max proof time 528001 ms");
  });

  it("a gateway without figures, a bad URL or an unreachable one: exit 2", async () => {
    expect(liveReport({ health: { line: null }, provers: null }, "http://gw").code).toBe(2);
    const printed: string[] = [];
    expect(await liveMain("not a url", undefined, (s) => printed.push(s))).toBe(2);
    const down = (() => Promise.reject(new Error("ECONNREFUSED"))) as typeof fetch;
    expect(await liveMain("http://127.0.0.1:9", "t0ken", (s) => printed.push(s), down)).toBe(2);
    expect(printed.join("\n")).toContain("ECONNREFUSED");
    const refused = (async () => new Response("{}", { status: 401 })) as typeof fetch;
    expect(await liveMain("http://gw", "wrong", (s) => printed.push(s), refused)).toBe(2);
    expect(printed.join("\n")).toContain("HTTP 401");
  });

  it("without the admin token: exit 2, nothing read (the anonymous health has counts only)", async () => {
    const seen: string[] = [];
    const fake = (async (url: string) => (seen.push(url), new Response("{}"))) as typeof fetch;
    const printed: string[] = [];
    expect(await liveMain("http://gw.example", undefined, (s) => printed.push(s), fake)).toBe(2);
    expect(seen).toEqual([]);
    expect(printed.join("\n")).toContain("ADMIN_TOKEN");
  });

  it("reads /api/admin/health and /api/admin/provers with the bearer token", async () => {
    const seen: { url: string; auth: string | null }[] = [];
    const fake = (async (url: string, init?: RequestInit) => {
      seen.push({ url, auth: new Headers(init?.headers).get("authorization") });
      const body = url.endsWith("/api/admin/health")
        ? health([1000])
        : { provers: [{ id: "gpu-1", state: "available", speed: speed(1000) }] };
      return new Response(JSON.stringify(body));
    }) as typeof fetch;
    const printed: string[] = [];
    expect(await liveMain("http://gw.example/x", "t0ken", (s) => printed.push(s), fake)).toBe(0);
    expect(seen).toEqual([
      { url: "http://gw.example/api/admin/health", auth: "Bearer t0ken" },
      { url: "http://gw.example/api/admin/provers", auth: "Bearer t0ken" },
    ]);
    expect(printed.join("\n")).toContain("gpu-1");
  });
});
