/**
 * The front door's security: CORS only for the configured game origins, a per-client intake
 * rate limit (the platform's Rate Limiting binding), safe response headers, and secrets that
 * never reach a response or a log line.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { INTAKE_RATE_PERIOD_SECONDS } from "../../src/http/routes.ts";
import { CLAMP } from "../../src/prover/clamp.ts";
import { ProverClient } from "../../src/prover/client.ts";
import { replyCap } from "../../src/prover/reply.ts";
import { TEST_API_KEY } from "../support/test-vars.ts";
import {
  call,
  callWith,
  cfg,
  dispatcher,
  ended,
  fleet,
  postTape,
  prover,
  provingPatch,
  seedJob,
  stubOf,
  uniqueTape,
  until,
  waitForJob,
} from "./helpers.ts";

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
    keep(
      await callWith(vars, "/api/admin/health", { headers: { authorization: `Bearer ${ADMIN}` } }),
    );
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

/**
 * Bounded, private conversations with provers (src/prover/): the key only on `/api/*` and only
 * the prover's own, redirects never followed, replies read up to their route's cap, strings
 * clamped. What the Worker hands to `fetch` is watched by a pass-through spy; what reaches the
 * provers is counted by the dev provers themselves (their hostile modes, tools/dev/prover-hostile.ts).
 */
describe("conversations with provers", () => {
  const [b, c] = fleet as [(typeof fleet)[number], (typeof fleet)[number]];
  const ADMIN = "admin-secret-for-prover-keys-0123";
  const OWN_KEY = "runtime-box-own-key-7f3a9c";
  const admin = (path: string, init: RequestInit = {}) =>
    callWith({ ADMIN_TOKEN: ADMIN }, `/api/admin${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    });
  const cancelJob = (jobId: string, token: string) =>
    call(`/api/proofs/jobs/${jobId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}` },
    });
  afterEach(() => vi.restoreAllMocks());

  /** Every request the Worker (its objects included) sends, passed on to the real fetch. */
  function watchFetch() {
    const real = globalThis.fetch;
    const sent: { url: URL; method: string; headers: Headers; redirect: string }[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
      const req = new Request(input, init);
      sent.push({
        url: new URL(req.url),
        method: req.method,
        headers: new Headers(req.headers),
        redirect: init?.redirect ?? req.redirect,
      });
      return real(input, init);
    });
    return sent;
  }
  const keyOf = (h: Headers) => h.get("x-api-key") ?? h.get("authorization");
  /** A fresh tape on its own ArrayBuffer (what the client's fetch body takes). */
  const tapeBytes = () => new Uint8Array(uniqueTape());

  /** Every console line the Worker writes while the test runs. */
  function captureLogs() {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(" "));
      });
    }
    return lines;
  }

  it("/health never carries a key; every /api/* call to the configured prover carries PROVER_API_KEY", async () => {
    const sent = watchFetch();
    const { body } = await postTape(uniqueTape());
    expect((await waitForJob(body.job.jobId, ended)).status).toBe("succeeded");
    expect((await call("/api/health")).status).toBe(200);
    const toProver = sent.filter((s) => s.url.origin === new URL(prover.base).origin);
    const health = toProver.filter((s) => s.url.pathname === "/health");
    const api = toProver.filter((s) => s.url.pathname.startsWith("/api/"));
    // The dispatcher's reading before the grant (and /api/health's, unless cached).
    expect(health.length).toBeGreaterThanOrEqual(1);
    expect(health.map((s) => keyOf(s.headers))).toEqual(health.map(() => null));
    expect(api.map((s) => s.method)).toEqual(expect.arrayContaining(["POST", "GET"]));
    for (const s of api) expect(s.headers.get("x-api-key")).toBe(TEST_API_KEY);
    // No request of any kind may follow a redirect.
    expect(new Set(toProver.map((s) => s.redirect))).toEqual(new Set(["manual"]));
  });

  it("a runtime prover gets its own key for submit, poll and delete, never the shared one; no route or log line shows it", async () => {
    const lines = captureLogs();
    const sent = watchFetch();
    // b requires its own key; the configured prover is drained, so b gets the work.
    await b.configure({ apiKey: OWN_KEY, proofMs: 1_000 });
    await dispatcher().setDraining(
      (await dispatcher().listProvers()).find((p) => p.url === prover.base)!.id,
      true,
    );
    const added = await admin("/provers", {
      method: "POST",
      body: JSON.stringify({ url: b.base, apiKey: OWN_KEY }),
    });
    expect(added.status).toBe(201);
    // A job cancelled while b proves it: its prover job is deleted (409 until the proof ends).
    const first = await postTape(uniqueTape());
    await waitForJob(first.body.job.jobId, (j) => j.status === "proving");
    expect((await cancelJob(first.body.job.jobId, first.body.cancel_token)).status).toBe(200);
    await until(() =>
      Promise.resolve(sent.some((s) => s.method === "DELETE" && s.url.href.startsWith(b.base))),
    );
    // Then a job proved on b from start to end.
    const second = await postTape(uniqueTape());
    const job = await waitForJob(second.body.job.jobId, ended, 10_000);
    expect(job).toMatchObject({ status: "succeeded", prover: { url: b.base } });

    const toB = sent.filter((s) => s.url.href.startsWith(b.base));
    const api = toB.filter((s) => s.url.pathname.startsWith("/api/"));
    expect(new Set(api.map((s) => s.method))).toEqual(new Set(["POST", "GET", "DELETE"]));
    for (const s of api) expect(s.headers.get("x-api-key")).toBe(OWN_KEY);
    for (const s of toB.filter((s) => s.url.pathname === "/health"))
      expect(keyOf(s.headers)).toBeNull();
    // The shared key went to nobody but the configured prover.
    for (const s of sent.filter((s) => !s.url.href.startsWith(prover.base)))
      expect(keyOf(s.headers)).not.toBe(TEST_API_KEY);
    // b itself never refused a key.
    expect((await b.stats()).errorCodes.unauthorized ?? 0).toBe(0);

    // The key is never shown: not by the add, the admin list, the job views; nor logged.
    const shown = [
      JSON.stringify(added.body),
      JSON.stringify((await admin("/provers")).body),
      JSON.stringify((await call(`/api/proofs/jobs/${job.jobId}`)).body),
      JSON.stringify((await admin(`/jobs/${job.jobId}`)).body),
      JSON.stringify((await callWith({ ADMIN_TOKEN: ADMIN }, "/api/health")).body),
    ].join("\n");
    expect(shown).toContain(b.base);
    expect(shown).not.toContain(OWN_KEY);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join("\n")).not.toContain(OWN_KEY);
  });

  it("a runtime prover added without a key gets none, and a bad key is refused without echoing it", async () => {
    const sent = watchFetch();
    await dispatcher().setDraining(
      (await dispatcher().listProvers()).find((p) => p.url === prover.base)!.id,
      true,
    );
    const bad = await admin("/provers", {
      method: "POST",
      body: JSON.stringify({ url: b.base, apiKey: "bad key\nwith-newline" }),
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_body");
    expect(JSON.stringify(bad.body)).not.toContain("with-newline");
    // Added with a key, removed, added again without one: the old key went with the removal.
    const withKey = await admin("/provers", {
      method: "POST",
      body: JSON.stringify({ url: b.base, apiKey: OWN_KEY }),
    });
    expect(withKey.status).toBe(201);
    expect((await admin(`/provers/${withKey.body.prover.id}`, { method: "DELETE" })).status).toBe(
      200,
    );
    expect(
      (await admin("/provers", { method: "POST", body: JSON.stringify({ url: b.base }) })).status,
    ).toBe(201);
    // b still wants the test key: every submission is refused 401, and nothing carried a key.
    await postTape(uniqueTape());
    await until(async () => (await b.stats()).submissions >= 1);
    const toB = sent.filter((s) => s.url.href.startsWith(b.base));
    expect(toB.length).toBeGreaterThan(0);
    for (const s of toB) expect(keyOf(s.headers)).toBeNull();
    expect((await b.stats()).errorCodes.unauthorized).toBeGreaterThanOrEqual(1);
  });

  it("a prover that redirects every request: each route fails in transport and the target gets nothing, key or not", async () => {
    await c.configure({ hostile: "redirect", apiKey: OWN_KEY });
    const client = new ProverClient(cfg, c.base, OWN_KEY);
    expect(await client.health()).toMatchObject({
      reachable: false,
      problems: [expect.stringMatching(/GET \/health with HTTP 302: redirects are never followed/)],
    });
    const submitted = await client.submit(tapeBytes(), {
      receiptKind: "groth16",
      segmentLimitPo2: 21,
      verifyMode: "policy",
    });
    expect(submitted).toMatchObject({ kind: "transient", error: { code: "prover_redirected" } });
    const polled = await client.status("4f1c2a9e-1111-4222-8333-944455556666");
    expect(polled).toMatchObject({ kind: "transient", error: { code: "prover_redirected" } });
    expect(await client.delete("4f1c2a9e-1111-4222-8333-944455556666")).toBe("error");
    // Through the fleet: a runtime box that redirects is never healthy, never given work.
    await dispatcher().addProver(c.base, OWN_KEY);
    const { body } = await postTape(uniqueTape());
    expect((await waitForJob(body.job.jobId, ended)).status).toBe("succeeded");
    const stats = await c.stats();
    expect(stats.hostile.answers).toBeGreaterThanOrEqual(5);
    expect(stats.hostile.sink.requests).toBe(0);
    expect(stats.accepted).toBe(0);
  });

  it("replies of exactly each route's cap are read and one byte more is not (a real prover, every route)", async () => {
    // The prover pads every honest reply with spaces to `hugeReplyBytes` in all.
    const client = new ProverClient(cfg, b.base, TEST_API_KEY);
    const at = (route: "health" | "submit" | "status" | "delete", more: number) =>
      b.configure({ hostile: "huge_replies", hugeReplyBytes: replyCap(route, cfg) + more });
    const opts = { receiptKind: "groth16", segmentLimitPo2: 21, verifyMode: "policy" };
    await b.configure({ proofMs: 50 });

    await at("health", 0);
    expect(await client.health()).toMatchObject({ reachable: true, compatible: true });
    await at("health", 1);
    expect(await client.health()).toMatchObject({
      reachable: false,
      problems: [expect.stringMatching(/over 16384 bytes/)],
    });

    await at("submit", 1);
    expect(await client.submit(tapeBytes(), opts)).toMatchObject({
      kind: "transient",
      error: { code: "prover_reply_too_large" },
    });
    await b.reset(); // that submission was accepted: start clean
    await b.configure({ proofMs: 50 });
    await at("submit", 0);
    const accepted = await client.submit(tapeBytes(), opts);
    if (accepted.kind !== "accepted") throw new Error(JSON.stringify(accepted));
    const id = accepted.proverJobId;

    await at("status", 1);
    expect(await client.status(id)).toMatchObject({
      kind: "transient",
      error: { code: "prover_reply_too_large" },
    });
    await at("status", 0);
    await until(async () => (await client.status(id)).kind === "succeeded");

    await at("delete", 0);
    expect(await client.delete(id)).toBe("deleted");
    // Deleted now: a 404 job_not_found ("gone") at the cap, unread one byte over it.
    await at("delete", 1);
    expect(await client.delete(id)).toBe("error");
    await at("delete", 0);
    expect(await client.delete(id)).toBe("gone");
    // Every oversized body was cut: none is still being written.
    await until(async () => (await b.stats()).hostile.hugeOpen === 0);
  });

  it("a reply of hundreds of megabytes costs a poll its cap, not the reply: the job carries on elsewhere", async () => {
    await b.configure({ hostile: "huge_replies" }); // 300 MiB bodies
    const client = new ProverClient(cfg, b.base, TEST_API_KEY);
    const started = Date.now();
    expect(await client.health()).toMatchObject({ reachable: false });
    expect(await client.status("4f1c2a9e-1111-4222-8333-944455556666")).toMatchObject({
      kind: "transient",
      error: { code: "prover_reply_too_large" },
    });
    expect(Date.now() - started).toBeLessThan(cfg.requestTimeoutMs);
    await until(async () => (await b.stats()).hostile.hugeOpen === 0);
    expect((await b.stats()).hostile.hugeBytes).toBeLessThan(64 * 1024 * 1024);
  });

  it("a prover's huge, control-character strings are clamped where the player sees them and in logs", async () => {
    const lines = captureLogs();
    const NASTY = "\u0000\u0007\u001b[2J\u202e\u2028\r\n";
    const huge = `disk on fire${NASTY}` + "x".repeat(20_000);
    const code = "evil\u0000\u202e\r\n_code";
    // What every status read of a prover job gets, and `/health` once set: per case below.
    let reply = () => new Response();
    let health: (() => Response) | null = null;
    const real = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
      const url = new URL(new Request(input, init).url);
      if (url.pathname.startsWith("/api/jobs/")) return Promise.resolve(reply());
      if (url.pathname === "/health" && health) return Promise.resolve(health());
      return real(input, init);
    });
    const unsafe = /[\p{Cc}\p{Cf}\u2028\u2029]/u;
    const strings = (v: unknown): string[] =>
      typeof v === "string"
        ? [v]
        : v && typeof v === "object"
          ? Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)])
          : [];
    const proving = async () => {
      const { jobId } = await seedJob(
        uniqueTape(),
        provingPatch("prover-job-1", (now) => now),
      );
      await runDurableObjectAlarm(stubOf(jobId));
      const got = await call(`/api/proofs/jobs/${jobId}`);
      expect(got.status, JSON.stringify(lines).slice(-3000)).toBe(200);
      const seen = got.body.job;
      for (const s of strings(seen)) expect(s).not.toMatch(unsafe);
      return { jobId, seen };
    };

    // A `/health` reading: its problems are logged (prover_health) and shown to operators.
    health = () =>
      Response.json({
        status: `ok${NASTY}`,
        ruleset: `AST9${NASTY}${"r".repeat(2_000)}`,
        rules_digest: 0x41535433,
        image_id: `${"ab".repeat(32)}${NASTY}`,
        accelerator: `cuda${NASTY}${"c".repeat(2_000)}`,
      });
    // A fresh dispatcher has no reading: the first job in line makes it read `/health`. The
    // reading stays this one for the whole test, so the prover gets no work.
    await postTape(uniqueTape());
    await until(async () => lines.some((l) => l.includes("prover_health") && l.includes("AST9")));
    const logged = lines.find((l) => l.includes("prover_health") && l.includes("AST9"))!;
    expect(JSON.parse(logged).problems[0]).toMatch(/^ruleset is AST9\[2J r+…, expected AST3$/);
    const listed = (await dispatcher().listProvers()).find((p) => p.url === prover.base)!;
    for (const s of strings(listed)) expect(s).not.toMatch(unsafe);
    expect(listed.health!.accelerator!.length).toBeLessThanOrEqual(CLAMP.code);

    // An error reply (5xx): the player sees it as the prover's last error.
    reply = () => Response.json({ success: false, error: huge, error_code: code }, { status: 500 });
    const transient = (await proving()).seen.prover.lastError;
    expect(transient.code).toBe("prover_unavailable");
    // The escape character is gone (what is left of its sequence is plain text).
    expect(transient.message).toMatch(/^disk on fire\[2J x+… \(HTTP 500, evil_code\)$/);
    expect(transient.message.length).toBeLessThanOrEqual(CLAMP.message + 30);

    // A failed proof (the prover's own fault: rebuilt): the player sees it as the last recovery.
    reply = () =>
      Response.json({
        job_id: "prover-job-1",
        status: "failed",
        error: huge,
        error_code: "internal_error",
      });
    const { seen } = await proving();
    expect(seen.lastRecovery.code).toBe("internal_error");
    expect(seen.lastRecovery.message).toContain("disk on fire[2J xxxx");
    expect(seen.lastRecovery.message).not.toContain("x".repeat(CLAMP.message + 1));

    // No log line of all this carries a control character or a flood.
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) {
      expect(l).not.toMatch(/(.)\1{512}/);
      let parsed: unknown = l;
      try {
        parsed = JSON.parse(l);
      } catch {
        // not JSON: checked as it is
      }
      for (const s of strings(parsed)) expect(s).not.toMatch(unsafe);
    }
  });
});
