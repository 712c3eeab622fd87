import { describe, expect, it } from "vitest";
import type { ResultDocument } from "../../src/core/job.ts";
import {
  afterWatchdog,
  alarmBegins,
  alarmEnds,
  watchdogFound,
} from "../../src/core/steps/alarm.ts";
import { cancelStep } from "../../src/core/steps/reads.ts";
import { polled, resultDocument } from "../../src/core/steps/poll.ts";
import { storeTried } from "../../src/core/steps/result.ts";
import { alarmAt } from "../../src/core/job-timing.ts";
import { cancel } from "../../src/core/ending.ts";
import { CONFIGS, T0, URL_A } from "../support/configs.ts";
import { JOB_ID, tape, journal, RECEIPT, proof, kinds, kit } from "../support/steps-kit.ts";

/**
 * The job steps: the alarm: clean-ups, the watchdog, polling and storing the result once.
 *
 * The job steps the Durable Object calls (src/core/steps, sequenced by src/core/flows): the rules
 * that used to live in
 * the shell — the submit lock, the crash-watchdog alarm, the retention clean-up, the orphan
 * check, the effects of each transition — each on both sides of its boundary.
 */

describe.each(CONFIGS)("the job steps (%s)", (_name, cfg) => {
  const k = kit(cfg);

  describe("the alarm", () => {
    it("sets a crash-watchdog alarm past its own loop before polling", () => {
      const started = T0 + 100;
      const step = afterWatchdog(k.proving(), started, cfg);
      expect(step.next.kind).toBe("poll");
      expect(step.effects).toEqual([
        {
          kind: "alarm",
          at: started + cfg.pollBudgetMs + cfg.requestTimeoutMs + 1_000,
          onlyIfNone: false,
        },
      ]);
    });

    it("clears an ended job exactly at the end of its retention, not 1 ms before", () => {
      const ended = { ...cancel(k.queued(), T0 + 1, cfg), cleanup: [] };
      const end = ended.finishedAt! + cfg.completedJobRetentionMs;
      expect(alarmBegins(ended, end - 1, end - 1, cfg).effects).toEqual([
        { kind: "alarm", at: alarmAt(ended, end - 1, cfg), onlyIfNone: false },
      ]);
      expect(alarmBegins(ended, end, end, cfg).effects).toEqual([{ kind: "forget" }]);
    });

    it("keeps an ended job whose prover clean-up is still pending, even past retention", () => {
      const proving = k.proving();
      const ended = cancel(proving, T0 + 20, cfg);
      expect(ended.cleanup).toHaveLength(1);
      const late = ended.finishedAt! + cfg.completedJobRetentionMs + 1;
      expect(kinds(alarmBegins(ended, late, late, cfg).effects)).toEqual(["alarm"]);
    });

    it("looks for a queued job once DISPATCH_WATCHDOG_MS has passed, not 1 ms before", () => {
      const job = k.queued();
      const due = job.updatedAt + cfg.dispatchWatchdogMs;
      expect(alarmBegins(job, due - 1, due - 1, cfg).next.kind).toBe("settle");
      expect(alarmBegins(job, due, due, cfg).next).toEqual({ kind: "watchdog", job });
    });

    it("the watchdog re-sends a job that is absent or holds an unused slot, never one in line or being submitted", () => {
      const job = k.queued();
      for (const where of ["waiting", "submitting"] as const)
        expect(watchdogFound(job, where, T0 + 9).resend).toBeNull();
      for (const where of ["absent", "holding"] as const) {
        const found = watchdogFound(job, where, T0 + 9);
        expect(found.job.attempts.redispatches).toBe(1);
        expect(found.resend!.line).toMatchObject({ event: "watchdog_redispatch", where });
        expect(found.resend!.ifSendFails).toEqual({ ...job, watchdogCheckedAt: T0 + 9 });
      }
    });
  });

  describe("polling", () => {
    it("sleeps while the next poll fits the alarm's budget, re-arms once it would not", () => {
      const job = k.proving();
      const pending = { kind: "pending", status: "running" } as const;
      // Long after its acceptance, nothing measured: polls are a whole ceiling apart.
      const now = T0 + 10 + 2 * cfg.pollIntervalMs;
      const inside = polled(job, pending, now + cfg.pollIntervalMs - cfg.pollBudgetMs, now, cfg);
      expect(inside.next).toEqual({ kind: "sleep", ms: cfg.pollIntervalMs });
      const outside = polled(
        job,
        pending,
        now + cfg.pollIntervalMs - cfg.pollBudgetMs - 1,
        now,
        cfg,
      );
      expect(outside.next).toEqual({ kind: "rearmed" });
      expect(outside.effects.at(-1)).toEqual({
        kind: "alarm",
        at: now + cfg.pollIntervalMs,
        onlyIfNone: false,
      });
    });

    it("opens the prover's circuit once PROVER_CIRCUIT_FAILURES polls in a row failed, not one before", () => {
      const failedPoll = {
        kind: "transient",
        error: { code: "prover_unavailable", message: "503" },
      } as const;
      let job = k.proving();
      const charged: number[] = [];
      for (let i = 1; i <= cfg.circuitFailures + 1; i++) {
        const step = polled(job, failedPoll, T0 + 20, T0 + 20, cfg);
        if (step.effects.some((e) => e.kind === "pollFailed")) charged.push(i);
        job = step.job!;
      }
      expect(charged).toEqual([cfg.circuitFailures]);
      expect(polled(k.proving(), failedPoll, T0 + 20, T0 + 20, cfg).effects).toContainEqual(
        cfg.circuitFailures === 1
          ? { kind: "pollFailed", url: URL_A, error: "prover_unavailable" }
          : expect.objectContaining({ kind: "save" }),
      );
    });

    it("a proof whose journal is not the tape's is rebuilt, never stored", () => {
      const step = polled(
        k.proving(),
        proof({ ...journal, final_score: 91 }),
        T0 + 20,
        T0 + 20,
        cfg,
      );
      expect(step.next.kind).toBe("settle");
      expect(step.job!.status).toBe("queued");
      expect(step.job!.lastRecovery?.code).toBe("result_mismatch");
    });

    it("a receipt that does not verify: never stored, rebuilt elsewhere, logged; its prover quarantined at once (before the requeue)", () => {
      const forged = proof(journal, { ok: false, reason: "the pairing check failed" });
      const step = polled(k.proving(), forged, T0 + 20, T0 + 20, cfg);
      if (cfg.verifyReceipts === "off") {
        expect(step.next.kind).toBe("store"); // not checked: dev provers' fakes pass
        return;
      }
      expect(step.next.kind).toBe("settle");
      expect(step.job).toMatchObject({
        status: "queued",
        lastRecovery: { code: "receipt_invalid" },
        attempts: { recoveries: 0, proverRebuilds: 1 },
      });
      expect(step.job!.lastRecovery!.message).toContain("pairing check failed");
      expect(step.effects).toEqual([
        {
          kind: "log",
          level: "error",
          line: expect.objectContaining({
            event: "receipt_invalid",
            prover: URL_A,
            proverJobId: "p1",
          }),
        },
      ]);
      // Its prover job is deleted there; the requeue excludes that prover, which is charged
      // (quarantined at once) before the line moves on.
      expect(step.job!.cleanup).toEqual([expect.objectContaining({ proverJobId: "p1" })]);
      const ends = alarmEnds(k.proving(), step.job!, T0 + 20, cfg);
      const charge = {
        kind: "contradicted",
        url: URL_A,
        reason: "returned a receipt that does not verify",
        atOnce: true,
      };
      const requeue = { kind: "requeue", arrivedAt: T0, avoidUrl: URL_A, exclude: [URL_A] };
      expect(ends).toContainEqual(charge);
      expect(ends).toContainEqual(requeue);
      expect(ends.findIndex((e) => e.kind === "contradicted")).toBeLessThan(
        ends.findIndex((e) => e.kind === "requeue"),
      );
    });

    it("a valid receipt for another journal, or none at all, is not a proof of this tape either", () => {
      if (cfg.verifyReceipts === "off") return;
      const other = { ...journal, final_score: journal.final_score + 1 };
      for (const receipt of [{ ok: true as const, receipt: RECEIPT, journal: other }, undefined]) {
        const outcome = { ...proof(), receipt };
        const step = polled(k.proving(), outcome, T0 + 20, T0 + 20, cfg);
        expect(step.job!.lastRecovery?.code).toBe("receipt_invalid");
      }
    });

    it("the stored result carries the verified receipt (or says it was not checked)", () => {
      const step = polled(k.proving(), proof(), T0 + 20, T0 + 20, cfg);
      const doc = (step.next as Extract<typeof step.next, { kind: "store" }>).document;
      expect(doc.receipt).toEqual(RECEIPT);
      const done = storeTried(step.job!, doc, { kind: "written" }, T0 + 21, cfg).job;
      expect(done.result?.verified).toBe(true);
      const unchecked = resultDocument(
        k.proving(),
        { ...proof(), receipt: undefined },
        T0 + 20,
        cfg.receiptKind,
      );
      expect(unchecked.receipt).toEqual({ verified: false, method: "off" });
    });

    it("a matching proof is to be stored, with the whole prover document", () => {
      const step = polled(k.proving(), proof(), T0 + 20, T0 + 20, cfg);
      expect(step.next).toEqual({
        kind: "store",
        document: resultDocument(step.job!, proof(), T0 + 20, cfg.receiptKind),
      });
    });
  });

  describe("storing the result once", () => {
    const job = () => polled(k.proving(), proof(), T0 + 20, T0 + 20, cfg).job!;
    const doc = (): ResultDocument => resultDocument(job(), proof(), T0 + 20, cfg.receiptKind);

    it("written: succeeded", () => {
      expect(storeTried(job(), doc(), { kind: "written" }, T0 + 21, cfg).job.status).toBe(
        "succeeded",
      );
    });

    it("an earlier document that proves the tape is adopted (and said so)", () => {
      const earlier = { ...doc(), receiptKind: "succinct", storedAt: T0 };
      const step = storeTried(job(), doc(), { kind: "exists", earlier }, T0 + 21, cfg);
      expect(step.job.status).toBe("succeeded");
      expect(step.job.result?.receiptKind).toBe("succinct");
      expect(step.effects).toEqual([
        {
          kind: "log",
          level: "info",
          line: { event: "result_already_stored", jobId: JOB_ID, attempt: 1, storedAt: T0 },
        },
      ]);
    });

    it("another tape's document, an unreadable one, or a failed write: still proving, the write retried", () => {
      const other = { ...doc(), journal: { ...journal, seed: 2 } };
      for (const attempt of [
        { kind: "exists", earlier: other },
        { kind: "exists", earlier: null },
        { kind: "error", message: "R2 down" },
      ] as const) {
        const step = storeTried(job(), doc(), attempt, T0 + 21, cfg);
        expect(step.job.status).toBe("proving");
        expect(step.job.prover.lastError?.code).toBe("result_store_failed");
        expect(step.effects[0]).toMatchObject({ kind: "log", level: "error" });
      }
    });
  });

  it("a succeeded proof tells the dispatcher its prover's timing as it releases the prover", () => {
    const job = polled(k.proving(), proof(), T0 + 20, T0 + 20, cfg).job!;
    const doc = resultDocument(job, proof(), T0 + 20, cfg.receiptKind);
    const done = storeTried(job, doc, { kind: "written" }, T0 + 21, cfg).job;
    expect(alarmEnds(job, done, T0 + 21, cfg)).toContainEqual({
      kind: "release",
      observed: { url: URL_A, frames: tape.frameCount, elapsedMs: proof().elapsedMs },
    });
    // Any other end frees the prover without a timing.
    const cancelled = cancelStep(job, { admin: true }, T0 + 21, cfg);
    expect(cancelled.effects).toContainEqual({ kind: "release" });
  });
});
