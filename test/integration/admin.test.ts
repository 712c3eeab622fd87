/**
 * The admin API: behind ADMIN_TOKEN (403 when none is configured, 401 for a missing or wrong
 * token); recent jobs newest first, by status, paginated; redrive of failed, dead-lettered
 * and cancelled jobs.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { tapeKey } from "../../src/core/r2-keys.ts";
import {
  call,
  callWith,
  cfg,
  dispatcher,
  postTape,
  prover,
  seedJob,
  stubOf,
  uniqueTape,
  until,
  waitForJob,
} from "./helpers.ts";

const TOKEN = "admin-token-for-tests-0123456789";
const VARS = { ADMIN_TOKEN: TOKEN };
const asAdmin = (path: string, init: RequestInit = {}, token = TOKEN) =>
  callWith(VARS, path, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` },
  });

describe("admin access", () => {
  it("is disabled (403) while no ADMIN_TOKEN is configured, whatever the token", async () => {
    for (const init of [{}, { headers: { authorization: `Bearer ${TOKEN}` } }]) {
      const r = await call("/api/admin/jobs", init);
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe("admin_disabled");
    }
  });

  it("refuses a missing or wrong token with 401 on every admin route", async () => {
    const id = "a".repeat(64);
    for (const [path, method] of [
      ["/api/admin/jobs", "GET"],
      [`/api/admin/jobs/${id}`, "GET"],
      [`/api/admin/jobs/${id}/redrive`, "POST"],
    ] as const) {
      const missing = await callWith(VARS, path, { method });
      expect(missing.status).toBe(401);
      expect(missing.body.error.code).toBe("unauthorized");
      expect(missing.headers.get("www-authenticate")).toContain("Bearer");
      for (const wrong of [`${TOKEN}x`, TOKEN.slice(0, -1), "x"]) {
        expect((await asAdmin(path, { method }, wrong)).status).toBe(401);
      }
      expect(
        (await callWith(VARS, path, { method, headers: { authorization: TOKEN } })).status,
      ).toBe(401); // no "Bearer"
    }
  });
});

describe("GET /api/admin/jobs", () => {
  async function threeJobs() {
    const a = await postTape(uniqueTape());
    await waitForJob(a.body.job.jobId, (j) => j.status === "succeeded");
    const b = await postTape(uniqueTape());
    expect(
      (
        await call(`/api/proofs/jobs/${b.body.job.jobId}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${b.body.cancel_token}` },
        })
      ).status,
    ).toBe(200);
    await scheduler.wait(5);
    const c = await postTape(uniqueTape());
    await waitForJob(c.body.job.jobId, (j) => j.status === "succeeded");
    return [a, b, c].map((r) => r.body.job.jobId as string);
  }

  it("lists recent jobs newest first, filters by status and pages with a cursor", async () => {
    const [a, b, c] = await threeJobs();
    const all = await asAdmin("/api/admin/jobs");
    expect(all.status).toBe(200);
    expect(all.body.jobs.map((j: any) => j.jobId)).toEqual([c, b, a]);
    expect(all.body.jobs[1]).toMatchObject({ status: "cancelled", attempt: 1 });
    expect(all.body.next_cursor).toBeNull();

    const ok = await asAdmin("/api/admin/jobs?status=succeeded");
    expect(ok.body.jobs.map((j: any) => j.jobId)).toEqual([c, a]);
    expect((await asAdmin("/api/admin/jobs?status=failed")).body.jobs).toEqual([]);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await asAdmin(
        `/api/admin/jobs?limit=1${cursor ? `&cursor=${cursor}` : ""}`,
      );
      expect(page.body.jobs).toHaveLength(1);
      seen.push(page.body.jobs[0].jobId);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([c, b, a]);
  });

  it("checks its query: status, limit 1..100 and cursor", async () => {
    expect((await asAdmin("/api/admin/jobs?limit=1")).status).toBe(200);
    expect((await asAdmin("/api/admin/jobs?limit=100")).status).toBe(200);
    for (const [query, code] of [
      ["status=done", "invalid_status"],
      ["limit=0", "invalid_limit"],
      ["limit=101", "invalid_limit"],
      ["limit=2.5", "invalid_limit"],
      ["cursor=nope", "invalid_cursor"],
    ]) {
      const r = await asAdmin(`/api/admin/jobs?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.error.code).toBe(code);
    }
  });

  it("shows one job in full, or 404", async () => {
    const posted = await postTape(uniqueTape());
    const r = await asAdmin(`/api/admin/jobs/${posted.body.job.jobId}`);
    expect(r.status).toBe(200);
    expect(r.body.job.jobId).toBe(posted.body.job.jobId);
    expect(r.body.job).not.toHaveProperty("cancelTokenHash");
    expect((await asAdmin(`/api/admin/jobs/${"b".repeat(64)}`)).status).toBe(404);
  });
});

describe("POST /api/admin/jobs/:jobId/redrive", () => {
  it("gives a dead-lettered job a fresh attempt that then succeeds", async () => {
    const { jobId } = await seedJob(uniqueTape());
    const dead = await stubOf(jobId).deadLetter();
    expect(dead).toMatchObject({ status: "failed", error: { code: "retries_exhausted" } });
    const r = await asAdmin(`/api/admin/jobs/${jobId}/redrive`, { method: "POST" });
    expect(r.status).toBe(202);
    expect(r.body.cancel_token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(r.body.job).toMatchObject({
      status: "queued",
      attempt: 2,
      history: [{ attempt: 1, status: "failed", error: { code: "retries_exhausted" } }],
    });
    const done = await waitForJob(jobId, (j) => j.status === "succeeded");
    expect(done.attempt).toBe(2);
    const listed = await asAdmin("/api/admin/jobs?status=succeeded");
    expect(listed.body.jobs.map((j: any) => j.jobId)).toContain(jobId);
  });

  it("redrives a cancelled job; refuses a job that is waiting, proving or succeeded (409) and an unknown one (404)", async () => {
    const posted = await postTape(uniqueTape());
    const jobId = posted.body.job.jobId;
    const early = await asAdmin(`/api/admin/jobs/${jobId}/redrive`, { method: "POST" });
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe("job_not_redrivable");
    await call(`/api/proofs/jobs/${jobId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${posted.body.cancel_token}` },
    });
    expect((await asAdmin(`/api/admin/jobs/${jobId}/redrive`, { method: "POST" })).status).toBe(
      202,
    );
    await waitForJob(jobId, (j) => j.status === "succeeded");
    const late = await asAdmin(`/api/admin/jobs/${jobId}/redrive`, { method: "POST" });
    expect(late.status).toBe(409);
    expect(late.body.job.status).toBe("succeeded");
    expect(
      (await asAdmin(`/api/admin/jobs/${"c".repeat(64)}/redrive`, { method: "POST" })).status,
    ).toBe(404);
    expect((await asAdmin(`/api/admin/jobs/not-a-job/redrive`, { method: "POST" })).status).toBe(
      400,
    );
  });

  it("refuses (409 tape_missing) when the tape is no longer stored", async () => {
    const { jobId } = await seedJob(uniqueTape());
    await stubOf(jobId).deadLetter();
    await env.TAPES.delete(tapeKey(jobId));
    const r = await asAdmin(`/api/admin/jobs/${jobId}/redrive`, { method: "POST" });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("tape_missing");
    expect((await stubOf(jobId).get())!.status).toBe("failed");
  });
});

describe("a quarantined prover (GET /api/admin/provers, POST …/resume)", () => {
  const REASON = "said invalid_tape of a tape this gateway reads as valid and provable";
  const view = async () => (await asAdmin("/api/admin/provers")).body.provers[0];

  it("contradictions just under PROVER_QUARANTINE_AFTER leave it working; at the limit it is quarantined, named with why and which jobs, and gets no work until resumed", async () => {
    const n = cfg.quarantineAfter;
    const { url, id } = (await dispatcher().listProvers())[0]!;
    for (let i = 1; i < n; i++) await dispatcher().contradicted(url, `job-${i}`, REASON, false);
    expect(await view()).toMatchObject({
      state: expect.not.stringMatching(/^quarantined$/),
      quarantine: null,
      counts: { contradictions: n - 1 },
    });
    await dispatcher().contradicted(url, `job-${n}`, REASON, false);
    const quarantined = await view();
    expect(quarantined).toMatchObject({
      state: "quarantined",
      quarantine: {
        since: expect.any(Number),
        contradictions: n,
        jobs: Array.from({ length: n }, (_, i) => `job-${i + 1}`),
      },
      counts: { contradictions: n },
    });
    expect(quarantined.quarantine.reason).toContain(REASON);
    expect(quarantined.why).toContain("resume");
    // Whatever its /health says, it gets no work: a new job waits.
    const posted = await postTape(uniqueTape());
    await until(async () =>
      (await dispatcher().snapshot()).waiting.some((w) => w.jobId === posted.body.job.jobId),
    );
    expect((await prover.stats()).submissions).toBe(0);
    // The operator resumes it: the quarantine is lifted, its count starts again, the job runs.
    const resumed = await asAdmin(`/api/admin/provers/${id}/resume`, { method: "POST" });
    expect(resumed.status).toBe(200);
    expect(resumed.body.prover).toMatchObject({ quarantine: null, counts: { contradictions: n } });
    expect(resumed.body.prover.state).not.toBe("quarantined");
    expect((await waitForJob(posted.body.job.jobId, (j) => j.status === "succeeded")).status).toBe(
      "succeeded",
    );
  });

  it("a forged receipt quarantines at once", async () => {
    const { url } = (await dispatcher().listProvers())[0]!;
    await dispatcher().contradicted(url, "job-1", "returned a receipt that does not verify", true);
    expect(await view()).toMatchObject({
      state: "quarantined",
      quarantine: { reason: "returned a receipt that does not verify", contradictions: 1 },
    });
  });
});
