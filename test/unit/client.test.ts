import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createGatewayClient,
  GatewayError,
  type FetchLike,
  type GatewayJob,
  type JobStatus,
  type Transport,
} from "../../src/client/index.ts";

/**
 * The browser client against a fake fetch and a fake WebSocket: no server. Timers are faked so
 * the polling backoff can be read off the clock.
 */

const BASE = "https://gateway.example";
const JOB_ID = "ab".repeat(32);

function job(status: JobStatus, extra: Partial<GatewayJob> = {}): GatewayJob {
  return {
    jobId: JOB_ID,
    status,
    attempt: 1,
    updatedAt: 0,
    prover: { status: null },
    error: null,
    ...extra,
  } as unknown as GatewayJob;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

const apiError = (status: number, code: string, message: string, headers = {}) =>
  json(status, { success: false, error: { code, message } }, headers);

/** A fetch that answers from `reply` and records every call (with the fake clock's time). */
function fakeFetch(reply: (url: string, init: RequestInit) => Response | Promise<Response>) {
  const calls: { url: string; init: RequestInit; at: number }[] = [];
  const fetch: FetchLike = async (url, init = {}) => {
    calls.push({ url, init, at: Date.now() });
    return reply(url, init);
  };
  return { fetch, calls };
}

/** A WebSocket the test drives: it opens, sends and closes when the test says so. */
class FakeSocket {
  static made: FakeSocket[] = [];
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  closedWith: number | undefined;
  readonly url: string;
  constructor(url: string) {
    this.url = url;
    FakeSocket.made.push(this);
  }
  close(code?: number) {
    this.closedWith = code;
  }
  open() {
    this.onopen?.(new Event("open"));
  }
  send(update: { job: GatewayJob; queue?: unknown; estimate?: unknown }) {
    this.onmessage?.({ data: JSON.stringify({ type: "job", ...update }) } as MessageEvent);
  }
  /** What a browser does when the socket cannot open or drops: error, then close. */
  fail(code = 1006) {
    this.onerror?.(new Event("error"));
    this.onclose?.({ code } as CloseEvent);
  }
  static last(): FakeSocket {
    const s = FakeSocket.made.at(-1);
    if (!s) throw new Error("no socket was opened");
    return s;
  }
}

beforeEach(() => {
  FakeSocket.made = [];
  vi.useFakeTimers({ now: 0 });
  // Node 22 has a global WebSocket: a test that passes none gets none (polling only).
  vi.stubGlobal("WebSocket", undefined);
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("createGatewayClient", () => {
  it("refuses a relative baseUrl", () => {
    expect(() => createGatewayClient({ baseUrl: "/api" })).toThrow(TypeError);
  });
});

describe("submit", () => {
  it("posts the bytes as octet-stream; a 202 gives the cancel token", async () => {
    const { fetch, calls } = fakeFetch(() =>
      json(202, { success: true, status_url: "/x", cancel_token: "tok-1", job: job("queued") }),
    );
    const gw = createGatewayClient({ baseUrl: `${BASE}/`, fetch });
    const tape = new Uint8Array([1, 2, 3]);
    const s = await gw.submit(tape);
    expect(s).toEqual({
      jobId: JOB_ID,
      cancelToken: "tok-1",
      job: job("queued"),
      existing: false,
      estimate: null,
    });
    expect(calls[0]!.url).toBe(`${BASE}/api/proofs/jobs`);
    expect(calls[0]!.init.method).toBe("POST");
    expect(calls[0]!.init.headers).toEqual({ "content-type": "application/octet-stream" });
    expect(calls[0]!.init.body).toBe(tape);
  });

  it("a 200 means the tape is already known: no token, existing", async () => {
    const estimate = { startAt: null, finishAt: 7_000, basis: "measured" };
    const { fetch } = fakeFetch(() => json(200, { success: true, job: job("proving"), estimate }));
    const gw = createGatewayClient({ baseUrl: BASE, fetch });
    const s = await gw.submit(new Blob([new Uint8Array([1])]));
    expect(s.cancelToken).toBeNull();
    expect(s.existing).toBe(true);
    expect(s.estimate).toEqual(estimate);
  });

  it("keeps a path prefix in baseUrl", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { success: true, job: job("queued") }));
    await createGatewayClient({ baseUrl: `${BASE}/gw`, fetch }).submit(new ArrayBuffer(2));
    expect(calls[0]!.url).toBe(`${BASE}/gw/api/proofs/jobs`);
  });
});

describe("errors", () => {
  it("maps the API error with its code, message, status and Retry-After", async () => {
    const { fetch } = fakeFetch(() =>
      apiError(429, "too_many_waiting", "this client already has 3", { "retry-after": "60" }),
    );
    const err = await createGatewayClient({ baseUrl: BASE, fetch })
      .submit(new Uint8Array([1]))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: "GatewayError",
      status: 429,
      code: "too_many_waiting",
      message: "this client already has 3",
      retryAfterSeconds: 60,
    });
  });

  it("no Retry-After: retryAfterSeconds is undefined (zero_score)", async () => {
    const { fetch } = fakeFetch(() => apiError(400, "zero_score", "the final score is 0"));
    const err = (await createGatewayClient({ baseUrl: BASE, fetch })
      .submit(new Uint8Array([1]))
      .catch((e: unknown) => e)) as GatewayError;
    expect(err.code).toBe("zero_score");
    expect(err.status).toBe(400);
    expect(err.retryAfterSeconds).toBeUndefined();
  });

  it("Retry-After as an HTTP date counts the seconds from now", async () => {
    const at = new Date(30_000).toUTCString();
    const { fetch } = fakeFetch(() =>
      apiError(503, "queue_unavailable", "x", { "retry-after": at }),
    );
    const err = (await createGatewayClient({ baseUrl: BASE, fetch })
      .get(JOB_ID)
      .catch((e: unknown) => e)) as GatewayError;
    expect(err.retryAfterSeconds).toBe(30);
  });

  it("an answer that is not the API's is bad_response; no answer is network_error", async () => {
    const html = createGatewayClient({
      baseUrl: BASE,
      fetch: async () => new Response("<html>bad gateway</html>", { status: 502 }),
    });
    await expect(html.get(JOB_ID)).rejects.toMatchObject({ status: 502, code: "bad_response" });
    const down = createGatewayClient({
      baseUrl: BASE,
      fetch: async () => {
        throw new TypeError("Failed to fetch");
      },
    });
    await expect(down.get(JOB_ID)).rejects.toMatchObject({
      status: 0,
      code: "network_error",
      message: expect.stringContaining("Failed to fetch"),
    });
    const empty = createGatewayClient({ baseUrl: BASE, fetch: async () => json(200, {}) });
    await expect(empty.get(JOB_ID)).rejects.toMatchObject({ code: "bad_response" });
  });
});

describe("get, result, cancel", () => {
  it("get answers job, queue, estimate, claim and settlement (null / none when absent)", async () => {
    const estimate = { startAt: 5_000, finishAt: 9_000, basis: "measured" };
    const claim = { status: "submitting", claimant: null, txHash: null, error: null, attempts: 1 };
    const { fetch, calls } = fakeFetch(() =>
      json(200, {
        success: true,
        job: job("queued"),
        queue: { ahead: 2 },
        estimate,
        claim,
        settlement: "automatic",
      }),
    );
    const gw = createGatewayClient({ baseUrl: BASE, fetch });
    expect(await gw.get(JOB_ID)).toEqual({
      job: job("queued"),
      queue: { ahead: 2 },
      estimate,
      claim,
      settlement: "automatic",
    });
    expect(calls[0]!.url).toBe(`${BASE}/api/proofs/jobs/${JOB_ID}`);
    const old = createGatewayClient({
      baseUrl: BASE,
      fetch: async () => json(200, { success: true, job: job("proving"), queue: null }),
    });
    expect(await old.get(JOB_ID)).toEqual({
      job: job("proving"),
      queue: null,
      estimate: null,
      claim: null,
      settlement: "none",
    });
  });

  it("submit sends x-claimant-address only when a claimant is given", async () => {
    const { fetch, calls } = fakeFetch(() =>
      json(202, { success: true, job: job("queued"), cancel_token: "t", estimate: null }),
    );
    const gw = createGatewayClient({ baseUrl: BASE, fetch });
    await gw.submit(new Uint8Array([1]), { claimant: "GCLAIMANT" });
    await gw.submit(new Uint8Array([1]));
    const header = (i: number) => new Headers(calls[i]!.init.headers).get("x-claimant-address");
    expect(header(0)).toBe("GCLAIMANT");
    expect(header(1)).toBeNull();
  });

  it("result fetches …/result", async () => {
    const doc = { jobId: JOB_ID, journal: { final_score: 32860 } };
    const { fetch, calls } = fakeFetch(() => json(200, doc));
    expect(await createGatewayClient({ baseUrl: BASE, fetch }).result(JOB_ID)).toEqual(doc);
    expect(calls[0]!.url).toBe(`${BASE}/api/proofs/jobs/${JOB_ID}/result`);
  });

  it("cancel sends DELETE with the token as a bearer", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { success: true, job: job("cancelled") }));
    const cancelled = await createGatewayClient({ baseUrl: BASE, fetch }).cancel(JOB_ID, "tok-9");
    expect(cancelled.status).toBe("cancelled");
    expect(calls[0]!.init).toMatchObject({
      method: "DELETE",
      headers: { authorization: "Bearer tok-9" },
    });
  });

  it("a refused cancel carries the job (409 job_succeeded)", async () => {
    const { fetch } = fakeFetch(() =>
      json(409, {
        success: false,
        error: { code: "job_succeeded", message: "kept" },
        job: job("succeeded"),
      }),
    );
    const err = (await createGatewayClient({ baseUrl: BASE, fetch })
      .cancel(JOB_ID, "t")
      .catch((e: unknown) => e)) as GatewayError;
    expect(err.code).toBe("job_succeeded");
    expect(err.job?.status).toBe("succeeded");
  });
});

describe("watch over the socket", () => {
  it("opens ws(s)://…/ws, passes every update on, resolves on the terminal one", async () => {
    const { fetch, calls } = fakeFetch(() => json(500, {}));
    const gw = createGatewayClient({ baseUrl: BASE, fetch, WebSocket: FakeSocket });
    const seen: string[] = [];
    const transports: Transport[] = [];
    const w = gw.watch(JOB_ID, (u) => seen.push(`${u.job.status}:${u.queue?.ahead ?? "-"}`), {
      onTransport: (t) => transports.push(t),
    });
    const s = FakeSocket.last();
    expect(s.url).toBe(`wss://gateway.example/api/proofs/jobs/${JOB_ID}/ws`);
    s.open();
    s.send({ job: job("queued"), queue: { ahead: 1 }, estimate: null });
    s.send({
      job: job("proving"),
      queue: null,
      estimate: { startAt: null, finishAt: 9, basis: "x" },
    });
    s.onmessage?.({ data: "not json" } as MessageEvent);
    s.onmessage?.({ data: JSON.stringify({ type: "hello" }) } as MessageEvent);
    s.send({ job: job("succeeded"), queue: null, estimate: null });
    await expect(w.done).resolves.toMatchObject({ status: "succeeded" });
    expect(seen).toEqual(["queued:1", "proving:-", "succeeded:-"]);
    expect(transports).toEqual(["socket"]);
    // The server closes after the terminal message: nothing falls back to polling.
    s.onclose?.({ code: 1000 } as CloseEvent);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(0);
    expect(FakeSocket.made).toHaveLength(1);
  });

  it("ws:// for an http baseUrl", () => {
    createGatewayClient({ baseUrl: "http://127.0.0.1:8787", WebSocket: FakeSocket }).watch(
      JOB_ID,
      () => {},
    );
    expect(FakeSocket.last().url).toBe(`ws://127.0.0.1:8787/api/proofs/jobs/${JOB_ID}/ws`);
  });

  it("close() closes the socket and rejects done with watch_closed", async () => {
    const gw = createGatewayClient({
      baseUrl: BASE,
      fetch: fakeFetch(() => json(500, {})).fetch,
      WebSocket: FakeSocket,
    });
    const w = gw.watch(JOB_ID, () => {});
    FakeSocket.last().open();
    w.close();
    await expect(w.done).rejects.toMatchObject({ code: "watch_closed" });
    expect(FakeSocket.last().closedWith).toBe(1000);
  });
});

describe("watch falls back to polling", () => {
  /** A gateway whose job answers `statuses` in turn (the last one repeats). */
  function polled(statuses: (JobStatus | Response)[]) {
    let i = 0;
    return fakeFetch(() => {
      const s = statuses[Math.min(i++, statuses.length - 1)]!;
      return typeof s === "string" ? json(200, { success: true, job: job(s), queue: null }) : s;
    });
  }

  it("when the socket cannot open: polls at once, then 1 s doubling to 10 s", async () => {
    const { fetch, calls } = polled(["queued"]);
    const transports: Transport[] = [];
    const gw = createGatewayClient({ baseUrl: BASE, fetch, WebSocket: FakeSocket });
    gw.watch(JOB_ID, () => {}, { socketRetryMs: 1e9, onTransport: (t) => transports.push(t) });
    FakeSocket.last().fail();
    await vi.advanceTimersByTimeAsync(45_000);
    expect(calls.map((c) => c.at)).toEqual([
      0, 1_000, 3_000, 7_000, 15_000, 25_000, 35_000, 45_000,
    ]);
    expect(transports).toEqual(["polling"]);
  });

  it("a change of status brings the wait back to 1 s; the terminal status resolves done", async () => {
    const { fetch, calls } = polled([
      "queued",
      "queued",
      "queued",
      "proving",
      "proving",
      "succeeded",
    ]);
    const seen: string[] = [];
    const w = createGatewayClient({ baseUrl: BASE, fetch }).watch(JOB_ID, (u) =>
      seen.push(u.job.status),
    );
    await vi.advanceTimersByTimeAsync(60_000);
    await expect(w.done).resolves.toMatchObject({ status: "succeeded" });
    // 0 queued, +1 s queued, +2 s queued, +4 s proving (changed), +1 s proving, +2 s succeeded
    expect(calls.map((c) => c.at)).toEqual([0, 1_000, 3_000, 7_000, 8_000, 10_000]);
    expect(seen).toEqual(["queued", "queued", "queued", "proving", "proving", "succeeded"]);
  });

  it("no WebSocket at all: polling only", async () => {
    const { fetch, calls } = polled(["succeeded"]);
    const w = createGatewayClient({ baseUrl: BASE, fetch }).watch(JOB_ID, () => {});
    await vi.advanceTimersByTimeAsync(0);
    await expect(w.done).resolves.toMatchObject({ status: "succeeded" });
    expect(calls).toHaveLength(1);
  });

  it("a socket dropped before the end: polling, the socket tried again, polling stops once it opens", async () => {
    const { fetch, calls } = polled(["proving"]);
    const transports: Transport[] = [];
    const seen: string[] = [];
    const w = createGatewayClient({ baseUrl: BASE, fetch, WebSocket: FakeSocket }).watch(
      JOB_ID,
      (u) => seen.push(u.job.status),
      { socketRetryMs: 5_000, onTransport: (t) => transports.push(t) },
    );
    const first = FakeSocket.last();
    first.open();
    first.send({ job: job("queued") });
    await vi.advanceTimersByTimeAsync(100);
    first.fail(1001); // the server went away
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.map((c) => c.at)).toEqual([100]);
    // Polls at 1.1 s, 3.1 s, 7.1 s; after the 7.1 s poll (≥ 5 s since the last try) it retries.
    await vi.advanceTimersByTimeAsync(7_000);
    expect(calls.map((c) => c.at)).toEqual([100, 1_100, 3_100, 7_100]);
    expect(FakeSocket.made).toHaveLength(2);
    const second = FakeSocket.last();
    second.open();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(4); // no more polls while the socket is open
    second.send({ job: job("succeeded") });
    await expect(w.done).resolves.toMatchObject({ status: "succeeded" });
    expect(transports).toEqual(["socket", "polling", "socket"]);
    // One update per poll (4), between the socket's first and last.
    expect(seen).toEqual(["queued", "proving", "proving", "proving", "proving", "succeeded"]);
    expect(second.closedWith).toBe(1000);
  });

  it("a socket retry that fails again leaves polling on its backoff", async () => {
    const { fetch, calls } = polled(["proving"]);
    createGatewayClient({ baseUrl: BASE, fetch, WebSocket: FakeSocket }).watch(JOB_ID, () => {}, {
      socketRetryMs: 2_000,
    });
    FakeSocket.last().fail();
    await vi.advanceTimersByTimeAsync(3_000); // polls at 0, 1 s, 3 s; a retry at 3 s
    expect(FakeSocket.made).toHaveLength(2);
    FakeSocket.last().fail();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(calls.map((c) => c.at)).toEqual([0, 1_000, 3_000, 7_000]);
  });

  it("errors back off too, at least as long as Retry-After says", async () => {
    const { fetch, calls } = polled([
      new Response("down", { status: 503 }),
      apiError(429, "rate_limited", "slow down", { "retry-after": "30" }),
      "succeeded",
    ]);
    const w = createGatewayClient({ baseUrl: BASE, fetch }).watch(JOB_ID, () => {});
    await vi.advanceTimersByTimeAsync(60_000);
    await expect(w.done).resolves.toMatchObject({ status: "succeeded" });
    expect(calls.map((c) => c.at)).toEqual([0, 2_000, 32_000]);
  });

  it("a job the gateway does not know ends the watch with job_not_found", async () => {
    const { fetch, calls } = polled([apiError(404, "job_not_found", "no job")]);
    const w = createGatewayClient({ baseUrl: BASE, fetch }).watch(JOB_ID, () => {});
    await vi.advanceTimersByTimeAsync(0);
    await expect(w.done).rejects.toMatchObject({ status: 404, code: "job_not_found" });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(1);
  });

  it("close() stops the polling", async () => {
    const { fetch, calls } = polled(["queued"]);
    const w = createGatewayClient({ baseUrl: BASE, fetch }).watch(JOB_ID, () => {});
    await vi.advanceTimersByTimeAsync(1_500);
    w.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(2);
    await expect(w.done).rejects.toBeInstanceOf(GatewayError);
  });
});
