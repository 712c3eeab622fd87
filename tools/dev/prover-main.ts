/**
 * CLI for the dev prover (used by `npm run dev` and by hand):
 *   node tools/dev/prover-main.ts [--port 8790] [--api-key K] [--proof-ms 1500]
 *                               [--proof-ms-per-frame 0] [--seed N] [--fault-rate 0.1]
 * Env fallbacks: DEV_PROVER_PORT, DEV_PROVER_API_KEY, DEV_PROVER_PROOF_MS.
 */
import { parseArgs } from "node:util";
import { startDevProver } from "./prover-server.ts";

function num(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`dev prover: ${name} must be a non-negative number, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string" },
    "api-key": { type: "string" },
    "proof-ms": { type: "string" },
    "proof-ms-per-frame": { type: "string" },
    seed: { type: "string" },
    "fault-rate": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(
    "usage: node tools/dev/prover-main.ts [--port 8790] [--host 127.0.0.1] [--api-key K] [--proof-ms 1500]\n" +
      "                                  [--proof-ms-per-frame 0] [--seed N] [--fault-rate 0.1]\n" +
      "env: DEV_PROVER_PORT, DEV_PROVER_API_KEY, DEV_PROVER_PROOF_MS",
  );
  process.exit(0);
}

const env = process.env;
const port = num("--port", values.port ?? env.DEV_PROVER_PORT, 8790);
const apiKey = values["api-key"] ?? (env.DEV_PROVER_API_KEY || undefined);
const proofMs = num("--proof-ms", values["proof-ms"] ?? env.DEV_PROVER_PROOF_MS, 1500);
const proofMsPerFrame = num("--proof-ms-per-frame", values["proof-ms-per-frame"], 0);
const seed = num("--seed", values.seed, 1);
const faultRate = num("--fault-rate", values["fault-rate"], 0);

const stamp = () => new Date().toISOString().slice(11, 23);
const prover = await startDevProver({
  port,
  host: values.host ?? "127.0.0.1",
  apiKey,
  proofMs,
  proofMsPerFrame,
  seed,
  log: (line) => console.log(`${stamp()} ${line}`),
});
if (faultRate > 0) prover.setRandomFaults({ rate: Math.min(1, faultRate), seed });

const timing =
  proofMsPerFrame > 0 ? `${proofMs} ms + ${proofMsPerFrame} ms/frame` : `${proofMs} ms`;
console.log(
  `dev prover listening on ${prover.url} (auth: ${apiKey ? "on" : "off"}, proof time: ${timing}` +
    `${faultRate > 0 ? `, random faults: ${faultRate} seed ${seed}` : ""})`,
);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`dev prover: ${signal}, shutting down`);
  prover.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
