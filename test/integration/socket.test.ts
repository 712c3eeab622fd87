import { evictDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_SOCKETS_PER_JOB } from "../../src/objects/proof-job.ts";
import {
  call,
  ended,
  postTape,
  prover,
  seedJob,
  stubOf,
  uniqueTape,
  until,
  waitForJob,
} from "./helpers.ts";

/**
 * Live status over a WebSocket (`GET /api/proofs/jobs/:jobId/ws`), served by the job's Durable
 * Object with the hibernation API.
 */
interface Message {
  type: string;
  job: { jobId: string; status: string };
  queue: { ahead: number } | null;
  estimate: { startAt: number | null; finishAt: number; basis: string } | null;
}

/** Opens the socket; collects every message and the close. */
async function open(jobId: string, headers: Record<string, string> = {}) {
  const res = await exports.default.fetch(
    new Request(`http://gateway.test/api/proofs/jobs/${jobId}/ws`, {
      headers: { upgrade: "websocket", ...headers },
    }),
  );
  const ws = res.webSocket;
  if (!ws) return { res, messages: [] as Message[], closed: Promise.resolve(null) };
  const messages: Message[] = [];
  const closed = new Promise<{ code: number; at: number } | null>((resolve) =>
    ws.addEventListener("close", (e) => resolve({ code: e.code, at: Date.now() })),
  );
  ws.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string) as Message));
  ws.accept();
  return { res, ws, messages, closed };
}

const statuses = (m: Message[]) => m.map((x) => x.job.status);

describe("live status on a WebSocket", () => {
  it("sends the job at once and on every change, in order; after the terminal status, a normal close", async () => {
    await prover.configure({ proofMs: 400 });
    const { body } = await postTape(uniqueTape());
    const s = await open(body.job.jobId);
    expect(s.res.status).toBe(101);
    const close = await s.closed;
    expect(close?.code).toBe(1000);
    const seen = statuses(s.messages);
    expect(seen[0]).toMatch(/queued|proving/);
    expect(seen.at(-1)).toBe("succeeded");
    // In order: never back from proving to queued here, nothing after the terminal message.
    const rank = { queued: 0, proving: 1, succeeded: 2 } as Record<string, number>;
    for (let i = 1; i < seen.length; i++)
      expect(rank[seen[i]!]).toBeGreaterThanOrEqual(rank[seen[i - 1]!]!);
    expect(seen.filter((x) => x === "succeeded")).toHaveLength(1);
    // Every message is the same view as GET: the job, its place in line and its ETA.
    expect(s.messages[0]).toMatchObject({ type: "job", job: { jobId: body.job.jobId } });
    expect(s.messages.at(-1)!.estimate).toBeNull(); // ended: no ETA
    expect(s.messages.some((m) => m.estimate !== null)).toBe(true);
  });

  it("an ended job: its last view, then a normal close", async () => {
    await prover.configure({ proofMs: 100 });
    const { body } = await postTape(uniqueTape());
    await waitForJob(body.job.jobId, ended);
    const s = await open(body.job.jobId);
    expect((await s.closed)?.code).toBe(1000);
    expect(statuses(s.messages)).toEqual(["succeeded"]);
  });

  it("the object is evicted while the socket waits (hibernation), and the change still arrives", async () => {
    await prover.configure({ proofMs: 60_000 });
    const blocker = (await postTape(uniqueTape())).body.job.jobId;
    await waitForJob(blocker, (j) => j.status === "proving");
    const { jobId } = await seedJob(uniqueTape());
    const s = await open(jobId);
    await until(async () => s.messages.length > 0);
    expect(statuses(s.messages)).toEqual(["queued"]);
    await evictDurableObject(stubOf(jobId));
    await stubOf(jobId).cancel({ admin: true });
    expect((await s.closed)?.code).toBe(1000);
    expect(statuses(s.messages)).toEqual(["queued", "cancelled"]);
    await stubOf(blocker).cancel({ admin: true });
  });

  it("bad id → 400, unknown job → 404, no upgrade → 426, a foreign origin → 403, all JSON", async () => {
    expect((await open("not-a-job-id")).res.status).toBe(400);
    const unknown = await open("f".repeat(64));
    expect(unknown.res.status).toBe(404);
    expect(((await unknown.res.json()) as any).error.code).toBe("job_not_found");
    const plain = await call(`/api/proofs/jobs/${"f".repeat(64)}/ws`);
    expect(plain.status).toBe(426);
    expect(plain.body.error.code).toBe("upgrade_required");
    const { body } = await postTape(uniqueTape());
    const foreign = await open(body.job.jobId, { origin: "https://evil.example" });
    expect(foreign.res.status).toBe(403);
    expect(((await foreign.res.json()) as any).error.code).toBe("origin_forbidden");
    const same = await open(body.job.jobId, { origin: "http://gateway.test" });
    expect(same.res.status).toBe(101);
    await stubOf(body.job.jobId).cancel({ admin: true });
  });

  it("at most MAX_SOCKETS_PER_JOB sockets per job: just inside opens, one more gets 429", async () => {
    await prover.configure({ proofMs: 60_000 });
    const { body } = await postTape(uniqueTape());
    const open_ = [];
    for (let i = 0; i < MAX_SOCKETS_PER_JOB; i++) {
      const s = await open(body.job.jobId);
      expect(s.res.status).toBe(101);
      open_.push(s);
    }
    const over = await open(body.job.jobId);
    expect(over.res.status).toBe(429);
    expect(((await over.res.json()) as any).error.code).toBe("too_many_sockets");
    await stubOf(body.job.jobId).cancel({ admin: true });
    await Promise.all(open_.map((s) => s.closed));
  });
});
