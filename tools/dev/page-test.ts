/**
 * `npm run page-test`: the page at `GET /` in a real browser (Debian's Chromium, driven by
 * playwright-core, which never downloads one). Starts the local stack as `npm run e2e` does
 * (receipts verified: the dev prover serves the real receipt of test-real-game.tape), checks
 * that assets do not shadow the API, chooses test-short.tape (the page must show `zero_score`),
 * then test-real-game.tape, and follows the page until it shows `succeeded`: the journal's final
 * score 32860, the place in line and the ETA rendered, the result link serving the verified
 * receipt; saves test-results/page.png and prints which transport the page used (WebSocket or
 * polling). Then test-medium.tape with every socket closed by the browser's test hook: the page
 * must follow it by polling, and its Cancel button must cancel it. Prints the run time; exits 0/1.
 *
 *   npm run page-test [-- --proof-ms 2000] [--timeout-s 90] [--var NAME:VALUE ...]
 *   CHROMIUM_PATH=/path/to/chrome npm run page-test   (default: `which chromium`)
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { encodeStrKey } from "../../src/core/strkey.ts";
import { startLocalRun } from "./stack.ts";

const { values } = parseArgs({
  options: {
    "proof-ms": { type: "string", default: "2000" },
    "timeout-s": { type: "string", default: "90" },
    var: { type: "string", multiple: true, default: [] },
  },
});

const fixtures = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const SCREENSHOT = fileURLToPath(new URL("../../test-results/page.png", import.meta.url));
const REAL_GAME_FINAL_SCORE = "32860";
/** The player's Stellar account the real game's proof is claimed for. */
const CLAIMANT = encodeStrKey("account", new Uint8Array(32).fill(7));
const TERMINAL = ["succeeded", "failed", "cancelled"];

const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(2)} s`;
let failed = false;
const fail = (msg: string) => {
  failed = true;
  console.log(`FAIL ${msg}`);
};
const ok = (msg: string) => console.log(`ok   ${msg} (${since()})`);

function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execFileSync("which", ["chromium"], { encoding: "utf8" }).trim();
  } catch {
    console.log("page-test: no chromium on PATH (apt-get install -y chromium, or CHROMIUM_PATH)");
    process.exit(1);
  }
}

const executablePath = chromiumPath();
const { base, finish } = await startLocalRun({
  name: "page-test",
  proofMs: Number(values["proof-ms"]),
  // Polls of the prover every second (the default 10 s would notice a 2 s dev proof only at the
  // first 10 s poll): a faster run, and the page sees every state. --var overrides it.
  vars: ["PROVER_POLL_INTERVAL_MS:1000", ...values.var!],
});
ok(`gateway ready at ${base}`);

let browser: Browser | undefined;
try {
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"], headless: true });
  const page = await browser.newPage({ viewport: { width: 900, height: 1100 } });
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  ok(`chromium ${browser.version()} started`);

  await checkRouting(page);
  await checkZeroScore(page);
  await checkBadClaimant(page);
  await checkRealGame(page);
  // The proved game, as a player sees it.
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  ok(`screenshot saved to test-results/page.png`);
  await checkPollingAndCancel(page);
  if (pageErrors.length) fail(`uncaught errors in the page: ${pageErrors.join("; ")}`);
} catch (e) {
  fail(e instanceof Error ? (e.stack ?? e.message) : String(e));
} finally {
  await browser?.close().catch(() => {});
}
console.log(`page-test: ${failed ? "FAILED" : "ok"} in ${since()}`);
await finish(failed ? 1 : 0);

/** GET / is the page (static assets); /api/* and unknown paths still reach the Worker. */
async function checkRouting(page: Page) {
  const res = await page.goto(`${base}/`);
  const type = res?.headers()["content-type"] ?? "";
  if (res?.status() !== 200 || !type.startsWith("text/html"))
    fail(`GET / answered ${res?.status()} ${type}`);
  const script = await fetch(`${base}/app.js`);
  if (!script.ok || !/javascript/.test(script.headers.get("content-type") ?? ""))
    fail(`GET /app.js answered ${script.status} ${script.headers.get("content-type")}`);
  for (const path of ["/api/health", "/api/nope", "/nope"]) {
    const r = await fetch(`${base}${path}`);
    const body = (await r.json().catch(() => null)) as { error?: { code?: string } } | null;
    const want = path === "/api/health" ? r.status === 200 : body?.error?.code === "not_found";
    if (!want || !r.headers.get("content-type")?.startsWith("application/json"))
      fail(`GET ${path} did not reach the Worker: ${r.status} ${JSON.stringify(body)}`);
  }
  ok("GET / serves the page; /api/* and unknown paths answer the Worker's JSON");
}

/** A tape the gateway refuses: the page shows the API's code. */
async function checkZeroScore(page: Page) {
  await page.setInputFiles("#tape", `${fixtures}test-short.tape`);
  const code = page.locator("#error-code");
  await code.waitFor({ state: "visible", timeout: 15_000 });
  const text = await code.textContent();
  const message = await page.locator("#error-message").textContent();
  if (text !== "zero_score") fail(`test-short.tape: the page shows ${text}: ${message}`);
  else ok(`test-short.tape: the page shows zero_score ("${message}")`);
}

/** A claimant address with a broken checksum: the page shows invalid_claimant. */
async function checkBadClaimant(page: Page) {
  const bad = CLAIMANT.slice(0, 55) + (CLAIMANT.endsWith("A") ? "B" : "A");
  await page.fill("#claimant", bad);
  await page.setInputFiles("#tape", `${fixtures}test-medium.tape`);
  await page.waitForFunction(
    () => document.getElementById("error-code")?.textContent === "invalid_claimant",
    undefined,
    { timeout: 15_000 },
  );
  ok(`a claimant with a bad checksum: the page shows invalid_claimant`);
}

/** What the page shows of the job, read every 100 ms. */
interface Reading {
  status: string;
  place: string;
  eta: string;
  finishAt: string | undefined;
  transport: string | undefined;
}

function read(page: Page): Promise<Reading> {
  return page.evaluate(() => {
    const text = (id: string) => document.getElementById(id)?.textContent?.trim() ?? "";
    return {
      status: document.getElementById("status")?.dataset.status ?? "",
      place: text("place"),
      eta: text("eta"),
      finishAt: document.getElementById("eta")?.dataset.finishAt,
      transport: document.getElementById("transport")?.dataset.transport,
    };
  });
}

async function checkRealGame(page: Page) {
  await page.fill("#claimant", CLAIMANT);
  const postedAt = Date.now();
  await page.setInputFiles("#tape", `${fixtures}test-real-game.tape`);
  const deadline = Date.now() + Number(values["timeout-s"]) * 1000;
  const seen: Reading[] = [];
  let apiEstimate: boolean | undefined;
  let reading: Reading;
  for (;;) {
    reading = await read(page);
    const prev = seen.at(-1);
    // (No status yet: the tape is still on its way.)
    if (
      reading.status &&
      (!prev || JSON.stringify({ ...prev, eta: "" }) !== JSON.stringify({ ...reading, eta: "" }))
    )
      seen.push(reading);
    // Does the API give an ETA? Then the page must have shown it (asked once, mid-proof).
    const jobId = (await page.locator("#job-id").textContent())?.trim();
    if (apiEstimate === undefined && jobId && !TERMINAL.includes(reading.status)) {
      const body = (await (await fetch(`${base}/api/proofs/jobs/${jobId}`)).json()) as {
        job?: { status?: string };
        estimate?: unknown;
      };
      if (body.job && !TERMINAL.includes(body.job.status ?? "")) apiEstimate = !!body.estimate;
    }
    if (TERMINAL.includes(reading.status) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const took = ((Date.now() - postedAt) / 1000).toFixed(2);
  for (const r of seen)
    console.log(
      `     ${r.status.padEnd(9)} place: ${r.place.padEnd(26)} eta: ${r.eta.padEnd(18)} via ${r.transport ?? "—"}`,
    );
  if (reading.status !== "succeeded") {
    const error = await page.locator("#error").textContent();
    return fail(`test-real-game.tape: the page shows ${reading.status || "nothing"} ${error}`);
  }
  ok(`test-real-game.tape: the page shows succeeded, ${took} s after choosing the file`);

  const score = (await page.locator('#journal [data-field="final_score"]').textContent())?.trim();
  if (score !== REAL_GAME_FINAL_SCORE) fail(`the journal's final score shows ${score}`);
  else ok(`the journal shows final score ${score}`);
  const verified = await page.locator("#verified").textContent();
  if (!verified?.includes("verified")) fail(`the page does not say the receipt was verified`);

  const claim = (await page.locator("#claim").textContent())?.trim() ?? "";
  if (!claim.startsWith("claim it from your wallet") || !claim.includes(CLAIMANT.slice(0, 6)))
    fail(`the claim row shows "${claim}"`);
  else ok(`the claim row shows "${claim}"`);

  const href = await page.locator("#result-link").getAttribute("href");
  const result = (await (await fetch(new URL(href ?? "", base))).json()) as {
    journal?: { final_score?: number };
    receipt?: { verified?: boolean; seal?: string };
    claimant?: string;
  };
  if (result.claimant !== CLAIMANT) fail(`the result names claimant ${result.claimant}`);
  if (String(result.journal?.final_score) !== REAL_GAME_FINAL_SCORE || !result.receipt?.verified)
    fail(`the result link ${href} serves ${JSON.stringify(result).slice(0, 200)}`);
  else
    ok(`the result link serves the verified receipt (seal ${result.receipt.seal?.slice(0, 16)}…)`);

  // The place in line and the ETA were rendered while the proof ran.
  const live = seen.filter((r) => r.status === "queued" || r.status === "proving");
  if (!live.length) fail("the page never showed the job queued or proving");
  if (live.some((r) => !r.place || !r.eta)) fail("the place in line or the ETA was empty");
  const countdown = live.some((r) => r.finishAt !== undefined && /^about|any moment/.test(r.eta));
  if (apiEstimate && !countdown) fail("the API gave an estimate but the page showed no ETA");
  ok(
    `place in line shown (${[...new Set(live.map((r) => r.place))].join(", ")}); ETA ${
      countdown ? "counting down" : "— (the API gave no estimate)"
    }`,
  );
  const transports = [...new Set(seen.map((r) => r.transport).filter(Boolean))];
  console.log(`     transport: ${transports.join(" then ") || "none"}`);
  if (!transports.length) fail("the page never said how it got its updates");
}

/**
 * The client's fallback in a real browser: every socket to the gateway is closed as soon as it
 * opens, so the page must follow test-medium.tape by polling (its fake receipt is refused and the
 * job rebuilt, so it never ends by itself), and the page's Cancel button (the cancel token) ends it.
 */
async function checkPollingAndCancel(page: Page) {
  await page.routeWebSocket(/\/ws$/, (ws) =>
    ws.close({ code: 1011, reason: "page-test: no socket" }),
  );
  await page.reload(); // the hook applies to pages loaded after it (and clears the claimant)
  await page.setInputFiles("#tape", `${fixtures}test-medium.tape`);
  // The 202 shows it queued; only a poll can show it proving (the socket never says a word).
  await page.waitForFunction(
    () =>
      document.getElementById("status")?.dataset.status === "proving" &&
      document.getElementById("transport")?.dataset.transport === "polling",
    undefined,
    { timeout: 20_000 },
  );
  ok("test-medium.tape with every socket closed: the page follows it by polling (proving)");
  await page.click("#cancel");
  await page.waitForFunction(
    () => document.getElementById("status")?.dataset.status === "cancelled",
    undefined,
    { timeout: 10_000 },
  );
  ok("the page's Cancel button cancelled it with its token (cancelled)");
  await page.unrouteAll();
}
