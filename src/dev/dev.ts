/**
 * `npm run dev`: the whole system on this machine. Starts the dev prover and `wrangler dev`
 * for the gateway, wired together (prover URL and API key passed as --var), prints both URLs,
 * and stops both on Ctrl-C. Extra arguments go to wrangler: `npm run dev -- --port 8788`.
 * Env: DEV_PROVER_PORT (8790), DEV_PROVER_PROOF_MS (3000), DEV_PROVER_PROOF_MS_PER_FRAME (0).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { startDevProver } from "./prover-server.ts";

const env = process.env;
const apiKey = `dev-${randomBytes(12).toString("hex")}`;
const stamp = () => new Date().toISOString().slice(11, 23);

const prover = await startDevProver({
  port: Number(env.DEV_PROVER_PORT ?? 8790),
  apiKey,
  proofMs: Number(env.DEV_PROVER_PROOF_MS ?? 3000),
  proofMsPerFrame: Number(env.DEV_PROVER_PROOF_MS_PER_FRAME ?? 0),
  log: (line) => console.log(`${stamp()} [prover] ${line}`),
});

const wranglerBin = fileURLToPath(new URL("../../node_modules/wrangler/bin/wrangler.js", import.meta.url));
const args = [
  wranglerBin,
  "dev",
  "--var",
  `PROVER_BASE_URL:${prover.url}`,
  "--var",
  `PROVER_API_KEY:${apiKey}`,
  ...process.argv.slice(2),
];
const gateway = spawn(process.execPath, args, { stdio: ["inherit", "pipe", "inherit"], env });

let announced = false;
gateway.stdout.on("data", (chunk: Buffer) => {
  const text = chunk.toString();
  process.stdout.write(text);
  const ready = /Ready on (http:\/\/\S+)/.exec(text);
  if (ready && !announced) {
    announced = true;
    const url = ready[1]!.replace(/\/$/, "");
    console.log(
      [
        "",
        `  gateway      ${url}    (POST ${url}/api/proofs/jobs, GET ${url}/api/health)`,
        `  dev prover   ${prover.url}    (control: ${prover.url}/__dev/stats)`,
        "",
        `  try: curl -s --data-binary @../shared/fixtures/test-real-game.tape -H 'content-type: application/octet-stream' ${url}/api/proofs/jobs`,
        "",
      ].join("\n"),
    );
  }
});

let stopping = false;
const stop = (code: number) => {
  if (stopping) return;
  stopping = true;
  gateway.kill("SIGTERM");
  void prover.close().finally(() => process.exit(code));
};
gateway.on("exit", (code) => stop(code ?? 0));
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
