import { describe, expect, it } from "vitest";
import type { Config } from "../../src/core/config.ts";
import { settle } from "../../src/core/effects.ts";
import type { Job } from "../../src/core/job.ts";
import { newJob } from "../../src/core/lifecycle.ts";
import { onPoll, onSubmit } from "../../src/core/prover-answers.ts";
import { onReceiptInvalid, onResultInvalid, onResultStored } from "../../src/core/result-checks.ts";
import { HEADER_BYTES, MAX_FRAMES, TRAILER_BYTES } from "../../src/core/tape.ts";
import { PROVER_MAX_TAPE_BYTES } from "../../src/core/vars.ts";
import { contradictions, excludedProvers, tapeProvable } from "../../src/core/verdicts.ts";
import { CONFIGS, T0, URL_A, URL_B } from "../support/configs.ts";
import { SAMPLE_JOURNAL, SAMPLE_TAPE } from "../support/sample-job.ts";

const URL_C = "https://prover-c.example";
const failed = (code: string, message = "x") =>
  ({ kind: "failed", error: { code, message } }) as const;
const GUEST = failed("proof_error", "guest verification failed: final score mismatch");
const UNKNOWN = failed("gpu_on_fire", "smoke");

describe("the gateway's own reading of a tape", () => {
  const sized = (frameCount: number) => ({
    ...SAMPLE_TAPE,
    frameCount,
    sizeBytes: HEADER_BYTES + frameCount + TRAILER_BYTES,
  });
  it("provable: a non-zero score, at most MAX_FRAMES frames, the exact length", () => {
    expect(tapeProvable(SAMPLE_TAPE)).toBe(true);
    expect(tapeProvable({ ...SAMPLE_TAPE, finalScore: 1 })).toBe(true);
    expect(tapeProvable({ ...SAMPLE_TAPE, finalScore: 0 })).toBe(false);
    expect(tapeProvable(sized(MAX_FRAMES))).toBe(true);
    expect(tapeProvable(sized(MAX_FRAMES + 1))).toBe(false);
    expect(tapeProvable({ ...SAMPLE_TAPE, sizeBytes: SAMPLE_TAPE.sizeBytes + 1 })).toBe(false);
    expect(HEADER_BYTES + MAX_FRAMES + TRAILER_BYTES).toBeLessThanOrEqual(PROVER_MAX_TAPE_BYTES);
  });
});

describe.each(CONFIGS)("verdicts against a tape (%s)", (_name, cfg: Config) => {
  const queued = () => newJob("a".repeat(64), SAMPLE_TAPE, T0, cfg);
  let t = T0;
  const on = (job: Job, url: string, id = `p${++t}`) =>
    onSubmit(job, { kind: "accepted", proverJobId: id }, url, ++t, cfg).job;
  const refusedBy = (job: Job, url: string, outcome = GUEST) =>
    onPoll(on(job, url), outcome, ++t, cfg).job;

  it("a refusal is recorded (which prover, which code) and the job goes back for another prover", () => {
    const j = refusedBy(queued(), URL_A);
    expect(j).toMatchObject({
      status: "queued",
      verdicts: [{ url: URL_A, code: "proof_error", kind: "refused" }],
      attempts: { rejections: 1, recoveries: 0 },
    });
    expect(excludedProvers(j)).toEqual([URL_A]);
    const effects = settle(on(queued(), URL_A), j, "alarm", t, cfg);
    expect(effects).toContainEqual({
      kind: "requeue",
      arrivedAt: T0,
      avoidUrl: URL_A,
      exclude: [URL_A],
    });
    // Nothing is charged yet: a refusal is only found false when another prover proves the tape.
    expect(effects.map((e) => e.kind)).not.toContain("contradicted");
  });

  it.each([
    ["guest refusal, guest refusal", GUEST, GUEST, "tape_rejected"],
    ["guest refusal, unknown code", GUEST, UNKNOWN, "prover_failed"],
    ["unknown code, guest refusal", UNKNOWN, GUEST, "prover_failed"],
    ["unknown code, unknown code", UNKNOWN, UNKNOWN, "prover_failed"],
  ] as const)("two different provers: %s → %s, confirmed", (_what, first, second, code) => {
    const j = refusedBy(refusedBy(queued(), URL_A, first), URL_B, second);
    expect(j).toMatchObject({ status: "failed", error: { code } });
    expect(j.error!.unconfirmed).toBeUndefined();
    expect(j.verdicts!.map((v) => v.url)).toEqual([URL_A, URL_B]);
  });

  it.each([
    ["guest refusal", GUEST, "tape_rejected"],
    ["unknown code", UNKNOWN, "prover_failed"],
  ] as const)(
    "the same prover twice (the one-prover fallback): %s → %s, unconfirmed",
    (_w, o, code) => {
      const j = refusedBy(refusedBy(queued(), URL_A, o), URL_A, o);
      expect(j).toMatchObject({ status: "failed", error: { code, unconfirmed: true } });
      expect(j.error!.message).toMatch(/unconfirmed/);
    },
  );

  it("a refused tape another prover proves: the refuser is charged, the prover that proved it is not", () => {
    const refused = refusedBy(queued(), URL_A);
    const proving = on(refused, URL_B);
    const summary = {
      key: "k",
      receiptKind: "groth16",
      segments: 1,
      proverElapsedMs: 1,
      journal: SAMPLE_JOURNAL,
    };
    const done = onResultStored(proving, summary, ++t, cfg);
    expect(contradictions(proving, done)).toEqual([
      { url: URL_A, reason: "refused a tape (proof_error) another prover proved", atOnce: false },
    ]);
    const effects = settle(proving, done, "alarm", t, cfg);
    const kinds = effects.map((e) => e.kind);
    // Charged before the prover is released (the line moves on only after the charge).
    expect(kinds.indexOf("contradicted")).toBeLessThan(kinds.indexOf("release"));
    // Proved by the prover that refused it (the one-prover fallback): nobody else is charged.
    const self = onResultStored(on(refused, URL_A), summary, ++t, cfg);
    expect(contradictions(on(refused, URL_A), self)).toEqual([]);
  });

  it("a liar's later refusal counts for nothing: the job goes on to another prover", () => {
    const lied = onPoll(on(queued(), URL_A), failed("zero_score_not_allowed"), ++t, cfg).job;
    const j = refusedBy(refusedBy(lied, URL_B), URL_A);
    expect(j).toMatchObject({ status: "queued", lastRecovery: { code: "prover_lied" } });
    // Its one second opinion stays one: the count of refusals retried never passes it.
    expect(j.attempts.rejections).toBe(1);
    expect(excludedProvers(j)).toEqual([URL_A, URL_B]);
    // A credible second prover still ends it.
    expect(refusedBy(j, URL_C).status).toBe("failed");
  });

  it.each([
    [
      "a result whose journal is not the tape's",
      (j: Job) => onResultInvalid(j, "journal seed is 2", ++t, cfg),
      "returned a result whose journal is not the tape's",
      false,
    ],
    [
      "a receipt that does not verify (quarantines at once)",
      (j: Job) => onReceiptInvalid(j, "the pairing check failed", ++t, cfg),
      "returned a receipt that does not verify",
      true,
    ],
    [
      "zero_score_not_allowed for a non-zero score",
      (j: Job) => onPoll(j, failed("zero_score_not_allowed"), ++t, cfg).job,
      "said zero_score_not_allowed of a tape this gateway reads as valid and provable",
      false,
    ],
  ] as const)(
    "a lie: %s → rebuilt for another prover, the liar charged",
    (_w, lie, reason, atOnce) => {
      const before = on(queued(), URL_A);
      const after = lie(before);
      expect(after).toMatchObject({
        status: "queued",
        attempts: { recoveries: 0, proverRebuilds: 1 },
        verdicts: [{ url: URL_A, kind: "lied" }],
      });
      expect(contradictions(before, after)).toEqual([{ url: URL_A, reason, atOnce }]);
      // Only the step that found it charges it: the next one does not again.
      expect(contradictions(after, { ...after, updatedAt: after.updatedAt + 1 })).toEqual([]);
    },
  );

  it("a false 400 on submission: queued, the prover charged and excluded", () => {
    const before = queued();
    const r = onSubmit(
      before,
      { kind: "rejected", error: { code: "invalid_tape", message: "no" } },
      URL_A,
      ++t,
      cfg,
    );
    expect(contradictions(before, r.job)).toEqual([
      {
        url: URL_A,
        reason: "said invalid_tape of a tape this gateway reads as valid and provable",
        atOnce: false,
      },
    ]);
    expect(excludedProvers(r.job)).toEqual([URL_A]);
  });

  it("a prover's code is kept short on the job", () => {
    const j = refusedBy(queued(), URL_A, failed("x".repeat(500)));
    expect(j.verdicts![0]!.code).toHaveLength(64);
  });
});
