/**
 * `npm run burst`: many players finish at once. Starts the dev prover and `wrangler dev` (fresh
 * state), posts N distinct tapes concurrently, follows every job to its end through the public
 * API and prints how the burst went: outcomes, how long each job took, the prover's 429s, whether
 * it took the jobs in the order they were posted, and the dispatch gap — how long the single GPU
 * sat idle between one proof ending and the next being accepted while work was waiting (from the
 * dev prover's own timeline). Exits non-zero if any job did not succeed.
 *
 *   npm run burst [-- --jobs 20] [--proof-ms 2000] [--poll-interval-ms MS] [--var NAME:VALUE ...]
 *
 * `--poll-interval-ms` goes to wrangler dev as `--var PROVER_POLL_INTERVAL_MS:MS` (default: what
 * wrangler.jsonc says); `--var` passes any other var.
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Job } from "../../src/core/job.ts";
import { readWranglerConfig } from "../ops/wrangler-config.ts";
import { buildTape } from "../../src/core/tape.ts";
import { dispatchGaps, summarizeGaps } from "./dispatch-gaps.ts";
import { startLocalRun } from "./stack.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "20" },
    "proof-ms": { type: "string", default: "2000" },
    "poll-interval-ms": { type: "string" },
    var: { type: "string", multiple: true, default: [] },
  },
});
const positive = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    console.log(`--${name} wants a positive whole number, got "${v}"`);
    process.exit(2);
  }
  return n;
};
const n = positive("jobs", values.jobs!);
const proofMs = positive("proof-ms", values["proof-ms"]!);
// Synthetic tapes: the dev prover's receipts for them are fakes.
const vars = ["VERIFY_RECEIPTS:off", ...values.var!];
if (values["poll-interval-ms"] !== undefined)
  vars.push(`PROVER_POLL_INTERVAL_MS:${positive("poll-interval-ms", values["poll-interval-ms"])}`);
/**
 * What the gateway will run with: the last --var wins, as in wrangler; else wrangler.jsonc; else
 * the default.
 */
const interval = Number(
  vars
    .findLast((v) => v.startsWith("PROVER_POLL_INTERVAL_MS:"))
    ?.slice("PROVER_POLL_INTERVAL_MS:".length) ??
    readWranglerConfig(fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url))).vars
      ?.PROVER_POLL_INTERVAL_MS ??
    3000,
);

/** N distinct valid tapes: distinct seeds, a few hundred frames, non-zero scores. */
const tapes = Array.from({ length: n }, (_, i) => {
  const seed = (0x5eed0000 + i * 7919) >>> 0;
  const inputs = new Uint8Array(300 + (i % 7) * 10).map((_, f) => (f * 3 + i) & 0x0f);
  return buildTape({ seed, inputs, finalScore: 100 + i, finalRngState: (seed ^ 0x1234abcd) >>> 0 });
});

const { base, stack, finish } = await startLocalRun({ name: "burst", proofMs, vars });
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ms = (v: number | null) => (v === null ? "—" : `${v} ms`);

interface Posted {
  /** Order the POSTs were sent in (0-based). */
  sent: number;
  /** Order their 202s came back in (1-based): "POST order" below. */
  answered: number;
  jobId: string;
  /** Local clock when the 202 arrived: from then on the gateway has the job. */
  answeredAt: number;
  job: Job;
  /** Local clock when a poll first saw it terminal. */
  doneAt: number;
}

let code = 0;
try {
  const t0 = Date.now();
  let answers = 0;
  const posted: Posted[] = await Promise.all(
    tapes.map(async (bytes, sent) => {
      const res = await fetch(`${base}/api/proofs/jobs`, {
        method: "POST",
        body: Buffer.from(bytes),
        // Each tape is another player's (its own client: the per-client cap never bites).
        headers: {
          "content-type": "application/octet-stream",
          "cf-connecting-ip": `10.9.${(sent >> 8) & 255}.${sent & 255}`,
        },
      });
      const body = await res.json();
      if (res.status !== 202)
        throw new Error(`tape ${sent}: ${res.status} ${JSON.stringify(body)}`);
      return {
        sent,
        answered: ++answers,
        jobId: body.job.jobId as string,
        answeredAt: Date.now(),
        job: body.job as Job,
        doneAt: 0,
      };
    }),
  );
  posted.sort((a, b) => a.answered - b.answered);
  console.log(
    `${n} jobs posted in ${s(Date.now() - t0)} (proofs of ${proofMs} ms, poll interval ${interval} ms)`,
  );

  const timeoutMs = n * (proofMs + 2 * interval) + 120_000;
  const deadline = t0 + timeoutMs;
  let pollErrors = 0;
  while (posted.some((p) => !p.doneAt) && Date.now() < deadline) {
    if (stack.gateway.exitCode !== null || stack.gateway.signalCode !== null)
      throw new Error("wrangler dev exited during the run");
    await Promise.all(
      posted
        .filter((p) => !p.doneAt)
        .map(async (p) => {
          try {
            const res = await fetch(`${base}/api/proofs/jobs/${p.jobId}`);
            if (res.status !== 200) throw new Error(`status ${res.status}`);
            p.job = ((await res.json()) as { job: Job }).job;
            if (["succeeded", "failed", "cancelled"].includes(p.job.status)) p.doneAt = Date.now();
          } catch {
            pollErrors++;
          }
        }),
    );
    await new Promise((r) => setTimeout(r, 500));
  }
  const endedAt = Date.now();
  const timedOut = posted.some((p) => !p.doneAt);

  const stats = stack.prover.stats();
  const timeline = [...stats.timeline].sort((a, b) => a.acceptedAt - b.acceptedAt);
  const ownerOf = new Map(
    posted.filter((p) => p.job.prover.jobId).map((p) => [p.job.prover.jobId!, p]),
  );
  // Prover acceptance order of each job's (last) submission: 1 = the first the GPU took.
  const proverRank = new Map<string, number>();
  timeline.forEach((e) => {
    const owner = ownerOf.get(e.id);
    if (owner) proverRank.set(owner.jobId, proverRank.size + 1);
  });

  const outcome = (p: Posted) =>
    p.job.status + (p.job.error ? ` ${p.job.error.code}` : "") + (p.doneAt ? "" : " (not done)");
  console.log(
    "\n  job       POST#  prover#  outcome                        submissions  waited for prover  to succeed",
  );
  for (const p of posted) {
    const j = p.job;
    const waited = j.prover.acceptedAt ? s(j.prover.acceptedAt - j.attemptStartedAt) : "—";
    const took =
      j.status === "succeeded" && j.finishedAt ? s(j.finishedAt - j.attemptStartedAt) : "—";
    console.log(
      `  ${p.jobId.slice(0, 8)}  ${String(p.answered).padStart(5)}  ${String(proverRank.get(p.jobId) ?? "—").padStart(7)}  ${outcome(p).padEnd(29)}  ${String(j.attempts.submissions).padStart(11)}  ${waited.padStart(17)}  ${took.padStart(10)}`,
    );
  }

  const byOutcome = new Map<string, number>();
  for (const p of posted) byOutcome.set(outcome(p), (byOutcome.get(outcome(p)) ?? 0) + 1);

  // A gap counts only while work was waiting: some other job had been posted and had not ended
  // when the GPU went idle (the job whose proof just ended is still "proving" until its next poll).
  const { gaps, summary: all } = dispatchGaps(timeline);
  const waiting = gaps.filter((g) =>
    posted.some((p) => {
      if (p.answeredAt > g.idleFrom) return false;
      if (p.job.finishedAt !== null && p.job.finishedAt <= g.idleFrom) return false;
      return p.job.prover.jobId !== g.afterId;
    }),
  );
  const gap = summarizeGaps(waiting.map((g) => g.ms));

  const inversions = (ranks: number[]) => {
    let k = 0;
    for (let a = 0; a < ranks.length; a++)
      for (let b = a + 1; b < ranks.length; b++) if (ranks[a]! > ranks[b]!) k++;
    return k;
  };
  const byProver = posted
    .filter((p) => proverRank.has(p.jobId))
    .sort((a, b) => proverRank.get(a.jobId)! - proverRank.get(b.jobId)!);
  // The dispatcher's own line order: POST time at the gateway, then job id.
  const lineRank = new Map(
    [...posted]
      .sort(
        (a, b) => a.job.attemptStartedAt - b.job.attemptStartedAt || (a.jobId < b.jobId ? -1 : 1),
      )
      .map((p, i) => [p.jobId, i]),
  );
  const busyMs = timeline.reduce((sum, e) => sum + ((e.finishedAt ?? endedAt) - e.acceptedAt), 0);
  const span = timeline.length
    ? Math.max(...timeline.map((e) => e.finishedAt ?? endedAt)) - timeline[0]!.acceptedAt
    : 0;

  console.log(
    [
      "",
      `outcomes: ${[...byOutcome].map(([k, v]) => `${v} ${k}`).join(", ")}${timedOut ? ` — TIMED OUT after ${s(timeoutMs)}` : ""}`,
      `duration: ${s(endedAt - t0)} from the first POST to the last job's end (ideal ≈ ${s(n * (proofMs + 50))}: ${n} × (${proofMs} ms proof + 50 ms prover queue))`,
      `dispatch gap while work waited (${gap.count} of ${all.count} gaps): median ${ms(gap.median)}, p90 ${ms(gap.p90)}, worst ${ms(gap.max)}`,
      `prover: ${stats.accepted} accepted, ${stats.rateLimited} answered 429, ${stats.polls} polls, busy ${span ? Math.round((100 * busyMs) / span) : 0}% of its first-accept→last-end span (${s(span)})`,
      `order: ${inversions(byProver.map((p) => p.answered))} inversion(s) vs POST order (202 answers), ${inversions(byProver.map((p) => lineRank.get(p.jobId)!))} vs the gateway's line order, among ${byProver.length} accepted jobs`,
      ...(pollErrors
        ? [`(${pollErrors} status polls of the gateway failed and were retried)`]
        : []),
    ].join("\n"),
  );
  if (timedOut || posted.some((p) => p.job.status !== "succeeded")) code = 1;
} catch (e) {
  console.log(`FAIL ${e instanceof Error ? e.message : String(e)}`);
  code = 1;
}
console.log(code ? "burst: FAILED" : "burst: ok");
await finish(code);
