/**
 * `npm run burst`: many players finish at once. Starts the dev prover and `wrangler dev`, posts
 * N distinct tapes concurrently, follows every job to its end through the public API and
 * prints how the burst went: outcomes, how long each job took, the prover's 429s, whether it
 * took the jobs in arrival order, and the dispatch gap — how long the single GPU sat idle
 * between one proof ending and the next being accepted (from the dev prover's own timeline).
 * Exits non-zero if any job did not succeed.
 *
 *   npm run burst [-- --jobs 20] [--proof-ms 2000] [--var NAME:VALUE ...]   (vars go to wrangler dev)
 */
import { parseArgs } from "node:util";
import { buildTape } from "../tape.ts";
import { dispatchGaps } from "./dispatch-gaps.ts";
import { startLocalRun } from "./stack.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "20" },
    "proof-ms": { type: "string", default: "2000" },
    var: { type: "string", multiple: true, default: [] },
  },
});
const n = Number(values.jobs);
const proofMs = Number(values["proof-ms"]);
const interval = Number(values.var!.find((v) => v.startsWith("PROVER_POLL_INTERVAL_MS:"))?.split(":")[1] ?? 3000);

const { base, stack, finish } = await startLocalRun({ name: "burst", proofMs, vars: values.var! });
const t0 = Date.now();
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Distinct valid tapes: a few hundred frames each, non-zero scores. */
const tapes = Array.from({ length: n }, (_, i) => {
  const seed = (0x5eed0000 + i * 7919) >>> 0;
  return buildTape({ seed, inputs: new Uint8Array(300).map((_, f) => (f * 3 + i) & 0x0f), finalScore: 100 + i, finalRngState: seed ^ 0x1234 });
});

let code = 0;
try {
  // All at once.
  const posted = await Promise.all(
    tapes.map(async (bytes, i) => {
      const res = await fetch(`${base}/api/proofs/jobs`, { method: "POST", body: Buffer.from(bytes), headers: { "content-type": "application/octet-stream" } });
      const body = await res.json();
      if (res.status !== 202) throw new Error(`tape ${i}: ${res.status} ${JSON.stringify(body)}`);
      return { i, jobId: body.job.jobId as string, job: body.job, postedAt: Date.now(), doneAt: 0 };
    }),
  );
  console.log(`${n} jobs posted in ${s(Date.now() - t0)}`);
  const deadline = Date.now() + n * (proofMs + 2 * interval) + 120_000;
  while (posted.some((p) => !p.doneAt) && Date.now() < deadline) {
    for (const p of posted.filter((x) => !x.doneAt)) {
      const { job } = await (await fetch(`${base}/api/proofs/jobs/${p.jobId}`)).json();
      p.job = job;
      if (["succeeded", "failed", "cancelled"].includes(job.status)) p.doneAt = Date.now();
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  const stats = stack.prover.stats();
  const order = [...posted].sort((a, b) => (a.job.prover.acceptedAt ?? Infinity) - (b.job.prover.acceptedAt ?? Infinity));
  // Arrival order is the gateway's: when it accepted each POST (attemptStartedAt, then job id).
  const arrivals = [...posted]
    .sort((a, b) => a.job.attemptStartedAt - b.job.attemptStartedAt || (a.jobId < b.jobId ? -1 : 1))
    .map((p) => p.jobId);
  const rank = new Map(arrivals.map((id, i) => [id, i]));
  console.log("\n  job       arrival  status     submissions  recoveries  waited for prover  total");
  for (const p of order) {
    const j = p.job;
    const waited = j.prover.acceptedAt ? s(j.prover.acceptedAt - j.attemptStartedAt) : "—";
    console.log(
      `  ${p.jobId.slice(0, 8)}  ${String(rank.get(p.jobId)! + 1).padStart(7)}  ${(j.status + (j.error ? ` ${j.error.code}` : "")).padEnd(9)}  ${String(j.attempts.submissions).padStart(11)}  ${String(j.attempts.recoveries).padStart(10)}  ${waited.padStart(17)}  ${p.doneAt ? s(p.doneAt - t0) : "not done"}`,
    );
  }
  const byStatus: Record<string, number> = {};
  for (const p of posted) byStatus[p.job.status + (p.job.error ? ` (${p.job.error.code})` : "")] = (byStatus[p.job.status + (p.job.error ? ` (${p.job.error.code})` : "")] ?? 0) + 1;
  // Of the pairs (a arrived before b), how many did the prover take the other way round?
  const accepted = order.filter((p) => p.job.prover.acceptedAt).map((p) => rank.get(p.jobId)!);
  let inversions = 0;
  for (let a = 0; a < accepted.length; a++) for (let b = a + 1; b < accepted.length; b++) if (accepted[a]! > accepted[b]!) inversions++;
  const gaps = dispatchGaps(stats.timeline);
  // The gateway's own share of the gap: from the moment it saw a proof end (the job's
  // finishedAt) to the next job's acceptance by the prover. The rest is the poll interval.
  const handoffs = order
    .slice(1)
    .map((p, i) => (p.job.prover.acceptedAt && order[i]!.job.finishedAt ? p.job.prover.acceptedAt - order[i]!.job.finishedAt : null))
    .filter((v): v is number => v !== null && v >= 0)
    .sort((a, b) => a - b);
  const ms = (v: number | null) => (v === null ? "—" : `${v} ms`);
  console.log(
    [
      "",
      `outcomes: ${Object.entries(byStatus).map(([k, v]) => `${v} ${k}`).join(", ")}`,
      `duration: ${s(Date.now() - t0)} for ${n} proofs of ${proofMs} ms (poll interval ${interval} ms)`,
      `dispatch gap (prover idle between a proof's end and the next acceptance, ${gaps.count} gaps): median ${ms(gaps.medianMs)}, p90 ${ms(gaps.p90Ms)}, worst ${ms(gaps.maxMs)}`,
      `hand-off (the gateway saw a proof end → the next job accepted, ${handoffs.length}): median ${ms(handoffs[Math.ceil(handoffs.length / 2) - 1] ?? null)}, worst ${ms(handoffs.at(-1) ?? null)}`,
      `prover: ${stats.accepted} accepted, ${stats.rateLimited} answered 429, ${stats.polls} polls`,
      `arrival order: ${inversions} inversion(s) among ${accepted.length} accepted jobs (0 = strictly in the order the gateway accepted the POSTs)`,
    ].join("\n"),
  );
  if (posted.some((p) => p.job.status !== "succeeded")) code = 1;
} catch (e) {
  console.log(`FAIL ${e instanceof Error ? e.message : String(e)}`);
  code = 1;
}
console.log(code ? "burst: FAILED" : "burst: ok");
await finish(code);
