/**
 * `npm run bench:webhooks`: figures for the completion webhooks, against the real local stack (a
 * dev prover and `wrangler dev`, its queues included), never a pass/fail on speed. It starts a
 * webhook receiver on loopback that checks every delivery's Standard Webhooks signature, points
 * the gateway at it (WEBHOOK_URL, WEBHOOK_SECRET, PUBLIC_BASE_URL, SETTLEMENT_TOKEN as `--var`),
 * posts N distinct synthetic tapes (VERIFY_RECEIPTS=off: their receipts are fakes) and prints:
 *
 * - proof end → webhook delivered: from the job's `finishedAt` (its GET) to the receiver's
 *   arrival time of the event's accepted delivery, median, p95 and max (nearest rank);
 * - events delivered / jobs, signatures verified / deliveries, jobs with exactly one event id,
 *   duplicate deliveries (a 2xx'd event delivered again).
 *
 * With `--refuse K[,K…]` it then runs, for each K, a few more jobs (`--refuse-jobs`, default 3)
 * against a receiver that answers 500 to the first K deliveries of each `webhook-id`, and prints
 * per event the delays between successive deliveries (the gateway asks for 5 s, then 10 s, …) and
 * the total time from proof end to the accepted delivery, beside the retry delay the gateway
 * logged (`webhook_failed`): whether the local Queues honour `message.retry({ delaySeconds })`.
 *
 *   npm run bench:webhooks [-- --jobs 20] [--proof-ms 2000] [--refuse 1,2] [--refuse-jobs 3]
 *                          [--timeout-s 600] [--var NAME:VALUE ...]
 *
 * `--jobs 0` skips the latency run. Loopback only; stops by itself (the whole run is bounded by
 * `--timeout-s`). Exit 1 when a figure could not be measured (the stack did not start, a job did
 * not end, an event was not delivered) or a signature did not verify, 2 on bad arguments.
 *
 * The receiver is tools/dev/webhook-receiver.ts (`npm run game-flows` uses it too).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isTerminal, type Job } from "../../src/core/job.ts";
import { buildTape } from "../../src/core/tape.ts";
import { WEBHOOKS_QUEUE_NAME, webhookRetryDelaySeconds } from "../../src/core/webhook.ts";
import { parseVarFlag, readWranglerConfig } from "../ops/wrangler-config.ts";
import { nearestRank, table } from "./bench-figures.ts";
import { freePort, snapshotWorker, startStack, type Stack, localWranglerArgs } from "./stack.ts";
import { newWebhookSecret, startWebhookReceiver, type Delivery } from "./webhook-receiver.ts";
import { usageExit, wholeOption } from "./args.ts";

// ---------------------------------------------------------------------------------------------
// The bench.

const USAGE =
  "usage: npm run bench:webhooks [-- --jobs 20] [--proof-ms 2000] [--refuse 1,2] [--refuse-jobs 3] [--timeout-s 600] [--var NAME:VALUE ...]";

const usage = usageExit(USAGE);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** A distinct valid tape per (phase, index) (as `npm run bench` makes them). */
function syntheticTape(phase: number, i: number): Uint8Array {
  const seed = (0x3b0b0000 + phase * 0x10000 + i * 7919) >>> 0;
  const inputs = new Uint8Array(280 + (i % 5) * 12).map((_, f) => (f * 5 + i + phase) & 0x0f);
  return buildTape({ seed, inputs, finalScore: 50 + i, finalRngState: (seed ^ 0x0badf00d) >>> 0 });
}

/** One job as the bench followed it. */
interface Followed {
  jobId: string;
  job: Job;
  ended: boolean;
}

/** What the gateway logged about one delivery (`webhook_failed` / `webhook_delivered`). */
interface GatewayLogLine {
  event: string;
  id: string;
  attempts: number;
  status?: number | null;
  retryInSeconds?: number | null;
}

/** One job's event as the receiver saw it. */
interface EventFigures {
  jobId: string;
  finishedAt: number | null;
  /** Distinct webhook-ids received for this job. */
  ids: string[];
  /** Its deliveries, by arrival. */
  deliveries: Delivery[];
  /** `finishedAt` → the accepted (2xx) delivery's arrival; null: none accepted. */
  latencyMs: number | null;
  /** 2xx deliveries after the first. */
  duplicates: number;
  /** The body's `timestamp` is the job's `finishedAt`. */
  timestampIsFinishedAt: boolean;
}

function figuresFor(f: Followed, deliveries: readonly Delivery[]): EventFigures {
  const mine = deliveries
    .filter((d) => d.payload?.data?.job_id === f.jobId)
    .sort((a, b) => a.arrivedAt - b.arrivedAt);
  const accepted = mine.filter((d) => d.answered >= 200 && d.answered < 300);
  const finishedAt = f.job.finishedAt;
  return {
    jobId: f.jobId,
    finishedAt,
    ids: [...new Set(mine.map((d) => d.id))],
    deliveries: mine,
    latencyMs: accepted[0] && finishedAt !== null ? accepted[0].arrivedAt - finishedAt : null,
    duplicates: Math.max(0, accepted.length - 1),
    timestampIsFinishedAt:
      finishedAt !== null &&
      mine.every((d) => d.payload?.timestamp === new Date(finishedAt).toISOString()),
  };
}

async function main(): Promise<number> {
  let values;
  try {
    values = parseArgs({
      options: {
        jobs: { type: "string", default: "20" },
        "proof-ms": { type: "string", default: "2000" },
        refuse: { type: "string", default: "" },
        "refuse-jobs": { type: "string", default: "3" },
        "timeout-s": { type: "string", default: "600" },
        var: { type: "string", multiple: true, default: [] },
      },
    }).values;
  } catch (e) {
    return usage(e instanceof Error ? e.message : String(e));
  }
  const whole = wholeOption(usage);
  const jobs = whole("jobs", values.jobs, 0);
  const proofMs = whole("proof-ms", values["proof-ms"], 1);
  const refuseJobs = whole("refuse-jobs", values["refuse-jobs"], 1);
  const timeoutMs = whole("timeout-s", values["timeout-s"], 10) * 1000;
  const refusals = values.refuse
    ? values.refuse.split(",").map((k) => whole("refuse", k.trim(), 1))
    : [];
  const extra: string[] = [];
  try {
    for (const flag of values.var) extra.push(parseVarFlag(flag).join(":"));
  } catch (e) {
    usage(e instanceof Error ? e.message : String(e));
  }

  const started = Date.now();
  const deadline = started + timeoutMs;
  const secret = newWebhookSecret();
  const receiver = await startWebhookReceiver(secret);
  const work = mkdtempSync(join(tmpdir(), "gateway-bench-webhooks-"));
  let stack: Stack | undefined;
  let output = "";
  const logged: GatewayLogLine[] = [];
  let pending = "";
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      await stack?.stop().catch(() => {});
      await receiver.close();
      rmSync(work, { recursive: true, force: true });
    })());
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)
    process.once(signal, () => void cleanUp().then(() => process.exit(code)));
  const guard = setTimeout(() => {
    console.log(`bench:webhooks: not done within ${timeoutMs / 1000} s; stopping`);
    void cleanUp().then(() => process.exit(1));
  }, timeoutMs);
  guard.unref();

  try {
    const config = await snapshotWorker(join(work, "worker"));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const adminToken = `admin-${randomBytes(16).toString("hex")}`;
    const vars = [
      "VERIFY_RECEIPTS:off",
      `WEBHOOK_URL:${receiver.url}`,
      `WEBHOOK_SECRET:${secret}`,
      `PUBLIC_BASE_URL:${base}`,
      `SETTLEMENT_TOKEN:settlement-${randomBytes(16).toString("hex")}`,
      // The config it prints is the operator's view: GET /api/admin/health.
      `ADMIN_TOKEN:${adminToken}`,
      ...extra,
    ];
    stack = await startStack({
      prover: { port: 0, proofMs },
      wranglerArgs: ["-c", config, ...localWranglerArgs(port, join(work, "state"), vars)],
      onOutput: (text) => {
        output = (output + text).slice(-50_000);
        // The consumer's own log lines: what it asked the queue for.
        const lines = (pending + text).split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          const m = /\{.*"event":"webhook_[a-z_]+".*\}/.exec(line);
          if (!m) continue;
          try {
            logged.push(JSON.parse(m[0]) as GatewayLogLine);
          } catch {
            // not one of ours
          }
        }
      },
    });
    let readyTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      stack.ready,
      new Promise((_, reject) => {
        readyTimer = setTimeout(
          () => reject(new Error("wrangler dev did not start in 60 s")),
          60_000,
        );
      }),
    ])
      .catch((e: unknown) => {
        throw new Error(`${e instanceof Error ? e.message : String(e)}:\n${output}`);
      })
      .finally(() => clearTimeout(readyTimer));
    const health = (await (
      await fetch(`${base}/api/admin/health`, {
        headers: { authorization: `Bearer ${adminToken}` },
      })
    ).json()) as {
      status: string;
      config?: Record<string, unknown>;
    };
    const consumer = readWranglerConfig(
      fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url)),
    ).queues?.consumers?.find((c) => c.queue === WEBHOOKS_QUEUE_NAME);
    const batchTimeoutS = consumer?.max_batch_timeout ?? 0;
    console.log(
      `${WEBHOOKS_QUEUE_NAME} consumer (wrangler.jsonc): max_batch_size ${consumer?.max_batch_size}, max_batch_timeout ${consumer?.max_batch_timeout} s, max_retries ${consumer?.max_retries}`,
    );
    console.log(
      `stack ready in ${secs(Date.now() - started)}: health ${health.status}, webhookUrl ${String(health.config?.webhookUrl)}, settlement token set ${String(health.config?.settlementTokenSet)}; receiver ${receiver.url}`,
    );

    let ip = 0;
    /** Posts the tapes (each from its own client address), follows them to their end. */
    const runJobs = async (phase: number, n: number): Promise<Followed[]> => {
      const followed: Followed[] = [];
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${base}/api/proofs/jobs`, {
          method: "POST",
          body: Buffer.from(syntheticTape(phase, i)),
          headers: {
            "content-type": "application/octet-stream",
            "cf-connecting-ip": `203.0.113.${ip++ & 0xff}`,
          },
        });
        const body = (await res.json()) as { job?: Job };
        if (res.status !== 202 || !body.job)
          throw new Error(`tape ${phase}/${i}: ${res.status} ${JSON.stringify(body)}`);
        followed.push({ jobId: body.job.jobId, job: body.job, ended: false });
      }
      while (followed.some((f) => !f.ended) && Date.now() < deadline) {
        if (stack!.gateway.exitCode !== null || stack!.gateway.signalCode !== null)
          throw new Error(`wrangler dev exited during the run:\n${output}`);
        await Promise.all(
          followed
            .filter((f) => !f.ended)
            .map(async (f) => {
              try {
                const res = await fetch(`${base}/api/proofs/jobs/${f.jobId}`);
                if (res.status !== 200) return;
                f.job = ((await res.json()) as { job: Job }).job;
                f.ended = isTerminal(f.job.status);
              } catch {
                // read again next round
              }
            }),
        );
        if (followed.some((f) => !f.ended)) await sleep(1_000);
      }
      return followed;
    };
    /** Waits until every job's event has an accepted delivery (or `limitMs`), then a grace. */
    const awaitDeliveries = async (followed: Followed[], limitMs: number) => {
      const until = Math.min(deadline, Date.now() + limitMs);
      const done = () =>
        followed.every((f) =>
          receiver.deliveries.some(
            (d) => d.payload?.data?.job_id === f.jobId && d.answered >= 200 && d.answered < 300,
          ),
        );
      while (!done() && Date.now() < until) await sleep(100);
      await sleep(3_000); // a duplicate would come within the batch timeout
    };

    let code = 0;
    const failIf = (bad: boolean, message: string) => {
      if (!bad) return;
      code = 1;
      console.log(`  PROBLEM: ${message}`);
    };
    /** The facts every phase checks: ended, delivered, signed, one event id per job. */
    const check = (followed: Followed[], events: EventFigures[]) => {
      const mine = events.flatMap((e) => e.deliveries);
      const delivered = events.filter((e) => e.latencyMs !== null).length;
      const verified = mine.filter((d) => d.verified).length;
      const oneId = events.filter((e) => e.ids.length === 1).length;
      const duplicates = events.reduce((s, e) => s + e.duplicates, 0);
      const byStatus = new Map<string, number>();
      for (const f of followed) byStatus.set(f.job.status, (byStatus.get(f.job.status) ?? 0) + 1);
      console.log(
        `  jobs: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(", ")}; events delivered ${delivered}/${followed.length} jobs; ` +
          `signatures verified ${verified}/${mine.length} deliveries; exactly one event id: ${oneId}/${followed.length} jobs; ` +
          `duplicate deliveries ${duplicates}; body timestamp = finishedAt: ${events.filter((e) => e.timestampIsFinishedAt).length}/${events.length}`,
      );
      failIf(
        followed.some((f) => !f.ended),
        `${followed.filter((f) => !f.ended).length} job(s) did not end`,
      );
      failIf(delivered < followed.length, `${followed.length - delivered} event(s) not delivered`);
      failIf(verified < mine.length, `${mine.length - verified} signature(s) did not verify`);
      failIf(oneId < followed.length, `${followed.length - oneId} job(s) without exactly one id`);
    };

    if (jobs > 0) {
      console.log(`\nlatency: ${jobs} jobs, proof ${proofMs} ms, receiver accepts every delivery`);
      receiver.refuseFirst(0);
      const followed = await runJobs(0, jobs);
      await awaitDeliveries(followed, 60_000);
      const events = followed.map((f) => figuresFor(f, receiver.deliveries));
      const lat = events.map((e) => e.latencyMs).filter((v): v is number => v !== null);
      console.log(
        `  proof end (job finishedAt) → webhook delivered: median ${nearestRank(lat, 0.5)} ms, p95 ${nearestRank(lat, 0.95)} ms, max ${lat.length ? Math.max(...lat) : "—"} ms, min ${lat.length ? Math.min(...lat) : "—"} ms (n = ${lat.length}; the consumer's max_batch_timeout is ${batchTimeoutS} s)`,
      );
      check(followed, events);
    }

    for (const [i, k] of refusals.entries()) {
      const expected = Array.from({ length: k }, (_, n) => webhookRetryDelaySeconds(n + 1));
      console.log(
        `\nrefusing receiver, K=${k}: ${refuseJobs} jobs; the first ${k} deliveries of each webhook-id answered 500 (gateway's delays: ${expected.map((s) => `${s} s`).join(", ")})`,
      );
      receiver.refuseFirst(k);
      const followed = await runJobs(i + 1, refuseJobs);
      await awaitDeliveries(followed, expected.reduce((a, b) => a + b, 0) * 1000 + 60_000);
      const events = followed.map((f) => figuresFor(f, receiver.deliveries));
      const rows: string[][] = [
        ["job", "deliveries (status at +s from proof end)", "gaps", "total"],
      ];
      const gapsByFailure: number[][] = expected.map(() => []);
      for (const e of events) {
        const at = (d: Delivery) =>
          e.finishedAt === null ? "?" : ((d.arrivedAt - e.finishedAt) / 1000).toFixed(2);
        const gaps = e.deliveries.slice(1).map((d, n) => d.arrivedAt - e.deliveries[n]!.arrivedAt);
        gaps.forEach((g, n) => gapsByFailure[n]?.push(g));
        rows.push([
          `${e.jobId.slice(0, 12)}…`,
          e.deliveries.map((d) => `${d.answered}@${at(d)}`).join(" "),
          gaps.map(secs).join(", "),
          e.latencyMs === null ? "not delivered" : secs(e.latencyMs),
        ]);
      }
      for (const line of table(rows)) console.log(`  ${line}`);
      const asked = logged.filter(
        (l) => l.event === "webhook_failed" && events.some((e) => e.ids.includes(l.id)),
      );
      console.log(
        `  gateway log: ${asked.length} webhook_failed (attempts → retryInSeconds: ${[...new Set(asked.map((l) => `${l.attempts}→${l.retryInSeconds}`))].join(", ") || "none seen"}), ` +
          `${logged.filter((l) => l.event === "webhook_delivered" && events.some((e) => e.ids.includes(l.id))).length} webhook_delivered`,
      );
      expected.forEach((s, n) => {
        const g = gapsByFailure[n]!;
        if (!g.length) return console.log(`  after failure ${n + 1}: asked ${s} s, no retry seen`);
        const over = (ms: number) =>
          `${ms >= s * 1000 ? "+" : "−"}${secs(Math.abs(ms - s * 1000))}`;
        const verdict =
          Math.min(...g) < s * 1000 - 250
            ? "NOT honoured: redelivered sooner than asked"
            : Math.max(...g) > (s + batchTimeoutS + 2) * 1000
              ? "redelivered later than asked + the batch timeout"
              : `honoured (each gap ≈ the delay + max_batch_timeout ${batchTimeoutS} s)`;
        console.log(
          `  after failure ${n + 1}: asked ${s} s, observed min ${secs(Math.min(...g))}, median ${secs(nearestRank(g, 0.5)!)}, max ${secs(Math.max(...g))} (n = ${g.length}; median ${over(nearestRank(g, 0.5)!)} over the ask) → wrangler dev's local queue: delaySeconds ${verdict}`,
        );
      });
      check(followed, events);
      failIf(
        events.some((e) => e.deliveries.length !== k + 1),
        `an event was not delivered exactly ${k + 1} times: ${events.map((e) => e.deliveries.length).join(", ")}`,
      );
    }
    console.log(`\nbench:webhooks: wall ${secs(Date.now() - started)}`);
    return code;
  } catch (e) {
    console.log(`bench:webhooks: FAILED ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    clearTimeout(guard);
    await cleanUp();
  }
}

if (import.meta.main) process.exit(await main());
