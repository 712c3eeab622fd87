import { runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { ProverRecord } from "../../src/core/fleet.ts";
import {
  cfg,
  dispatcher,
  ended,
  getJob,
  postTape,
  prover,
  stubOf,
  uniqueTape,
  until,
  waitForJob,
} from "./helpers.ts";

/**
 * How long a prover stays out of the line, in workerd against the dev prover: held for the proof
 * of a job that ended while it ran (until the prover says it ended, or the stall window says the
 * prover is gone), and kept idle by an open circuit (never longer than its median proof time when
 * it is the only prover that answers and jobs wait).
 */
const state = async () => (await dispatcher().listProvers()).find((p) => p.url === prover.base)!;

beforeEach(async () => {
  await prover.configure({ proofMs: 200 });
});

describe("a cancelled job's prover stays held for the proof it cannot stop", () => {
  it("until the prover says that proof ended (DELETE 200): the next job waits meanwhile, is never bounced with a 429, then gets it", async () => {
    await prover.configure({ proofMs: 1_500 });
    const a = (await postTape(uniqueTape())).body.job.jobId as string;
    const acceptedAt = (await waitForJob(a, (j) => j.status === "proving")).prover.acceptedAt!;
    await stubOf(a).cancel({ admin: true });
    const next = (await postTape(uniqueTape())).body.job.jobId as string;
    await until(async () => (await dispatcher().snapshot()).waiting.some((w) => w.jobId === next));
    // Held for A's proof: proving, A named, the next job queued, nothing more submitted.
    expect(await state()).toMatchObject({ state: "proving", job: a });
    expect((await getJob(next)).status).toBe("queued");
    expect((await prover.stats()).submissions).toBe(1);
    const done = await waitForJob(next, ended, 15_000);
    expect(done.status).toBe("succeeded");
    // It went to the prover only once A's proof was over there.
    expect(done.prover.acceptedAt! - acceptedAt).toBeGreaterThanOrEqual(1_500);
    expect((await prover.stats()).rateLimited).toBe(0);
  });

  it("or until its answers have failed for longer than PROVER_STALL_WINDOW_MS (the prover is gone): held just inside, freed after", async () => {
    await prover.configure({ proofMs: 60_000 });
    const a = (await postTape(uniqueTape())).body.job.jobId as string;
    await waitForJob(a, (j) => j.status === "proving");
    // From now on every DELETE gets no answer.
    await prover.faults([{ kind: "reset", on: "delete", times: 10_000 }]);
    const cancelledAt = Date.now();
    await stubOf(a).cancel({ admin: true });
    const heldForA = async () => (await state()).job === a;
    expect(await heldForA()).toBe(true);
    await scheduler.wait(cfg.stallWindowMs - 500);
    expect(await heldForA()).toBe(true);
    await until(async () => !(await heldForA()), 15_000);
    expect(Date.now() - cancelledAt).toBeGreaterThan(cfg.stallWindowMs);
    expect(await state()).toMatchObject({ job: null });
  });
});

describe("an open circuit and the only prover that answers its /health", () => {
  it("is probed at its median proof time while jobs wait, not at the end of a ×16 cool-down, and not before", async () => {
    // One proof timed: the prover's median proof time.
    await prover.configure({ proofMs: 1_000 });
    const first = await waitForJob((await postTape(uniqueTape())).body.job.jobId, ended, 10_000);
    expect(first.status).toBe("succeeded");
    const median = (await state()).speed.proofMs.median!;
    // Its circuit has just opened for a long cool-down (a minute, as after several reopenings).
    const openedAt = Date.now();
    await runInDurableObject(dispatcher(), (_i, s) => {
      const row = s.storage.sql
        .exec<{ data: string }>(`SELECT data FROM provers WHERE url = ?`, prover.base)
        .one();
      const p = JSON.parse(row.data) as ProverRecord;
      const open: ProverRecord = {
        ...p,
        failures: cfg.circuitFailures,
        circuitOpens: 5,
        circuitOpenedAt: openedAt,
        circuitUntil: openedAt + 60_000,
        lastError: "prover_unavailable",
      };
      s.storage.sql.exec(
        `UPDATE provers SET data = ? WHERE url = ?`,
        JSON.stringify(open),
        prover.base,
      );
    });
    expect((await state()).state).toBe("open");
    const submitted = (await prover.stats()).submissions;
    const next = (await postTape(uniqueTape())).body.job.jobId as string;
    // Well inside its median proof time (from the opening, however long the posting took):
    // still idle, the job waiting.
    await scheduler.wait(Math.max(0, openedAt + median / 2 - Date.now()));
    expect((await prover.stats()).submissions).toBe(submitted);
    expect((await getJob(next)).status).toBe("queued");
    // Probed at its median proof time (not in a minute): the circuit closes and the job is proved.
    const done = await waitForJob(next, ended, 10_000);
    expect(done.status).toBe("succeeded");
    expect(done.prover.acceptedAt! - openedAt).toBeGreaterThanOrEqual(median);
    expect(done.prover.acceptedAt! - openedAt).toBeLessThan(30_000);
  });
});
