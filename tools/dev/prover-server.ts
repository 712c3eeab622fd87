/**
 * A local imitation of the remote RISC Zero "Asteroids verifier" prover (shared/PROVER_API.md):
 * same routes, bodies, single-flight 429s, timeouts and self-restarts, plus fault injection,
 * whole-server kills and network partitions of any length, and `/__dev/*` control routes.
 * Integration tests, `npm run dev` and the chaos run talk to it so that what passes locally passes
 * against the real GPU box.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import {
  FaultEngine,
  isTransportFault,
  type FaultKind,
  type FaultRule,
  type JobFaultKind,
} from "./prover-faults.ts";
import { loadRealReceipts } from "./fixture-receipts.ts";
import { JobStore, type JobStatus, type StoredJob } from "./prover-jobs.ts";
import { handleControl } from "./prover-control.ts";
import {
  carriesKey,
  freshHostileStats,
  HOSTILE_LIES,
  HUGE_REPLY_BYTES,
  startRedirectSink,
  streamHuge,
  type HostileMode,
  type HostileStats,
  type RedirectSink,
} from "./prover-hostile.ts";
import {
  authorized,
  DEV_PROVER_IMAGE_ID,
  healthBody,
  parseSubmission,
  readBody,
  routeOf,
  type Body,
} from "./prover-http.ts";
import type { TimelineEntry } from "./dispatch-gaps.ts";

export type { FaultKind, FaultRule } from "./prover-faults.ts";
export type { TimelineEntry } from "./dispatch-gaps.ts";
export type { StoredJob } from "./prover-jobs.ts";
export type { HostileMode, HostileStats } from "./prover-hostile.ts";
export { DEV_PROVER_IMAGE_ID, MAX_TAPE_BYTES } from "./prover-http.ts";

export interface DevProverOptions {
  port?: number;
  host?: string;
  /** When set, every /api/* route needs `x-api-key` or `Authorization: Bearer` (401 otherwise). */
  apiKey?: string;
  proofMs?: number;
  proofMsPerFrame?: number;
  queuedMs?: number;
  /** The server's RUNNING_JOB_TIMEOUT: a running job past it fails `proof_timeout`. */
  runningJobTimeoutMs?: number;
  /** After a proof_timeout the server aborts itself after this long, then restarts. */
  timedOutProofKillMs?: number;
  /** How long a simulated restart keeps the port refusing connections. */
  restartOutageMs?: number;
  maxJobs?: number;
  accelerator?: "cuda" | "cpu";
  imageId?: string;
  devMode?: boolean;
  /** How often the job sweep runs (real server: 60 s). */
  sweepIntervalMs?: number;
  /** Finished jobs older than this are swept (real server: 24 h). */
  finishedJobTtlMs?: number;
  /**
   * A hostile box for its whole life (tools/dev/prover-hostile.ts): lies, refuses every tape,
   * floods every reply or redirects every request. Null: honest.
   */
  hostile?: HostileMode | null;
  /** Size of each `huge_replies` body (default HUGE_REPLY_BYTES, 300 MiB). */
  hugeReplyBytes?: number;
  /** Seed for random faults when `setRandomFaults` gives none (runs repeat). */
  seed?: number;
  /** Gets every line it logs, with its own URL (the provers of a fleet may share one log). */
  log?: (line: string, url: string) => void;
}

/** The settings `configure` / `POST /__dev/config` may change at runtime. */
export type DevProverConfig = Required<
  Pick<
    DevProverOptions,
    | "proofMs"
    | "proofMsPerFrame"
    | "queuedMs"
    | "runningJobTimeoutMs"
    | "timedOutProofKillMs"
    | "restartOutageMs"
    | "maxJobs"
    | "accelerator"
    | "imageId"
    | "devMode"
    | "sweepIntervalMs"
    | "finishedJobTtlMs"
    | "hugeReplyBytes"
  >
> & { apiKey: string | undefined; hostile: HostileMode | null };

/** Counters so tests can assert what the prover saw ("exactly one accepted", "a 429 was given"). */
export interface DevProverStats {
  /** Every non-control request received (faulted ones included). */
  requests: number;
  health: number;
  /** `/health` requests that carried `x-api-key` or `authorization` (the contract says it is open). */
  healthWithKey: number;
  /** POST /api/jobs/prove-tape/raw requests received. */
  submissions: number;
  /** Submissions answered 202. */
  accepted: number;
  /** 429s given (prover_busy, at_capacity, injected busy). */
  rateLimited: number;
  polls: number;
  deletes: number;
  /** Replies by HTTP status ("200", "404", …). */
  byStatus: Record<string, number>;
  /** `error_code`s of error replies. */
  errorCodes: Record<string, number>;
  faults: Partial<Record<FaultKind, number>>;
  faultsTotal: number;
  restarts: number;
  /** Network partitions (`partition()`): unreachable for a while, jobs kept. */
  partitions: number;
  sweptJobs: number;
  /** Jobs in the store now, by status. */
  jobs: Record<JobStatus, number>;
  /** Ids of the jobs a `DELETE /api/jobs/{id}` removed, oldest first (the last TIMELINE_LENGTH). */
  deletedJobs: string[];
  /** Cumulative job outcomes (failed by error_code). */
  finished: { succeeded: number; failed: Record<string, number>; lost: number };
  pendingFaults: FaultRule[];
  /** What its hostile mode did (counted whatever the mode is now; `mode` is the current one). */
  hostile: HostileStats;
  /**
   * The jobs it accepted, oldest first (the last TIMELINE_LENGTH): what `dispatchGaps` measures.
   */
  timeline: TimelineEntry[];
}

/** How many accepted jobs `stats().timeline` keeps (the newest). */
export const TIMELINE_LENGTH = 1000;

export interface DevProver {
  /** e.g. "http://127.0.0.1:41234"; the port stays the same across simulated restarts. */
  url: string;
  close(): Promise<void>;
  injectFaults(rules: FaultRule[]): void;
  setRandomFaults(opts: { rate: number; kinds?: FaultKind[]; seed?: number } | null): void;
  /**
   * Crash + supervisor restart: every job lost, the port refuses connections for `outageMs`
   * (default: the configured restartOutageMs), then listens again on the same port. Resolves once
   * it listens again.
   */
  restart(opts?: { outageMs?: number }): Promise<void>;
  /**
   * A network partition: the port refuses connections for `outageMs` (default restartOutageMs)
   * while the jobs keep proving, then it listens again on the same port with its store intact,
   * so the gateway finds jobs it has given up on (stale) and should delete them.
   */
  partition(opts?: { outageMs?: number }): Promise<void>;
  /** True while a restart or partition keeps the port shut. */
  readonly down: boolean;
  /** The jobs in its store now, oldest first. */
  jobs(): StoredJob[];
  /** Clears jobs, faults, counters and hung requests, and restores the startup configuration. */
  reset(): void;
  /** Every queued or running proof ends now, as it would have at its end (counters kept). */
  endProofs(): void;
  stats(): DevProverStats;
  configure(
    opts: Partial<Omit<DevProverConfig, "apiKey"> & { apiKey: string | null | undefined }>,
  ): void;
}

type Counters = Omit<
  DevProverStats,
  "jobs" | "pendingFaults" | "timeline" | "deletedJobs" | "hostile"
>;
const freshCounters = (): Counters => ({
  requests: 0,
  health: 0,
  healthWithKey: 0,
  submissions: 0,
  accepted: 0,
  rateLimited: 0,
  polls: 0,
  deletes: 0,
  byStatus: {},
  errorCodes: {},
  faults: {},
  faultsTotal: 0,
  restarts: 0,
  partitions: 0,
  sweptJobs: 0,
  finished: { succeeded: 0, failed: {}, lost: 0 },
});
const bump = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);

export async function startDevProver(opts: DevProverOptions = {}): Promise<DevProver> {
  const host = opts.host ?? "127.0.0.1";
  const sink = opts.log ?? (() => {});
  let selfUrl = `http://${host.includes(":") ? `[${host}]` : host}:${opts.port ?? 0}`;
  const log = (line: string) => sink(line, selfUrl);
  const initial: DevProverConfig = {
    proofMs: opts.proofMs ?? 1500,
    proofMsPerFrame: opts.proofMsPerFrame ?? 0,
    queuedMs: opts.queuedMs ?? 50,
    runningJobTimeoutMs: opts.runningJobTimeoutMs ?? 600_000,
    timedOutProofKillMs: opts.timedOutProofKillMs ?? 60_000,
    restartOutageMs: opts.restartOutageMs ?? 1000,
    maxJobs: opts.maxJobs ?? 64,
    accelerator: opts.accelerator ?? "cuda",
    imageId: opts.imageId ?? DEV_PROVER_IMAGE_ID,
    devMode: opts.devMode ?? false,
    sweepIntervalMs: opts.sweepIntervalMs ?? 60_000,
    finishedJobTtlMs: opts.finishedJobTtlMs ?? 86_400_000,
    hugeReplyBytes: opts.hugeReplyBytes ?? HUGE_REPLY_BYTES,
    apiKey: opts.apiKey || undefined,
    hostile: opts.hostile ?? null,
  };
  let cfg: DevProverConfig = { ...initial };
  let counters = freshCounters();
  let timeline: TimelineEntry[] = [];
  let deletedJobs: string[] = [];
  /** Newest first: the entry asked for is nearly always the last one. */
  const timelineEntry = (id: string): TimelineEntry | undefined => {
    for (let i = timeline.length - 1; i >= 0; i--) if (timeline[i]!.id === id) return timeline[i];
    return undefined;
  };
  const faults = new FaultEngine(opts.seed ?? 1);
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  let sweepTimer: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  let epoch = 0; // bumps on restart/close: requests sleeping through one must not act afterwards
  let restarting: Promise<void> | null = null;
  let downKind: "restart" | "partition" | null = null;
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();
  const sleeps = new Set<() => void>();
  let hostile: HostileStats = freshHostileStats(cfg.hostile, null);
  /** Jobs whose false verdict was served at least once (each counts as one lie). */
  let toldLies = new Set<string>();
  /** `huge_replies` bodies being written: reset() cuts them. */
  const streams = new Set<ServerResponse>();
  let redirectSink: Promise<RedirectSink> | null = null;
  const ensureSink = () =>
    (redirectSink ??= startRedirectSink(
      host,
      () => hostile.sink,
      // a client that follows a 302 to a POST arrives with a GET: still a submission
      (m, p) => (p === "/api/jobs/prove-tape/raw" ? "submit" : routeOf(m, p).route),
      () => healthNow(),
    ).then((s) => ((hostile.sink.url = s.url), s)));

  const store = new JobStore(
    {
      onStarted(id, at) {
        const entry = timelineEntry(id);
        if (entry && entry.startedAt === null) entry.startedAt = at;
      },
      onFinished(id, outcome, code, at) {
        const entry = timelineEntry(id);
        if (entry && entry.finishedAt === null)
          Object.assign(entry, {
            finishedAt: at,
            outcome: outcome === "failed" ? (code ?? "unknown") : outcome,
          });
        if (outcome === "failed") bump(counters.finished.failed, code ?? "unknown");
        else counters.finished[outcome]++;
        log(`job ${id} ${outcome}${code ? ` (${code})` : ""}`);
      },
      onProofTimeout(id, at) {
        if (killTimer || closed) return;
        const wait = Math.max(0, at + cfg.timedOutProofKillMs - Date.now());
        log(`job ${id} hit proof_timeout: server aborts itself in ${wait} ms`);
        killTimer = setTimeout(() => {
          killTimer = undefined;
          void restart("timed-out proof kill");
        }, wait);
      },
    },
    cfg.imageId,
    loadRealReceipts(),
  );

  /** A sleep that close()/restart() cut short (the caller then checks `epoch`). */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => (clearTimeout(t), sleeps.delete(done), resolve());
      const t = setTimeout(done, ms);
      sleeps.add(done);
    });
  const wakeAll = () => [...sleeps].forEach((f) => f());
  const dropHung = () => {
    for (const r of hung) r.destroy();
    hung.clear();
  };

  const armSweep = () => {
    clearInterval(sweepTimer);
    sweepTimer = setInterval(() => {
      const n = store.sweep(cfg.runningJobTimeoutMs, cfg.finishedJobTtlMs);
      counters.sweptJobs += n;
      if (n) log(`sweep deleted ${n} job(s)`);
    }, cfg.sweepIntervalMs);
    sweepTimer.unref?.();
  };

  /** Replies to a prover route, counting it. */
  function send(
    res: ServerResponse,
    status: number,
    body: unknown,
    note = "",
    type = "application/json",
  ): void {
    bump(counters.byStatus, String(status));
    if (typeof body === "object" && body !== null && "error_code" in body) {
      bump(counters.errorCodes, String((body as { error_code: unknown }).error_code));
    }
    if (status === 429) counters.rateLimited++;
    if (cfg.hostile === "huge_replies") return huge(res, status, body, note, type);
    reply(res, status, body, note, type);
  }
  /** `huge_replies`: the honest body, then spaces up to hugeReplyBytes, streamed lazily. */
  function huge(res: ServerResponse, status: number, body: unknown, note: string, type: string) {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const req = res.req;
    const path = new URL(req.url ?? "/", "http://x").pathname;
    log(`${req.method} ${path} → ${status}${note} [hostile: ${cfg.hugeReplyBytes} byte body]`);
    if (res.destroyed) return;
    hostile.answers++;
    streams.add(res);
    res.once("close", () => streams.delete(res));
    const stats = hostile;
    streamHuge(res, status, type, text, cfg.hugeReplyBytes, stats, () => closed).catch(() =>
      res.destroy(),
    );
  }
  /** `redirect`: every request is sent on to the sink, on the same path and query. */
  async function redirect(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const target = `${(await ensureSink()).url}${url.pathname}${url.search}`;
    bump(counters.byStatus, "302");
    hostile.answers++;
    log(`${req.method} ${url.pathname} → 302 ${target} [hostile]`);
    if (res.destroyed) return;
    const text = JSON.stringify({ success: false, error: "moved", error_code: "moved" });
    res.writeHead(302, {
      location: target,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  }
  /** Writes a reply and logs one line (control routes use this directly: they are not counted). */
  function reply(
    res: ServerResponse,
    status: number,
    body: unknown,
    note = "",
    type = "application/json",
  ): void {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const req = res.req;
    log(`${req.method} ${new URL(req.url ?? "/", "http://x").pathname} → ${status}${note}`);
    if (res.destroyed) return;
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
    res.end(text);
  }
  const fail = (res: ServerResponse, status: number, code: string, error: string, note = "") =>
    send(res, status, { success: false, error, error_code: code }, note);

  function healthNow(): Record<string, unknown> {
    const c = store.counts();
    return healthBody({
      ...cfg,
      queued: c.queued,
      running: c.running,
      stored: store.size,
      authRequired: !!cfg.apiKey,
    });
  }
  function health(res: ServerResponse): void {
    send(res, 200, healthNow());
  }

  function submit(
    res: ServerResponse,
    q: URLSearchParams,
    body: Body,
    randomFate: JobFaultKind | null,
  ): void {
    const sub = parseSubmission(q, body);
    if (cfg.hostile === "reject_all") {
      hostile.answers++;
      if (sub.ok) hostile.lies++; // a tape it could have proved
      return fail(res, 400, "invalid_tape", "invalid tape", " [hostile reject_all]");
    }
    if (!sub.ok) return fail(res, 400, sub.code, sub.error);
    if (store.busy()) return fail(res, 429, "prover_busy", "a proof is already queued or running");
    if (store.size >= cfg.maxJobs) return fail(res, 429, "at_capacity", "the job store is full");
    const fate = faults.takeJobFault() ?? randomFate;
    if (fate) (bump(counters.faults, fate), counters.faultsTotal++);
    const frames = sub.facts.frameCount;
    const lie = (cfg.hostile && HOSTILE_LIES[cfg.hostile]) || null;
    const id = store.add(
      sub.facts,
      { ...sub.options, proof_mode: cfg.devMode ? "dev" : "secure", accelerator: cfg.accelerator },
      {
        queuedMs: cfg.queuedMs,
        proofMs: cfg.proofMs + cfg.proofMsPerFrame * frames,
        runningJobTimeoutMs: cfg.runningJobTimeoutMs,
      },
      fate,
      lie,
    );
    counters.accepted++;
    timeline.push({ id, acceptedAt: Date.now(), startedAt: null, finishedAt: null, outcome: null });
    if (timeline.length > TIMELINE_LENGTH) timeline.splice(0, timeline.length - TIMELINE_LENGTH);
    const note = ` job=${id}${fate ? ` fate=${fate}` : ""}${lie ? ` [hostile: will report ${lie.code}]` : ""}`;
    send(
      res,
      202,
      { success: true, job_id: id, status: "queued", status_url: `/api/jobs/${id}` },
      note,
    );
  }

  /** Applies a transport fault; returns true when the request is finished with. */
  async function transportFault(
    req: IncomingMessage,
    res: ServerResponse,
    kind: FaultKind,
    delayMs: number,
  ): Promise<boolean> {
    const note = ` [fault ${kind}]`;
    const path = new URL(req.url ?? "/", "http://x").pathname;
    switch (kind) {
      case "http_500":
        fail(res, 500, "internal_error", "internal server error (injected)", note);
        return true;
      case "http_502":
      case "http_503": {
        const status = kind === "http_502" ? 502 : 503;
        send(
          res,
          status,
          `<html><body><h1>${status} ${status === 502 ? "Bad Gateway" : "Service Unavailable"}</h1></body></html>`,
          note,
          "text/html",
        );
        return true;
      }
      case "malformed_json":
        send(res, 200, '{"success":true,"job_id":"0f3c2a71-', note);
        return true;
      case "busy":
        fail(res, 429, "prover_busy", "a proof is already queued or running", note);
        return true;
      case "unauthorized":
        fail(res, 401, "unauthorized", "unauthorized", note);
        return true;
      case "reset":
        log(`${req.method} ${path} → connection reset${note}`);
        req.socket.destroy();
        return true;
      case "restart":
        log(`${req.method} ${path} → connection reset, restarting${note}`);
        req.socket.destroy();
        void restart("injected");
        return true;
      case "hang": {
        // Never answers; the socket is dropped after `delayMs` (default 30 s) or on
        // reset()/close(), so a forgotten hang cannot hold a client's connection (or its shutdown)
        // forever.
        log(`${req.method} ${path} → hanging for up to ${delayMs} ms${note}`);
        hung.add(res);
        const timer = setTimeout(() => res.destroy(), delayMs);
        res.on("close", () => {
          clearTimeout(timer);
          hung.delete(res);
        });
        return true;
      }
      case "slow": {
        const e = epoch;
        await sleep(delayMs);
        if (e !== epoch || res.destroyed) {
          req.socket.destroy();
          return true;
        }
        return false;
      }
      default:
        return false;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "GET";
    const body = await readBody(req);
    if (url.pathname.startsWith("/__dev/")) {
      return handleControl({
        method,
        path: url.pathname,
        body: body.bytes,
        res,
        prover: api,
        send: reply,
        config: () => ({ ...cfg, apiKey: cfg.apiKey ? "(set)" : undefined }),
      });
    }
    counters.requests++;
    const { route, id } = routeOf(method, url.pathname);
    if (route === "health") {
      counters.health++;
      if (carriesKey(req.headers)) counters.healthWithKey++;
    } else if (route === "submit") counters.submissions++;
    else if (route === "poll") counters.polls++;
    else if (route === "delete") counters.deletes++;
    if (cfg.hostile === "redirect") return redirect(req, res, url);
    const fault = faults.forRequest(route);
    let randomFate: JobFaultKind | null = null;
    if (fault) {
      if (isTransportFault(fault.kind)) {
        bump(counters.faults, fault.kind);
        counters.faultsTotal++;
        if (await transportFault(req, res, fault.kind, fault.delayMs)) return;
      } else randomFate = fault.kind as JobFaultKind;
    }
    if (route === "health") return health(res);
    if (url.pathname.startsWith("/api/") && !authorized(req.headers, cfg.apiKey))
      return fail(res, 401, "unauthorized", "unauthorized");
    if (route === "submit") return submit(res, url.searchParams, body, randomFate);
    if (route === "poll" || route === "delete") {
      const status = store.status(id!);
      if (!status) return fail(res, 404, "job_not_found", "job not found");
      if (route === "poll") {
        const lied = store.lied(id!);
        if (lied) {
          hostile.answers++;
          if (!toldLies.has(id!)) (toldLies.add(id!), hostile.lies++);
        }
        return send(res, 200, store.view(id!), ` ${status}${lied ? " [hostile lie]" : ""}`);
      }
      if (status === "queued" || status === "running")
        return fail(res, 409, "job_active", `job is ${status}`);
      store.remove(id!);
      deletedJobs.push(id!);
      if (deletedJobs.length > TIMELINE_LENGTH)
        deletedJobs.splice(0, deletedJobs.length - TIMELINE_LENGTH);
      return send(res, 200, { success: true, job_id: id });
    }
    fail(res, 404, "not_found", `no route for ${method} ${url.pathname}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log(`internal error: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) fail(res, 500, "internal_error", "internal error");
    });
  });
  server.keepAliveTimeout = 75_000;
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      server.once("error", onError);
      server.listen(port, host, () => {
        server.off("error", onError);
        const addr = server.address();
        resolve(typeof addr === "object" && addr ? addr.port : port);
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections?.();
      for (const s of sockets) s.destroy();
      dropHung();
    });

  const port = await listen(opts.port ?? 0);
  selfUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  armSweep();
  if (cfg.hostile === "redirect") await ensureSink();

  /** What a crash loses: the proof running now, every stored job, a pending self-abort. */
  function loseJobs(): void {
    const now = Date.now();
    // a proof that ended before the crash ended; the one running now is lost
    store.settleAll(now);
    clearTimeout(killTimer);
    killTimer = undefined;
    store.clear();
    for (const e of timeline)
      if (e.finishedAt === null) Object.assign(e, { finishedAt: now, outcome: "lost" });
  }

  /**
   * Shuts the port for `outageMs`, then listens on the same port again. A `restart` (crash and
   * supervisor restart) loses every job; a `partition` keeps them proving meanwhile.
   */
  function outage(kind: "restart" | "partition", reason: string, outageMs: number): Promise<void> {
    if (closed) return Promise.resolve();
    if (restarting) {
      // Down already. A crash during a partition still loses the jobs (and keeps the outage).
      if (kind === "restart" && downKind === "partition") {
        counters.restarts++;
        downKind = "restart";
        loseJobs();
        log(`restart (${reason}) while partitioned: all jobs lost`);
      }
      return restarting;
    }
    downKind = kind;
    restarting = (async () => {
      epoch++;
      if (kind === "restart") {
        counters.restarts++;
        loseJobs();
        log(`restart (${reason}): all jobs lost; port refuses connections for ${outageMs} ms`);
      } else {
        counters.partitions++;
        log(
          `partition (${reason}): port refuses connections for ${outageMs} ms; ${store.size} job(s) kept`,
        );
      }
      wakeAll();
      await stopListening();
      await sleep(outageMs);
      for (let attempt = 0; !closed; attempt++) {
        try {
          await listen(port);
          log(`${kind}: listening again`);
          break;
        } catch (e) {
          // Someone took the port meanwhile: keep trying (a real supervisor would too), never
          // reject.
          if (attempt % 50 === 0)
            log(`${kind}: cannot listen on ${port} yet (${e instanceof Error ? e.message : e})`);
          await sleep(100);
        }
      }
    })().finally(() => {
      restarting = null;
      downKind = null;
    });
    return restarting;
  }
  function restart(reason: string, outageMs = cfg.restartOutageMs): Promise<void> {
    return outage("restart", reason, outageMs);
  }
  const outageOf = (o: { outageMs?: number } | undefined) => {
    const ms = o?.outageMs ?? cfg.restartOutageMs;
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`outageMs must be ≥ 0, got ${ms}`);
    return ms;
  };

  const api: DevProver = {
    url: selfUrl,
    async close() {
      if (closed) return;
      closed = true;
      epoch++;
      clearTimeout(killTimer);
      clearInterval(sweepTimer);
      store.clear();
      wakeAll();
      await restarting?.catch(() => {});
      if (server.listening) await stopListening();
      dropHung();
      for (const r of streams) r.destroy();
      await redirectSink?.then((x) => x.close()).catch(() => {});
    },
    injectFaults(rules) {
      faults.add(rules);
    },
    setRandomFaults(o) {
      faults.setRandom(o);
    },
    restart: async (o) => restart("requested", outageOf(o)),
    partition: async (o) => outage("partition", "requested", outageOf(o)),
    get down() {
      return restarting !== null;
    },
    jobs: () => store.list(),
    reset() {
      store.clear();
      faults.clear();
      dropHung();
      clearTimeout(killTimer);
      killTimer = undefined;
      counters = freshCounters();
      timeline = [];
      deletedJobs = [];
      for (const r of streams) r.destroy();
      cfg = { ...initial };
      hostile = freshHostileStats(cfg.hostile, hostile.sink.url);
      toldLies = new Set();
      store.imageId = cfg.imageId;
      armSweep();
    },
    endProofs() {
      store.endActive();
    },
    stats() {
      store.settleAll();
      return {
        ...structuredClone(counters),
        jobs: store.counts(),
        pendingFaults: faults.pending(),
        hostile: structuredClone({ ...hostile, mode: cfg.hostile }),
        timeline: structuredClone(timeline),
        deletedJobs: [...deletedJobs],
      };
    },
    configure(o) {
      const next: Record<string, unknown> = { ...cfg };
      for (const [k, v] of Object.entries(o)) {
        if (k === "apiKey") next.apiKey = typeof v === "string" && v !== "" ? v : undefined;
        else if (k in cfg && v !== undefined) next[k] = v;
      }
      const sweepChanged = next.sweepIntervalMs !== cfg.sweepIntervalMs;
      cfg = next as DevProverConfig;
      store.imageId = cfg.imageId;
      if (sweepChanged) armSweep();
      if (cfg.hostile === "redirect") ensureSink().catch((e: unknown) => log(`sink: ${e}`));
    },
  };
  return api;
}
