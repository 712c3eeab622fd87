import { describe, expect, it } from "vitest";
import type { Config } from "../../src/core/config.ts";
import type { Effect } from "../../src/core/effects.ts";
import type {
  Job,
  Journal,
  ReceiptCheck,
  ResultDocument,
  VerifiedReceipt,
} from "../../src/core/job.ts";
import {
  admitted,
  afterWatchdog,
  alarmBegins,
  alarmEnds,
  cancelStep,
  cleanedUp,
  create,
  createUndone,
  deliver,
  holderCheck,
  holderResent,
  polled,
  read,
  resultDocument,
  storeTried,
  submitted,
  watchdogFound,
} from "../../src/core/job-steps.ts";
import {
  alarmAt,
  cancel,
  newJob,
  onSubmit,
  SUBMIT_LOCK_MARGIN_MS,
  type PollOutcome,
} from "../../src/core/lifecycle.ts";
import { CONFIGS, T0, URL_A } from "../support/configs.ts";
import { SAMPLE_JOURNAL, SAMPLE_TAPE } from "../support/sample-job.ts";

/**
 * The job steps the Durable Object calls (src/core/job-steps.ts): the rules that used to live in
 * the shell — the submit lock, the crash-watchdog alarm, the retention clean-up, the orphan
 * check, the effects of each transition — each on both sides of its boundary.
 */
const JOB_ID = "c".repeat(64);
const tape = { ...SAMPLE_TAPE, sha256: JOB_ID };
const journal = SAMPLE_JOURNAL;
/** What src/verify says of a good receipt (the core trusts the verdict it is given). */
const RECEIPT: VerifiedReceipt = {
  verified: true,
  method: "groth16",
  verifierVersion: "3.0.0",
  selector: "73c457ba",
  seal: `73c457ba${"ab".repeat(256)}`,
  imageId: "30cb1dceaa1c626ed7eb906e1567347806eefed4b759b829a3ca3696573b7090",
  journalRaw: "cd".repeat(24),
  journalDigest: "ef".repeat(32),
  claimDigest: "01".repeat(32),
};
const proof = (
  j: Journal | null = journal,
  receipt: ReceiptCheck | undefined = { ok: true, receipt: RECEIPT, journal },
): Extract<PollOutcome, { kind: "succeeded" }> => ({
  kind: "succeeded",
  journal: j,
  receiptKind: "groth16",
  segments: 2,
  elapsedMs: 50,
  document: { proof: true },
  receipt,
});
const kinds = (effects: Effect[]) => effects.map((e) => e.kind);

function kit(cfg: Config) {
  const queued = (at = T0) => newJob(JOB_ID, tape, at, cfg, "hash-1");
  const proving = (at = T0 + 10) =>
    onSubmit(queued(), { kind: "accepted", proverJobId: "p1" }, URL_A, at, cfg).job;
  return { queued, proving };
}

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

  describe("the submit lock", () => {
    it("a granted delivery takes it for PROVER_REQUEST_TIMEOUT_MS + the margin", () => {
      const now = T0 + 5;
      const step = admitted(k.queued(), 1, { kind: "granted", proverUrl: URL_A }, null, now, cfg);
      expect(step.effects).toEqual([
        { kind: "lock", until: now + cfg.requestTimeoutMs + SUBMIT_LOCK_MARGIN_MS },
      ]);
      expect(step.next).toEqual({
        kind: "submit",
        request: {
          proverUrl: URL_A,
          expectedProofMs: null,
          receiptKind: cfg.receiptKind,
          segmentLimitPo2: cfg.segmentLimitPo2,
          verifyMode: cfg.verifyMode,
        },
      });
    });

    it("the prover's measured speed gives the submission its expected proof time", () => {
      const grant = { kind: "granted", proverUrl: URL_A, msPer1000Frames: 4000 } as const;
      const step = admitted(k.queued(), 1, grant, null, T0 + 5, cfg);
      const request = (step.next as Extract<typeof step.next, { kind: "submit" }>).request;
      // 4 s per 1,000 frames, for this tape's frames
      const frames = k.queued().tape.frameCount;
      expect(request.expectedProofMs).toBe(Math.round((4000 * Math.max(frames, 100)) / 1000));
      const accepted = submitted(
        k.queued(),
        1,
        URL_A,
        { kind: "accepted", proverJobId: "p1" },
        T0 + 9,
        cfg,
        request.expectedProofMs,
      );
      expect(accepted.job!.prover.expectedEndAt).toBe(T0 + 9 + request.expectedProofMs!);
    });

    it("outlives the submit request: a delivery while the request may still be running waits", () => {
      const now = T0 + 5;
      const grant = admitted(k.queued(), 1, { kind: "granted", proverUrl: URL_A }, null, now, cfg);
      const lock = grant.effects[0] as Extract<Effect, { kind: "lock" }>;
      // The request times out at now + PROVER_REQUEST_TIMEOUT_MS at the latest; saving its answer
      // takes a moment more.
      const late = deliver(k.queued(), lock.until, now + cfg.requestTimeoutMs + 1, cfg);
      expect(late.next.kind).toBe("answer");
      expect(deliver(k.queued(), lock.until, lock.until, cfg).next.kind).toBe("admit");
    });

    it("another delivery while it is held changes nothing and comes back when it must be free", () => {
      const until = T0 + 10_000;
      const held = deliver(k.queued(), until, until - 1, cfg);
      expect(held.effects).toEqual([]);
      expect(held.next).toEqual({ kind: "answer", message: { ack: false, retryDelaySeconds: 1 } });
      expect(deliver(k.queued(), until, until - 1001, cfg).next).toEqual({
        kind: "answer",
        message: { ack: false, retryDelaySeconds: 2 },
      });
      // At the lock's end it is free: the delivery asks for a prover.
      expect(deliver(k.queued(), until, until, cfg).next).toMatchObject({
        kind: "admit",
        attempt: 1,
      });
    });

    it("a grant that finds the lock taken meanwhile does not submit", () => {
      const until = T0 + 10_000;
      const step = admitted(
        k.queued(),
        1,
        { kind: "granted", proverUrl: URL_A },
        until,
        until - 1,
        cfg,
      );
      expect(step.effects).toEqual([]);
      expect(step.next).toEqual({ kind: "answer", message: { ack: false, retryDelaySeconds: 1 } });
    });
  });

  describe("deliveries and grants", () => {
    it("a delivery to an ended job acks and hands back any slot a grant gave it (once)", () => {
      const ended = cancel(k.queued(), T0 + 1, cfg);
      const step = deliver(ended, null, T0 + 2, cfg);
      expect(step.next).toEqual({ kind: "answer", message: { ack: true } });
      expect(kinds(step.effects).filter((e) => e === "release")).toEqual(["release"]);
    });

    it("a grant for an attempt that was replaced meanwhile is not used", () => {
      const step = admitted(
        { ...k.queued(), attempt: 2 },
        1,
        { kind: "granted", proverUrl: URL_A },
        null,
        T0 + 1,
        cfg,
      );
      expect(step.next).toEqual({ kind: "answer", message: { ack: true } });
    });

    it("waiting in line acks and tells the player how many are ahead", () => {
      const step = admitted(k.queued(), 1, { kind: "waiting", ahead: 2 }, null, T0 + 1, cfg);
      expect(step.next).toEqual({ kind: "answer", message: { ack: true } });
      expect(step.job!.detail).toContain("2 jobs ahead");
    });
  });

  describe("a submission returning", () => {
    const accepted = { kind: "accepted", proverJobId: "p7" } as const;

    it("to its own attempt: proving", () => {
      const step = submitted(k.queued(), 1, URL_A, accepted, T0 + 3, cfg);
      expect(step.job!.status).toBe("proving");
      expect(step.message).toEqual({ ack: true });
    });

    it("to a job that was cancelled meanwhile: the accepted prover job is an orphan to delete", () => {
      const step = submitted(cancel(k.queued(), T0 + 1, cfg), 1, URL_A, accepted, T0 + 3, cfg);
      expect(step.job!.status).toBe("cancelled");
      expect(step.job!.cleanup).toEqual([
        {
          url: URL_A,
          proverJobId: "p7",
          reason: "orphaned",
          nextAt: T0 + 3,
          until: T0 + 3 + cfg.pollTimeoutMs,
          tries: 0,
        },
      ]);
      expect(step.effects.find((e) => e.kind === "alarm")).toMatchObject({ onlyIfNone: false });
    });

    it("to a new attempt of the same tape (queued again): still an orphan, never credited to it", () => {
      const step = submitted({ ...k.queued(), attempt: 2 }, 1, URL_A, accepted, T0 + 3, cfg);
      expect(step.job!.status).toBe("queued");
      expect(step.job!.cleanup.map((c) => c.reason)).toEqual(["orphaned"]);
    });

    it("busy: back to the head of the line at the attempt's arrival time", () => {
      const busy = { kind: "busy", error: { code: "prover_busy", message: "b" } } as const;
      const step = submitted(k.queued(), 1, URL_A, busy, T0 + 3, cfg);
      expect(step.effects.at(-1)).toEqual({ kind: "busy", arrivedAt: T0, exclude: [] });
    });

    it("busy or failing, a job with verdicts against its tape keeps the provers it must not go to", () => {
      const refused = {
        ...k.queued(),
        verdicts: [{ url: URL_A, code: "proof_error", kind: "refused" as const, at: T0 }],
      };
      const busy = { kind: "busy", error: { code: "prover_busy", message: "b" } } as const;
      const transient = {
        kind: "transient",
        error: { code: "prover_timeout", message: "t" },
      } as const;
      const b = "https://prover-b.example";
      expect(submitted(refused, 1, b, busy, T0 + 3, cfg).effects.at(-1)).toEqual({
        kind: "busy",
        arrivedAt: T0,
        exclude: [URL_A],
      });
      expect(submitted(refused, 1, b, transient, T0 + 3, cfg).effects.at(-1)).toEqual({
        kind: "submitFailed",
        arrivedAt: T0,
        error: "prover_timeout",
        exclude: [URL_A],
      });
    });
  });

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
