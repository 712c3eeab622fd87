/**
 * The local system as `npm run dev` and `npm run e2e` both run it: a dev prover with a fresh
 * API key, and `wrangler dev` for the gateway wired to it (prover URL and key passed as --var).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDevProver, type DevProver, type DevProverOptions } from "./prover-server.ts";

const WRANGLER_BIN = fileURLToPath(new URL("../../node_modules/wrangler/bin/wrangler.js", import.meta.url));

export interface Stack {
  prover: DevProver;
  gateway: ChildProcess;
  /** The gateway's URL once wrangler prints "Ready on …"; rejects if wrangler exits first. */
  ready: Promise<string>;
  /** Stops wrangler (waits for it to exit: SIGTERM, then SIGKILL after 10 s) and the dev prover. */
  stop(): Promise<void>;
}

export async function startStack(opts: {
  prover: Omit<DevProverOptions, "apiKey">;
  /** Extra `wrangler dev` arguments (`--port`, `--persist-to`, more `--var NAME:VALUE` …). */
  wranglerArgs: string[];
  /** Everything wrangler prints, as it prints it. */
  onOutput: (text: string, stream: "stdout" | "stderr") => void;
}): Promise<Stack> {
  const apiKey = `dev-${randomBytes(12).toString("hex")}`;
  const prover = await startDevProver({ ...opts.prover, apiKey });
  const vars = [`PROVER_BASE_URL:${prover.url}`, `PROVER_API_KEY:${apiKey}`];
  const gateway = spawn(
    process.execPath,
    [WRANGLER_BIN, "dev", ...vars.flatMap((v) => ["--var", v]), ...opts.wranglerArgs],
    { stdio: ["inherit", "pipe", "pipe"] },
  );
  const ready = new Promise<string>((resolve, reject) => {
    gateway.stdout!.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      opts.onOutput(text, "stdout");
      const m = /Ready on (http:\/\/\S+)/.exec(text);
      if (m) resolve(m[1]!.replace(/\/$/, ""));
    });
    gateway.stderr!.on("data", (chunk: Buffer) => opts.onOutput(chunk.toString(), "stderr"));
    gateway.on("exit", (code) => reject(new Error(`wrangler dev exited (${code}) before it was ready`)));
  });
  ready.catch(() => {}); // a caller that never awaits `ready` must not crash on it
  return {
    prover,
    gateway,
    ready,
    async stop() {
      await Promise.all([stopProcess(gateway, 10_000), prover.close()]);
    },
  };
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`; resolves once it has exited. */
function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
    const give = setTimeout(resolve, graceMs + 2_000); // never hang a shutdown on it
    child.once("exit", () => {
      clearTimeout(kill);
      clearTimeout(give);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** A throw-away local system for scripted runs (e2e, burst): its own port and state folder. */
export interface LocalRun {
  base: string;
  stack: Stack;
  /** Stops everything, deletes the state folder and exits with `code`. */
  finish(code: number): Promise<never>;
}

export async function startLocalRun(opts: { proofMs: number; vars: string[]; readyTimeoutMs?: number; name: string }): Promise<LocalRun> {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), `gateway-${opts.name}-`));
  let output = "";
  const stack = await startStack({
    prover: { port: 0, proofMs: opts.proofMs },
    wranglerArgs: ["--port", String(port), "--ip", "127.0.0.1", "--persist-to", state, ...opts.vars.flatMap((v) => ["--var", v])],
    onOutput: (text) => (output += text),
  });
  let finishing: Promise<never> | undefined;
  const finish = (code: number): Promise<never> =>
    (finishing ??= (async () => {
      await stack.stop().catch((e: unknown) => console.log(`stopping: ${e instanceof Error ? e.message : String(e)}`));
      rmSync(state, { recursive: true, force: true });
      process.exit(code);
    })());
  process.on("SIGINT", () => void finish(130));
  process.on("SIGTERM", () => void finish(143));
  let timer: NodeJS.Timeout | undefined;
  const limit = opts.readyTimeoutMs ?? 60_000;
  const tooLate = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`wrangler dev did not start within ${limit / 1000} s`)), limit);
  });
  try {
    await Promise.race([stack.ready, tooLate]);
  } catch (e) {
    console.log(`${e instanceof Error ? e.message : String(e)}:\n${output}`);
    return finish(1);
  } finally {
    clearTimeout(timer);
  }
  return { base: `http://127.0.0.1:${port}`, stack, finish };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}
