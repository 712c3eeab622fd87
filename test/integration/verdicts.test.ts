import { beforeEach, describe, expect, it } from "vitest";
import type { Job } from "../../src/core/job.ts";
import { TEST_API_KEY } from "../support/test-vars.ts";
import {
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
 * No job ends on one prover's word: a fleet of three dev provers, one of them hostile for its
 * whole life (tools/dev/prover-hostile.ts), or one that refuses a tape another proves. Every job
 * succeeds; the liar is charged and quarantined after PROVER_QUARANTINE_AFTER contradictions.
 */
const [b, c] = fleet as [(typeof fleet)[number], (typeof fleet)[number]];
const byUrl = async (url: string) => (await dispatcher().listProvers()).find((p) => p.url === url)!;

async function threeProvers() {
  await dispatcher().addProver(b.base, TEST_API_KEY);
  await dispatcher().addProver(c.base, TEST_API_KEY);
}

async function postMany(n: number): Promise<Job[]> {
  const posted = await Promise.all(Array.from({ length: n }, () => postTape(uniqueTape())));
  return Promise.all(posted.map((p) => waitForJob(p.body.job.jobId, ended, 25_000)));
}

beforeEach(async () => {
  for (const p of [prover, b, c]) await p.configure({ proofMs: 200 });
});

describe("a verdict the gateway can check and finds false is a lie", () => {
  it.each([
    ["reject_all", "invalid_tape"],
    ["lie_zero_score", "zero_score_not_allowed"],
  ])(
    "one box of three in mode %s: every job succeeds, and the box is quarantined after exactly PROVER_QUARANTINE_AFTER lies",
    async (mode, code) => {
      await threeProvers();
      await b.configure({ hostile: mode });
      const jobs = await postMany(6);
      expect(jobs.map((j) => j.status)).toEqual(Array(6).fill("succeeded"));
      const lied = jobs.filter((j) => j.verdicts?.length);
      expect(lied).toHaveLength(cfg.quarantineAfter);
      for (const j of lied) {
        expect(j).toMatchObject({
          lastRecovery: { code: "prover_lied" },
          verdicts: [{ url: b.base, code, kind: "lied" }],
          attempts: { recoveries: 0 },
        });
        expect(j.prover.url).not.toBe(b.base);
      }
      const liar = await byUrl(b.base);
      expect(liar).toMatchObject({
        state: "quarantined",
        counts: { contradictions: cfg.quarantineAfter },
        quarantine: { contradictions: cfg.quarantineAfter },
      });
      expect(liar.quarantine!.jobs.sort()).toEqual(lied.map((j) => j.jobId).sort());
      expect(liar.quarantine!.reason).toContain(code);
      expect((await b.stats()).hostile.lies).toBe(cfg.quarantineAfter);
      // Quarantined, it gets no more work, whatever its /health says.
      const more = await postMany(2);
      expect(more.map((j) => j.prover.url)).not.toContain(b.base);
      expect((await b.stats()).hostile.lies).toBe(cfg.quarantineAfter);
    },
  );
});

describe("a verdict the gateway cannot check goes to a different prover", () => {
  it("a box reporting an unknown failure for every tape (of three): every job succeeds elsewhere, each refusal is charged, the box quarantined", async () => {
    await threeProvers();
    await b.configure({ hostile: "lie_unknown_code" });
    const jobs = await postMany(6);
    expect(jobs.map((j) => j.status)).toEqual(Array(6).fill("succeeded"));
    const refused = jobs.filter((j) => j.verdicts?.length);
    expect(refused.length).toBeGreaterThanOrEqual(cfg.quarantineAfter);
    for (const j of refused) {
      expect(j).toMatchObject({
        lastRecovery: { code: "prover_failed" },
        verdicts: [{ url: b.base, code: "device_lost", kind: "refused" }],
        attempts: { rejections: 1, recoveries: 0 },
      });
    }
    await until(async () => (await byUrl(b.base)).state === "quarantined");
    const liar = await byUrl(b.base);
    expect(liar.counts.contradictions).toBe(refused.length);
    // A few lies at most: each is charged only once the tape is proved elsewhere.
    expect((await b.stats()).hostile.lies).toBe(refused.length);
  });

  it("a tape one prover refuses (proof_error) and another proves: succeeded, the refuser charged one contradiction, not quarantined", async () => {
    await dispatcher().addProver(b.base, TEST_API_KEY);
    // The first job goes to the prover first by id (neither was used yet): that one refuses it.
    const [first] = (await dispatcher().listProvers()).sort((x, y) => x.id.localeCompare(y.id));
    await [prover, b].find((p) => p.base === first!.url)!.faults([{ kind: "fail_proof_error" }]);
    const [job] = await postMany(1);
    expect(job).toMatchObject({
      status: "succeeded",
      attempts: { rejections: 1 },
      verdicts: [{ url: first!.url, code: "proof_error", kind: "refused" }],
    });
    expect(job!.prover.url).not.toBe(first!.url);
    await until(async () => (await byUrl(first!.url)).counts.contradictions === 1);
    const refuser = await byUrl(first!.url);
    expect(refuser.quarantine).toBeNull();
    expect(refuser.state).not.toBe("quarantined");
    expect((await byUrl(job!.prover.url!)).counts.contradictions).toBe(0);
  });
});
