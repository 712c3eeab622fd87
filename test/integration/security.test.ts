/**
 * The front door's security: CORS only for the configured game origins, a per-client intake
 * rate limit (the platform's Rate Limiting binding), safe response headers, and secrets that
 * never reach a response or a log line.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { INTAKE_RATE_PERIOD_SECONDS } from "../../src/http/routes.ts";
import { TEST_API_KEY } from "../support/test-vars.ts";
import { call, callWith, postTape, prover, uniqueTape, waitForJob } from "./helpers.ts";

const GAME = "https://asteroids.example";
const DEV = "http://localhost:5173";
const ORIGINS = { CORS_ALLOWED_ORIGINS: `${GAME}, ${DEV}` };

describe("CORS", () => {
  const preflight = (origin: string, vars = ORIGINS) =>
    callWith(vars, "/api/proofs/jobs", {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });

  it("a listed origin passes preflight and gets its own origin back", async () => {
    for (const origin of [GAME, DEV]) {
      const r = await preflight(origin);
      expect(r.status).toBe(204);
      expect(r.headers.get("access-control-allow-origin")).toBe(origin);
      expect(r.headers.get("access-control-allow-methods")).toContain("POST");
      expect(r.headers.get("access-control-allow-headers")).toContain("content-type");
    }
    const get = await callWith(ORIGINS, "/api/health", { headers: { origin: GAME } });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBe(GAME);
    expect(get.headers.get("vary")).toContain("Origin");
  });

  it("any other origin gets no CORS headers, and never *", async () => {
    for (const origin of [
      "https://evil.example",
      "https://asteroids.example.evil.example",
      "null",
      `${GAME}:8443`,
    ]) {
      const r = await preflight(origin);
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
      const get = await callWith(ORIGINS, "/api/proofs/jobs/" + "0".repeat(64), {
        headers: { origin },
      });
      expect(get.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("with no origins configured, no origin gets CORS headers", async () => {
    const r = await preflight(GAME, { CORS_ALLOWED_ORIGINS: "" });
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("CORS_ALLOWED_ORIGINS must list plain origins: * or a path is a config error naming the var", async () => {
    for (const bad of ["*", "https://asteroids.example/play", "asteroids.example"]) {
      const r = await callWith({ CORS_ALLOWED_ORIGINS: bad }, "/api/health");
      expect(r.status).toBe(503);
      expect(r.body.error.vars).toEqual(["CORS_ALLOWED_ORIGINS"]);
    }
  });
});

describe("the intake rate limit", () => {
  const { limit, period } = inject("intakeRateLimit");

  /** Windows are aligned to the clock: start a burst only with a few seconds of window left. */
  async function freshWindowAhead() {
    const left = period * 1000 - (Date.now() % (period * 1000));
    if (left < 8_000) await scheduler.wait(left + 50);
  }

  it(`allows ${limit} submissions per client per period, refuses the next with 429 and Retry-After`, async () => {
    expect(period).toBe(INTAKE_RATE_PERIOD_SECONDS);
    await freshWindowAhead();
    const tape = uniqueTape();
    const ip = "203.0.113.7";
    const statuses: number[] = [];
    for (let i = 0; i < limit; i++)
      statuses.push((await postTape(tape, { "cf-connecting-ip": ip })).status);
    // The first creates the job, the rest are the same tape again: all inside the limit.
    expect(statuses[0]).toBe(202);
    expect(statuses.slice(1).every((s) => s === 200)).toBe(true);
    const refused = await postTape(tape, { "cf-connecting-ip": ip });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe(String(period));
    expect(refused.body).toMatchObject({ success: false, error: { code: "rate_limited" } });
    // Another client is not affected.
    expect((await postTape(tape, { "cf-connecting-ip": "203.0.113.8" })).status).toBe(200);
  });
});

describe("response headers", () => {
  it("every answer, success or error, carries no-store and nosniff", async () => {
    for (const r of [
      await call("/api/health"),
      await call("/api/proofs/jobs/zzz"),
      await call("/nope"),
      await postTape(new Uint8Array([1, 2, 3])),
    ]) {
      expect(r.headers.get("cache-control")).toBe("no-store");
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });
});

describe("secrets", () => {
  const ADMIN = "admin-secret-0123456789abcdef";
  afterEach(() => vi.restoreAllMocks());

  it("PROVER_API_KEY, ADMIN_TOKEN and cancel tokens never appear in a response or a log line", async () => {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(" "));
      });
    }
    const bodies: string[] = [];
    const keep = (r: { body: unknown; headers: Headers }) => {
      bodies.push(JSON.stringify(r.body), JSON.stringify([...r.headers]));
      return r;
    };
    // A full job, with a prover that first refuses the key and errors (so errors get logged).
    await prover.faults([
      { kind: "unauthorized", on: "submit" },
      { kind: "http_500", on: "poll" },
    ]);
    // (The 202 is the one answer that shows the cancel token, to its submitter: not kept.)
    const posted = await postTape(uniqueTape());
    expect(posted.status).toBe(202);
    const cancelToken: string = posted.body.cancel_token;
    const job = await waitForJob(posted.body.job.jobId, (j) => j.status === "succeeded");
    keep(await call(`/api/proofs/jobs/${job.jobId}`));
    keep(await call(`/api/proofs/jobs/${job.jobId}/result`));
    // Wrong and right tokens against the admin API and cancel; the health and config views.
    const vars = { ADMIN_TOKEN: ADMIN };
    keep(
      await callWith(vars, "/api/admin/jobs", { headers: { authorization: `Bearer ${ADMIN}x` } }),
    );
    keep(
      await callWith(vars, "/api/admin/jobs", { headers: { authorization: `Bearer ${ADMIN}` } }),
    );
    keep(
      await callWith(vars, `/api/proofs/jobs/${job.jobId}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${ADMIN}` },
      }),
    );
    keep(
      await callWith(vars, `/api/proofs/jobs/${job.jobId}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${cancelToken}` },
      }),
    );
    keep(await callWith(vars, "/api/health"));
    keep(await callWith({ ...vars, ADMIN_TOKEN: "tooShortSecret1" }, "/api/health"));

    const everything = [...lines, ...bodies].join("\n");
    // The capture works: the job's own object logged its transitions, and the errors.
    expect(lines.some((l) => l.includes('"event":"job_transition"') && l.includes(job.jobId))).toBe(
      true,
    );
    expect(env.PROVER_API_KEY).toBe(TEST_API_KEY);
    for (const secret of [TEST_API_KEY, ADMIN, "tooShortSecret1", cancelToken])
      expect(everything).not.toContain(secret);
  });
});
