import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { newProver, type ProverRecord } from "../../src/core/fleet.ts";
import { sha256Hex } from "../../src/core/hex.ts";
import { tapeKey } from "../../src/core/r2-keys.ts";
import {
  HEALTH_RATE_LIMIT,
  HEALTH_RATE_PERIOD_SECONDS,
  WORKING_STATES,
} from "../../src/http/health.ts";
import { AdminHealthBody, HealthBody, PROVER_STATES } from "../../src/http/schemas.ts";
import { fixture } from "./fixtures.ts";
import {
  answerOf,
  call,
  callWith,
  dispatcher,
  postTape,
  prover,
  uniqueTape,
  waitForJob,
  type Answer,
} from "./helpers.ts";

const ADMIN_TOKEN = "admin-token-for-health-0123456789";
const asAdmin = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };

/**
 * The public health read through an env of its own: its own per-isolate reading of the line (the
 * cache is per dispatcher binding), so that what the test just arranged is what it reads.
 */
const fresh = () => ({ DISPATCHER: bound(env.DISPATCHER) });

/** A new object standing for `target`, its methods bound to it (bindings check `this`). */
function bound<T extends object>(target: T, methods: Record<string, unknown> = {}): T {
  return new Proxy(target, {
    get(t, prop) {
      if (typeof prop === "string" && prop in methods) return methods[prop];
      const v = Reflect.get(t, prop) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** Calls the Worker with the very same env object every time (as one isolate does). */
async function callEnv(e: Env, path: string, ip = "198.51.100.1"): Promise<Answer> {
  const req = new Request(`http://gateway.test${path}`, { headers: { "cf-connecting-ip": ip } });
  return answerOf(await worker.fetch(req, e, createExecutionContext()));
}

/** Replaces the dispatcher's fleet with these provers (the configured one is among them). */
async function fleetOf(provers: ProverRecord[]) {
  await runInDurableObject(dispatcher(), (_i, state) => {
    state.storage.sql.exec("DELETE FROM provers");
    for (const p of provers) {
      state.storage.sql.exec(
        "INSERT INTO provers (url, data) VALUES (?, ?)",
        p.url,
        JSON.stringify({ ...p, source: p.url === env.PROVER_BASE_URL ? "config" : p.source }),
      );
    }
  });
}

const good = {
  reachable: true,
  compatible: true,
  problems: [],
  accelerator: "cuda",
  imageId: "ab".repeat(32),
  devMode: false,
};

/** A prover record in `state` (as src/core/fleet.ts's `proverState` reads it). */
function proverIn(state: string, url: string): ProverRecord {
  const now = Date.now();
  const p = { ...newProver(url, "runtime"), health: good, healthAt: now };
  switch (state) {
    case "available":
      return p;
    case "proving":
      return { ...p, holder: "c".repeat(64), heldSince: now };
    case "busy":
      return { ...p, cooldownUntil: now + 600_000 };
    case "unchecked":
      return { ...p, healthAt: null, health: null };
    case "open":
      return { ...p, failures: 3, circuitUntil: now + 600_000, circuitOpens: 1 };
    case "draining":
      return { ...p, draining: true };
    case "unreachable":
      return { ...p, health: { ...good, reachable: false, compatible: false } };
    case "incompatible":
      return { ...p, health: { ...good, compatible: false, problems: ["ruleset is AST2"] } };
    case "cpu":
      return { ...p, health: { ...good, accelerator: "cpu" } };
    case "dev_mode":
      return { ...p, health: { ...good, devMode: true } };
    case "quarantined":
      return { ...p, quarantine: { since: now, reason: "lied twice" } } as ProverRecord;
    default:
      throw new Error(`no recipe for ${state}`);
  }
}

const OTHER = "http://127.0.0.1:9";

describe("GET /api/health (anonymous)", () => {
  it("says enough and no more: status, config validity, the line's length and the fleet by state; no URL, job id or holder", async () => {
    await prover.configure({ proofMs: 5_000 });
    const { body } = await postTape(uniqueTape());
    const jobId = body.job.jobId;
    await waitForJob(jobId, (j) => j.status === "proving");
    await postTape(uniqueTape());
    await callWith({ ADMIN_TOKEN }, "/api/admin/provers", {
      method: "POST",
      body: JSON.stringify({ url: OTHER }),
      ...asAdmin,
    });
    const r = await callWith(fresh(), "/api/health");
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(
      ["checkedAt", "config", "line", "status", "success"].sort(),
    );
    expect(r.body).toMatchObject({
      success: true,
      status: "ok",
      config: {
        valid: true,
        proverExpectedImageId: env.PROVER_EXPECTED_IMAGE_ID || null,
        verifyReceipts: "off",
      },
      line: { waiting: expect.any(Number), provers: { proving: 1 } },
    });
    expect(Object.keys(r.body.line).sort()).toEqual(["provers", "waiting"]);
    expect(HealthBody.safeParse(r.body).error).toBeUndefined();
    expect(r.body.checkedAt).toBeGreaterThan(Date.now() - 60_000);
    const text = JSON.stringify(r.body);
    for (const secret of [jobId, env.PROVER_BASE_URL, OTHER, "127.0.0.1", "holder", "slots"])
      expect(text).not.toContain(secret);
  });

  it("is ok while one prover works and degraded once none does, whatever PROVER_BASE_URL's own reading", async () => {
    // One working prover among broken ones: ok.
    await fleetOf([proverIn("open", env.PROVER_BASE_URL), proverIn("available", OTHER)]);
    const one = await callWith(fresh(), "/api/health");
    expect(one.body).toMatchObject({ status: "ok", line: { provers: { open: 1, available: 1 } } });
    // Both out: degraded.
    await fleetOf([proverIn("open", env.PROVER_BASE_URL), proverIn("unreachable", OTHER)]);
    const none = await callWith(fresh(), "/api/health");
    expect(none.body).toMatchObject({
      status: "degraded",
      line: { provers: { open: 1, unreachable: 1 } },
    });
    // PROVER_BASE_URL itself answers /health fine: the fleet still decides.
    const admin = await callWith({ ...fresh(), ADMIN_TOKEN }, "/api/admin/health", asAdmin);
    expect(admin.body).toMatchObject({ status: "degraded", prover: { reachable: true } });
  });

  it.each(PROVER_STATES.map((s) => [s, WORKING_STATES.has(s) ? "ok" : "degraded"]))(
    "a fleet of one prover that is %s is %s",
    async (state, status) => {
      // The dispatcher judges as production does: a CPU box and a dev-mode box are out.
      const strict = { ...env, PROVER_ALLOW_CPU: "0", VERIFY_RECEIPTS: "groth16" };
      const setEnv = (e: Env) =>
        runInDurableObject(dispatcher(), (i) => void ((i as unknown as { env: Env }).env = e));
      await setEnv(strict);
      try {
        await fleetOf([proverIn(state, env.PROVER_BASE_URL)]);
        const r = await callWith(fresh(), "/api/health");
        expect(r.body.line.provers).toEqual({ [state]: 1 });
        expect(r.body.status).toBe(status);
      } finally {
        await setEnv(env);
      }
    },
  );

  it("a line that cannot be read is degraded, not an error", async () => {
    const broken = {
      getByName: () => ({
        summary: () => Promise.reject(new Error("injected: the dispatcher is down")),
      }),
    } as unknown as Env["DISPATCHER"];
    const r = await callWith({ DISPATCHER: broken }, "/api/health");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: "degraded", line: null });
  });

  it("a flood is answered from one reading per isolate: the dispatcher is asked once", async () => {
    let summaries = 0;
    const counting = bound(env.DISPATCHER, {
      getByName: (name: string) => {
        const stub = env.DISPATCHER.getByName(name);
        return bound(stub, { summary: () => (summaries++, stub.summary()) });
      },
    });
    const isolate = { ...env, DISPATCHER: counting } as Env;
    const first = await callEnv(isolate, "/api/health");
    expect(first.status).toBe(200);
    expect(summaries).toBe(1);
    const flood = await Promise.all(
      Array.from({ length: 50 }, (_, i) => callEnv(isolate, "/api/health", `198.51.100.${i}`)),
    );
    for (let i = 0; i < 10; i++) flood.push(await callEnv(isolate, "/api/health"));
    expect(flood.every((a) => a.status === 200 && a.body.checkedAt === first.body.checkedAt)).toBe(
      true,
    );
    expect(summaries).toBe(1);
  });
});

describe("the health rate limit (HEALTH_RATE_LIMITER, per client)", () => {
  /** Windows are aligned to the clock: start a burst only with a few seconds of window left. */
  async function freshWindowAhead() {
    const periodMs = HEALTH_RATE_PERIOD_SECONDS * 1000;
    const left = periodMs - (Date.now() % periodMs);
    if (left < 10_000) await scheduler.wait(left + 50);
  }

  it(`allows ${HEALTH_RATE_LIMIT} reads per client (one /64) per period, refuses the next with 429 and Retry-After`, async () => {
    await freshWindowAhead();
    const statuses: number[] = [];
    // Addresses of one /64 are one client.
    for (let i = 0; i < HEALTH_RATE_LIMIT; i++) {
      const ip = `2001:db8:4ea1:7::${(i + 1).toString(16)}`;
      statuses.push((await call("/api/health", { headers: { "cf-connecting-ip": ip } })).status);
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    const refused = await call("/api/health", {
      headers: { "cf-connecting-ip": "2001:db8:4ea1:7:ffff::1" },
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe(String(HEALTH_RATE_PERIOD_SECONDS));
    expect(refused.body).toMatchObject({ success: false, error: { code: "rate_limited" } });
    // The next /64 is another client.
    const other = await call("/api/health", {
      headers: { "cf-connecting-ip": "2001:db8:4ea1:8::1" },
    });
    expect(other.status).toBe(200);
  });

  it("a limiter that refuses is a 429; one that fails lets the read through", async () => {
    const refusing = { limit: async () => ({ success: false }) } as unknown as RateLimit;
    const refused = await callWith({ HEALTH_RATE_LIMITER: refusing }, "/api/health");
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("rate_limited");
    const failing = {
      limit: () => Promise.reject(new Error("injected: limiter down")),
    } as unknown as RateLimit;
    expect((await callWith({ HEALTH_RATE_LIMITER: failing }, "/api/health")).status).toBe(200);
  });
});

describe("GET /api/admin/health (ADMIN_TOKEN)", () => {
  it("is the admin API's: 403 without a token configured, 401 without or with a wrong token", async () => {
    expect((await call("/api/admin/health", asAdmin)).body.error.code).toBe("admin_disabled");
    const none = await callWith({ ADMIN_TOKEN }, "/api/admin/health");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    const wrong = await callWith({ ADMIN_TOKEN }, "/api/admin/health", {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}x` },
    });
    expect(wrong.status).toBe(401);
  });

  it("shows the whole picture, read afresh: config (no secrets), PROVER_BASE_URL's reading, holders, margins, calls", async () => {
    await prover.configure({ proofMs: 5_000 });
    const { body } = await postTape(uniqueTape());
    await waitForJob(body.job.jobId, (j) => j.status === "proving");
    const r = await callWith({ ADMIN_TOKEN }, "/api/admin/health", asAdmin);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      success: true,
      status: "ok",
      config: { pollIntervalMs: Number(env.PROVER_POLL_INTERVAL_MS), proverApiKeySet: true },
      prover: {
        url: env.PROVER_BASE_URL,
        reachable: true,
        compatible: true,
        problems: [],
        accelerator: expect.any(String),
      },
      line: {
        waiting: 0,
        slots: [{ url: env.PROVER_BASE_URL, holder: body.job.jobId }],
        provers: { proving: 1 },
        timeouts: expect.any(Object),
        calls: expect.objectContaining({ total: expect.any(Number) }),
      },
      warnings: [],
    });
    expect(AdminHealthBody.safeParse(r.body).error).toBeUndefined();
    const text = JSON.stringify(r.body);
    expect(text).not.toContain(env.PROVER_API_KEY!);
    expect(text).not.toContain(ADMIN_TOKEN);
  });

  it("names the configured prover's own problems, while the fleet decides the status", async () => {
    const pinned = await callWith(
      { ADMIN_TOKEN, PROVER_EXPECTED_IMAGE_ID: "ab".repeat(32) },
      "/api/admin/health",
      asAdmin,
    );
    expect(pinned.body.prover.compatible).toBe(false);
    expect(pinned.body.prover.problems.join(" ")).toContain("PROVER_EXPECTED_IMAGE_ID");
    const unreachable = await callWith(
      { ADMIN_TOKEN, PROVER_BASE_URL: "http://127.0.0.1:9" },
      "/api/admin/health",
      asAdmin,
    );
    expect(unreachable.status).toBe(200);
    expect(unreachable.body.prover).toMatchObject({ url: "http://127.0.0.1:9", reachable: false });
  });

  it("the prover's own reading is taken once per cache period, not on every request", async () => {
    const pinned = { ADMIN_TOKEN, PROVER_EXPECTED_IMAGE_ID: "cd".repeat(32) }; // a cache key of its own
    const before = (await prover.stats()).health;
    await callWith(pinned, "/api/admin/health", asAdmin);
    await callWith(pinned, "/api/admin/health", asAdmin);
    expect((await prover.stats()).health - before).toBe(1);
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
      status: "config_invalid",
      error: { code: "config_invalid", vars: ["PROVER_POLL_BUDGET_MS"] },
    });
    expect(r.body.error.message).toContain("PROVER_POLL_BUDGET_MS");
  });

  it("the public answers name the bad vars, never their values; the admin health says why", async () => {
    const insecure = { PROVER_BASE_URL: "http://10.20.30.40:8080", ADMIN_TOKEN };
    for (const path of ["/api/health", `/api/proofs/jobs/${"a".repeat(64)}`]) {
      const r = await callWith(insecure, path);
      expect(r.status).toBe(503);
      expect(r.body.error.vars).toEqual(["PROVER_BASE_URL"]);
      expect(JSON.stringify(r.body)).not.toContain("10.20.30.40");
    }
    const admin = await callWith(insecure, "/api/admin/health", asAdmin);
    expect(admin.status).toBe(503);
    expect(admin.body).toMatchObject({
      status: "config_invalid",
      error: { vars: ["PROVER_BASE_URL"] },
    });
    expect(admin.body.error.message).toContain("http://10.20.30.40:8080");
    // Still the admin's: no token, no reasons.
    expect((await callWith(insecure, "/api/admin/health")).status).toBe(401);
  });

  it("intake answers 503 config_invalid and accepts nothing", async () => {
    const r = await callWith(bad, "/api/proofs/jobs", {
      method: "POST",
      body: fixture("test-medium"),
    });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("config_invalid");
    expect(await env.TAPES.head(tapeKey(await sha256Hex(fixture("test-medium"))))).toBeNull();
  });

  it("just inside the same invariant the gateway works", async () => {
    const interval = Number(env.PROVER_POLL_INTERVAL_MS);
    const r = await callWith(
      { PROVER_POLL_BUDGET_MS: String(interval), PROVER_REQUEST_TIMEOUT_MS: String(interval - 1) },
      "/api/health",
    );
    expect(r.status).toBe(200);
  });

  it("a missing PROVER_BASE_URL is named (why: in the admin health)", async () => {
    const r = await callWith({ PROVER_BASE_URL: "" }, "/api/health");
    expect(r.status).toBe(503);
    expect(r.body.error.vars).toEqual(["PROVER_BASE_URL"]);
    const admin = await callWith(
      { PROVER_BASE_URL: "", ADMIN_TOKEN },
      "/api/admin/health",
      asAdmin,
    );
    expect(admin.body.error.message).toContain("PROVER_BASE_URL is required");
  });
});
