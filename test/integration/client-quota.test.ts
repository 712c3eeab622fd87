/**
 * Where MAX_WAITING_PER_CLIENT is counted (src/objects/client-quota.ts): the client's ClientQuota
 * shard, taken by the job's own object in the one intake call and given back when the attempt
 * ends or was not accepted after all; the dispatcher is not asked on the way in.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/hex.ts";
import { clientQuotaOf } from "../../src/objects/client-quota.ts";
import {
  callWith,
  dispatcher,
  postTape,
  prover,
  stubOf,
  storedJob,
  uniqueTape,
  until,
  withObjectEnv,
} from "./helpers.ts";

const ip = (n: number) => ({ "cf-connecting-ip": `203.0.113.${n}` });
const TOKEN = "admin-token-for-client-quota-01";

/** The jobs counted for `client` (a job's `client`) in its shard. */
const counted = (client: string) =>
  runInDurableObject(clientQuotaOf(env, client), (_i, state) =>
    state.storage.sql
      .exec<{ job_id: string }>(`SELECT job_id FROM live WHERE client = ? ORDER BY job_id`, client)
      .toArray()
      .map((r) => r.job_id),
  );

describe("the per-client count", () => {
  it("holds under concurrency: of 7 tapes posted at once by one client, exactly the cap are accepted", async () => {
    await prover.configure({ proofMs: 60_000 });
    const cap = { MAX_WAITING_PER_CLIENT: "3" };
    const answers = await Promise.all(
      Array.from({ length: 7 }, () => postTape(uniqueTape(), ip(31), cap)),
    );
    const accepted = answers.filter((a) => a.status === 202);
    expect(accepted).toHaveLength(3);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(4);
    const ids = accepted.map((a) => a.body.job.jobId as string);
    const client = (await storedJob(ids[0]!))!.client!;
    expect(await counted(client)).toEqual([...ids].sort());
    for (const id of ids) await stubOf(id).cancel({ admin: true });
  });

  it("is taken without asking the dispatcher, and given back when the attempt ends", async () => {
    await prover.configure({ proofMs: 60_000 });
    const before = (await dispatcher().summary()).calls;
    const r = await postTape(uniqueTape(), ip(32));
    expect(r.status).toBe(202);
    const id = r.body.job.jobId as string;
    expect((await dispatcher().summary()).calls.reserve).toBe(before.reserve);
    const client = (await storedJob(id))!.client!;
    expect(await counted(client)).toEqual([id]);
    await stubOf(id).cancel({ admin: true });
    expect(await counted(client)).toEqual([]);
  });

  it("a queue failure gives the place back: nothing is counted for the attempt", async () => {
    const tape = uniqueTape();
    const jobId = await sha256Hex(tape);
    const failing = { send: () => Promise.reject(new Error("injected: queue down")) };
    await withObjectEnv(jobId, { JOBS_QUEUE: failing as unknown as Queue });
    // A job of the same client that is counted, so that its shard and rows are known.
    await prover.configure({ proofMs: 60_000 });
    const other = await postTape(uniqueTape(), ip(33));
    const client = (await storedJob(other.body.job.jobId))!.client!;
    expect((await postTape(tape, ip(33))).status).toBe(503);
    expect(await counted(client)).toEqual([other.body.job.jobId]);
    await stubOf(other.body.job.jobId).cancel({ admin: true });
  });

  it("an operator's redrive counts against the attempt's client (never refused)", async () => {
    await prover.configure({ proofMs: 60_000 });
    const cap = { MAX_WAITING_PER_CLIENT: "1", ADMIN_TOKEN: TOKEN };
    const first = await postTape(uniqueTape(), ip(34), cap);
    const id = first.body.job.jobId as string;
    await stubOf(id).cancel({ admin: true });
    const client = (await storedJob(id))!.client!;
    await until(async () => (await counted(client)).length === 0);
    const redriven = await callWith(cap, `/api/admin/jobs/${id}/redrive`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(redriven.status).toBe(202);
    expect(await counted(client)).toEqual([id]);
    expect((await postTape(uniqueTape(), ip(34), cap)).status).toBe(429);
    await stubOf(id).cancel({ admin: true });
    expect((await postTape(uniqueTape(), ip(34), cap)).status).toBe(202);
  });
});
