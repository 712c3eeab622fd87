/**
 * The prover client against real local HTTP servers (Node's fetch): every reply read up to its
 * route's cap and no further, redirects never followed (a counting target sees nothing), every
 * string from a reply clamped, the key on `/api/*` only and never on `/health`.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RULES_DIGEST_AST3 } from "../../src/core/tape.ts";
import { CLAMP, clampCode, clampJson, clampText, isSafeJobId } from "../../src/prover/clamp.ts";
import { ProverClient } from "../../src/prover/client.ts";
import { REPLY_CAPS, replyCap, type ReplyRoute } from "../../src/prover/reply.ts";

const IMAGE_ID = "ab".repeat(32);
const KEY = "prover-own-key-123";
const SUBMIT_OPTS = { receiptKind: "groth16", segmentLimitPo2: 21, verifyMode: "policy" };
const TAPE = new Uint8Array([1, 2, 3]);

/** What one server saw of one request. */
interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

/** An answer the fake prover writes: a status, headers, and a body (or a lazy stream of one). */
interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Streams `head` and then spaces up to `total` bytes, as fast as the client reads. */
  stream?: { head: string; total: number };
}

/** A local HTTP server answering with `answer(seen)`; it keeps every request it got. */
async function server(answer: (seen: Seen) => Answer = () => ({ status: 404 })) {
  const seen: Seen[] = [];
  let handler = answer;
  /** Bytes of streamed bodies written so far (what a client that stops reading cuts short). */
  const streamed = { bytes: 0, closedEarly: 0 };
  const srv = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const s = { method: req.method!, path: req.url!, headers: req.headers };
      seen.push(s);
      write(res, handler(s), streamed);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    streamed,
    answer(a: (seen: Seen) => Answer) {
      handler = a;
    },
    reset() {
      seen.length = 0;
      streamed.bytes = 0;
      streamed.closedEarly = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}

function write(res: ServerResponse, a: Answer, streamed: { bytes: number; closedEarly: number }) {
  if (!a.stream) {
    res.writeHead(a.status, { "content-type": "application/json", ...a.headers });
    res.end(a.body ?? "");
    return;
  }
  const { head, total } = a.stream;
  res.writeHead(a.status, { "content-type": "application/json", ...a.headers });
  res.write(head);
  let left = total - Buffer.byteLength(head);
  const pad = Buffer.alloc(64 * 1024, 0x20);
  res.on("close", () => {
    if (left > 0) streamed.closedEarly++;
  });
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      const chunk = left >= pad.length ? pad : pad.subarray(0, left);
      left -= chunk.length;
      streamed.bytes += chunk.length;
      if (!res.write(chunk)) return void res.once("drain", pump);
    }
    if (left <= 0 && !res.destroyed) res.end();
  };
  pump();
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => ({
  status,
  headers,
  body: JSON.stringify(body),
});

/** `body` as JSON followed by spaces, `bytes` long in all (still valid JSON). */
function padded(status: number, body: unknown, bytes: number, declareLength: boolean): Answer {
  const text = JSON.stringify(body);
  const n = Buffer.byteLength(text);
  if (n > bytes) throw new Error(`the body alone is ${n} bytes`);
  if (declareLength) {
    return {
      status,
      headers: { "content-length": String(bytes) },
      body: text + " ".repeat(bytes - n),
    };
  }
  // No content-length: chunked, the client can only count.
  return { status, stream: { head: text, total: bytes } };
}

const healthDoc = (extra: Record<string, unknown> = {}) => ({
  status: "ok",
  service: "asteroids-verifier",
  accelerator: "cuda",
  image_id: IMAGE_ID,
  rules_digest: RULES_DIGEST_AST3,
  rules_digest_hex: "0x41535433",
  ruleset: "AST3",
  dev_mode: false,
  queued_jobs: 0,
  running_jobs: 0,
  ...extra,
});

const JOB_ID = "4f1c2a9e-1111-4222-8333-944455556666";
const statusDoc = (extra: Record<string, unknown> = {}) => ({
  job_id: JOB_ID,
  status: "running",
  ...extra,
});

type Cfg = ConstructorParameters<typeof ProverClient>[0];
const cfgFor = (url: string, extra: Partial<Cfg> = {}): Cfg => ({
  proverBaseUrl: url,
  requestTimeoutMs: 5_000,
  proverExpectedImageId: undefined,
  receiptKind: "groth16",
  ...extra,
});

let prover: Awaited<ReturnType<typeof server>>;
/** Where every redirect points: it must never get a request. */
let target: Awaited<ReturnType<typeof server>>;

beforeAll(async () => {
  prover = await server();
  target = await server(() => json(200, healthDoc()));
});
afterAll(async () => {
  await Promise.all([prover.close(), target.close()]);
});
beforeEach(() => {
  prover.reset();
  target.reset();
});

const client = (extra: Partial<Cfg> = {}, key: string | null = KEY) =>
  new ProverClient(cfgFor(prover.url, extra), prover.url, key ?? undefined);

/** One call on `route`, its outcome reduced to "ok" or the transport error's code. */
async function callRoute(route: ReplyRoute, c = client()): Promise<string> {
  switch (route) {
    case "health": {
      const h = await c.health();
      if (h.reachable) return "ok";
      return /over \d+ bytes/.test(h.problems[0] ?? "")
        ? "prover_reply_too_large"
        : /redirects are never followed/.test(h.problems[0] ?? "")
          ? "prover_redirected"
          : `unreachable: ${h.problems[0]}`;
    }
    case "submit": {
      const o = await c.submit(TAPE, SUBMIT_OPTS);
      return o.kind === "accepted" ? "ok" : o.kind === "transient" ? o.error.code : o.kind;
    }
    case "status": {
      const o = await c.status(JOB_ID);
      return o.kind === "pending" ? "ok" : o.kind === "transient" ? o.error.code : o.kind;
    }
    case "delete": {
      const o = await c.delete(JOB_ID);
      return o === "deleted" ? "ok" : o;
    }
  }
}

/** A good reply on each route (what `callRoute` calls "ok"). */
const GOOD: Record<ReplyRoute, () => { status: number; body: unknown }> = {
  health: () => ({ status: 200, body: healthDoc() }),
  submit: () => ({
    status: 202,
    body: { success: true, job_id: JOB_ID, status: "queued", status_url: `/api/jobs/${JOB_ID}` },
  }),
  status: () => ({ status: 200, body: statusDoc() }),
  delete: () => ({ status: 200, body: { success: true, job_id: JOB_ID } }),
};
const ROUTES: ReplyRoute[] = ["health", "submit", "status", "delete"];
/** A transport failure as each route reports it (a clean-up's outcome is only "error"). */
const failure = (route: ReplyRoute, code: string) => (route === "delete" ? "error" : code);

describe("reply caps, per route", () => {
  it("the caps are the README's figures", () => {
    const groth16 = { receiptKind: "groth16" as const };
    expect(ROUTES.map((r) => replyCap(r, groth16))).toEqual([
      16 * 1024,
      16 * 1024,
      1024 * 1024,
      16 * 1024,
    ]);
    // STARK receipts (succinct, composite) are far bigger: only the status cap grows.
    for (const receiptKind of ["succinct", "composite"] as const) {
      expect(replyCap("status", { receiptKind })).toBe(8 * 1024 * 1024);
      expect(replyCap("health", { receiptKind })).toBe(REPLY_CAPS.health);
    }
  });

  for (const declareLength of [false, true]) {
    const how = declareLength ? "with content-length" : "chunked";
    for (const route of ROUTES) {
      it(`${route} (${how}): a reply of exactly the cap is read; one byte more is a transport failure`, async () => {
        const cap = replyCap(route, { receiptKind: "groth16" });
        const good = GOOD[route]();
        prover.answer(() => padded(good.status, good.body, cap, declareLength));
        expect(await callRoute(route)).toBe("ok");
        prover.answer(() => padded(good.status, good.body, cap + 1, declareLength));
        expect(await callRoute(route)).toBe(failure(route, "prover_reply_too_large"));
      });
    }
  }

  it("status with STARK receipts: 8 MiB is read, 8 MiB + 1 is not", async () => {
    const cap = replyCap("status", { receiptKind: "composite" });
    const c = client({ receiptKind: "composite" });
    prover.answer(() => padded(200, statusDoc(), cap, false));
    expect(await callRoute("status", c)).toBe("ok");
    prover.answer(() => padded(200, statusDoc(), cap + 1, false));
    expect(await callRoute("status", c)).toBe("prover_reply_too_large");
  });

  it("an error reply over the cap is as much a transport failure as a good one", async () => {
    const cap = replyCap("submit", { receiptKind: "groth16" });
    prover.answer(() =>
      padded(429, { success: false, error_code: "prover_busy", error: "busy" }, cap + 1, false),
    );
    expect(await callRoute("submit")).toBe("prover_reply_too_large");
    prover.answer(() =>
      padded(429, { success: false, error_code: "prover_busy", error: "busy" }, cap, false),
    );
    expect(await callRoute("submit")).toBe("busy");
  });

  it("a reply of hundreds of megabytes is cut at the cap: the rest is never sent, the call returns at once", async () => {
    const total = 300 * 1024 * 1024;
    for (const route of ROUTES) {
      prover.reset();
      prover.answer(() => ({ status: GOOD[route]().status, stream: { head: "{", total } }));
      const started = Date.now();
      expect(await callRoute(route)).toBe(failure(route, "prover_reply_too_large"));
      expect(Date.now() - started).toBeLessThan(3_000);
      // The client hung up: the server stopped far short of its 300 MiB.
      await until(() => prover.streamed.closedEarly === 1);
      expect(prover.streamed.bytes).toBeLessThan(64 * 1024 * 1024);
    }
  });

  it("a declared length over the cap is refused before the body is read", async () => {
    prover.answer(() => ({
      status: 200,
      headers: { "content-length": String(REPLY_CAPS.health + 1) },
      body: JSON.stringify(healthDoc()).padEnd(REPLY_CAPS.health + 1, " "),
    }));
    expect(await callRoute("health")).toBe("prover_reply_too_large");
  });

  it("a reply nested deeper than the limit is a bad reply, not a crash; at the limit it is read", async () => {
    const nest = (levels: number) => "[".repeat(levels) + "]".repeat(levels);
    // The status document is depth 0; `x` is depth 1; its innermost array sits at depth `1 + n - 1`.
    const doc = (n: number) => `{"job_id":"${JOB_ID}","status":"running","x":${nest(n)}}`;
    prover.answer(() => ({ status: 200, body: doc(31) }));
    expect(await callRoute("status")).toBe("ok");
    prover.answer(() => ({ status: 200, body: doc(32) }));
    expect(await callRoute("status")).toBe("prover_bad_reply");
    // A megabyte of brackets (just under the status cap).
    prover.answer(() => ({ status: 200, body: nest(500_000) }));
    expect(await callRoute("status")).toBe("prover_bad_reply");
  });
});

describe("redirects are never followed", () => {
  for (const code of [301, 302, 303, 307, 308]) {
    it(`${code} on every route: a transport failure, and the target gets no request (nor the key)`, async () => {
      prover.answer((s) => ({
        status: code,
        headers: { location: `${target.url}${s.path}` },
        body: JSON.stringify({ success: true, job_id: JOB_ID }),
      }));
      for (const route of ROUTES) {
        expect(await callRoute(route)).toBe(failure(route, "prover_redirected"));
      }
      expect(prover.seen).toHaveLength(ROUTES.length);
      expect(target.seen).toEqual([]);
    });
  }

  it("the redirect's message names the route and status, not where it pointed", async () => {
    prover.answer(() => ({
      status: 302,
      headers: { location: `${target.url}/steal?key=1` },
    }));
    const o = await client().submit(TAPE, SUBMIT_OPTS);
    expect(o).toEqual({
      kind: "transient",
      error: {
        code: "prover_redirected",
        message:
          "the prover answered POST /api/jobs/prove-tape/raw with HTTP 302: redirects are never followed",
      },
    });
  });
});

describe("keys", () => {
  it("/health carries no key; submit, status and delete carry the prover's own key", async () => {
    prover.answer((s) => {
      if (s.path === "/health") return json(200, healthDoc());
      const route = s.method === "POST" ? "submit" : s.method === "DELETE" ? "delete" : "status";
      const good = GOOD[route]();
      return json(good.status, good.body);
    });
    for (const route of ROUTES) expect(await callRoute(route)).toBe("ok");
    const health = prover.seen.filter((s) => s.path === "/health");
    expect(health).toHaveLength(1);
    expect(health[0]!.headers["x-api-key"]).toBeUndefined();
    expect(health[0]!.headers.authorization).toBeUndefined();
    const api = prover.seen.filter((s) => s.path.startsWith("/api/"));
    expect(api.map((s) => s.method)).toEqual(["POST", "GET", "DELETE"]);
    for (const s of api) {
      expect(s.headers["x-api-key"]).toBe(KEY);
      expect(s.headers.authorization).toBeUndefined();
    }
  });

  it("a client made without a key sends none, anywhere", async () => {
    prover.answer(() => json(200, healthDoc()));
    const c = client({}, null);
    await c.health();
    await c.status(JOB_ID);
    await c.submit(TAPE, SUBMIT_OPTS);
    await c.delete(JOB_ID);
    expect(prover.seen).toHaveLength(4);
    for (const s of prover.seen) {
      expect(s.headers["x-api-key"]).toBeUndefined();
      expect(s.headers.authorization).toBeUndefined();
    }
  });
});

/** Control, bidi and separator characters: none may survive a clamp. */
const NASTY = "\u0000\u0007\u001b\u007f\u0085\u200b\u202e\u2066\u2028\r\n\t";
const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

describe("every string from a reply is clamped", () => {
  it("a failed job's error and error_code", async () => {
    const huge = `guest verification failed${NASTY}` + "x".repeat(200_000);
    prover.answer(() =>
      json(200, statusDoc({ status: "failed", error: huge, error_code: `proof${NASTY}_error` })),
    );
    const o = await client().status(JOB_ID);
    if (o.kind !== "failed") throw new Error(`expected failed, got ${JSON.stringify(o)}`);
    expect(o.error.code).toBe("proof_error");
    expect(o.error.message.length).toBeLessThanOrEqual(CLAMP.message);
    expect(o.error.message).toMatch(/^guest verification failed x+…$/);
    expect(o.error.message).not.toMatch(UNSAFE);
  });

  it("an error reply's error and error_code (submit and status)", async () => {
    const body = {
      success: false,
      error: `${"E".repeat(100)}${NASTY}`.repeat(20),
      error_code: "x".repeat(500),
    };
    prover.answer(() => json(500, body));
    for (const o of [await client().submit(TAPE, SUBMIT_OPTS), await client().status(JOB_ID)]) {
      if (o.kind !== "transient") throw new Error(`expected transient, got ${o.kind}`);
      expect(o.error.code).toBe("prover_unavailable");
      expect(o.error.message).not.toMatch(UNSAFE);
      // The clamped text, then "(HTTP 500, <clamped code>)".
      expect(o.error.message.length).toBeLessThanOrEqual(CLAMP.message + CLAMP.code + 20);
      expect(o.error.message).toContain(`(HTTP 500, ${"x".repeat(CLAMP.code)})`);
    }
    prover.answer(() => json(429, { error_code: `no${NASTY}_slots`, error: `full${NASTY}` }));
    expect(await client().submit(TAPE, SUBMIT_OPTS)).toEqual({
      kind: "busy",
      error: { code: "no_slots", message: "full" },
    });
  });

  it("a succeeded document: its receipt kind, and every string and key anywhere in it", async () => {
    const long = "y".repeat(10_000);
    prover.answer(() =>
      json(
        200,
        statusDoc({
          status: "succeeded",
          job_id: `${JOB_ID}${NASTY}`,
          options: { proof_mode: `secure${NASTY}`, [`k${NASTY}${long}`]: long },
          result: {
            proof: {
              journal: null,
              receipt: { inner: { note: [long, `a${NASTY}b`] } },
              produced_receipt_kind: `groth16${NASTY}${long}`,
            },
          },
        }),
      ),
    );
    const o = await client().status(JOB_ID);
    if (o.kind !== "succeeded") throw new Error(`expected succeeded, got ${o.kind}`);
    expect(o.receiptKind).toBe(`groth16${"y".repeat(32 - 7)}`);
    const strings: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === "string") strings.push(v);
      else if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object")
        for (const [k, x] of Object.entries(v)) {
          strings.push(k);
          walk(x);
        }
    };
    walk(o.document);
    expect(strings.length).toBeGreaterThan(5);
    for (const s of strings) {
      expect(s).not.toMatch(UNSAFE);
      expect(s.length).toBeLessThanOrEqual(CLAMP.any);
    }
    const doc = o.document as any;
    expect(doc.job_id).toBe(JOB_ID);
    expect(doc.result.proof.receipt.inner.note).toEqual([
      `${long.slice(0, CLAMP.any - 1)}…`,
      "a b",
    ]);
  });

  it("a /health reading: ruleset, image_id and accelerator (stored, shown to operators, logged)", async () => {
    prover.answer(() =>
      json(
        200,
        healthDoc({
          ruleset: `AST9${NASTY}${"r".repeat(1_000)}`,
          image_id: `${IMAGE_ID}${NASTY}${"i".repeat(1_000)}`,
          accelerator: `cpu${NASTY}`,
          service: `svc${NASTY}`.repeat(100),
          status: `ok${NASTY}`.repeat(100),
        }),
      ),
    );
    const h = await client().health();
    expect(h.reachable).toBe(true);
    expect(h.compatible).toBe(false);
    expect(h.accelerator).toBe("cpu");
    expect(h.imageId!.length).toBeLessThanOrEqual(CLAMP.field);
    for (const s of [...h.problems, h.imageId!, h.accelerator!]) {
      expect(s).not.toMatch(UNSAFE);
      expect(s.length).toBeLessThanOrEqual(CLAMP.field + 80);
    }
    expect(h.problems[0]).toMatch(/^ruleset is AST9 r+…, expected AST3$/);
    expect(h.problems).toContain("image_id is not 32-byte hex");
    expect(h.problems).toContain(
      "accelerator is cpu: the GPU is gone, proofs will be far too slow",
    );
  });

  it("a submitted job's id must be a URL-safe token of at most 128 characters", async () => {
    const accepted = (jobId: unknown) => {
      prover.answer(() => json(202, { success: true, job_id: jobId, status: "queued" }));
      return client().submit(TAPE, SUBMIT_OPTS);
    };
    for (const good of ["a", "A-z_0.9~", "x".repeat(128), JOB_ID, ".a"]) {
      expect(await accepted(good)).toEqual({ kind: "accepted", proverJobId: good });
    }
    for (const bad of [
      "x".repeat(129),
      "",
      ".",
      "..",
      "../../health",
      "a/b",
      "a b",
      "a?b",
      "a%2Fb",
      `${JOB_ID}\n`,
      ` ${JOB_ID}`,
      "é",
      42,
      null,
    ]) {
      const o = await accepted(bad);
      expect(o).toMatchObject({ kind: "transient", error: { code: "prover_bad_reply" } });
    }
  });
});

describe("clamp helpers", () => {
  it("clampText: at most max units, cut with …, never inside a surrogate pair", () => {
    expect(clampText("a".repeat(CLAMP.message))).toBe("a".repeat(CLAMP.message));
    expect(clampText("a".repeat(CLAMP.message + 1))).toBe(`${"a".repeat(CLAMP.message - 1)}…`);
    expect(clampText(`${"a".repeat(8)}😀😀`, 10)).toBe(`${"a".repeat(8)}…`);
    expect(clampText(`${"a".repeat(7)}😀😀`, 10)).toBe(`${"a".repeat(7)}😀…`);
    expect(clampText(`  line one\r\nline\ttwo${NASTY}  `)).toBe("line one line two");
    expect(clampText(`a${NASTY}b`)).toBe("a b");
  });

  it("clampCode: word characters only, at most 64; nothing left is undefined", () => {
    expect(clampCode("proof_timeout")).toBe("proof_timeout");
    expect(clampCode("a".repeat(65))).toBe("a".repeat(64));
    expect(clampCode(NASTY)).toBeUndefined();
    expect(clampCode(`proof${NASTY}_error`)).toBe("proof_error");
  });

  it("isSafeJobId", () => {
    expect(isSafeJobId("x".repeat(128))).toBe(true);
    expect(isSafeJobId("x".repeat(129))).toBe(false);
    expect(isSafeJobId("..")).toBe(false);
  });

  it("clampJson keeps __proto__ a plain key and refuses depth 32", () => {
    const parsed = JSON.parse('{"__proto__":{"polluted":true},"a":"b"}');
    const c = clampJson(parsed)!.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(c)).toBe(Object.prototype);
    expect(Object.keys(c)).toEqual(["__proto__", "a"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const deep = (n: number): unknown => (n === 0 ? 1 : [deep(n - 1)]);
    expect(clampJson(deep(32))).not.toBeNull();
    expect(clampJson(deep(33))).toBeNull();
  });
});

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition never held");
    await new Promise((r) => setTimeout(r, 10));
  }
}
