import { beforeEach, describe, expect, it } from "vitest";
import { expectedFromSpeed } from "../../src/core/speed.ts";
import { TEST_API_KEY } from "../support/test-vars.ts";
import {
  call,
  callWith,
  cfg,
  dispatcher,
  ended,
  fleet,
  postTape,
  prover,
  uniqueTape,
  until,
  waitForJob,
} from "./helpers.ts";

/**
 * The prover fleet, in workerd against three real dev provers: the configured one
 * (PROVER_BASE_URL) and two that each test adds at runtime, as an operator would.
 */
const [b, c] = fleet as [(typeof fleet)[number], (typeof fleet)[number]];
const ADMIN = "admin-token-for-fleet-tests-0123";
const admin = (path: string, init: RequestInit = {}) =>
  callWith({ ADMIN_TOKEN: ADMIN }, `/api/admin${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
  });
const byUrl = async (url: string) => (await dispatcher().listProvers()).find((p) => p.url === url)!;

beforeEach(async () => {
  for (const p of [prover, b, c]) await p.configure({ proofMs: 300 });
});

describe("a fleet of provers", () => {
  it("spreads the line over every available prover, one proof each at a time", async () => {
    await dispatcher().addProver(b.base, TEST_API_KEY);
    await dispatcher().addProver(c.base, TEST_API_KEY);
    const posted = await Promise.all(Array.from({ length: 6 }, () => postTape(uniqueTape())));
    const jobs = await Promise.all(posted.map((p) => waitForJob(p.body.job.jobId, ended, 20_000)));
    expect(jobs.map((j) => j.status)).toEqual(Array(6).fill("succeeded"));
    const accepted = await Promise.all([prover, b, c].map(async (p) => (await p.stats()).accepted));
    // Each prover proved some; nobody was turned away (one proof per prover at a time).
    expect(accepted.every((n) => n >= 1)).toBe(true);
    expect(accepted.reduce((x, y) => x + y, 0)).toBe(6);
    const rateLimited = await Promise.all(
      [prover, b, c].map(async (p) => (await p.stats()).rateLimited),
    );
    expect(rateLimited).toEqual([0, 0, 0]);
  });

  it("a prover whose submissions fail: the job goes to another prover, holding nothing, spending nothing", async () => {
    // The configured prover refuses every submission.
    await prover.faults([{ kind: "http_503", on: "submit", times: 100 }]);
    const { body } = await postTape(uniqueTape());
    // Its circuit opens after PROVER_CIRCUIT_FAILURES of them; the job waits meanwhile.
    await until(async () => (await byUrl(prover.base)).state === "open");
    // Waiting at the head of the line, holding no prover, its message acked (never retried).
    const line = await dispatcher().snapshot();
    expect(line.waiting.map((w) => w.jobId)).toEqual([body.job.jobId]);
    expect(line.slots.every((s) => s.holder === null)).toBe(true);
    // A healthy prover joins: the job goes there.
    await dispatcher().addProver(b.base, TEST_API_KEY);
    const job = await waitForJob(body.job.jobId, ended, 10_000);
    expect(job).toMatchObject({ status: "succeeded", prover: { url: b.base } });
    expect(job.attempts).toMatchObject({ recoveries: 0, deliveries: job.attempts.deliveries });
    expect(job.attempts.submissions).toBeGreaterThanOrEqual(2);
    expect((await byUrl(prover.base)).counts.faults).toBeGreaterThanOrEqual(1);
  });

  it("a prover that stops answering mid-proof costs the job only time: rebuilt on another prover, no recovery used", async () => {
    await prover.configure({ proofMs: 60_000 });
    const { body } = await postTape(uniqueTape());
    await waitForJob(body.job.jobId, (j) => j.status === "proving" && j.prover.url === prover.base);
    await dispatcher().addProver(b.base, TEST_API_KEY);
    // Gone: every status read fails from now on, for longer than the stall window.
    await prover.faults([{ kind: "reset", on: "poll", times: 10_000 }]);
    const job = await waitForJob(body.job.jobId, ended, cfg.stallWindowMs + 15_000);
    expect(job).toMatchObject({
      status: "succeeded",
      prover: { url: b.base },
      lastRecovery: { code: "prover_stalled" },
      attempts: { recoveries: 0, proverRebuilds: 1 },
    });
    // The abandoned prover job is still to be deleted there, once the prover answers again.
    expect(job.cleanup.map((e) => e.url)).toContain(prover.base);
  });

  it("opens a prover's circuit after PROVER_CIRCUIT_FAILURES transport failures in a row (not one before), then closes it on a good /health", async () => {
    const url = prover.base;
    for (let i = 1; i < cfg.circuitFailures; i++)
      await dispatcher().charge(url, "prover_unavailable");
    expect(await byUrl(url)).toMatchObject({
      state: "unchecked",
      circuit: { failures: cfg.circuitFailures - 1 },
    });
    await dispatcher().charge(url, "prover_unavailable");
    const open = await byUrl(url);
    expect(open.state).toBe("open");
    expect(open.circuit.openUntil).toBeGreaterThan(Date.now());
    // While open it gets no work: a job waits.
    const { body } = await postTape(uniqueTape());
    await until(async () =>
      (await dispatcher().snapshot()).waiting.some((w) => w.jobId === body.job.jobId),
    );
    expect((await prover.stats()).submissions).toBe(0);
    // After the cool-down a /health probe closes the circuit and the job is proved.
    const job = await waitForJob(body.job.jobId, ended, 10_000);
    expect(job.status).toBe("succeeded");
    expect(await byUrl(url)).toMatchObject({ circuit: { failures: 0, openUntil: null } });
  });

  it("the health gate: a prover whose /health is incompatible gets no work until it is good again", async () => {
    await b.configure({ imageId: "not-a-32-byte-hex-image-id" });
    await dispatcher().addProver(b.base, TEST_API_KEY);
    // The configured prover is drained: b is the only one that could take the job.
    await dispatcher().setDraining((await byUrl(prover.base)).id, true);
    const { body } = await postTape(uniqueTape());
    await until(async () => (await byUrl(b.base)).state === "incompatible");
    expect((await byUrl(b.base)).why).toMatch(/image_id/);
    expect((await b.stats()).submissions).toBe(0);
    // Fixed: once its reading is older than PROVER_HEALTH_INTERVAL_MS it is read again, and works.
    await b.configure({ imageId: cfg.proverExpectedImageId! });
    const job = await waitForJob(body.job.jobId, ended, 10_000);
    expect(job).toMatchObject({ status: "succeeded", prover: { url: b.base } });
  });

  it("the health gate: a prover on the CPU counts as a GPU box that lost its GPU (state cpu) unless PROVER_ALLOW_CPU=1", async () => {
    // The workerd tests run with PROVER_ALLOW_CPU=1 (the dev prover): the reading is kept, work goes on.
    expect(cfg.allowCpu).toBe(true);
    await prover.configure({ accelerator: "cpu" });
    const { body } = await postTape(uniqueTape());
    expect((await waitForJob(body.job.jobId, ended, 10_000)).status).toBe("succeeded");
    expect((await byUrl(prover.base)).health).toMatchObject({ accelerator: "cpu" });
  });
});

describe("a tape the guest refuses", () => {
  it("is tried once more on another prover, then ends tape_rejected (confirmed): two proofs, one per prover", async () => {
    await dispatcher().addProver(b.base, TEST_API_KEY);
    for (const p of [prover, b]) await p.faults([{ kind: "fail_proof_error" }]);
    const { body } = await postTape(uniqueTape());
    const job = await waitForJob(body.job.jobId, ended, 10_000);
    expect(job).toMatchObject({ status: "failed", error: { code: "tape_rejected" } });
    // Two different provers said so: confirmed, and nobody proved it, so nobody is charged.
    expect(job.error!.unconfirmed).toBeUndefined();
    expect(new Set(job.verdicts!.map((v) => v.url))).toEqual(new Set([prover.base, b.base]));
    for (const p of await dispatcher().listProvers()) expect(p.counts.contradictions).toBe(0);
    const accepted = await Promise.all([prover, b].map(async (p) => (await p.stats()).accepted));
    expect(accepted).toEqual([1, 1]);
  });
});

describe("what the fleet learns from its proofs", () => {
  it("times each prover from its proofs, schedules the next proof's polls from that, and reports the margins", async () => {
    const callsBefore = (await admin("/health")).body.line.calls;
    const tape = uniqueTape(1500);
    const first = await waitForJob((await postTape(tape)).body.job.jobId, ended, 10_000);
    expect(first.status).toBe("succeeded");
    // Nothing was measured yet: no expected end (its polls spread out from the acceptance).
    expect(first.prover.expectedEndAt).toBeNull();
    const elapsed = first.result!.proverElapsedMs!;
    const perK = Math.round((elapsed * 1000) / 1500);
    const seen = await admin("/provers");
    const mine = seen.body.provers.find((p: { url: string }) => p.url === prover.base);
    expect(mine.speed).toEqual({
      proofs: 1,
      msPer1000Frames: { median: perK, p95: perK },
      proofMs: { median: elapsed, p95: elapsed, max: elapsed },
    });
    // The next proof on it is expected to take its median speed × the tape's frames.
    const second = (await postTape(uniqueTape(3000))).body.job.jobId;
    const proving = await waitForJob(second, (j) => j.status === "proving" || ended(j));
    expect(proving.prover.expectedEndAt).toBe(
      proving.prover.acceptedAt! + expectedFromSpeed(perK, 3000)!,
    );
    expect((await waitForJob(second, ended, 10_000)).status).toBe("succeeded");
    const health = await admin("/health");
    expect(health.body.line.timeouts).toMatchObject({ proofs: 2, warnings: [] });
    expect(health.body.warnings).toEqual([]);
    // Every call to the dispatcher is counted (the bench divides them by jobs): one admit and
    // one release per job.
    const calls = health.body.line.calls;
    expect(calls.admit - (callsBefore.admit ?? 0)).toBe(2);
    expect(calls.release - (callsBefore.release ?? 0)).toBe(2);
    expect(calls.total).toBeGreaterThan(calls.admit);
  });

  it("gives a waiting job an ETA: its turn comes when the prover's proof should end, then its own proof", async () => {
    // Nothing timed yet: a default ETA, shown in the 202 too.
    const first = await postTape(uniqueTape(1000));
    expect(first.body.estimate).toMatchObject({ basis: "default" });
    const timed = await waitForJob(first.body.job.jobId, ended, 10_000);
    const perK = Math.round(timed.result!.proverElapsedMs!); // 1,000 frames
    // Now a long proof holds the prover, expected to end from the measured speed.
    await prover.configure({ proofMs: 60_000 });
    const blocker = (await postTape(uniqueTape(2000))).body.job.jobId;
    const proving = await waitForJob(blocker, (j) => j.status === "proving");
    expect(proving.prover.expectedEndAt).toBe(
      proving.prover.acceptedAt! + expectedFromSpeed(perK, 2000)!,
    );
    const id = (await postTape(uniqueTape(3000))).body.job.jobId;
    await until(async () => (await call(`/api/proofs/jobs/${id}`)).body.queue !== null);
    const { body } = await call(`/api/proofs/jobs/${id}`);
    expect(body.queue).toEqual({ ahead: 0 });
    expect(body.estimate).toEqual({
      startAt: proving.prover.expectedEndAt,
      finishAt: proving.prover.expectedEndAt! + expectedFromSpeed(perK, 3000)!,
      basis: "measured",
    });
    // The proving job's own ETA is its expected end.
    const own = (await call(`/api/proofs/jobs/${blocker}`)).body.estimate;
    expect(own).toEqual({
      startAt: null,
      finishAt: proving.prover.expectedEndAt,
      basis: "measured",
    });
    for (const j of [blocker, id]) await dispatcher().release(j);
  });

  it("warns on /api/admin/health once observed proof times pass 80 % of PROVER_POLL_TIMEOUT_MS", async () => {
    const limit = cfg.pollTimeoutMs;
    await dispatcher().release("none", { url: prover.base, frames: 1000, elapsedMs: 0.8 * limit });
    expect((await admin("/health")).body.warnings).toEqual([]);
    await dispatcher().release("none", {
      url: prover.base,
      frames: 1000,
      elapsedMs: 0.8 * limit + 1,
    });
    const health = await admin("/health");
    expect(health.body.warnings.join(" ")).toContain("PROVER_POLL_TIMEOUT_MS");
    expect(health.body.line.timeouts.proofMs.max).toBe(0.8 * limit + 1);
  });
});

describe("operators change the fleet at runtime (admin API)", () => {
  it("adds, lists, drains, resumes and deletes a prover; a configured one can be drained, not deleted", async () => {
    const added = await admin("/provers", {
      method: "POST",
      body: JSON.stringify({ url: b.base }),
    });
    expect(added.status).toBe(201);
    expect(added.body.prover).toMatchObject({ url: b.base, source: "runtime" });
    const id = added.body.prover.id as string;
    expect(id).toMatch(/^[a-z0-9-]+$/);
    expect(
      (await admin("/provers", { method: "POST", body: JSON.stringify({ url: b.base }) })).status,
    ).toBe(409);
    const listed = await admin("/provers");
    expect(listed.body.provers.map((p: { url: string }) => p.url).sort()).toEqual(
      [prover.base, b.base].sort(),
    );

    expect((await admin(`/provers/${id}/drain`, { method: "POST" })).body.prover.state).toBe(
      "draining",
    );
    expect((await admin(`/provers/${id}/resume`, { method: "POST" })).body.prover.state).not.toBe(
      "draining",
    );

    const configured = listed.body.provers.find((p: { url: string }) => p.url === prover.base).id;
    const refused = await admin(`/provers/${configured}`, { method: "DELETE" });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("prover_configured");

    expect((await admin(`/provers/${id}`, { method: "DELETE" })).status).toBe(200);
    expect((await admin(`/provers/${id}`, { method: "DELETE" })).body.error.code).toBe(
      "prover_not_found",
    );
  });

  it("a drained prover finishes the proof it has and gets no new one; deleting it while it proves is refused", async () => {
    // Only b works: the configured prover is drained.
    await dispatcher().setDraining((await byUrl(prover.base)).id, true);
    // A runtime prover brings its own key (the dev provers all have the test key).
    const id = (
      await admin("/provers", {
        method: "POST",
        body: JSON.stringify({ url: b.base, apiKey: TEST_API_KEY }),
      })
    ).body.prover.id as string;
    await b.configure({ proofMs: 1_500 });
    const first = (await postTape(uniqueTape())).body.job.jobId as string;
    await waitForJob(first, (j) => j.status === "proving");
    const busy = await admin(`/provers/${id}`, { method: "DELETE" });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe("prover_proving");
    expect((await admin(`/provers/${id}/drain`, { method: "POST" })).status).toBe(200);
    const second = (await postTape(uniqueTape())).body.job.jobId as string;
    expect((await waitForJob(first, ended, 10_000)).status).toBe("succeeded");
    await until(async () =>
      (await dispatcher().snapshot()).waiting.some((w) => w.jobId === second),
    );
    expect((await b.stats()).accepted).toBe(1);
    await admin(`/provers/${id}/resume`, { method: "POST" });
    expect((await waitForJob(second, ended, 10_000)).status).toBe("succeeded");
    expect((await b.stats()).accepted).toBe(2);
  });

  it("refuses a prover URL that breaks the PROVER_BASE_URL rules, naming the problem", async () => {
    for (const url of [
      "ftp://x.example",
      "not a url",
      "http://203.0.113.9:8790",
      "https://x.example/path",
    ]) {
      const r = await admin("/provers", { method: "POST", body: JSON.stringify({ url }) });
      expect(r.status, url).toBe(400);
      expect(r.body.error.code).toBe("invalid_prover_url");
    }
    const bad = await admin("/provers", { method: "POST", body: "{" });
    expect(bad.body.error.code).toBe("invalid_body");
  });
});
