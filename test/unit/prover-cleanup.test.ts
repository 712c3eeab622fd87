import { describe, expect, it } from "vitest";
import type { Job, ProverCleanup } from "../../src/core/job.ts";
import { newJob } from "../../src/core/lifecycle.ts";
import { cancel } from "../../src/core/ending.ts";
import { onSubmit } from "../../src/core/prover-answers.ts";
import {
  abandonProverJob,
  addCleanup,
  dueCleanups,
  MAX_BACKOFF_MS,
  nextCleanupAt,
  onCleanup,
  type CleanupOutcome,
} from "../../src/core/prover-cleanup.ts";
import { CONFIGS, configWith, T0, URL_A, URL_B } from "../support/configs.ts";
import { SAMPLE_TAPE } from "../support/sample-job.ts";

const tape = SAMPLE_TAPE;

describe.each(CONFIGS)("deleting abandoned prover jobs (%s)", (_name, cfg) => {
  /** The job DO retries a clean-up after one poll interval first. */
  const FIRST = cfg.pollIntervalMs;
  const queued = () => newJob("a".repeat(64), tape, T0, cfg);
  const proving = () =>
    onSubmit(queued(), { kind: "accepted", proverJobId: "p1" }, URL_A, T0, cfg).job;
  const cancelled = () => cancel(proving(), T0, cfg);
  /** Answers `outcome` to the job's only clean-up, every time it comes due. */
  const retryChain = (
    outcome: CleanupOutcome,
    firstDelay = FIRST,
    job: Job = cancelled(),
    maxTries = 64,
  ) => {
    let j = job;
    let now = T0;
    const waits: number[] = [];
    for (let i = 0; i < maxTries && j.cleanup.length > 0; i++) {
      j = onCleanup(j, j.cleanup[0]!, outcome, now, firstDelay);
      if (j.cleanup.length === 0) break;
      waits.push(j.cleanup[0]!.nextAt - now);
      now = j.cleanup[0]!.nextAt;
    }
    return { job: j, waits, now };
  };

  it("a new clean-up is due at once and retried until the prover's own limit must have ended the proof", () => {
    const j = addCleanup(
      queued(),
      { url: URL_A, proverJobId: "p1", reason: "cancelled" },
      T0 + 5,
      cfg,
    );
    expect(j.cleanup).toEqual([
      {
        url: URL_A,
        proverJobId: "p1",
        reason: "cancelled",
        nextAt: T0 + 5,
        until: T0 + 5 + cfg.pollTimeoutMs,
        tries: 0,
      },
    ]);
    expect(j.updatedAt).toBe(T0 + 5);
  });

  it("the same prover job (id and prover) is never listed twice; another id or another prover is", () => {
    const j = cancelled();
    expect(addCleanup(j, { url: URL_A, proverJobId: "p1", reason: "again" }, T0 + 1, cfg)).toBe(j);
    const otherProver = addCleanup(
      j,
      { url: URL_B, proverJobId: "p1", reason: "orphaned" },
      T0 + 1,
      cfg,
    );
    expect(otherProver.cleanup.map((e) => [e.url, e.proverJobId])).toEqual([
      [URL_A, "p1"],
      [URL_B, "p1"],
    ]);
    const otherId = addCleanup(
      j,
      { url: URL_A, proverJobId: "p2", reason: "orphaned" },
      T0 + 1,
      cfg,
    );
    expect(otherId.cleanup.map((e) => [e.url, e.proverJobId])).toEqual([
      [URL_A, "p1"],
      [URL_A, "p2"],
    ]);
  });

  it("abandoning: only a job the prover holds (url and id) leaves something to delete", () => {
    const q = queued();
    expect(abandonProverJob(q, "cancelled", T0, cfg)).toBe(q);
    const noId = { ...q, prover: { ...q.prover, url: URL_A } };
    expect(abandonProverJob(noId, "cancelled", T0, cfg)).toBe(noId);
    expect(abandonProverJob(proving(), "poll_timeout", T0 + 1, cfg).cleanup).toEqual([
      expect.objectContaining({
        url: URL_A,
        proverJobId: "p1",
        reason: "poll_timeout",
        nextAt: T0 + 1,
      }),
    ]);
  });

  it("dueCleanups: due exactly at nextAt, not 1 ms before; nextCleanupAt is the earliest", () => {
    let j = cancelled();
    j = addCleanup(j, { url: URL_B, proverJobId: "p7", reason: "orphaned" }, T0 + FIRST, cfg);
    expect(nextCleanupAt(j)).toBe(T0);
    expect(dueCleanups(j, T0 - 1)).toEqual([]);
    expect(dueCleanups(j, T0).map((e) => e.proverJobId)).toEqual(["p1"]);
    expect(dueCleanups(j, T0 + FIRST - 1).map((e) => e.proverJobId)).toEqual(["p1"]);
    expect(dueCleanups(j, T0 + FIRST).map((e) => e.proverJobId)).toEqual(["p1", "p7"]);
    // Once p1 is done, p7 is next.
    const after = onCleanup(j, j.cleanup[0]!, "deleted", T0 + 1, FIRST);
    expect(nextCleanupAt(after)).toBe(T0 + FIRST);
    expect(nextCleanupAt(queued())).toBe(Infinity);
  });

  it.each([["deleted"], ["gone"]] as const)("%s: done, other clean-ups untouched", (outcome) => {
    const j = addCleanup(
      cancelled(),
      { url: URL_B, proverJobId: "p7", reason: "orphaned" },
      T0,
      cfg,
    );
    const after = onCleanup(j, j.cleanup[0]!, outcome, T0 + 1, FIRST);
    expect(after.cleanup).toEqual([j.cleanup[1]]);
    expect(after.updatedAt).toBe(T0 + 1);
    const none = onCleanup(cancelled(), cancelled().cleanup[0]!, outcome, T0 + 1, FIRST);
    expect(none.cleanup).toEqual([]);
    expect(nextCleanupAt(none)).toBe(Infinity);
  });

  it.each([["active"], ["error"]] as const)(
    "%s: tried again later, doubling from the first delay, counting tries",
    (outcome) => {
      const { job, waits, now } = retryChain(outcome, FIRST, cancelled(), 4);
      // Doubling, up to the clean-up's longest wait.
      expect(waits).toEqual([1, 2, 4, 8].map((k) => Math.min(MAX_BACKOFF_MS, FIRST * k)));
      expect(job.cleanup).toEqual([
        expect.objectContaining({
          proverJobId: "p1",
          tries: 4,
          nextAt: now,
          until: T0 + cfg.pollTimeoutMs,
        }),
      ]);
      expect(dueCleanups(job, now - 1)).toEqual([]);
      expect(dueCleanups(job, now)).toHaveLength(1);
    },
  );

  it("a stale copy of the entry still replaces it (no duplicate)", () => {
    const j = cancelled();
    const copy: ProverCleanup = { ...j.cleanup[0]! };
    const after = onCleanup(j, copy, "active", T0, FIRST);
    expect(after.cleanup).toHaveLength(1);
    expect(after.cleanup[0]).toMatchObject({ tries: 1, nextAt: T0 + FIRST });
    expect(onCleanup(j, copy, "deleted", T0, FIRST).cleanup).toEqual([]);
  });

  it("gives up once the next try would come after `until` (the prover's own limit has ended the proof by then)", () => {
    const j = cancelled();
    const entry = j.cleanup[0]!;
    expect(entry.until).toBe(T0 + cfg.pollTimeoutMs);
    // Just inside: the next try lands exactly on `until`.
    const inside = onCleanup(j, entry, "active", entry.until - FIRST, FIRST);
    expect(inside.cleanup).toEqual([{ ...entry, tries: 1, nextAt: entry.until }]);
    // Just outside: it would land 1 ms after.
    const outside = onCleanup(j, entry, "active", entry.until - FIRST + 1, FIRST);
    expect(outside.cleanup).toEqual([]);
    expect(onCleanup(j, entry, "error", entry.until - FIRST + 1, FIRST).cleanup).toEqual([]);
  });

  it("a prover that keeps answering 409 is given up on, never after `until`", () => {
    const { job, now } = retryChain("active");
    expect(job.cleanup).toEqual([]);
    expect(now).toBeLessThanOrEqual(T0 + cfg.pollTimeoutMs);
  });
});

describe("the retry backoff has a ceiling", () => {
  // A poll deadline long enough for the doubling to reach the ceiling well before `until`.
  const cfg = configWith({ PROVER_POLL_TIMEOUT_MS: "86000000", MAX_JOB_WALL_TIME_MS: "86400000" });
  it("stops doubling: the waits level off and stay there", () => {
    let j = cancel(
      onSubmit(
        newJob("a".repeat(64), tape, T0, cfg),
        { kind: "accepted", proverJobId: "p1" },
        URL_A,
        T0,
        cfg,
      ).job,
      T0,
      cfg,
    );
    const first = cfg.pollIntervalMs;
    const waits: number[] = [];
    let now = T0;
    for (let i = 0; i < 30; i++) {
      j = onCleanup(j, j.cleanup[0]!, "active", now, first);
      waits.push(j.cleanup[0]!.nextAt - now);
      now = j.cleanup[0]!.nextAt;
    }
    const ceiling = Math.max(...waits);
    const firstAtCeiling = waits.indexOf(ceiling);
    // Doubling up to the ceiling (the last step may be cut short by it)...
    for (let i = 1; i < firstAtCeiling; i++) expect(waits[i]).toBe(waits[i - 1]! * 2);
    expect(ceiling).toBeLessThan(first * 2 ** firstAtCeiling);
    // ...then level.
    expect(firstAtCeiling).toBeGreaterThan(0);
    expect(firstAtCeiling).toBeLessThan(waits.length - 1);
    expect(waits.slice(firstAtCeiling)).toEqual(Array(waits.length - firstAtCeiling).fill(ceiling));
  });
});
