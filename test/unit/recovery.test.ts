import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseConfig, type Config } from "../../src/core/config.ts";
import type { JobError } from "../../src/core/job.ts";
import { unsubmitted, type Job } from "../../src/core/job.ts";
import { expire, newJob } from "../../src/core/lifecycle.ts";
import { onPoll, onSubmit } from "../../src/core/prover-answers.ts";
import { onReceiptInvalid, onResultInvalid } from "../../src/core/result-checks.ts";
import { readWranglerConfig } from "../../tools/ops/wrangler-config.ts";
import {
  failureAction,
  MAX_REJECTION_RETRIES,
  MIN_SEGMENT_LIMIT_PO2,
  rebuild,
} from "../../src/core/recovery.ts";
import { TEST_VARS } from "../support/test-vars.ts";
import { SAMPLE_TAPE } from "../support/sample-job.ts";

const committed =
  readWranglerConfig(fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url))).vars ?? {};
const configWith = (over: Record<string, string> = {}) => parseConfig({ ...committed, ...over });
const DEFAULTS = configWith();
const CONFIGS: [string, Config][] = [
  ["committed defaults", DEFAULTS],
  ["scaled test vars", configWith(TEST_VARS)],
];

const URL_A = "https://prover-a.example";
const URL_B = "https://prover-b.example";
const T0 = 1_700_000_000_000;
const tape = SAMPLE_TAPE;
const failed = (code: string, message = "x") =>
  ({ kind: "failed", error: { code, message } }) as const;
const transient = {
  kind: "transient",
  error: { code: "http_503", message: "unavailable" },
} as const;

const queued = (cfg: Config) => newJob("a".repeat(64), tape, T0, cfg);
const accept = (job: Job, at: number, cfg: Config, proverJobId = "p1", url = URL_A) =>
  onSubmit(job, { kind: "accepted", proverJobId }, url, at, cfg).job;
const proving = (cfg: Config, patch: Partial<Job["prover"]> = {}, recoveries = 0): Job => {
  const j = accept(queued(cfg), T0 + 1, cfg);
  return { ...j, prover: { ...j.prover, ...patch }, attempts: { ...j.attempts, recoveries } };
};

describe("what a prover failure means (by error_code; the message only tells out-of-memory apart)", () => {
  it.each([
    ["server_restarted", "the server restarted", "rebuild"],
    ["server_restarted", "out of memory", "rebuild"],
    ["internal_error", "join error", "rebuild"],
    ["internal_error", "allocation failed", "rebuild"],
    ["proof_error", "segment proving error", "guest_refused"],
    ["proof_error", "guest verification failed: final score mismatch", "guest_refused"],
    ["proof_error", "prover failed: out of memory", "rebuild_smaller"],
    ["proof_error", "Out Of Memory on device 0", "rebuild_smaller"],
    ["proof_error", "CUDA allocation failed on device", "rebuild_smaller"],
    ["proof_error", "memory allocation ok, then failed", "guest_refused"],
    ["proof_timeout", "ran past 600 s", "rebuild_smaller"],
    ["zero_score_not_allowed", "score 0", "zero_score"],
    ["zero_score_not_allowed", "out of memory", "zero_score"],
    ["something_new", "?", "unknown"],
    ["something_new", "out of memory", "unknown"],
  ])("%s (%s) → %s", (code, message, action) =>
    expect(failureAction({ code, message })).toBe(action),
  );
});

describe.each(CONFIGS)("rebuilding after a poll (%s)", (_name, cfg) => {
  const now = T0 + cfg.pollIntervalMs;

  it("404 (lost) → back in line, prover_job_lost, the prover side forgotten, nothing to delete", () => {
    const before = proving(cfg, { consecutivePollFailures: 2, firstFailedPollAt: T0 + 2 });
    const r = onPoll(before, { kind: "lost" }, now, cfg);
    expect(r.next).toEqual({ kind: "done" });
    expect(r.job).toMatchObject({
      status: "queued",
      error: null,
      finishedAt: null,
      // The prover lost it: a rebuild that costs the job no recovery.
      attempts: { recoveries: 0, proverRebuilds: 1, polls: 1, submissions: 1 },
      lastRecovery: { code: "prover_job_lost" },
      cleanup: [],
    });
    expect(r.job.prover).toEqual(unsubmitted(cfg.segmentLimitPo2, r.job.lastRecovery));
    expect(r.job.prover).toMatchObject({
      jobId: null,
      url: null,
      status: null,
      pollDeadlineAt: null,
      consecutivePollFailures: 0,
      firstFailedPollAt: null,
    });
  });

  it.each([["server_restarted"], ["internal_error"], ["proof_error"]])(
    "%s → back in line at the job's current segment limit (a refused tape: its one second chance)",
    (code) => {
      // One below the configured limit: a rebuild must keep the job's own limit, not reread the
      // config.
      const r = onPoll(
        proving(cfg, { segmentLimitPo2: cfg.segmentLimitPo2 - 1 }),
        failed(code, "boom"),
        now,
        cfg,
      );
      expect(r.next).toEqual({ kind: "done" });
      const proverFault = code !== "proof_error";
      expect(r.job).toMatchObject({
        status: "queued",
        error: null,
        attempts: {
          recoveries: 0,
          proverRebuilds: proverFault ? 1 : 0,
          rejections: proverFault ? 0 : 1,
        },
        lastRecovery: { code },
        prover: {
          jobId: null,
          url: null,
          status: null,
          segmentLimitPo2: cfg.segmentLimitPo2 - 1,
          lastError: { code },
        },
      });
      expect(r.job.lastRecovery!.message).toContain("boom");
      // The prover's job is over: it is deleted there (the prover keeps finished jobs, at most
      // max_jobs).
      expect(r.job.cleanup).toEqual([
        expect.objectContaining({ proverJobId: "p1", url: URL_A, reason: code }),
      ]);
    },
  );

  it.each([
    ["proof_timeout", "too slow"],
    ["proof_error", "out of memory"],
    ["proof_error", "allocation failed"],
  ])("%s (%s) → rebuilt with segments one step smaller", (code, message) => {
    const j = onPoll(proving(cfg), failed(code, message), now, cfg).job;
    expect(j).toMatchObject({
      status: "queued",
      attempts: { recoveries: 1 },
      lastRecovery: { code },
    });
    expect(j.cleanup).toEqual([expect.objectContaining({ proverJobId: "p1", reason: code })]);
    expect(j.prover.segmentLimitPo2).toBe(cfg.segmentLimitPo2 - 1);
    expect(j.detail).toContain(`2^${cfg.segmentLimitPo2 - 1}`);
  });

  it("the step-down stops at the prover's floor", () => {
    const atFloor = proving(cfg, { segmentLimitPo2: MIN_SEGMENT_LIMIT_PO2 });
    const stays = onPoll(atFloor, failed("proof_timeout"), now, cfg).job;
    expect(stays).toMatchObject({
      status: "queued",
      prover: { segmentLimitPo2: MIN_SEGMENT_LIMIT_PO2 },
    });
    const above = proving(cfg, { segmentLimitPo2: MIN_SEGMENT_LIMIT_PO2 + 1 });
    expect(
      onPoll(above, failed("proof_error", "out of memory"), now, cfg).job.prover.segmentLimitPo2,
    ).toBe(MIN_SEGMENT_LIMIT_PO2);
  });

  it("a tape two different provers refuse ends tape_rejected, confirmed: exactly two proofs, no recovery used", () => {
    const refused = failed("proof_error", "guest verification failed: final score 99999 != 90");
    const first = onPoll(proving(cfg), refused, now, cfg).job;
    expect(first).toMatchObject({
      status: "queued",
      attempts: { rejections: 1, recoveries: 0 },
      lastRecovery: { code: "proof_error" },
      verdicts: [{ url: URL_A, code: "proof_error", kind: "refused", at: now }],
    });
    expect(MAX_REJECTION_RETRIES).toBe(1);
    const again = accept(first, now + 1, cfg, "p2", URL_B);
    const r = onPoll(again, refused, now + 2, cfg);
    expect(r.job).toMatchObject({
      status: "failed",
      error: { code: "tape_rejected" },
      attempts: { rejections: 1, recoveries: 0, submissions: 2 },
    });
    expect(r.job.error!.unconfirmed).toBeUndefined();
    expect(r.job.error!.message).toContain("final score 99999");
    expect(r.job.error!.message).toContain("Two provers");
    // Its prover job is deleted there, like any ended one.
    expect(r.job.cleanup).toEqual(
      expect.arrayContaining([expect.objectContaining({ proverJobId: "p2" })]),
    );
  });

  it("the same prover refusing it twice (no other could be asked) ends it too, marked unconfirmed", () => {
    const refused = failed("proof_error", "guest verification failed");
    const first = onPoll(proving(cfg), refused, now, cfg).job;
    const r = onPoll(accept(first, now + 1, cfg, "p2", URL_A), refused, now + 2, cfg);
    expect(r.job).toMatchObject({
      status: "failed",
      error: { code: "tape_rejected", unconfirmed: true },
      attempts: { rejections: 1, recoveries: 0, submissions: 2 },
    });
    expect(r.job.error!.message).toContain("unconfirmed");
    expect(r.job.error!.message).toContain("PROVER_CIRCUIT_COOLDOWN_MS");
  });

  it("a refused tape's second chance does not depend on PROVER_MAX_RECOVERIES; out of memory still halves", () => {
    const none = configWith({ ...TEST_VARS, PROVER_MAX_RECOVERIES: "0" });
    const refused = failed("proof_error", "guest verification failed");
    expect(onPoll(proving(none), refused, now, none).job.status).toBe("queued");
    const oom = onPoll(proving(cfg), failed("proof_error", "out of memory"), now, cfg).job;
    expect(oom).toMatchObject({ attempts: { rejections: 0, recoveries: 1 } });
    expect(oom.prover.segmentLimitPo2).toBe(cfg.segmentLimitPo2 - 1);
  });

  it("zero_score_not_allowed for a tape scoring more than 0 is a lie: rebuilt for another prover (prover_lied), no recovery used", () => {
    const r = onPoll(proving(cfg), failed("zero_score_not_allowed", "score 0"), now, cfg);
    expect(r.next).toEqual({ kind: "done" });
    expect(r.job).toMatchObject({
      status: "queued",
      error: null,
      attempts: { recoveries: 0, proverRebuilds: 1, rejections: 0 },
      lastRecovery: { code: "prover_lied" },
      verdicts: [{ url: URL_A, code: "zero_score_not_allowed", kind: "lied", at: now }],
    });
    expect(r.job.cleanup).toEqual([
      expect.objectContaining({ proverJobId: "p1", reason: "zero_score_not_allowed" }),
    ]);
    expect(r.job.lastRecovery!.message).toContain(`final score is ${tape.finalScore}`);
  });

  it("zero_score_not_allowed for a tape this gateway reads as scoring 0 too stands: failed prover_rejected", () => {
    const zero = { ...tape, finalScore: 0 };
    const job = accept(newJob("a".repeat(64), zero, T0, cfg), T0 + 1, cfg);
    const r = onPoll(job, failed("zero_score_not_allowed", "score 0"), now, cfg);
    expect(r.job).toMatchObject({
      status: "failed",
      finishedAt: now,
      error: { code: "prover_rejected" },
      attempts: { recoveries: 0 },
    });
    expect(r.job.error!.unconfirmed).toBeUndefined();
    expect(r.job.error!.message).toContain("zero_score_not_allowed");
  });

  it("an unknown code asks another prover (its one second opinion); a second prover saying so ends it prover_failed, naming it", () => {
    const first = onPoll(proving(cfg), failed("gpu_on_fire", "smoke"), now, cfg);
    expect(first.next).toEqual({ kind: "done" });
    expect(first.job).toMatchObject({
      status: "queued",
      error: null,
      attempts: { recoveries: 0, rejections: 1 },
      lastRecovery: { code: "prover_failed" },
      verdicts: [{ url: URL_A, code: "gpu_on_fire", kind: "refused" }],
    });
    const r = onPoll(
      accept(first.job, now + 1, cfg, "p2", URL_B),
      failed("gpu_on_fire", "smoke"),
      now + 2,
      cfg,
    );
    expect(r.job).toMatchObject({
      status: "failed",
      finishedAt: now + 2,
      error: { code: "prover_failed" },
      attempts: { recoveries: 0 },
    });
    expect(r.job.error!.message).toContain("gpu_on_fire");
    expect(r.job.error!.message).toContain("smoke");
  });

  it("an invalid result → rebuilt result_mismatch at the same segment limit; the prover's finished job is deleted", () => {
    const j = onResultInvalid(
      proving(cfg, { status: "succeeded" }),
      "journal seed is 2, expected 1",
      now,
      cfg,
    );
    expect(j).toMatchObject({
      status: "queued",
      error: null,
      attempts: { recoveries: 0, proverRebuilds: 1 },
      lastRecovery: { code: "result_mismatch" },
    });
    expect(j.cleanup).toEqual([
      expect.objectContaining({ proverJobId: "p1", reason: "result_mismatch" }),
    ]);
    expect(j.prover).toEqual(unsubmitted(cfg.segmentLimitPo2, j.lastRecovery));
    expect(j.lastRecovery!.message).toContain("journal seed is 2, expected 1");
  });
});

describe("the segment limit across repeated out-of-memory rebuilds", () => {
  it(`the committed limit (${DEFAULTS.segmentLimitPo2}) steps down by one per rebuild`, () => {
    const cfg = DEFAULTS;
    let j = queued(cfg);
    let now = T0;
    for (let i = 1; i <= cfg.maxRecoveries; i++) {
      j = accept(j, ++now, cfg, `p${i}`);
      expect(j.prover.segmentLimitPo2).toBe(
        Math.max(MIN_SEGMENT_LIMIT_PO2, cfg.segmentLimitPo2 - (i - 1)),
      );
      j = onPoll(j, failed("proof_error", "out of memory"), ++now, cfg).job;
      expect(j).toMatchObject({
        status: "queued",
        prover: { segmentLimitPo2: Math.max(MIN_SEGMENT_LIMIT_PO2, cfg.segmentLimitPo2 - i) },
      });
    }
  });
  it(`a job configured at the floor (${MIN_SEGMENT_LIMIT_PO2}) stays there`, () => {
    const cfg = configWith({ PROVER_SEGMENT_LIMIT_PO2: String(MIN_SEGMENT_LIMIT_PO2) });
    const j = onPoll(accept(queued(cfg), T0 + 1, cfg), failed("proof_timeout"), T0 + 2, cfg).job;
    expect(j).toMatchObject({
      status: "queued",
      attempts: { recoveries: 1 },
      prover: { segmentLimitPo2: MIN_SEGMENT_LIMIT_PO2 },
    });
  });
});

/** Each way a job gets rebuilt, applied to a proving job accepted at T0 + 1. */
const CAUSES: {
  code: string;
  /** The prover's fault: rebuilt however many recoveries were used. */
  proverFault: boolean;
  exhausted: string;
  deletes: boolean;
  /** The clean-up's reason, when not `code`. */
  reason?: string;
  apply: (job: Job, cfg: Config) => Job;
}[] = [
  {
    code: "prover_job_lost",
    proverFault: true,
    exhausted: "recovery_exhausted",
    deletes: false,
    apply: (j, cfg) => onPoll(j, { kind: "lost" }, T0 + 2, cfg).job,
  },
  {
    code: "server_restarted",
    proverFault: true,
    exhausted: "recovery_exhausted",
    deletes: true,
    apply: (j, cfg) => onPoll(j, failed("server_restarted"), T0 + 2, cfg).job,
  },
  {
    code: "internal_error",
    proverFault: true,
    exhausted: "recovery_exhausted",
    deletes: true,
    apply: (j, cfg) => onPoll(j, failed("internal_error"), T0 + 2, cfg).job,
  },
  {
    code: "proof_error",
    proverFault: false,
    exhausted: "recovery_exhausted",
    deletes: true,
    apply: (j, cfg) => onPoll(j, failed("proof_error", "out of memory"), T0 + 2, cfg).job,
  },
  {
    code: "proof_timeout",
    proverFault: false,
    exhausted: "recovery_exhausted",
    deletes: true,
    apply: (j, cfg) => onPoll(j, failed("proof_timeout"), T0 + 2, cfg).job,
  },
  {
    code: "result_mismatch",
    proverFault: true,
    exhausted: "recovery_exhausted",
    deletes: true,
    apply: (j, cfg) => onResultInvalid(j, "no journal", T0 + 2, cfg),
  },
  {
    code: "receipt_invalid",
    proverFault: true,
    exhausted: "recovery_exhausted",
    deletes: true,
    apply: (j, cfg) => onReceiptInvalid(j, "the pairing check failed", T0 + 2, cfg),
  },
  {
    code: "prover_lied",
    proverFault: true,
    exhausted: "recovery_exhausted",
    deletes: true,
    reason: "zero_score_not_allowed",
    apply: (j, cfg) => onPoll(j, failed("zero_score_not_allowed"), T0 + 2, cfg).job,
  },
  {
    code: "prover_stalled",
    proverFault: true,
    exhausted: "recovery_exhausted",
    deletes: true,
    apply: (j, cfg) =>
      onPoll(onPoll(j, transient, T0 + 2, cfg).job, transient, T0 + 2 + cfg.stallWindowMs + 1, cfg)
        .job,
  },
  {
    code: "poll_timeout",
    proverFault: false,
    exhausted: "poll_timeout",
    deletes: true,
    apply: (j, cfg) => expire(j, j.prover.pollDeadlineAt! + 1, cfg),
  },
];

const BOUND_CONFIGS: [string, Config][] = [
  ["0", configWith({ PROVER_MAX_RECOVERIES: "0" })],
  ["1", configWith({ PROVER_MAX_RECOVERIES: "1" })],
  [`${DEFAULTS.maxRecoveries} (committed)`, DEFAULTS],
  [`${configWith(TEST_VARS).maxRecoveries} (scaled test vars)`, configWith(TEST_VARS)],
];

describe.each(BOUND_CONFIGS)("PROVER_MAX_RECOVERIES = %s", (_name, cfg) => {
  const n = cfg.maxRecoveries;

  // A failure the tape may be to blame for: out of memory (the segments shrink each time).
  const broke = failed("proof_error", "CUDA out of memory in segment 3");

  it("rebuilds n times in a row for a tape-suspect failure; the (n+1)-th fails recovery_exhausted, naming the cause", () => {
    let j = queued(cfg);
    let now = T0;
    for (let i = 1; i <= n; i++) {
      j = accept(j, ++now, cfg, `p${i}`);
      j = onPoll(j, broke, ++now, cfg).job;
      expect(j).toMatchObject({
        status: "queued",
        error: null,
        attempts: { recoveries: i },
        lastRecovery: { code: "proof_error" },
      });
    }
    j = accept(j, ++now, cfg, "last");
    const r = onPoll(j, broke, ++now, cfg);
    expect(r.next).toEqual({ kind: "done" });
    expect(r.job).toMatchObject({
      status: "failed",
      finishedAt: now,
      error: { code: "recovery_exhausted" },
      attempts: { recoveries: n },
    });
    expect(r.job.error!.message).toContain("proof_error");
    expect(r.job.error!.message).toContain("out of memory in segment 3");
    expect(r.job.error!.message).toContain(`${n} time(s)`);
  });

  it("a prover that keeps losing the job never uses a recovery: n + 5 losses, still rebuilt", () => {
    let j = queued(cfg);
    let now = T0;
    for (let i = 1; i <= n + 5; i++) {
      j = accept(j, ++now, cfg, `p${i}`);
      j = onPoll(j, { kind: "lost" }, ++now, cfg).job;
    }
    expect(j).toMatchObject({
      status: "queued",
      error: null,
      attempts: { recoveries: 0, proverRebuilds: n + 5 },
    });
  });

  it.each(CAUSES)(
    "$code with every recovery used → failed $exhausted, unless the prover caused it",
    ({ code, proverFault, exhausted, deletes, reason, apply }) => {
      const j = apply(proving(cfg, {}, n), cfg);
      if (proverFault) {
        expect(j).toMatchObject({
          status: "queued",
          error: null,
          attempts: { recoveries: n, proverRebuilds: 1 },
          lastRecovery: { code },
        });
      } else {
        expect(j).toMatchObject({
          status: "failed",
          error: { code: exhausted },
          attempts: { recoveries: n },
        });
        expect(j.error!.message).toContain(code);
      }
      expect(j.cleanup).toEqual(
        deletes
          ? [expect.objectContaining({ proverJobId: "p1", url: URL_A, reason: reason ?? code })]
          : [],
      );
    },
  );

  if (n > 0) {
    it.each(CAUSES)(
      "$code with one recovery left → the last rebuild still happens",
      ({ code, proverFault, deletes, reason, apply }) => {
        const j = apply(proving(cfg, {}, n - 1), cfg);
        expect(j).toMatchObject({
          status: "queued",
          error: null,
          finishedAt: null,
          attempts: { recoveries: proverFault ? n - 1 : n },
          lastRecovery: { code },
        });
        expect(j.cleanup).toEqual(
          deletes
            ? [expect.objectContaining({ proverJobId: "p1", url: URL_A, reason: reason ?? code })]
            : [],
        );
      },
    );
  }
});

describe.each(CONFIGS)("rebuild itself (%s)", (_name, cfg) => {
  const cause: JobError = { code: "proof_error", message: "gone." };
  it("just inside the bound: the last allowed rebuild still happens", () => {
    const j = rebuild(proving(cfg, {}, cfg.maxRecoveries - 1), cause, T0 + 9, cfg);
    expect(j).toMatchObject({
      status: "queued",
      updatedAt: T0 + 9,
      attempts: { recoveries: cfg.maxRecoveries },
      lastRecovery: cause,
      cleanup: [],
    });
  });
  it("just outside: recovery_exhausted, naming the cause; the prover side is left as it was", () => {
    const before = proving(cfg, {}, cfg.maxRecoveries);
    const j = rebuild(before, cause, T0 + 9, cfg);
    expect(j).toMatchObject({
      status: "failed",
      finishedAt: T0 + 9,
      error: { code: "recovery_exhausted" },
      attempts: { recoveries: cfg.maxRecoveries },
      lastRecovery: null,
    });
    expect(j.error!.message).toContain("proof_error");
    expect(j.error!.message).toContain("gone.");
    expect(j.prover).toEqual(before.prover);
  });
  it("exhaustedCode replaces recovery_exhausted only when no recovery is left", () => {
    const opts = { exhaustedCode: "poll_timeout" };
    expect(rebuild(proving(cfg, {}, cfg.maxRecoveries), cause, T0 + 9, cfg, opts).error?.code).toBe(
      "poll_timeout",
    );
    expect(
      rebuild(proving(cfg, {}, cfg.maxRecoveries - 1), cause, T0 + 9, cfg, opts),
    ).toMatchObject({ status: "queued", error: null });
  });
  it("cleanup: true asks the prover to delete the abandoned job, whether or not the job survives", () => {
    for (const used of [cfg.maxRecoveries - 1, cfg.maxRecoveries]) {
      const j = rebuild(proving(cfg, {}, used), cause, T0 + 9, cfg, { cleanup: true });
      expect(j.cleanup).toEqual([
        {
          url: URL_A,
          proverJobId: "p1",
          reason: "proof_error",
          nextAt: T0 + 9,
          until: T0 + 9 + cfg.pollTimeoutMs,
          tries: 0,
        },
      ]);
    }
    expect(rebuild(proving(cfg), cause, T0 + 9, cfg).cleanup).toEqual([]);
  });
  it("smaller: true lowers the limit by one (floor 16); a plain rebuild keeps it", () => {
    expect(
      rebuild(proving(cfg), cause, T0 + 9, cfg, { smaller: true }).prover.segmentLimitPo2,
    ).toBe(cfg.segmentLimitPo2 - 1);
    expect(rebuild(proving(cfg), cause, T0 + 9, cfg).prover.segmentLimitPo2).toBe(
      cfg.segmentLimitPo2,
    );
    expect(
      rebuild(proving(cfg, { segmentLimitPo2: MIN_SEGMENT_LIMIT_PO2 }), cause, T0 + 9, cfg, {
        smaller: true,
      }).prover.segmentLimitPo2,
    ).toBe(MIN_SEGMENT_LIMIT_PO2);
  });
});
