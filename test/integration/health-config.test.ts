import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fixture } from "./fixtures.ts";
import { call, callWith, prover } from "./helpers.ts";

describe("GET /api/health", () => {
  it("reports the effective config (no secrets) and a compatible prover", async () => {
    const r = await call("/api/health");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      success: true,
      status: "ok",
      config: { pollIntervalMs: Number(env.PROVER_POLL_INTERVAL_MS), proverApiKeySet: true },
      prover: { reachable: true, compatible: true, problems: [], accelerator: expect.any(String) },
      line: { waiting: 0, slots: [{ url: env.PROVER_BASE_URL, holder: null }] },
    });
    expect(JSON.stringify(r.body)).not.toContain(env.PROVER_API_KEY!);
  });

  it("a pinned image id the prover does not run makes the gateway degraded, naming the problem", async () => {
    const r = await callWith({ PROVER_EXPECTED_IMAGE_ID: "ab".repeat(32) }, "/api/health");
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("degraded");
    expect(r.body.prover.compatible).toBe(false);
    expect(r.body.prover.problems.join(" ")).toContain("PROVER_EXPECTED_IMAGE_ID");
  });

  it("the prover's health is read once per cache period, not on every request", async () => {
    const pinned = { PROVER_EXPECTED_IMAGE_ID: "cd".repeat(32) }; // a cache key no other test uses
    const before = (await prover.stats()).health;
    await callWith(pinned, "/api/health");
    await callWith(pinned, "/api/health");
    expect((await prover.stats()).health - before).toBe(1);
  });

  it("an unreachable prover is reported, not a crash", async () => {
    const r = await callWith({ PROVER_BASE_URL: "http://127.0.0.1:9" }, "/api/health");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: "degraded", prover: { reachable: false } });
  });
});

describe("an invalid var never crashes the Worker", () => {
  // Budget one below the interval (request timeout kept under it, so only this invariant breaks).
  const interval = Number(env.PROVER_POLL_INTERVAL_MS);
  const bad = {
    PROVER_POLL_BUDGET_MS: String(interval - 1),
    PROVER_REQUEST_TIMEOUT_MS: String(interval - 2),
  };

  it("/api/health answers 503 naming the var", async () => {
    const r = await callWith(bad, "/api/health");
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({
      success: false,
      error: { code: "config_invalid", vars: ["PROVER_POLL_BUDGET_MS"] },
    });
    expect(r.body.error.message).toContain("PROVER_POLL_BUDGET_MS");
  });

  it("intake answers 503 config_invalid and accepts nothing", async () => {
    const r = await callWith(bad, "/api/proofs/jobs", {
      method: "POST",
      body: fixture("test-medium"),
    });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("config_invalid");
    expect((await env.TAPES.list({ prefix: "tapes/" })).objects).toHaveLength(0);
  });

  it("just inside the same invariant the gateway works", async () => {
    const interval = Number(env.PROVER_POLL_INTERVAL_MS);
    const r = await callWith(
      { PROVER_POLL_BUDGET_MS: String(interval), PROVER_REQUEST_TIMEOUT_MS: String(interval - 1) },
      "/api/health",
    );
    expect(r.status).toBe(200);
  });

  it("a missing PROVER_BASE_URL is named", async () => {
    const r = await callWith({ PROVER_BASE_URL: "" }, "/api/health");
    expect(r.status).toBe(503);
    expect(r.body.error.message).toContain("PROVER_BASE_URL is required");
  });
});
