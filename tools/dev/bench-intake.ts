/**
 * `npm run bench:intake`: how many tapes per second the gateway takes in, against a bare Hono
 * Worker that only reads the body (tools/dev/bench-intake-bare.ts), in one run on one machine:
 * figures, never a pass/fail on speed.
 *
 * Both run under their own local `wrangler dev` (the gateway bundled once at the start, with a dev
 * prover whose one proof outlasts the run: the prover side never moves, every job waits in line).
 * Each is driven the same way: `--concurrency` requests in flight for `--seconds`, each body a
 * distinct valid tape of the same size (the real game tape of ../shared/fixtures with its seed
 * changed and its CRC-32 set again: a new SHA-256 that parses), each from a client address of its
 * own (so neither the intake rate limit nor MAX_WAITING_PER_CLIENT bites). The gateway's answers
 * must be 202 (new jobs); anything else is counted as an error and shown. After a warm-up of
 * both, `--rounds` rounds alternate which goes first. It prints requests/s (answers per second of
 * the measured span), latency p50/p99 of each, per round and over all rounds, and the ratio.
 * The local state (Durable Objects' SQLite, R2, queues) lives in memory (/dev/shm) where the
 * machine has it: on disk, every object's commit waits for an fsync and the figures measure this
 * machine's disk (4× fewer intakes on a busy one), not the Worker; `--disk` measures that too.
 *
 * `--no-consumer` runs the gateway without its queue consumers: the intake alone, without the
 * dispatch of every job it takes in (which production runs in other invocations) on the same CPU.
 *
 *   npm run bench:intake [-- --concurrency 16] [--seconds 10] [--warmup 3] [--rounds 2]
 *                        [--tape test-real-game] [--disk] [--no-consumer] [--json]
 *
 * Exit 1 when a stack did not start or a target answered nothing but errors, 2 on bad arguments.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { crc32, HEADER_BYTES, parseTape } from "../../src/core/tape.ts";
import { readWranglerConfig } from "../ops/wrangler-config.ts";
import { nearestRank, table } from "./bench-figures.ts";
import { freePort, localWranglerArgs, snapshotWorker, startStack, type Stack } from "./stack.ts";
import { usageExit, wholeOption } from "./args.ts";

const USAGE =
  "usage: npm run bench:intake [-- --concurrency 16] [--seconds 10] [--warmup 3] [--rounds 2] [--tape test-real-game] [--disk] [--no-consumer] [--json]";
const usage = usageExit(USAGE);

function options() {
  try {
    return parseArgs({
      options: {
        concurrency: { type: "string", default: "16" },
        seconds: { type: "string", default: "10" },
        warmup: { type: "string", default: "3" },
        rounds: { type: "string", default: "2" },
        tape: { type: "string", default: "test-real-game" },
        disk: { type: "boolean", default: false },
        "no-consumer": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
      },
    }).values;
  } catch (e) {
    return usage(e instanceof Error ? e.message : String(e));
  }
}
const values = options();
const positive = wholeOption(usage);
const concurrency = positive("concurrency", values.concurrency);
const seconds = positive("seconds", values.seconds);
const warmup = positive("warmup", values.warmup);
const rounds = positive("rounds", values.rounds);
if (!["test-short", "test-medium", "test-real-game"].includes(values.tape))
  usage(`--tape is test-short, test-medium or test-real-game, not "${values.tape}"`);

const WRANGLER_BIN = fileURLToPath(
  new URL("../../node_modules/wrangler/bin/wrangler.js", import.meta.url),
);
const BARE_WORKER = fileURLToPath(new URL("./bench-intake-bare.ts", import.meta.url));
const FIXTURE = fileURLToPath(
  new URL(`../../../shared/fixtures/${values.tape}.tape`, import.meta.url),
);
const wrangler = readWranglerConfig(
  fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url)),
);

const base = new Uint8Array(readFileSync(FIXTURE));
const facts = parseTape(base);
const trailer = HEADER_BYTES + facts.frameCount;
const salt = randomBytes(4).readUInt32LE(0);

/**
 * The fixture tape with seed `salt + i` and its CRC-32 set again: valid, the same size, and a
 * SHA-256 of its own for every `i` (within 2^32).
 */
export function tapeVariant(i: number): Uint8Array {
  const bytes = new Uint8Array(base);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, (salt + i) >>> 0, true);
  view.setUint32(trailer + 8, crc32(bytes.subarray(0, trailer)), true);
  return bytes;
}
// A variant the gateway would refuse would measure its 400s: checked once, here.
parseTape(tapeVariant(0));

/** A client address of its own for request `i` (10.0.0.0/8: 16 M of them). */
const clientIp = (i: number) => `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`;

interface Run {
  /** Answers with the expected status per second of the measured span. */
  perSecond: number;
  ok: number;
  errors: number;
  /** Up to 3 distinct unexpected answers (status and the start of the body, or the throw). */
  samples: string[];
  p50: number | null;
  p99: number | null;
}

let next = 0;

/** `concurrency` requests in flight against `url` for `ms`; each body a new tape. */
async function drive(url: string, ms: number): Promise<Run> {
  const latencies: number[] = [];
  const samples = new Set<string>();
  let ok = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const i = next++;
      const sent = performance.now();
      try {
        const res = await fetch(url, {
          method: "POST",
          body: Buffer.from(tapeVariant(i)),
          headers: { "content-type": "application/octet-stream", "cf-connecting-ip": clientIp(i) },
        });
        const text = await res.text();
        if (res.status === 202) {
          ok++;
          latencies.push(performance.now() - sent);
        } else {
          errors++;
          if (samples.size < 3) samples.add(`${res.status} ${text.slice(0, 200)}`);
        }
      } catch (e) {
        errors++;
        if (samples.size < 3) samples.add(e instanceof Error ? e.message : String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const span = performance.now() - start;
  const round = (v: number | null) => (v === null ? null : Math.round(v));
  return {
    perSecond: (ok * 1000) / span,
    ok,
    errors,
    samples: [...samples],
    p50: round(nearestRank(latencies, 0.5)),
    p99: round(nearestRank(latencies, 0.99)),
  };
}

const stateRoot = values.disk || !existsSync("/dev/shm") ? tmpdir() : "/dev/shm";
const work = mkdtempSync(join(stateRoot, "gateway-bench-intake-"));
let gateway: Stack | undefined;
let bare: ChildProcess | undefined;
let cleaning: Promise<void> | undefined;
const cleanUp = () =>
  (cleaning ??= (async () => {
    await Promise.all([gateway?.stop().catch(() => {}), bare && stopChild(bare)]);
    rmSync(work, { recursive: true, force: true });
  })());
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const)
  process.on(signal, () => void cleanUp().then(() => process.exit(code)));

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => (clearTimeout(kill), resolve()));
    child.kill("SIGTERM");
  });
}

/** Resolves with the URL once `wrangler dev` prints "Ready on …"; rejects after 60 s or on exit. */
function readyOf(child: ChildProcess, output: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`wrangler dev did not start in 60 s:\n${output()}`)),
      60_000,
    );
    child.stdout!.on("data", (chunk: Buffer) => {
      const m = /Ready on (http:\/\/\S+)/.exec(chunk.toString());
      if (m) (clearTimeout(timer), resolve(m[1]!.replace(/\/$/, "")));
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`wrangler dev exited (${code}) before it was ready:\n${output()}`));
    });
  });
}

/** The bare Worker under its own wrangler dev (same compatibility date as the gateway). */
async function startBare(): Promise<string> {
  const config = join(work, "bare.json");
  writeFileSync(
    config,
    JSON.stringify({
      name: "bench-intake-bare",
      main: BARE_WORKER,
      compatibility_date: wrangler.compatibility_date,
      compatibility_flags: wrangler.compatibility_flags ?? [],
    }),
  );
  const port = await freePort();
  let output = "";
  bare = spawn(
    process.execPath,
    [WRANGLER_BIN, "dev", "-c", config, ...localWranglerArgs(port, join(work, "bare-state"), [])],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  bare.stdout!.on("data", (c: Buffer) => void (output = (output + c.toString()).slice(-20_000)));
  bare.stderr!.on("data", (c: Buffer) => void (output = (output + c.toString()).slice(-20_000)));
  await readyOf(bare, () => output);
  return `http://127.0.0.1:${port}/api/proofs/jobs`;
}

/** The gateway, bundled once, with a dev prover whose single proof outlasts the run. */
async function startGateway(): Promise<string> {
  const config = await snapshotWorker(join(work, "worker"));
  if (values["no-consumer"]) {
    const bundled = JSON.parse(readFileSync(config, "utf8")) as {
      queues?: { consumers?: unknown };
    };
    delete bundled.queues?.consumers;
    writeFileSync(config, JSON.stringify(bundled, null, 2));
  }
  const port = await freePort();
  let output = "";
  gateway = await startStack({
    prover: { port: 0, proofMs: 3_600_000 },
    wranglerArgs: [
      "-c",
      config,
      ...localWranglerArgs(port, join(work, "gateway-state"), [
        "VERIFY_RECEIPTS:off",
        "MAX_JOB_WALL_TIME_MS:7200000",
        "PROVER_POLL_TIMEOUT_MS:7000000",
      ]),
    ],
    onOutput: (text) => void (output = (output + text).slice(-20_000)),
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    gateway.ready,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("wrangler dev did not start in 60 s")), 60_000);
    }),
  ])
    .catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}:\n${output}`);
    })
    .finally(() => clearTimeout(timer));
  return `http://127.0.0.1:${port}/api/proofs/jobs`;
}

const targets = ["gateway", "bare"] as const;
type Target = (typeof targets)[number];
const results: Record<Target, Run[]> = { gateway: [], bare: [] };
let code = 0;
try {
  const [gatewayUrl, bareUrl] = await Promise.all([startGateway(), startBare()]);
  const urls: Record<Target, string> = { gateway: gatewayUrl, bare: bareUrl };
  for (const t of targets) await drive(urls[t], warmup * 1000);
  for (let r = 0; r < rounds; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      results[t].push(await drive(urls[t], seconds * 1000));
    }
  }
  if (targets.some((t) => results[t].every((run) => run.ok === 0))) code = 1;
} catch (e) {
  console.log(`bench:intake: ${e instanceof Error ? e.message : String(e)}`);
  code = 1;
}

const f1 = (v: number) => v.toFixed(1);
const mean = (runs: Run[]) => runs.reduce((s, r) => s + r.perSecond, 0) / (runs.length || 1);
const row = (t: Target, label: string, runs: Run[]) => [
  t,
  label,
  f1(mean(runs)),
  runs.map((r) => `${r.p50 ?? "—"}/${r.p99 ?? "—"}`).join(" "),
  String(runs.reduce((s, r) => s + r.ok, 0)),
  String(runs.reduce((s, r) => s + r.errors, 0)),
];
const ratio = mean(results.bare) > 0 ? mean(results.gateway) / mean(results.bare) : null;
console.log(
  [
    "",
    `bench:intake: ${concurrency} in flight, ${seconds} s × ${rounds} round(s) each after ${warmup} s of warm-up, ${values.tape}.tape variants (${base.length} bytes), state in ${stateRoot}${values["no-consumer"] ? ", no queue consumer" : ""}`,
    ...table([
      ["target", "round", "req/s", "latency p50/p99 ms", "202s", "errors"],
      ...targets.flatMap((t) => [
        ...results[t].map((run, i) => row(t, String(i + 1), [run])),
        row(t, "all", results[t]),
      ]),
    ]),
    ...results.gateway.map((run, i) => {
      const b = results.bare[i];
      return `round ${i + 1}: gateway/bare ${b && b.perSecond > 0 ? (run.perSecond / b.perSecond).toFixed(2) : "n/a"}`;
    }),
    `gateway/bare: ${ratio === null ? "n/a" : ratio.toFixed(2)}`,
    ...targets.flatMap((t) =>
      [...new Set(results[t].flatMap((r) => r.samples))].map((s) => `${t} error: ${s}`),
    ),
  ].join("\n"),
);
if (values.json) console.log(JSON.stringify({ concurrency, seconds, rounds, ratio, ...results }));
await cleanUp();
process.exit(code);
