import { describe, expect, it } from "vitest";
import type { Effect } from "../../src/core/effects.ts";
import { admitted, deliver, submitted } from "../../src/core/steps/dispatch.ts";
import { cancel } from "../../src/core/ending.ts";
import { SUBMIT_LOCK_MARGIN_MS } from "../../src/core/job-timing.ts";
import { CONFIGS, T0, URL_A } from "../support/configs.ts";
import { kinds, kit } from "../support/steps-kit.ts";

/**
 * The job steps: a queue delivery: the submit lock, grants and a submission returning.
 *
 * The job steps the Durable Object calls (src/core/steps, sequenced by src/core/flows): the rules
 * that used to live in
 * the shell — the submit lock, the crash-watchdog alarm, the retention clean-up, the orphan
 * check, the effects of each transition — each on both sides of its boundary.
 */

describe.each(CONFIGS)("the job steps (%s)", (_name, cfg) => {
  const k = kit(cfg);

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
});
