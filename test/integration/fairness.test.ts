import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Job } from "../../src/core/job.ts";
import { TOO_MANY_WAITING_RETRY_SECONDS } from "../../src/http/routes.ts";
import {
  call,
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
 * The line is fair between clients (round robin over clients with work waiting, arrival order
 * within one) and MAX_WAITING_PER_CLIENT caps what one client may have queued or proving.
 */
const ip = (n: number) => ({ "cf-connecting-ip": `203.0.113.${n}` });

/** Posts `n` new tapes from client `who`, one after the other; their job ids. */
async function postMany(who: number, n: number, cap = "100"): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await postTape(uniqueTape(), ip(who), { MAX_WAITING_PER_CLIENT: cap });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    ids.push(r.body.job.jobId);
  }
  return ids;
}

const line = async () => (await dispatcher().snapshot()).waiting.map((w) => w.jobId);

describe("a fair line", () => {
  it("a client with 12 tapes waiting and another posting one: the other's tape is next", async () => {
    await prover.configure({ proofMs: 60_000 }); // nothing ends during the test
    const [first, ...twelve] = await postMany(1, 13);
    await waitForJob(first!, (j) => j.status === "proving");
    await until(async () => (await line()).length === 12);
    const [other] = await postMany(2, 1);
    await until(async () => (await line()).length === 13);
    // Next in line, ahead of all twelve (they came first, but their client was just served).
    expect((await line())[0]).toBe(other);
    expect((await call(`/api/proofs/jobs/${other}`)).body.queue).toEqual({ ahead: 0 });
    expect(await dispatcher().position(twelve[0]!)).toBe(1);
    expect(await dispatcher().position(twelve[11]!)).toBe(12);
    for (const id of [first!, ...twelve, other!]) await stubOf(id).cancel({ admin: true });
  });

  it("clients take turns, one job each per round, arrival order within a client; each job's place is where it is served", async () => {
    // A long proof holds the prover while the line forms; the others are short.
    await prover.configure({ proofMs: 3_000 });
    const [blocker] = await postMany(9, 1);
    await waitForJob(blocker!, (j) => j.status === "proving");
    await prover.configure({ proofMs: 200 });
    const a = await postMany(1, 3);
    const b = await postMany(2, 3);
    const c = await postMany(3, 2);
    await until(async () => (await line()).length === 8);
    // None served yet: clients in the order they came, one job each per round.
    const order = [a[0], b[0], c[0], a[1], b[1], c[1], a[2], b[2]];
    expect(await line()).toEqual(order);
    for (const [i, id] of order.entries()) expect(await dispatcher().position(id!)).toBe(i);
    // And that is the order the prover proves them in.
    const done = await Promise.all([...a, ...b, ...c].map((id) => waitForJob(id, ended, 20_000)));
    expect(done.every((j) => j.status === "succeeded")).toBe(true);
    const byStart = [...done]
      .sort((x, y) => x.prover.acceptedAt! - y.prover.acceptedAt!)
      .map((j) => j.jobId);
    expect(byStart).toEqual(order);
  });
});

describe("the line's per-client rows", () => {
  const clientRows = () =>
    runInDurableObject(dispatcher(), (_i, state) =>
      state.storage.sql
        .exec<{ client: string; served_at: number; waiting: number }>(
          `SELECT client, served_at, waiting FROM line_clients`,
        )
        .toArray(),
    );

  it("stay while the client has a job queued or proving (it keeps its turn), and go once it has nothing left in line", async () => {
    await prover.configure({ proofMs: 1_500 });
    const [mine] = await postMany(11, 1);
    await waitForJob(mine!, (j) => j.status === "proving");
    // Nothing of it waits, but its job proves: its row (when it was last served) stays.
    const rows = await clientRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ waiting: 0 });
    expect(rows[0]!.served_at).toBeGreaterThan(0);
    expect((await waitForJob(mine!, ended, 10_000)).status).toBe("succeeded");
    await until(async () => (await clientRows()).length === 0);
    // A cancelled waiting job leaves nothing behind either.
    await prover.configure({ proofMs: 60_000 });
    const [blocker] = await postMany(12, 1);
    await waitForJob(blocker!, (j) => j.status === "proving");
    const [waiting] = await postMany(13, 1);
    await until(async () => (await line()).includes(waiting!));
    expect((await clientRows()).map((r) => r.waiting).sort()).toEqual([0, 1]);
    await stubOf(waiting!).cancel({ admin: true });
    await until(async () => (await clientRows()).length === 1);
    await stubOf(blocker!).cancel({ admin: true });
    await until(async () => (await clientRows()).length === 0);
  });
});

describe("MAX_WAITING_PER_CLIENT", () => {
  it("cap jobs queued or proving are accepted; the next gets 429 too_many_waiting with Retry-After", async () => {
    await prover.configure({ proofMs: 60_000 });
    const cap = 3;
    const mine = await postMany(7, cap, String(cap)); // just inside
    const over = await postTape(uniqueTape(), ip(7), { MAX_WAITING_PER_CLIENT: String(cap) });
    expect(over.status).toBe(429); // just outside
    expect(over.body.error.code).toBe("too_many_waiting");
    expect(over.body.error.message).toContain(`MAX_WAITING_PER_CLIENT is ${cap}`);
    expect(over.headers.get("retry-after")).toBe(String(TOO_MANY_WAITING_RETRY_SECONDS));
    // Another client is not affected.
    expect((await postTape(uniqueTape(), ip(8), { MAX_WAITING_PER_CLIENT: "3" })).status).toBe(202);
    // Re-posting a tape already in flight is the 200 answer and takes no place.
    const again = await call(`/api/proofs/jobs/${mine[1]}`);
    expect(again.body.job.status).toMatch(/queued|proving/);
    for (const id of mine) await stubOf(id).cancel({ admin: true });
  });

  it("re-posting a tape in flight does not count; once one job ends the client may post again", async () => {
    await prover.configure({ proofMs: 60_000 });
    const tapes = [uniqueTape(), uniqueTape()];
    const cap = { MAX_WAITING_PER_CLIENT: "2" };
    const ids: string[] = [];
    for (const t of tapes) ids.push((await postTape(t, ip(9), cap)).body.job.jobId);
    const repost = await postTape(tapes[0]!, ip(9), cap);
    expect(repost.status).toBe(200);
    expect(repost.body.job.jobId).toBe(ids[0]);
    expect((await postTape(uniqueTape(), ip(9), cap)).status).toBe(429);
    await stubOf(ids[0]!).cancel({ admin: true });
    await until(async () => (await getJob(ids[0]!)).status === "cancelled");
    const next = await postTape(uniqueTape(), ip(9), cap);
    expect(next.status).toBe(202);
    for (const id of [ids[1]!, next.body.job.jobId]) await stubOf(id).cancel({ admin: true });
  });

  it("a job that ended without telling the line (a lost release) does not count for ever", async () => {
    await prover.configure({ proofMs: 60_000 });
    const cap = { MAX_WAITING_PER_CLIENT: "1" };
    const first = (await postTape(uniqueTape(), ip(10), cap)).body.job.jobId;
    expect((await postTape(uniqueTape(), ip(10), cap)).status).toBe(429);
    // The job ends, but the dispatcher is never told (its release is lost): its stored state
    // says cancelled while the line still counts it.
    await runInDurableObject(stubOf(first), (_i, state) => {
      const j = state.storage.kv.get<Job>("job")!;
      state.storage.kv.put("job", { ...j, status: "cancelled", finishedAt: Date.now() });
    });
    // At the cap, the line looks the counted job up, finds it ended, and lets the next one in.
    const next = await postTape(uniqueTape(), ip(10), cap);
    expect(next.status).toBe(202);
    await stubOf(next.body.job.jobId).cancel({ admin: true });
  });
});
