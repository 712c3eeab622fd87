/**
 * `npm run dev`: the whole system on this machine. Starts the dev prover and `wrangler dev`
 * for the gateway, wired together (tools/dev/stack.ts), prints both URLs, and stops both on
 * Ctrl-C. `npm run dev -- --provers 3` starts three dev provers (a fleet, wired in through
 * PROVER_BASE_URLS). Other arguments go to wrangler: `npm run dev -- --port 8788`.
 * Env: DEV_PROVER_PORT (8790), DEV_PROVER_PROOF_MS (3000), DEV_PROVER_PROOF_MS_PER_FRAME (0).
 */
import { startStack } from "./stack.ts";

const env = process.env;
const args = process.argv.slice(2);
const at = args.indexOf("--provers");
const provers = at === -1 ? 1 : Number(args[at + 1]);
if (!Number.isInteger(provers) || provers < 1 || provers > 16) {
  console.error("--provers wants a whole number from 1 to 16");
  process.exit(2);
}
const wranglerArgs = at === -1 ? args : [...args.slice(0, at), ...args.slice(at + 2)];
const stamp = () => new Date().toISOString().slice(11, 23);

const stack = await startStack({
  prover: {
    port: Number(env.DEV_PROVER_PORT ?? 8790),
    proofMs: Number(env.DEV_PROVER_PROOF_MS ?? 3000),
    proofMsPerFrame: Number(env.DEV_PROVER_PROOF_MS_PER_FRAME ?? 0),
    log: (line) => console.log(`${stamp()} [prover] ${line}`),
  },
  provers,
  wranglerArgs,
  onOutput: (text, stream) => (stream === "stdout" ? process.stdout : process.stderr).write(text),
});

let stopping = false;
const stop = (code: number) => {
  if (stopping) return;
  stopping = true;
  void stack.stop().finally(() => process.exit(code));
};
stack.gateway.on("exit", (code) => stop(code ?? 0));
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

const url = await stack.ready;
console.log(
  [
    "",
    `  gateway      ${url}    (POST ${url}/api/proofs/jobs, GET ${url}/api/health)`,
    ...[stack.prover, ...stack.fleet].map(
      (p) => `  dev prover   ${p.url}    (control: ${p.url}/__dev/stats)`,
    ),
    "",
    `  try: curl -s --data-binary @../shared/fixtures/test-real-game.tape -H 'content-type: application/octet-stream' ${url}/api/proofs/jobs`,
    "",
  ].join("\n"),
);
