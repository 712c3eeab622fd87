/**
 * `npm run game-flows`: the game's own flows, through its drop-in client (src/client/game-api.ts),
 * against the real local stack (a dev prover and `wrangler dev`, receipts verified:
 * VERIFY_RECEIPTS=groth16). It calls what the game calls, as the game calls it, and prints what
 * each call returned (compact JSON: long arrays and strings cut):
 *
 * 1. health: `getGatewayHealth()`;
 * 2. the real game: `submitProofJob(test-real-game.tape, G…)`, `getProofJob` every second until
 *    the proof and its claim have ended (each distinct status / claim status printed),
 *    `getProofArtifact`, and the 260-byte seal built the way the game's claim code builds it
 *    (test/support/game-seal.ts) compared to the result's verified `receipt.seal`;
 * 3. failed: the dev prover fails the next two proofs (`fail_unknown`: one prover's verdict is
 *    tried once more after a cool-down; a one-prover fleet then ends it, unconfirmed) → `failed`
 *    with an error string, and `getProofArtifact` refused (409 no_result);
 * 4. cancel: a slow proof submitted, then `cancelProofJob` → `failed`, `cancelled: …` (last on
 *    its stack: the dev prover, like the real one, cannot stop the cancelled proof);
 * 5. automatic settlement, on a second stack with WEBHOOK_URL (a loopback receiver that checks
 *    the signature), WEBHOOK_SECRET, PUBLIC_BASE_URL and SETTLEMENT_TOKEN: this script plays the
 *    settlement service (on the `proof.succeeded` webhook it PUTs `submitting`, then `succeeded`
 *    with a txHash) while the game polls and must see its claim queued → submitting → succeeded.
 *
 *   npm run game-flows [-- --proof-ms 3000] [--timeout-s 300] [--var NAME:VALUE ...]
 *
 * Loopback only; bounded by `--timeout-s`. Exit 1 when any flow does not end as it must (each
 * problem is printed as FAIL), 2 on bad arguments.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  cancelProofJob,
  configureGameApi,
  getGatewayHealth,
  getProofArtifact,
  getProofJob,
  isTerminalProofStatus,
  NO_AUTOMATIC_CLAIM,
  ProofApiError,
  submitProofJob,
  type ProofJobPublic,
  type StorageLike,
} from "../../src/client/game-api.ts";
import { buildTape } from "../../src/core/tape.ts";
import { encodeStrKey } from "../../src/core/strkey.ts";
import { parseVarFlag } from "../ops/wrangler-config.ts";
import { gameSealHex } from "../../test/support/game-seal.ts";
import { newWebhookSecret, startWebhookReceiver, type Delivery } from "./webhook-receiver.ts";
import { FIXTURES_DIR } from "./fixture-receipts.ts";
import { freePort, snapshotWorker, startStack, type Stack, localWranglerArgs } from "./stack.ts";
import { usageExit, wholeOption } from "./args.ts";

const USAGE =
  "usage: npm run game-flows [-- --proof-ms 3000] [--timeout-s 300] [--var NAME:VALUE ...]";
const usage = usageExit(USAGE);

function options() {
  try {
    return parseArgs({
      options: {
        "proof-ms": { type: "string", default: "3000" },
        "timeout-s": { type: "string", default: "300" },
        var: { type: "string", multiple: true, default: [] },
      },
    }).values;
  } catch (e) {
    return usage(e instanceof Error ? e.message : String(e));
  }
}
const values = options();
const whole = wholeOption(usage);
const proofMs = whole("proof-ms", values["proof-ms"], 1);
const timeoutMs = whole("timeout-s", values["timeout-s"], 30) * 1000;
const extraVars: string[] = [];
try {
  for (const flag of values.var) extraVars.push(parseVarFlag(flag).join(":"));
} catch (e) {
  usage(e instanceof Error ? e.message : String(e));
}

/** A player's Stellar account (G…), random for each run. */
const CLAIMANT = encodeStrKey("account", new Uint8Array(randomBytes(32)));
const SETTLEMENT_TOKEN = `settlement-${randomBytes(16).toString("hex")}`;
const REAL_TAPE = new Uint8Array(readFileSync(`${FIXTURES_DIR}test-real-game.tape`));
const REAL_SEAL = readFileSync(`${FIXTURES_DIR}proof-real-game-groth16.seal`, "utf8").trim();
const REAL_SCORE = 32860;
/** How often the game polls its job. */
const POLL_MS = 1_000;
/** A slow proof, for the cancel flow. */
const SLOW_PROOF_MS = 30_000;

const t0 = Date.now();
const since = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** JSON on one line, long arrays and strings cut so a line stays readable. */
function compact(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (Array.isArray(x) && x.length > 8) return [...x.slice(0, 4), `…(${x.length} items)`];
    if (typeof x === "string" && x.length > 72) return `${x.slice(0, 40)}…(${x.length} chars)`;
    return x;
  });
}

let failures = 0;
function expect(ok: boolean, what: string): void {
  if (ok) console.log(`    ok   ${what}`);
  else {
    failures++;
    console.log(`    FAIL ${what}`);
  }
}

/** sessionStorage as a Map. */
function memoryStorage(): StorageLike {
  const data = new Map<string, string>();
  return {
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

let tapeCounter = 0;
/** A distinct valid synthetic tape (the dev prover proves any). */
function syntheticTape(): Uint8Array {
  const seed = (0x6a3e0000 + tapeCounter * 104729 + (t0 & 0xffff)) >>> 0;
  const inputs = new Uint8Array(240 + tapeCounter * 8).map((_, f) => (f * 3 + seed) & 0x0f);
  tapeCounter++;
  return buildTape({ seed, inputs, finalScore: 90 + tapeCounter, finalRngState: seed ^ 0x5eed });
}

/** Prints a call and what it returned (or threw); rethrows. */
async function show<T>(call: string, run: () => Promise<T>): Promise<T> {
  try {
    const r = await run();
    console.log(`  ${since()} ${call} → ${compact(r)}`);
    return r;
  } catch (e) {
    const shown =
      e instanceof ProofApiError
        ? `ProofApiError ${e.status} ${JSON.stringify(e.message)}`
        : String(e);
    console.log(`  ${since()} ${call} threw ${shown}`);
    throw e;
  }
}

/**
 * The game's poll loop: `getProofJob` every second until the proof has ended and, for a proof,
 * its claim too; prints each distinct status / claim status and hands every reading to `onJob`.
 */
async function followLikeTheGame(
  jobId: string,
  onJob: (j: ProofJobPublic) => Promise<void> | void = () => {},
  limitMs = 120_000,
): Promise<{ job: ProofJobPublic; seen: string[]; claims: string[] }> {
  const seen: string[] = [];
  const claims: string[] = [];
  const end = Date.now() + limitMs;
  for (;;) {
    const { job } = await getProofJob(jobId);
    const state = `${job.status} / claim ${job.claim.status}`;
    if (seen.at(-1) !== state) {
      seen.push(state);
      console.log(
        `  ${since()} getProofJob → status ${job.status}, claim ${job.claim.status}${job.claim.lastError ? ` (${job.claim.lastError})` : ""}${job.error ? `, error ${JSON.stringify(job.error)}` : ""}`,
      );
    }
    if (job.status === "succeeded" && claims.at(-1) !== job.claim.status)
      claims.push(job.claim.status);
    await onJob(job);
    const done =
      isTerminalProofStatus(job.status) &&
      (job.status !== "succeeded" ||
        job.claim.status === "succeeded" ||
        job.claim.status === "failed");
    if (done) {
      console.log(`  ${since()} getProofJob (last) → ${compact(job)}`);
      return { job, seen, claims };
    }
    if (Date.now() > end) throw new Error(`job ${jobId} still going after ${limitMs / 1000} s`);
    await sleep(POLL_MS);
  }
}

/** The result document the gateway stored (for its verified receipt). */
async function resultDoc(
  base: string,
  jobId: string,
): Promise<{ receipt?: { verified?: boolean; seal?: string; selector?: string } }> {
  const res = await fetch(`${base}/api/proofs/jobs/${jobId}/result`);
  if (res.status !== 200) throw new Error(`GET /result answered ${res.status}`);
  return (await res.json()) as { receipt?: { verified?: boolean; seal?: string } };
}

// ---------------------------------------------------------------------------------------------
// The stacks.

const work = mkdtempSync(join(tmpdir(), "gateway-game-flows-"));
const running = new Set<Stack>();
let cleaning: Promise<void> | undefined;
const cleanUp = () =>
  (cleaning ??= (async () => {
    await Promise.all([...running].map((s) => s.stop().catch(() => {})));
    rmSync(work, { recursive: true, force: true });
  })());
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const)
  process.once(signal, () => void cleanUp().then(() => process.exit(code)));
const guard = setTimeout(() => {
  console.log(`game-flows: not done within ${timeoutMs / 1000} s; stopping`);
  void cleanUp().then(() => process.exit(1));
}, timeoutMs);
guard.unref();

/** A fresh stack (its own port and state) running the bundle `config`, with `vars`. */
async function startGateway(
  name: string,
  config: string,
  vars: (port: number) => string[],
): Promise<{ base: string; stack: Stack; stop: () => Promise<void> }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let output = "";
  const stack = await startStack({
    prover: { port: 0, proofMs },
    wranglerArgs: [
      "-c",
      config,
      ...localWranglerArgs(port, mkdtempSync(join(work, `state-${name}-`)), [
        ...vars(port),
        ...extraVars,
      ]),
    ],
    onOutput: (text) => void (output = (output + text).slice(-20_000)),
  });
  running.add(stack);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      stack.ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("wrangler dev did not start in 60 s")), 60_000);
      }),
    ]);
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}:\n${output}`);
  } finally {
    clearTimeout(timer);
  }
  const shown = vars(port).map((v) =>
    v.replace(/^((?:WEBHOOK_SECRET|SETTLEMENT_TOKEN):).*/, "$1…"),
  );
  console.log(`${since()} stack "${name}" ready at ${base} (--var ${shown.join(" ")})`);
  return {
    base,
    stack,
    stop: async () => {
      running.delete(stack);
      await stack.stop();
    },
  };
}

/** Runs one flow; a throw is a failure of that flow, and the next flow still runs. */
async function flow(title: string, run: () => Promise<void>): Promise<void> {
  console.log(`\n${since()} ${title}`);
  try {
    await run();
  } catch (e) {
    failures++;
    console.log(`    FAIL ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The flows.

async function healthFlow(): Promise<void> {
  const h = await show("getGatewayHealth()", () => getGatewayHealth());
  expect(h.success && h.prover.status === "compatible", "the prover is compatible");
  expect(h.active_job === null, "no active job");
}

async function realGameFlow(base: string): Promise<void> {
  const sub = await show(`submitProofJob(test-real-game.tape, ${CLAIMANT})`, () =>
    submitProofJob(REAL_TAPE, CLAIMANT),
  );
  expect(sub.job.claim.claimantAddress === CLAIMANT, "the claim names the claimant");
  const { job, seen } = await followLikeTheGame(sub.job.jobId);
  console.log(`    statuses seen: ${seen.join(" → ")}`);
  expect(job.status === "succeeded" && job.error === null, "succeeded, no error");
  expect(
    job.result?.summary.journal.final_score === REAL_SCORE,
    `journal final_score ${REAL_SCORE}`,
  );
  expect(
    job.claim.status === "failed" && job.claim.lastError === NO_AUTOMATIC_CLAIM,
    "no settlement service: the claim is the game's own (failed, NO_AUTOMATIC_CLAIM)",
  );
  const artifact = await show(`getProofArtifact(${job.jobId.slice(0, 12)}…)`, () =>
    getProofArtifact(job.jobId),
  );
  const seal = gameSealHex(artifact);
  const doc = await resultDoc(base, job.jobId);
  console.log(
    `    game seal (selector ‖ 256 bytes, ${seal.length / 2} bytes): ${seal.slice(0, 24)}…${seal.slice(-8)}`,
  );
  console.log(
    `    result receipt: verified ${doc.receipt?.verified}, selector ${doc.receipt?.selector}, seal ${doc.receipt?.seal?.slice(0, 24)}…`,
  );
  expect(doc.receipt?.verified === true, "the result's receipt is verified (Groth16)");
  expect(seal.length === 520 && seal === doc.receipt?.seal, "game seal = result receipt.seal");
  expect(seal === REAL_SEAL, "game seal = the fixture's real on-chain seal");
  const after = await show("getGatewayHealth()", () => getGatewayHealth());
  expect(after.active_job === null, "the ended job is no longer active");
}

async function cancelFlow(stack: Stack): Promise<void> {
  stack.prover.configure({ proofMs: SLOW_PROOF_MS });
  try {
    const sub = await show("submitProofJob(synthetic tape, G…)", () =>
      submitProofJob(syntheticTape(), CLAIMANT),
    );
    const jobId = sub.job.jobId;
    let cancelled: ProofJobPublic | null = null;
    let healthActive: string | null = null;
    const { job } = await followLikeTheGame(jobId, async (j) => {
      if (cancelled || (j.status !== "dispatching" && j.status !== "prover_running")) return;
      const h = await show("getGatewayHealth() (proof in flight)", () => getGatewayHealth());
      healthActive = h.active_job?.jobId ?? null;
      cancelled = (
        await show(`cancelProofJob(${jobId.slice(0, 12)}…)`, () => cancelProofJob(jobId))
      ).job;
    });
    expect(healthActive === jobId, "health's active_job was the job in flight");
    const c = cancelled as ProofJobPublic | null;
    expect(
      c?.status === "failed" && /^cancelled: /.test(c.error ?? ""),
      "cancelProofJob answered failed, 'cancelled: …'",
    );
    expect(job.status === "failed" && /^cancelled: /.test(job.error ?? ""), "the game sees failed");
    const again = await cancelProofJob(jobId).then(
      () => null,
      (e: unknown) => e,
    );
    console.log(
      `  ${since()} cancelProofJob again threw ${again instanceof ProofApiError ? `ProofApiError ${again.status} ${JSON.stringify(again.message.slice(0, 60))}…` : String(again)}`,
    );
    expect(again instanceof ProofApiError && again.status === 403, "the token is gone: 403");
  } finally {
    stack.prover.configure({ proofMs });
  }
}

async function failedFlow(stack: Stack): Promise<void> {
  stack.prover.injectFaults([{ kind: "fail_unknown", times: 2 }]);
  console.log(`  ${since()} dev prover: the next two proofs fail (fault fail_unknown ×2)`);
  const sub = await show("submitProofJob(synthetic tape, G…)", () =>
    submitProofJob(syntheticTape(), CLAIMANT),
  );
  const { job } = await followLikeTheGame(sub.job.jobId);
  expect(
    job.status === "failed" && typeof job.error === "string" && job.error.length > 0,
    `failed with an error string (${JSON.stringify(job.error)})`,
  );
  expect(job.result === null && job.claim.status === "failed", "no result; the claim failed");
  const refused = await show(`getProofArtifact(${job.jobId.slice(0, 12)}…)`, () =>
    getProofArtifact(job.jobId),
  ).then(
    () => null,
    (e: unknown) => e,
  );
  expect(
    refused instanceof ProofApiError &&
      refused.status === 409 &&
      refused.message.startsWith("no_result"),
    "no artifact: 409 no_result",
  );
}

async function settlementFlow(base: string, events: Delivery[]): Promise<void> {
  const sub = await show(`submitProofJob(test-real-game.tape, ${CLAIMANT})`, () =>
    submitProofJob(REAL_TAPE, CLAIMANT),
  );
  const jobId = sub.job.jobId;
  const { job, claims } = await followLikeTheGame(jobId);
  console.log(`    claim statuses seen after the proof: ${claims.join(" → ")}`);
  expect(
    claims.join(",") === "queued,submitting,succeeded",
    "the game saw its claim queued → submitting → succeeded",
  );
  expect(
    job.claim.status === "succeeded" &&
      job.claim.txHash === TX_HASH &&
      job.claim.claimantAddress === CLAIMANT,
    "the claim: succeeded, the service's txHash, the player's address",
  );
  const mine = events.filter((d) => d.payload?.data?.job_id === jobId);
  const ids = new Set(mine.map((d) => d.id));
  console.log(
    `    webhooks for the job: ${mine.map((d) => `${d.payload?.type} id ${d.id.slice(0, 20)}… #${d.nth} verified ${d.verified} → ${d.answered}`).join("; ")}`,
  );
  expect(
    mine.length === 1 && ids.size === 1 && mine[0]!.verified,
    "one proof.succeeded delivery, signature verified",
  );
  const data = mine[0]?.payload?.data;
  const seal = gameSealHex(await getProofArtifact(jobId));
  expect(
    data?.claimant === CLAIMANT && data.seal === seal,
    "the event names the claimant and carries the game's seal",
  );
  const doc = await resultDoc(base, jobId);
  expect(doc.receipt?.verified === true && doc.receipt.seal === seal, "its receipt verified");
}

const TX_HASH = randomBytes(32).toString("hex");

/**
 * The settlement service this script plays: on a verified `proof.succeeded` it answers the
 * webhook at once, then (as a service with its own queue would) reports `submitting` after 2 s
 * and `succeeded` with its txHash 2.5 s later, so a player polling every second sees each step.
 */
function settlementService(base: string): (d: Delivery) => void {
  const handled = new Set<string>();
  const put = async (jobId: string, body: unknown) => {
    const res = await fetch(`${base}/api/settlement/jobs/${jobId}/claim`, {
      method: "PUT",
      headers: { "content-type": "application/json", authorization: `Bearer ${SETTLEMENT_TOKEN}` },
      body: JSON.stringify(body),
    });
    const answer = await res.json();
    console.log(
      `  ${since()} [settlement] PUT claim ${compact(body)} → ${res.status} ${compact(answer)}`,
    );
    if (res.status !== 200) {
      failures++;
      console.log(`    FAIL the settlement report was refused`);
    }
  };
  return (d) => {
    console.log(
      `  ${since()} [settlement] webhook ${d.payload?.type} id ${d.id} (#${d.nth}, signature ${d.verified ? "verified" : "BAD"}) → answered ${d.answered}`,
    );
    const jobId = d.payload?.data?.job_id;
    if (!d.verified || d.payload?.type !== "proof.succeeded" || !jobId || handled.has(d.id)) return;
    handled.add(d.id);
    void (async () => {
      await sleep(2_000);
      await put(jobId, { status: "submitting" });
      await sleep(2_500);
      await put(jobId, { status: "succeeded", txHash: TX_HASH });
    })().catch((e: unknown) => {
      failures++;
      console.log(`    FAIL [settlement] ${e instanceof Error ? e.message : String(e)}`);
    });
  };
}

// ---------------------------------------------------------------------------------------------

try {
  const config = await snapshotWorker(join(work, "worker"));
  console.log(`${since()} claimant ${CLAIMANT}; proof ${proofMs} ms`);

  const plain = await startGateway("no-settlement", config, () => ["VERIFY_RECEIPTS:groth16"]);
  configureGameApi({ baseUrl: plain.base, fetch: globalThis.fetch, storage: memoryStorage() });
  await flow("1. health", healthFlow);
  await flow("2. the real game: submit, poll, artifact, the game's seal", () =>
    realGameFlow(plain.base),
  );
  await flow("3. a proof the prover fails", () => failedFlow(plain.stack));
  // Last on this stack: the prover cannot stop the cancelled proof, and would make the next
  // job wait for it.
  await flow(`4. cancel a slow proof (${SLOW_PROOF_MS / 1000} s)`, () => cancelFlow(plain.stack));
  await plain.stop();

  const secret = newWebhookSecret();
  let onEvent: (d: Delivery) => void = () => {};
  const receiver = await startWebhookReceiver(secret, (d) => onEvent(d));
  try {
    const settled = await startGateway("settlement", config, (port) => [
      "VERIFY_RECEIPTS:groth16",
      `WEBHOOK_URL:${receiver.url}`,
      `WEBHOOK_SECRET:${secret}`,
      `PUBLIC_BASE_URL:http://127.0.0.1:${port}`,
      `SETTLEMENT_TOKEN:${SETTLEMENT_TOKEN}`,
    ]);
    onEvent = settlementService(settled.base);
    configureGameApi({ baseUrl: settled.base, fetch: globalThis.fetch, storage: memoryStorage() });
    await flow("5. automatic settlement: webhook → the service's claim reports → the game", () =>
      settlementFlow(settled.base, receiver.deliveries),
    );
    await settled.stop();
  } finally {
    await receiver.close();
  }
} catch (e) {
  failures++;
  console.log(`game-flows: ${e instanceof Error ? e.message : String(e)}`);
}
clearTimeout(guard);
await cleanUp();
console.log(`\ngame-flows: ${failures ? `FAILED (${failures})` : "ok"}, wall ${since()}`);
process.exit(failures ? 1 : 0);
