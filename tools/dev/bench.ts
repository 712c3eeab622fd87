/**
 * `npm run bench`: figures for the prover fleet, never a pass/fail on speed. For each fleet size
 * in `--provers` (default 1, then 3), one after the other, it starts a fresh local stack (that
 * many dev provers and `wrangler dev` on a throw-away --persist-to), posts the same backlog of N
 * distinct tapes one after the other (each from its own CF-Connecting-IP, so the 30 POSTs/minute limit never
 * bites), follows every job to its end through the public API and prints one row per fleet size:
 *
 * - proofs/min: succeeded jobs per minute of the span from the first POST to the last job's end;
 * - util: the fraction of that span each GPU spent proving (dev prover timeline, started → ended);
 * - idle gap: how long a GPU sat idle between its proof ending and its next acceptance while a job
 *   waited for a prover, median, p95 and max (nearest rank) of every prover's gaps pooled;
 * - status calls/job: the provers' `GET /api/jobs/{id}` polls per job;
 * - dispatcher calls/job: calls to the dispatcher Durable Object per job, from `line.calls` of
 *   `GET /api/admin/health` read before the first POST and after the last end, less the calls the
 *   bench's own reads cause (`summary` for each health read, `position` for each GET of a job in
 *   line); "n/a" when the gateway does not count them;
 * - proof end → socket message: from the dev prover's end of a proof to the job's terminal message
 *   on its live-status WebSocket (one socket per job), median, p95, max;
 * - ETA error: how far the `estimate.finishAt` of each job's 202 was from its real finish, as a
 *   fraction of its real wait (median, p90);
 * - jobs succeeded/failed, proofs by each prover, and the span (wall).
 *
 *   npm run bench [-- --jobs 24] [--proof-ms 3000] [--provers 1,3] [--var NAME:VALUE ...] [--json]
 *                 [--warm]   (prove one tape per prover first: the ETAs start from measured speed)
 *
 * The gateway runs with wrangler.jsonc's vars (production's poll timings) and `--var` on top;
 * VERIFY_RECEIPTS is off (synthetic tapes get fake receipts) and MAX_JOB_WALL_TIME_MS grows when a
 * big backlog on one prover would outlast it. The Worker is bundled once at the start, so every
 * fleet size runs the same code and edits to the working tree during the run change nothing. `--json` also prints one JSON object per fleet size. Exit 1 when
 * a run could not be measured (the stack did not start, a job never ended), 2 on bad arguments.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isTerminal, type Job } from "../../src/core/job.ts";
import { buildTape } from "../../src/core/tape.ts";
import { audit } from "../ops/timeouts.ts";
import { parseVarFlag, readWranglerConfig } from "../ops/wrangler-config.ts";
import {
  dispatcherCalls,
  gapFigures,
  nearestRank,
  perMinute,
  READ_METHODS,
  table,
  utilization,
  waitingGaps,
  type BacklogJob,
  type DispatcherCalls,
  type GapFigures,
} from "./bench-figures.ts";
import { freePort, snapshotWorker, startStack, type Stack, localWranglerArgs } from "./stack.ts";
import { usageExit, wholeOption } from "./args.ts";

const USAGE =
  "usage: npm run bench [-- --jobs 24] [--proof-ms 3000] [--provers 1,3] [--var NAME:VALUE ...] [--json] [--warm]";
const usage = usageExit(USAGE);

function options() {
  try {
    return parseArgs({
      options: {
        jobs: { type: "string", default: "24" },
        "proof-ms": { type: "string", default: "3000" },
        provers: { type: "string", default: "1,3" },
        var: { type: "string", multiple: true, default: [] },
        json: { type: "boolean", default: false },
        warm: { type: "boolean", default: false },
      },
    }).values;
  } catch (e) {
    return usage(e instanceof Error ? e.message : String(e));
  }
}
const values = options();
const positive = wholeOption(usage);
const n = positive("jobs", values.jobs);
const proofMs = positive("proof-ms", values["proof-ms"]);
const fleets = values.provers.split(",").map((p) => positive("provers", p.trim()));

const wrangler = readWranglerConfig(
  fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url)),
);
const overrides: Record<string, string> = {};
try {
  for (const flag of values.var) {
    const [name, value] = parseVarFlag(flag);
    overrides[name] = value;
  }
} catch (e) {
  usage(e instanceof Error ? e.message : String(e));
}
// Synthetic tapes: the dev prover's receipts for them are fakes.
overrides.VERIFY_RECEIPTS ??= "off";
/** A var as the gateway will see it: the last --var, else wrangler.jsonc, else the default. */
const effective = (name: string, fallback: number) =>
  Number(overrides[name] ?? wrangler.vars?.[name] ?? fallback);
const interval = effective("PROVER_POLL_INTERVAL_MS", 10_000);
/** Adaptive polling's floor, when the config names one. */
const minInterval =
  overrides.PROVER_POLL_MIN_INTERVAL_MS ?? wrangler.vars?.PROVER_POLL_MIN_INTERVAL_MS;
// The last job of a one-prover backlog waits for every proof before it: keep it under the cap.
const wallCap = 60_000 + n * (proofMs + 2 * interval);
if (overrides.MAX_JOB_WALL_TIME_MS === undefined && wallCap > effective("MAX_JOB_WALL_TIME_MS", 0))
  overrides.MAX_JOB_WALL_TIME_MS = String(wallCap);
const problems = audit(wrangler, overrides).problems;
if (problems.length)
  usage(`these vars do not nest:\n${problems.map((p) => `  ${p.message}`).join("\n")}`);
const vars = Object.entries(overrides).map(([k, v]) => `${k}:${v}`);

/** N distinct valid tapes (as `npm run burst` makes them): the same backlog for every fleet. */
const tapes = Array.from({ length: n }, (_, i) => {
  const seed = (0x5eed0000 + i * 7919) >>> 0;
  const inputs = new Uint8Array(300 + (i % 7) * 10).map((_, f) => (f * 3 + i) & 0x0f);
  return buildTape({ seed, inputs, finalScore: 100 + i, finalRngState: (seed ^ 0x1234abcd) >>> 0 });
});
/** `--warm`: one tape per prover proved before the backlog, so the fleet's speed is measured. */
const warmTapes = Array.from({ length: 16 }, (_, i) => {
  const seed = (0x0a4d0000 + i * 104729) >>> 0;
  const inputs = new Uint8Array(320).map((_, f) => (f * 5 + i) & 0x0f);
  return buildTape({ seed, inputs, finalScore: 7 + i, finalRngState: (seed ^ 0x5a5a5a5a) >>> 0 });
});

/** A client address of its own for tape `i` (TEST-NET-3 and beyond: 203.0.113.0, …). */
const clientIp = (i: number) => `203.0.${113 + (i >> 8)}.${i & 0xff}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pct = (f: number | null) => (f === null ? "—" : `${Math.round(f * 100)}%`);
const num = (v: number | null, digits = 1) => (v === null ? "n/a" : v.toFixed(digits));

/** What one fleet size measured. */
interface Figures {
  provers: number;
  jobs: number;
  succeeded: number;
  failed: number;
  /** Jobs not ended when the run gave up on them. */
  notEnded: number;
  /** First POST → last job's end. */
  wallMs: number;
  proofsPerMinute: number | null;
  /** Per prover, in start order (the first is PROVER_BASE_URL). */
  utilization: (number | null)[];
  proofs: number[];
  idleGap: GapFigures;
  /** Each prover's gaps that `idleGap` pools, in acceptance order (for --json). */
  idleGaps: number[][];
  statusCallsPerJob: number;
  /** Null when /api/health has no `line.calls`. */
  dispatcher: (DispatcherCalls & { perJob: number }) | null;
  /**
   * Proof end on the dev prover → the job's terminal message on its WebSocket
   * (`/api/proofs/jobs/:id/ws`), ms; null when the gateway has no socket route.
   */
  proofEndToSocket: GapFigures | null;
  /**
   * How far the ETA given in the 202 was from the real finish, as a fraction of the real wait
   * (|promised − finished| / (finished − posted)): median and p90; null without estimates.
   */
  etaError: { count: number; median: number | null; p90: number | null } | null;
}

let running: Stack | undefined;
const work = mkdtempSync(join(tmpdir(), "gateway-bench-"));
let cleaning: Promise<void> | undefined;
const cleanUp = () =>
  (cleaning ??= (async () => {
    await running?.stop().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  })());
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const)
  process.on(signal, () => void cleanUp().then(() => process.exit(code)));

/** The bench's own stack runs with this admin token: the call counters are in the admin health. */
const ADMIN_TOKEN = `bench-${randomBytes(16).toString("hex")}`;

async function health(base: string): Promise<unknown> {
  const res = await fetch(`${base}/api/admin/health`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return res.json();
}

/** One fleet size on its own fresh stack; stops it before returning. */
async function bench(provers: number, config: string): Promise<Figures> {
  const port = await freePort();
  let output = "";
  const stack = await startStack({
    prover: { port: 0, proofMs },
    provers,
    wranglerArgs: [
      "-c",
      config,
      ...localWranglerArgs(port, mkdtempSync(join(work, `state-${provers}-`)), [
        ...vars,
        `ADMIN_TOKEN:${ADMIN_TOKEN}`,
      ]),
    ],
    onOutput: (text) => void (output = (output + text).slice(-20_000)),
  });
  running = stack;
  try {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      stack.ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("wrangler dev did not start in 60 s")), 60_000);
      }),
    ])
      .catch((e: unknown) => {
        throw new Error(`${e instanceof Error ? e.message : String(e)}:\n${output}`);
      })
      .finally(() => clearTimeout(timer));
    const base = `http://127.0.0.1:${port}`;
    if (values.warm) await warmUp(base, provers);
    const before = await health(base);

    const t0 = Date.now();
    // One after the other (a backlog within a second or so): each 202's ETA sees the line as
    // the players before it left it.
    const posted: { job: Job; postedAt: number; ended: boolean; promised: number | null }[] = [];
    for (const [i, bytes] of tapes.entries()) {
      const res = await fetch(`${base}/api/proofs/jobs`, {
        method: "POST",
        body: Buffer.from(bytes),
        headers: { "content-type": "application/octet-stream", "cf-connecting-ip": clientIp(i) },
      });
      const body = await res.json();
      if (res.status !== 202) throw new Error(`tape ${i}: ${res.status} ${JSON.stringify(body)}`);
      const promised = (body.estimate?.finishAt as number | undefined) ?? null;
      posted.push({ job: body.job as Job, postedAt: Date.now(), ended: false, promised });
    }

    // One live-status socket per job: when does its terminal message arrive?
    const socketAt = new Map<string, number>();
    const sockets = posted.map((p) => watch(base, p.job.jobId, socketAt));

    const deadline = t0 + n * (proofMs + 2 * interval) + 120_000;
    while (posted.some((p) => !p.ended) && Date.now() < deadline) {
      if (stack.gateway.exitCode !== null || stack.gateway.signalCode !== null)
        throw new Error(`wrangler dev exited during the run:\n${output}`);
      await Promise.all(
        posted
          .filter((p) => !p.ended)
          .map(async (p) => {
            try {
              const res = await fetch(`${base}/api/proofs/jobs/${p.job.jobId}`);
              if (res.status !== 200) return;
              p.job = ((await res.json()) as { job: Job }).job;
              p.ended = isTerminal(p.job.status);
            } catch {
              // read again next round
            }
          }),
      );
      await sleep(1_000);
    }
    const after = await health(base);
    await sleep(500); // a terminal message a hair behind the last GET
    for (const ws of sockets) ws?.close();

    const gpus = [stack.prover, ...stack.fleet];
    const stats = gpus.map((g) => g.stats());
    const provedAt = new Map(
      stats.flatMap((st) => st.timeline).map((e) => [e.id, e.finishedAt] as const),
    );
    const latencies = posted
      .filter((p) => p.job.status === "succeeded" && socketAt.has(p.job.jobId))
      .map((p) => socketAt.get(p.job.jobId)! - (provedAt.get(p.job.prover.jobId ?? "") ?? NaN))
      .filter((ms) => Number.isFinite(ms));
    const ends = posted.map((p) => p.job.finishedAt).filter((t): t is number => t !== null);
    const lastEnd = ends.length ? Math.max(...ends) : Date.now();
    const jobs: BacklogJob[] = posted.map((p) => ({
      postedAt: p.postedAt,
      acceptedAt: p.job.prover.acceptedAt,
      endedAt: p.job.finishedAt,
    }));
    const succeeded = posted.filter((p) => p.job.status === "succeeded").length;
    const calls = dispatcherCalls(before, after);
    return {
      provers,
      jobs: n,
      succeeded,
      failed: posted.filter((p) => p.job.status === "failed").length,
      notEnded: posted.filter((p) => !p.ended).length,
      wallMs: lastEnd - t0,
      proofsPerMinute: perMinute(succeeded, lastEnd - t0),
      utilization: stats.map((st) => utilization(st.timeline, t0, lastEnd)),
      proofs: stats.map((st) => st.timeline.filter((e) => e.outcome === "succeeded").length),
      idleGap: gapFigures(
        waitingGaps(
          stats.map((st) => st.timeline),
          jobs,
        ),
      ),
      idleGaps: stats.map((st) => waitingGaps([st.timeline], jobs)),
      statusCallsPerJob: stats.reduce((sum, st) => sum + st.polls, 0) / n,
      dispatcher: calls && { ...calls, perJob: calls.work / n },
      proofEndToSocket: socketAt.size ? gapFigures(latencies) : null,
      etaError: etaErrors(posted),
    };
  } finally {
    running = undefined;
    await stack.stop();
  }
}

/** Proves one tape per prover (one at a time per prover) and waits for them. */
async function warmUp(base: string, provers: number): Promise<void> {
  const ids = await Promise.all(
    warmTapes.slice(0, provers).map(async (bytes, i) => {
      const res = await fetch(`${base}/api/proofs/jobs`, {
        method: "POST",
        body: Buffer.from(bytes),
        headers: {
          "content-type": "application/octet-stream",
          "cf-connecting-ip": `198.51.100.${i}`,
        },
      });
      return ((await res.json()) as { job: Job }).job.jobId;
    }),
  );
  for (const id of ids) {
    for (;;) {
      const { job } = (await (await fetch(`${base}/api/proofs/jobs/${id}`)).json()) as { job: Job };
      if (isTerminal(job.status)) break;
      await sleep(200);
    }
  }
}

/** The ETA error of each succeeded job that was promised a finish in its 202. */
function etaErrors(
  posted: { job: Job; postedAt: number; promised: number | null }[],
): Figures["etaError"] {
  const errors = posted
    .filter((p) => p.job.status === "succeeded" && p.promised !== null && p.job.finishedAt)
    .map((p) => Math.abs(p.promised! - p.job.finishedAt!) / (p.job.finishedAt! - p.postedAt));
  if (!errors.length) return null;
  return {
    count: errors.length,
    median: nearestRank(errors, 0.5),
    p90: nearestRank(errors, 0.9),
  };
}

/**
 * Opens the job's live-status socket and notes when its terminal message arrives (null when the
 * runtime has no WebSocket client).
 */
function watch(base: string, jobId: string, at: Map<string, number>): WebSocket | null {
  try {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/api/proofs/jobs/${jobId}/ws`);
    ws.addEventListener("message", (e) => {
      const msg = JSON.parse(String(e.data)) as { job?: Job };
      if (msg.job && isTerminal(msg.job.status) && !at.has(jobId)) at.set(jobId, Date.now());
    });
    ws.addEventListener("error", () => {});
    return ws;
  } catch {
    return null;
  }
}

let code = 0;
const results: Figures[] = [];
try {
  const config = await snapshotWorker(join(work, "worker"));
  for (const provers of fleets) {
    try {
      const f = await bench(provers, config);
      results.push(f);
      console.log(
        `provers ${provers}: ${f.succeeded}/${n} succeeded, ${f.failed} failed${f.notEnded ? `, ${f.notEnded} NOT ENDED` : ""}, ${s(f.wallMs)}`,
      );
      if (f.notEnded) code = 1;
    } catch (e) {
      console.log(`provers ${provers}: FAILED ${e instanceof Error ? e.message : String(e)}`);
      code = 1;
    }
  }
} catch (e) {
  console.log(`bench: ${e instanceof Error ? e.message : String(e)}`);
  code = 1;
}

const gap = (g: GapFigures) =>
  g.median === null ? "—" : `${g.median}/${g.p95}/${g.max} ms (${g.count})`;
console.log(
  [
    "",
    `bench: ${n} jobs, proof ${proofMs} ms, PROVER_POLL_INTERVAL_MS ${interval}${minInterval === undefined ? "" : `, PROVER_POLL_MIN_INTERVAL_MS ${minInterval}`}${vars.length ? ` (--var ${vars.join(" ")})` : ""}`,
    ...table([
      [
        "provers",
        "proofs/min",
        "util (each)",
        "idle gap med/p95/max (n)",
        "status calls/job",
        "dispatcher calls/job",
        "ok/failed",
        "proofs (each)",
        "proof end → socket med/p95/max",
        "ETA error med/p90",
        "wall",
      ],
      ...results.map((f) => [
        String(f.provers),
        num(f.proofsPerMinute),
        f.utilization.map(pct).join(" "),
        gap(f.idleGap),
        num(f.statusCallsPerJob),
        f.dispatcher ? num(f.dispatcher.perJob) : "n/a",
        `${f.succeeded}/${f.failed}`,
        f.proofs.join(" "),
        f.proofEndToSocket ? gap(f.proofEndToSocket) : "n/a",
        f.etaError
          ? `${pct(f.etaError.median)}/${pct(f.etaError.p90)} (${f.etaError.count})`
          : "n/a",
        s(f.wallMs),
      ]),
    ]),
    ...results
      .filter((f) => f.dispatcher)
      .map(
        (f) =>
          `dispatcher calls by method, ${f.provers} prover(s), ${n} jobs: ${Object.entries(
            f.dispatcher!.byMethod,
          )
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(
              ([m, c]) =>
                `${m} ${c}${(READ_METHODS as readonly string[]).includes(m) ? " (bench reads, left out)" : ""}`,
            )
            .join(", ")}`,
      ),
  ].join("\n"),
);
if (values.json) for (const f of results) console.log(JSON.stringify({ proofMs, interval, ...f }));
await cleanUp();
process.exit(code);
