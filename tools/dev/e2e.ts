/**
 * `npm run e2e`: an end-to-end run of the real thing on this machine, timed. Starts the dev
 * prover and `wrangler dev` (queues, Durable Objects, alarms and R2 all local), posts the shared
 * fixture tapes as a player would, follows each job through the public API to its end, checks
 * each stored result against its tape, and prints the timings. It uses the typed client
 * (src/client): submit, then watch each job on its WebSocket. Receipts are verified (the
 * gateway's default): test-real-game.tape gets the real GPU receipt from ../shared/fixtures and
 * must succeed with it verified (its on-chain seal equal to the fixture's); test-medium.tape gets
 * a fake, which the gateway must refuse (receipt_invalid, never succeeded), after which the run
 * cancels it with its cancel token. With `--var VERIFY_RECEIPTS:off` both must succeed. Exits
 * non-zero on any surprise.
 *
 *   npm run e2e [-- --proof-ms 3000] [--var NAME:VALUE ...]   (vars go to wrangler dev)
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { journalMismatch } from "../../src/core/result-checks.ts";
import { parseTape, RULES_DIGEST_AST3 } from "../../src/core/tape.ts";
import { isTerminal } from "../../src/core/job.ts";
import { createGatewayClient } from "../../src/client/index.ts";
import { startLocalRun } from "./stack.ts";

const { values } = parseArgs({
  options: {
    "proof-ms": { type: "string", default: "3000" },
    var: { type: "string", multiple: true, default: [] },
    "timeout-s": { type: "string", default: "120" },
  },
});

const fixtures = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const t0 = Date.now();
const since = (t: number) => `${((t - t0) / 1000).toFixed(2)} s`;

const { base, stack, finish } = await startLocalRun({
  name: "e2e",
  proofMs: Number(values["proof-ms"]),
  vars: values.var!,
});

let failed = false;
/** Whether the gateway verifies receipts (VERIFY_RECEIPTS=groth16, its default). */
let verifying = false;
/** The fixture tapes a real GPU receipt exists for. */
const REAL_RECEIPTS = new Set(["test-real-game"]);
const fail = (msg: string) => {
  failed = true;
  console.log(`FAIL ${msg}`);
};

try {
  const health = await (await fetch(`${base}/api/health`)).json();
  console.log(`gateway ready at ${since(Date.now())}; health: ${health.status}`);
  if (health.status !== "ok") fail(`health is ${JSON.stringify(health)}`);
  verifying = health.config?.verifyReceipts === "groth16";

  const zero = await fetch(`${base}/api/proofs/jobs`, {
    method: "POST",
    body: readFileSync(`${fixtures}test-short.tape`),
  });
  const zeroBody = await zero.json();
  if (zero.status !== 400 || zeroBody.error?.code !== "zero_score")
    fail(`test-short.tape: ${zero.status} ${JSON.stringify(zeroBody)}`);
  else console.log("test-short.tape      refused 400 zero_score (as it must be)");

  // Two players finish one after the other: the single-flight prover takes the first, the other
  // waits in line. The real game goes first: test-medium's fake receipt is a forgery, which
  // quarantines the prover that served it (src/core/quarantine.ts), so nothing after it would be
  // proved on this one-prover stack. Each goes through the typed client (src/client) as a game
  // would: submit, then watch it live on its WebSocket.
  const client = createGatewayClient({ baseUrl: base });
  const names = ["test-real-game", "test-medium"];
  const jobs = [];
  for (const name of names) {
    const bytes = readFileSync(`${fixtures}${name}.tape`);
    const postedAt = Date.now();
    const sub = await client.submit(new Uint8Array(bytes));
    jobs.push({
      name,
      bytes,
      cancelToken: sub.cancelToken,
      postedAt,
      jobId: sub.jobId,
      acceptedAt: 0,
      doneAt: 0,
      refusedAt: 0,
      transport: "" as string,
      job: sub.job,
    });
  }

  const timeout = new Promise<void>((r) => setTimeout(r, Number(values["timeout-s"]) * 1000));
  await Promise.race([
    timeout,
    Promise.all(
      jobs.map(async (j) => {
        const w = client.watch(
          j.jobId,
          (u) => {
            j.job = u.job;
            if (u.job.prover.acceptedAt && !j.acceptedAt) j.acceptedAt = Date.now();
            if (isTerminal(u.job.status) && !j.doneAt) j.doneAt = Date.now();
            // A fake receipt refused: the forgery check worked; the run stops that job.
            if (verifying && !j.refusedAt && u.job.lastRecovery?.code === "receipt_invalid") {
              j.refusedAt = Date.now();
              void client.cancel(j.jobId, j.cancelToken!).catch(() => undefined);
            }
          },
          { onTransport: (t) => (j.transport ||= t) },
        );
        try {
          j.job = await w.done;
        } catch {
          // reported below as not ended
        }
      }),
    ),
  ]);

  for (const j of jobs) {
    const secs = (a: number, b: number) => (b && a ? `${((b - a) / 1000).toFixed(2)} s` : "—");
    console.log(
      `${`${j.name}.tape`.padEnd(20)} ${j.job.status.padEnd(9)} total ${secs(j.postedAt, j.doneAt)}` +
        ` (to prover ${secs(j.postedAt, j.acceptedAt)}, submissions ${j.job.attempts.submissions}, polls ${j.job.attempts.polls}; watched by ${j.transport || "?"})`,
    );
    if (j.job.status === "succeeded") {
      // Proof end on the prover → the succeeded message on the job's socket.
      const end = stack.prover
        .stats()
        .timeline.find((e) => e.id === j.job.prover.jobId)?.finishedAt;
      if (end) console.log(`${"".padEnd(20)} proof end → socket message ${j.doneAt - end} ms`);
    }
    const forged = verifying && !REAL_RECEIPTS.has(j.name);
    if (forged) {
      if (j.job.status === "succeeded" || !j.refusedAt)
        fail(`${j.name}: its fake receipt was not refused (${j.job.status})`);
      else
        console.log(`${"".padEnd(20)} its fake receipt refused: receipt_invalid, then cancelled`);
      continue;
    }
    if (j.job.status !== "succeeded") {
      fail(`${j.name}: ended ${j.job.status} ${JSON.stringify(j.job.error)}`);
      continue;
    }
    const result = await client.result(j.jobId);
    if (verifying) {
      const seal = readFileSync(`${fixtures}proof-real-game-groth16.seal`, "utf8").trim();
      if (!result.receipt?.verified || result.receipt.seal !== seal)
        fail(`${j.name}: receipt not verified as the real one: ${JSON.stringify(result.receipt)}`);
      else
        console.log(
          `${"".padEnd(20)} receipt verified (Groth16, selector ${result.receipt.selector})`,
        );
    }
    // The same journal check the gateway makes (it does not read `sha256`).
    const tape = { ...parseTape(j.bytes), sha256: "" };
    const mismatch = journalMismatch(tape, result.journal ?? null, RULES_DIGEST_AST3);
    if (mismatch) fail(`${j.name}: ${mismatch}`);
  }
  const stats = stack.prover.stats();
  console.log(
    `prover: ${stats.accepted} accepted, ${stats.rateLimited} answered 429, ${stats.polls} polls; wall ${since(Date.now())}`,
  );
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
}
console.log(failed ? "e2e: FAILED" : "e2e: ok");
await finish(failed ? 1 : 0);
