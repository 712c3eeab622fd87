import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { parseConfig } from "../../src/core/config.ts";
import { jobIndexOf } from "../../src/objects/job-index.ts";
import { testDispatcher } from "./test-worker.ts";
import worker from "../../src/index.ts";
import { isTerminal, type Job, type JobStatus } from "../../src/core/job.ts";
import { newJob } from "../../src/core/lifecycle.ts";
import { tapeKey } from "../../src/core/r2-keys.ts";
import { buildTape, parseTape } from "../../src/core/tape.ts";
import { sha256Hex } from "../../src/core/hex.ts";

/** The config the Worker under test runs with (test/support/test-vars.ts over wrangler.jsonc). */
export const cfg = parseConfig(env as unknown as Record<string, unknown>);

const GW = "http://gateway.test";

let clientCounter = 0;
/**
 * A distinct client address per request unless the test gives one: the intake rate limit is per
 * client.
 */
function asClient(init?: RequestInit): RequestInit {
  const headers = new Headers(init?.headers);
  if (!headers.has("cf-connecting-ip"))
    headers.set(
      "cf-connecting-ip",
      `198.18.${(++clientCounter >> 8) & 0xff}.${clientCounter & 0xff}`,
    );
  return { ...init, headers };
}

export type Answer = { status: number; body: any; headers: Headers };

/** Status, headers and the body as JSON (as text when it is not JSON: "" when empty). */
export async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // leave as text: the test will say what it got
  }
  return { status: res.status, body, headers: res.headers };
}

export async function call(path: string, init?: RequestInit): Promise<Answer> {
  return answerOf(await exports.default.fetch(new Request(`${GW}${path}`, asClient(init))));
}

/**
 * Calls the Worker with some bindings or vars replaced, as `wrangler dev --var NAME:VALUE` would.
 */
export async function callWith(
  overrides: Partial<Cloudflare.Env>,
  path: string,
  init?: RequestInit,
): Promise<Answer> {
  return answerOf(
    await worker.fetch(
      new Request(`${GW}${path}`, asClient(init)),
      { ...env, ...overrides } as Env,
      createExecutionContext(),
    ),
  );
}

export async function postTape(
  bytes: Uint8Array,
  headers: Record<string, string> = {},
  overrides?: Partial<Cloudflare.Env>,
) {
  const init = {
    method: "POST",
    body: bytes,
    headers: { "content-type": "application/octet-stream", ...headers },
  };
  const r = overrides
    ? await callWith(overrides, "/api/proofs/jobs", init)
    : await call("/api/proofs/jobs", init);
  if (r.body?.job?.jobId) touched.add(r.body.job.jobId);
  return r;
}

/**
 * Every job a test created: wiped before the next test, so no job of one test works on in another.
 */
const touched = new Set<string>();

/** Deletes the state and alarm of every job the previous tests created. */
export async function forgetJobs(): Promise<void> {
  for (const jobId of touched) {
    await runInDurableObject(stubOf(jobId), async (_i, state) => {
      await state.storage.deleteAlarm();
      await state.storage.deleteAll();
    });
  }
  touched.clear();
}

/** Waits until `check` holds (the prover, the queue and the alarms work on their own). */
export async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition never held");
    await scheduler.wait(20);
  }
}

/** Whether a job (as the API shows it) has ended. */
export const ended = (j: { status: string }) => isTerminal(j.status as JobStatus);

export const getJob = async (jobId: string): Promise<Job> => {
  const r = await call(`/api/proofs/jobs/${jobId}`);
  if (r.status !== 200) throw new Error(`GET job ${jobId}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.job;
};

/** Polls the public API until the job satisfies `done` (the queue and alarms run on their own). */
export async function waitForJob(
  jobId: string,
  done: (j: Job) => boolean,
  timeoutMs = 20_000,
): Promise<Job> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(jobId);
    if (done(job)) return job;
    if (Date.now() > until)
      throw new Error(`job ${jobId} never got there; last: ${JSON.stringify(job)}`);
    await scheduler.wait(50);
  }
}

let seedCounter = 1;
/** A fresh valid tape (unique seed per call, so a unique job id). */
export function uniqueTape(frames = 200): Uint8Array {
  const seed = (Date.now() ^ (seedCounter++ * 0x9e3779b1)) >>> 0;
  const inputs = new Uint8Array(frames).map((_, i) => (i * 7 + seed) & 0x0f);
  return buildTape({ seed, inputs, finalScore: 100 + seedCounter, finalRngState: seed ^ 0xabcdef });
}

/** Stores a tape and a job in the state the test needs, bypassing intake and the queue. */
export async function seedJob(
  bytes: Uint8Array,
  patch: (j: Job, now: number) => Job = (j) => j,
): Promise<{ jobId: string; job: Job }> {
  const sha256 = await sha256Hex(bytes);
  touched.add(sha256);
  await env.TAPES.put(tapeKey(sha256), bytes);
  const stub = env.JOB.getByName(sha256);
  const job = await runInDurableObject(stub, async (_instance, state) => {
    const now = Date.now();
    let tapeFacts;
    try {
      tapeFacts = parseTape(bytes);
    } catch {
      // some tests seed tapes only the prover refuses (zero score): keep the facts anyway
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const n = v.getUint32(12, true);
      tapeFacts = {
        sizeBytes: bytes.length,
        seed: v.getUint32(8, true),
        frameCount: n,
        finalScore: 0,
        finalRngState: v.getUint32(16 + n + 4, true),
        checksum: v.getUint32(16 + n + 8, true),
      };
    }
    const j = patch(newJob(sha256, { ...tapeFacts, sha256 }, now, cfg), now);
    state.storage.kv.put("job", j);
    // Park the alarm far away: the test decides when it runs (runDurableObjectAlarm).
    await state.storage.setAlarm(now + 3_600_000);
    return j;
  });
  return { jobId: sha256, job };
}

export const stubOf = (jobId: string) => env.JOB.getByName(jobId);

/**
 * Replaces bindings of one job's Durable Object (a failure-injecting R2 or queue), as long as the
 * object stays in memory; `restore` puts the real ones back.
 */
export async function withObjectEnv(jobId: string, overrides: Partial<Env>) {
  const set = (e: Env) =>
    runInDurableObject(
      stubOf(jobId),
      (instance) => void ((instance as unknown as { env: Env }).env = e),
    );
  await set({ ...env, ...overrides });
  return { restore: () => set(env) };
}

export const dispatcher = testDispatcher;

/**
 * Empties the line and forgets every prover (runtime-added ones too, with their health and
 * circuits): each test starts with an idle dispatcher and a fleet of the configured prover.
 */
export const resetDispatcher = () =>
  runInDurableObject(dispatcher(), async (_i, state) => {
    state.storage.sql.exec("DELETE FROM waiting");
    state.storage.sql.exec("DELETE FROM line_clients");
    state.storage.sql.exec("DELETE FROM live");
    state.storage.sql.exec("DELETE FROM provers");
    await state.storage.deleteAlarm();
  });

/** Empties the admin index of jobs. */
export const resetJobIndex = () =>
  runInDurableObject(
    jobIndexOf(env),
    (_i, state) => void state.storage.sql.exec("DELETE FROM jobs"),
  );

export const storedJob = (jobId: string) =>
  runInDurableObject(stubOf(jobId), (_i, state) => state.storage.kv.get<Job>("job") ?? null);

/** Moves the job's alarm an hour away, so the test alone decides when it runs. */
export const parkAlarm = (jobId: string) =>
  runInDurableObject(stubOf(jobId), (_i, state) => state.storage.setAlarm(Date.now() + 3_600_000));

export const storedAlarm = (jobId: string) =>
  runInDurableObject(stubOf(jobId), (_i, state) => state.storage.getAlarm());

/** A dev prover's HTTP control surface (tools/dev/prover-control.ts), at `base`. */
export function proverAt(base: string) {
  const self = {
    base,
    async control(path: string, body?: unknown): Promise<any> {
      const res = await fetch(`${base}/__dev/${path}`, {
        method: body === undefined && path === "stats" ? "GET" : "POST",
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: { "content-type": "application/json" },
      });
      if (!res.ok) throw new Error(`dev prover ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    reset: () => self.control("reset", {}),
    /** Ends every queued or running proof now, as it would have ended (counters kept). */
    endProofs: () => self.control("end-proofs", {}),
    faults: (rules: { kind: string; on?: string; times?: number; delayMs?: number }[]) =>
      self.control("faults", { rules }),
    configure: (opts: Record<string, unknown>) => self.control("config", opts),
    stats: () => self.control("stats"),
  };
  return self;
}

/** This file's second and third dev provers (vitest.config.ts): a fleet, once a test adds them. */
export const fleet = (env.TEST_FLEET_URLS ?? "").split(" ").filter(Boolean).map(proverAt);

/** The dev prover at PROVER_BASE_URL, the fleet's configured one. */
export const prover = {
  ...proverAt(env.PROVER_BASE_URL),
  /** What the prover itself says of one of its jobs (status 404: it no longer knows it). */
  async job(proverJobId: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${env.PROVER_BASE_URL}/api/jobs/${proverJobId}`, {
      headers: { "x-api-key": env.PROVER_API_KEY ?? "" },
    });
    return { status: res.status, body: await res.json() };
  },
  /** Submits a tape straight to the prover (as the gateway would) and returns its job id. */
  async submitDirect(bytes: Uint8Array): Promise<string> {
    const res = await fetch(`${env.PROVER_BASE_URL}/api/jobs/prove-tape/raw`, {
      method: "POST",
      body: bytes,
      headers: { "x-api-key": env.PROVER_API_KEY ?? "" },
    });
    const body = (await res.json()) as { job_id?: string };
    if (res.status !== 202 || !body.job_id)
      throw new Error(`direct submit: ${res.status} ${JSON.stringify(body)}`);
    return body.job_id;
  },
};

/** A proving job as the consumer would have left it, against a real prover job. */
export function provingPatch(proverJobId: string, acceptedAt: (now: number) => number) {
  return (j: Job, now: number): Job => {
    const at = acceptedAt(now);
    return {
      ...j,
      status: "proving",
      prover: {
        ...j.prover,
        url: cfg.proverBaseUrl,
        jobId: proverJobId,
        status: "queued",
        acceptedAt: at,
        pollDeadlineAt: at + cfg.pollTimeoutMs,
      },
    };
  };
}
