import { describe, expect, it } from "vitest";
import type { Job } from "../../src/core/job.ts";
import { alarmEnds, cleanedUp } from "../../src/core/steps/alarm.ts";
import { cancelStep, holderCheck, holderResent, read } from "../../src/core/steps/reads.ts";
import { create, createUndone } from "../../src/core/steps/intake.ts";
import { polled } from "../../src/core/steps/poll.ts";
import { alarmAt } from "../../src/core/job-timing.ts";
import { cancel } from "../../src/core/ending.ts";
import { CONFIGS, T0, URL_A } from "../support/configs.ts";
import { JOB_ID, tape, kinds, kit } from "../support/steps-kit.ts";

/**
 * The job steps: intake, reads, cancels and the holder check.
 *
 * The job steps the Durable Object calls (src/core/steps, sequenced by src/core/flows): the rules
 * that used to live in
 * the shell — the submit lock, the crash-watchdog alarm, the retention clean-up, the orphan
 * check, the effects of each transition — each on both sides of its boundary.
 */

describe.each(CONFIGS)("the job steps (%s)", (_name, cfg) => {
  const k = kit(cfg);

  describe("intake", () => {
    it("a new tape is saved, armed, indexed; then it is sent (no send effect: the shell sends and may undo)", () => {
      const step = create(
        null,
        { jobId: JOB_ID, tape, cancelTokenHash: "h", why: "post" },
        T0,
        cfg,
      );
      expect(step.kind).toBe("created");
      expect(kinds(step.effects)).toEqual(["save", "log", "alarm", "index"]);
      expect(step.effects[2]).toEqual({
        kind: "alarm",
        at: alarmAt(step.job, T0, cfg),
        onlyIfNone: false,
      });
    });

    it("a live job is not started again; an ended one gets a new attempt", () => {
      const live = create(
        k.queued(),
        { jobId: JOB_ID, tape, cancelTokenHash: "h", why: "post" },
        T0 + 1,
        cfg,
      );
      expect(live.kind).toBe("exists");
      const ended = cancel(k.queued(), T0 + 1, cfg);
      const again = create(
        ended,
        { jobId: JOB_ID, tape, cancelTokenHash: "h2", why: "redrive" },
        T0 + 2,
        cfg,
      );
      expect(again.kind).toBe("created");
      expect(again.job.attempt).toBe(2);
      expect(again.effects[0]).toMatchObject({ kind: "save", reason: "redrive" });
    });

    it("an intake the queue refused is undone: forgotten when new, put back when it was stored", () => {
      expect(createUndone(null, T0, cfg)).toEqual([{ kind: "forget" }]);
      const ended = cancel(k.queued(), T0 + 1, cfg);
      expect(kinds(createUndone(ended, T0 + 2, cfg))).toEqual(["save", "alarm", "index"]);
    });
  });

  describe("reads and cancels", () => {
    it("a read that changes nothing saves nothing and only re-arms a missing alarm", () => {
      const job = k.queued();
      expect(read(job, T0 + 1, cfg).effects).toEqual([
        { kind: "alarm", at: alarmAt(job, T0 + 1, cfg), onlyIfNone: true },
      ]);
    });

    it("a read past the wall cap fails the job and frees its place in line", () => {
      const step = read(k.queued(), T0 + cfg.maxJobWallTimeMs + 1, cfg);
      expect(step.job!.status).toBe("failed");
      expect(kinds(step.effects)).toEqual(["save", "log", "alarm", "index", "release"]);
    });

    it("only the attempt's token (or the admin) cancels; cancelling frees the slot", () => {
      expect(cancelStep(k.proving(), { tokenHash: "other" }, T0 + 20, cfg).kind).toBe("forbidden");
      expect(cancelStep(k.proving(), { tokenHash: null }, T0 + 20, cfg).kind).toBe("forbidden");
      const step = cancelStep(k.proving(), { tokenHash: "hash-1" }, T0 + 20, cfg);
      expect(step.kind).toBe("cancelled");
      expect(kinds(step.effects)).toContain("release");
      expect(cancelStep(k.proving(), { admin: true }, T0 + 20, cfg).kind).toBe("cancelled");
    });

    it("a job cancelled while its proof runs keeps that prover held (release with `ending`); one whose proof is over, or that was only queued, frees it", () => {
      const release = (job: Job) =>
        cancelStep(job, { admin: true }, T0 + 20, cfg).effects.find((e) => e.kind === "release");
      expect(release(k.proving())).toEqual({ kind: "release", ending: { url: URL_A } });
      const running = {
        ...k.proving(),
        prover: { ...k.proving().prover, status: "running" as const },
      };
      expect(release(running)).toEqual({ kind: "release", ending: { url: URL_A } });
      const proved = {
        ...k.proving(),
        prover: { ...k.proving().prover, status: "succeeded" as const },
      };
      expect(release(proved)).toEqual({ kind: "release" });
      expect(release(k.queued())).toEqual({ kind: "release" });
      // The wall-time cap abandons a running proof too.
      const late = read(k.proving(), k.proving().wallDeadlineAt + 1, cfg).effects;
      expect(late.find((e) => e.kind === "release")).toEqual({
        kind: "release",
        ending: { url: URL_A },
      });
    });

    it("the deletion of a cancelled job's proof tells the dispatcher what the prover said: 200/404 ended, 409 alive, no answer unreachable, given up ended", () => {
      const cancelled = cancelStep(k.proving(), { admin: true }, T0 + 20, cfg).job;
      const entry = cancelled.cleanup[0]!;
      expect(entry.reason).toBe("cancelled");
      const said = (outcome: "deleted" | "gone" | "active" | "error", at = T0 + 21) =>
        cleanedUp(cancelled, entry, outcome, at, cfg).effects.find((e) => e.kind === "proofEnded");
      expect(said("deleted")).toEqual({ kind: "proofEnded", url: URL_A, outcome: "ended" });
      expect(said("gone")).toEqual({ kind: "proofEnded", url: URL_A, outcome: "ended" });
      expect(said("active")).toEqual({ kind: "proofEnded", url: URL_A, outcome: "alive" });
      expect(said("error")).toEqual({ kind: "proofEnded", url: URL_A, outcome: "unreachable" });
      // Past the clean-up's own limit it is dropped: the proof must have ended by then.
      expect(said("active", entry.until)).toEqual({
        kind: "proofEnded",
        url: URL_A,
        outcome: "ended",
      });
      // A finished proof's deletion holds no prover: the dispatcher is not called.
      const stored = { ...entry, reason: "result_stored" };
      const other = { ...cancelled, cleanup: [stored] };
      expect(kinds(cleanedUp(other, stored, "deleted", T0 + 21, cfg).effects)).not.toContain(
        "proofEnded",
      );
    });
  });

  describe("the dispatcher's holder check", () => {
    it("an ended job (or none) no longer needs its prover", () => {
      expect(holderCheck(null, null, T0)).toEqual({ needed: false, resend: null });
      const ended = cancel(k.proving(), T0 + 20, cfg);
      expect(holderCheck(ended, null, T0 + 21)).toEqual({ needed: false, resend: null });
    });
    it("a proving job, or a queued one being submitted (lock held), needs it and is left alone", () => {
      expect(holderCheck(k.proving(), null, T0 + 20)).toEqual({ needed: true, resend: null });
      const lockedUntil = T0 + 100;
      expect(holderCheck(k.queued(), lockedUntil, lockedUntil - 1)).toEqual({
        needed: true,
        resend: null,
      });
    });
    it("a queued holder nothing submits (its grant's message was lost) is sent again, counted", () => {
      const lockedUntil = T0 + 100;
      for (const lock of [null, lockedUntil]) {
        const check = holderCheck(k.queued(), lock, lockedUntil);
        expect(check.needed).toBe(true);
        expect(check.resend?.resend?.line).toMatchObject({
          event: "watchdog_redispatch",
          where: "holding",
        });
        expect(check.resend?.job.attempts.redispatches).toBe(1);
        const effects = holderResent(k.queued(), check.resend!.job, lockedUntil, cfg);
        expect(kinds(effects)).toContain("save");
      }
    });
  });

  it("a proving job sent back in line to be rebuilt is requeued at its arrival time; a read alone is not", () => {
    const job: Job = k.proving();
    const lost = polled(job, { kind: "lost" }, T0 + 20, T0 + 20, cfg).job!;
    expect(lost.status).toBe("queued");
    expect(kinds(read(job, T0 + 20, cfg).effects)).not.toContain("requeue");
    expect(alarmEnds(job, lost, T0 + 20, cfg)).toContainEqual({
      kind: "requeue",
      arrivedAt: T0,
      avoidUrl: URL_A,
      exclude: [],
    });
  });
});
