/**
 * The local system as `npm run dev` and `npm run e2e` both run it: a dev prover with a fresh
 * API key, and `wrangler dev` for the gateway wired to it (prover URL and key passed as --var).
 * With `crashable`, wrangler dev runs in its own process group so `npm run chaos` can SIGKILL it
 * together with its workerd children, as a crash would, and start it again on the same port and
 * state.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { readWranglerConfig } from "../ops/wrangler-config.ts";
import { startDevProver, type DevProver, type DevProverOptions } from "./prover-server.ts";

const WRANGLER_BIN = fileURLToPath(
  new URL("../../node_modules/wrangler/bin/wrangler.js", import.meta.url),
);
const WRANGLER_CONFIG = fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url));

/**
 * `wrangler dev` on loopback at `port`, its state in `persistTo`, each of `vars` (`NAME:VALUE`) as
 * a `--var`: the arguments every local run shares (the config file comes before them).
 */
export const localWranglerArgs = (port: number, persistTo: string, vars: readonly string[]) => [
  "--port",
  String(port),
  "--ip",
  "127.0.0.1",
  "--persist-to",
  persistTo,
  ...vars.flatMap((v) => ["--var", v]),
];

/**
 * Bundles the Worker once (`wrangler deploy --dry-run`) into `dir` with a copy of wrangler.jsonc
 * that runs that bundle as it is; returns the copy's path, for `wrangler dev -c`. wrangler dev
 * then never rebuilds or reloads when someone edits src/ or wrangler.jsonc during a long run.
 */
export async function snapshotWorker(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  try {
    await promisify(execFile)(
      process.execPath,
      [WRANGLER_BIN, "deploy", "--dry-run", "--outdir", dir],
      { maxBuffer: 16 << 20 },
    );
  } catch (e) {
    const out = e as { stdout?: string; stderr?: string };
    throw new Error(`bundling the Worker failed:\n${out.stdout ?? ""}${out.stderr ?? String(e)}`);
  }
  const { $schema: _, ...config } = readWranglerConfig(WRANGLER_CONFIG) as Record<string, unknown>;
  // The copy lives elsewhere: the page's static assets stay where they are (the working tree).
  const assets = config.assets as { directory: string } | undefined;
  if (assets)
    config.assets = { ...assets, directory: resolve(WRANGLER_CONFIG, "..", assets.directory) };
  const path = join(dir, "wrangler.json");
  writeFileSync(path, JSON.stringify({ ...config, main: "index.js", no_bundle: true }, null, 2));
  return path;
}

export interface Stack {
  prover: DevProver;
  /** The other dev provers of the fleet (`provers` > 1), wired in through PROVER_BASE_URLS. */
  fleet: DevProver[];
  /** The running wrangler dev (a new process after `startGateway`). */
  gateway: ChildProcess;
  /** The gateway's URL once wrangler prints "Ready on …"; rejects if wrangler exits first. */
  ready: Promise<string>;
  /** Stops wrangler (waits for it to exit: SIGTERM, then SIGKILL after 10 s) and the dev prover. */
  stop(): Promise<void>;
  /**
   * Only with `crashable`: SIGKILLs wrangler dev's whole process group (wrangler and workerd), as a
   * crash would, and resolves once none of it runs any more and its port refuses connections.
   */
  killGateway(): Promise<void>;
  /**
   * Starts wrangler dev again with the same arguments (same port, same --persist-to); updates
   * `gateway` and `ready`.
   */
  startGateway(): void;
}

export async function startStack(opts: {
  prover: Omit<DevProverOptions, "apiKey">;
  /**
   * How many dev provers (default 1): the others start like the first, on the next ports when
   * the first has a fixed one.
   */
  provers?: number;
  /** Options for prover `index` (0-based) alone, over `prover` (e.g. one hostile box). */
  each?: (index: number) => Omit<DevProverOptions, "apiKey" | "port">;
  /** Extra `wrangler dev` arguments (`--port`, `--persist-to`, more `--var NAME:VALUE` …). */
  wranglerArgs: string[];
  /** Everything wrangler prints, as it prints it. */
  onOutput: (text: string, stream: "stdout" | "stderr") => void;
  /**
   * Run wrangler dev in its own process group, stdin closed, so `killGateway` can take it down
   * whole.
   */
  crashable?: boolean;
}): Promise<Stack> {
  const apiKey = `dev-${randomBytes(12).toString("hex")}`;
  const prover = await startDevProver({ ...opts.prover, ...opts.each?.(0), apiKey });
  const fleet = await Promise.all(
    Array.from({ length: Math.max(0, (opts.provers ?? 1) - 1) }, (_, i) =>
      startDevProver({
        ...opts.prover,
        ...opts.each?.(i + 1),
        apiKey,
        port: opts.prover.port ? opts.prover.port + i + 1 : 0,
      }),
    ),
  );
  // The dev prover may be told to report `accelerator: "cpu"`: it still gets work here.
  const vars = [`PROVER_BASE_URL:${prover.url}`, `PROVER_API_KEY:${apiKey}`, "PROVER_ALLOW_CPU:1"];
  if (fleet.length) vars.push(`PROVER_BASE_URLS:${fleet.map((p) => p.url).join(",")}`);
  const crashable = opts.crashable ?? false;
  let stopped = false;
  let url: string | undefined;

  const spawnGateway = () => {
    const gateway = spawn(
      process.execPath,
      [WRANGLER_BIN, "dev", ...vars.flatMap((v) => ["--var", v]), ...opts.wranglerArgs],
      {
        stdio: [crashable ? "ignore" : "inherit", "pipe", "pipe"],
        detached: crashable,
      },
    );
    // Never leave a process group behind when this process exits without stopping it.
    const orphanGuard = () => killGroup(gateway);
    if (crashable) process.once("exit", orphanGuard);
    gateway.once("exit", () => process.off("exit", orphanGuard));
    const ready = new Promise<string>((resolve, reject) => {
      gateway.stdout!.on("data", (chunk: Buffer) => {
        const text = chunk.toString();
        opts.onOutput(text, "stdout");
        const m = /Ready on (http:\/\/\S+)/.exec(text);
        if (m) resolve((url = m[1]!.replace(/\/$/, "")));
      });
      gateway.stderr!.on("data", (chunk: Buffer) => opts.onOutput(chunk.toString(), "stderr"));
      gateway.on("exit", (code) =>
        reject(new Error(`wrangler dev exited (${code}) before it was ready`)),
      );
    });
    ready.catch(() => {}); // a caller that never awaits `ready` must not crash on it
    return { gateway, ready };
  };

  const stack: Stack = {
    prover,
    fleet,
    ...spawnGateway(),
    async stop() {
      stopped = true;
      await Promise.all([
        stopProcess(stack.gateway, 10_000, crashable),
        ...[prover, ...fleet].map((p) => p.close()),
      ]);
    },
    async killGateway() {
      if (!crashable) throw new Error("killGateway needs startStack({ crashable: true })");
      const { gateway } = stack;
      const exited = new Promise<void>((resolve) =>
        gateway.exitCode !== null || gateway.signalCode !== null
          ? resolve()
          : gateway.once("exit", () => resolve()),
      );
      killGroup(gateway);
      await exited;
      const port = url ? Number(new URL(url).port) : undefined;
      const deadline = Date.now() + 10_000;
      for (;;) {
        const alive = groupMembers(gateway.pid!);
        const listening = port !== undefined && !(await portRefuses(port));
        if (alive.length === 0 && !listening) return;
        if (Date.now() > deadline) {
          throw new Error(
            `after SIGKILL: ${alive.length ? `pids ${alive.join(", ")} still run` : ""}${listening ? ` port ${port} still accepts connections` : ""}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    startGateway() {
      if (stopped) throw new Error("the stack is stopped");
      Object.assign(stack, spawnGateway());
    },
  };
  return stack;
}

/** SIGKILL to a detached child's process group (it leads it); quiet if it is gone already. */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // ESRCH: nothing left in the group
  }
}

/**
 * Pids of the live (not zombie) processes in process group `pgid`, from /proc (Linux). Elsewhere
 * it only knows whether a signal still reaches the group, and a zombie counts as alive.
 */
function groupMembers(pgid: number): number[] {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  return pids.map(Number).filter((pid) => {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp …"; comm may contain spaces or parentheses.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return Number(pgrp) === pgid && state !== "Z";
    } catch {
      return false; // it ended while we looked
    }
  });
}

/** True when nothing accepts TCP connections on 127.0.0.1:`port`. */
function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => (socket.destroy(), resolve(false)));
    socket.once("error", () => resolve(true));
  });
}

/**
 * SIGTERM, then SIGKILL (its whole group when `group`) if it is still there after `graceMs`;
 * resolves once it has exited.
 */
function stopProcess(child: ChildProcess, graceMs: number, group = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => (group ? killGroup(child) : child.kill("SIGKILL")), graceMs);
    const give = setTimeout(resolve, graceMs + 2_000); // never hang a shutdown on it
    child.once("exit", () => {
      clearTimeout(kill);
      clearTimeout(give);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * A throw-away local system for scripted runs (e2e, burst, chaos): its own port and state folder.
 */
export interface LocalRun {
  base: string;
  /** The port wrangler dev listens on (kept across `startGateway`). */
  port: number;
  stack: Stack;
  /**
   * Resolves once the (re)started gateway is ready; rejects after `readyTimeoutMs` or if wrangler
   * exits.
   */
  gatewayReady(): Promise<void>;
  /** The last 200 kB wrangler printed. */
  output(): string;
  /** Stops everything, deletes the state folder and exits with `code`. */
  finish(code: number): Promise<never>;
}

const OUTPUT_KEEP = 200_000;

export async function startLocalRun(opts: {
  proofMs: number;
  vars: string[];
  readyTimeoutMs?: number;
  name: string;
  /** More dev prover options (seed, restart outage …). */
  prover?: Omit<DevProverOptions, "apiKey" | "port" | "proofMs">;
  /** See `startStack`. */
  crashable?: boolean;
  /** How many dev provers (default 1; see `startStack`). */
  provers?: number;
  /** See `startStack`. */
  each?: (index: number) => Omit<DevProverOptions, "apiKey" | "port">;
  /** Also gets everything wrangler prints. */
  onOutput?: (text: string) => void;
  /**
   * Run a bundle built at start (`snapshotWorker`), not the working tree: edits during the run
   * change nothing.
   */
  snapshot?: boolean;
}): Promise<LocalRun> {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), `gateway-${opts.name}-`));
  let config: string[] = [];
  if (opts.snapshot) {
    try {
      config = ["-c", await snapshotWorker(join(state, "worker"))];
    } catch (e) {
      rmSync(state, { recursive: true, force: true });
      throw e;
    }
  }
  let output = "";
  const stack = await startStack({
    prover: { ...opts.prover, port: 0, proofMs: opts.proofMs },
    provers: opts.provers,
    each: opts.each,
    wranglerArgs: [...config, ...localWranglerArgs(port, state, opts.vars)],
    onOutput: (text) => {
      output = (output + text).slice(-OUTPUT_KEEP);
      opts.onOutput?.(text);
    },
    crashable: opts.crashable,
  });
  let finishing: Promise<never> | undefined;
  const finish = (code: number): Promise<never> =>
    (finishing ??= (async () => {
      await stack
        .stop()
        .catch((e: unknown) =>
          console.log(`stopping: ${e instanceof Error ? e.message : String(e)}`),
        );
      rmSync(state, { recursive: true, force: true });
      process.exit(code);
    })());
  process.on("SIGINT", () => void finish(130));
  process.on("SIGTERM", () => void finish(143));
  const limit = opts.readyTimeoutMs ?? 60_000;
  const gatewayReady = async () => {
    let timer: NodeJS.Timeout | undefined;
    const tooLate = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`wrangler dev did not start within ${limit / 1000} s`)),
        limit,
      );
    });
    try {
      await Promise.race([stack.ready, tooLate]);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    await gatewayReady();
  } catch (e) {
    console.log(`${e instanceof Error ? e.message : String(e)}:\n${output}`);
    return finish(1);
  }
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    stack,
    gatewayReady,
    output: () => output,
    finish,
  };
}

/** A TCP port nothing listens on now (127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}
