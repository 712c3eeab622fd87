/**
 * The workerd tests' dev provers, in a process of their own (test/support/global-setup.ts starts
 * it): vitest's main thread stalls while it transforms a starting file's modules, and a prover
 * sharing that thread would answer late, past the gateway's request timeout, for no reason a
 * real prover has. Every POST to the origin it prints starts a fresh set of three provers (the
 * configured one and two that fleet tests add at runtime) and answers their URLs. It exits when
 * its stdin closes (the parent is gone).
 *
 *   node test/support/prover-host.ts   → prints {"url":"http://127.0.0.1:PORT"} on one line
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startDevProver, type DevProver } from "../../tools/dev/prover-server.ts";
import type { ProverSet } from "./prover-sets.ts";
import { TEST_API_KEY, TEST_PROOF_MS } from "./test-vars.ts";

const provers: DevProver[] = [];
const start = async () => {
  const p = await startDevProver({
    port: 0,
    apiKey: TEST_API_KEY,
    proofMs: TEST_PROOF_MS,
    queuedMs: 20,
  });
  provers.push(p);
  return p;
};
const server = createServer((req, res) => {
  if (req.method !== "POST") return void res.writeHead(405).end();
  Promise.all([start(), start(), start()]).then(
    ([prover, ...fleet]) => {
      const set: ProverSet = { proverUrl: prover!.url, fleetUrls: fleet.map((p) => p.url) };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(set));
    },
    (e: unknown) => res.writeHead(500).end(String(e)),
  );
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
process.stdout.write(
  `${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`,
);

let closing = false;
async function close() {
  if (closing) return;
  closing = true;
  server.closeAllConnections();
  server.close();
  await Promise.all(provers.map((p) => p.close()));
  process.exit(0);
}
process.stdin.on("close", () => void close());
process.stdin.resume();
process.on("SIGTERM", () => void close());
