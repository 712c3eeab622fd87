/**
 * `npm run bench:verify`: how much CPU a receipt verification costs inside workerd, the runtime
 * the job's Durable Object runs in. Bundles src/verify with esbuild into a tiny Worker, runs it in
 * Miniflare (the same workerd the tests and `wrangler dev` use) and times, from outside, requests
 * that each verify the real GPU receipt of test-real-game.tape once, against requests that do
 * nothing. The request does no I/O, so its wall time is its CPU time. Prints the first (cold)
 * verification, then median and p95 of the rest, in ms. Figures only; never a pass/fail on speed.
 *
 *   npm run bench:verify [-- --runs 40]
 */
import { build } from "esbuild";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readWranglerConfig } from "../ops/wrangler-config.ts";
import { FIXTURES_DIR } from "./fixture-receipts.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "40" } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 2) {
  console.log(`--runs wants a whole number ≥ 2, got "${values.runs}"`);
  process.exit(2);
}

const hex = (name: string, ext: string) =>
  readFileSync(`${FIXTURES_DIR}${name}.${ext}`, "utf8").trim();
const real = {
  imageId: hex("proof-real-game-groth16", "image_id"),
  journal: hex("proof-real-game-groth16", "journal_raw"),
  seal: hex("proof-real-game-groth16", "seal"),
};

const entry = `
import { verifyOnchainSeal } from "./src/verify/receipt.ts";
import { hexToBytes } from "@noble/hashes/utils.js";
const R = ${JSON.stringify(real)};
const seal = hexToBytes(R.seal), image = hexToBytes(R.imageId), journal = hexToBytes(R.journal);
export default {
  fetch(req) {
    if (new URL(req.url).pathname === "/noop") return new Response("ok");
    const r = verifyOnchainSeal(seal, image, journal);
    return new Response(r.ok ? "ok" : "bad: " + r.reason, { status: r.ok ? 200 : 500 });
  },
};`;
const root = fileURLToPath(new URL("../../", import.meta.url));
const bundle = await build({
  stdin: { contents: entry, resolveDir: root, loader: "ts" },
  bundle: true,
  format: "esm",
  platform: "neutral",
  write: false,
  target: "es2022",
});
const wrangler = readWranglerConfig(`${root}wrangler.jsonc`);
// Miniflare 5 takes its own config shape; its converter still reads the classic options.
const mf = new Miniflare(
  convertV4MiniflareOptions({
    modules: true,
    script: bundle.outputFiles[0]!.text,
    compatibilityDate: wrangler.compatibility_date!,
    compatibilityFlags: wrangler.compatibility_flags ?? [],
  }),
);

async function timed(path: string): Promise<number> {
  const t = performance.now();
  const res = await mf.dispatchFetch(`http://bench${path}`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text}`);
  return performance.now() - t;
}
const rank = (v: number[], q: number) =>
  [...v].sort((a, b) => a - b)[Math.max(0, Math.ceil(q * v.length) - 1)]!;

try {
  await timed("/noop");
  const cold = await timed("/verify");
  const verify: number[] = [];
  const noop: number[] = [];
  for (let i = 0; i < runs; i++) {
    noop.push(await timed("/noop"));
    verify.push(await timed("/verify"));
  }
  const base = rank(noop, 0.5);
  const f = (v: number) => `${v.toFixed(1)} ms`;
  console.log(`bench:verify — one Groth16 receipt (test-real-game.tape) verified in workerd`);
  console.log(`  request overhead (no-op): median ${f(base)}`);
  console.log(`  first (cold) verification: ${f(cold - base)}`);
  console.log(
    `  warm, ${runs} runs: median ${f(rank(verify, 0.5) - base)}, p95 ${f(rank(verify, 0.95) - base)}, max ${f(Math.max(...verify) - base)}`,
  );
} finally {
  await mf.dispose();
}
