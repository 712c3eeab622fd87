import { describe, expect, it } from "vitest";
import { decideIntake, startsAttempt } from "../../src/core/intake.ts";
import { create } from "../../src/core/steps/intake.ts";
import { JOB_STATUSES, type Job, type JobStatus } from "../../src/core/job.ts";
import { newJob } from "../../src/core/lifecycle.ts";
import { CONFIGS, T0 } from "../support/configs.ts";
import { SAMPLE_TAPE } from "../support/sample-job.ts";

/**
 * The one intake decision (src/core/intake.ts): what a tape arriving for its job does, shared by
 * the POST (src/core/flows/intake.ts), the job's `create` step and an operator's redrive.
 */
const JOB_ID = "d".repeat(64);
const cfg = CONFIGS[0]![1];
const job = (status: JobStatus): Job => ({
  ...newJob(JOB_ID, { ...SAMPLE_TAPE, sha256: JOB_ID }, T0, cfg, "hash", "client-a"),
  status,
});

describe("decideIntake", () => {
  it("no job: a new one (a kept proof may still answer)", () => {
    expect(decideIntake(null)).toEqual({ kind: "new_job" });
    expect(startsAttempt(decideIntake(null))).toBe(true);
  });

  it.each([
    ["failed", "new_attempt"],
    ["cancelled", "new_attempt"],
    ["queued", "existing"],
    ["proving", "existing"],
    ["succeeded", "existing"],
  ] as const)("a %s job: %s", (status, kind) => {
    const j = job(status);
    expect(decideIntake(j)).toEqual({ kind, job: j });
    expect(startsAttempt(decideIntake(j))).toBe(kind === "new_attempt");
  });

  it("every status is decided", () => {
    for (const s of JOB_STATUSES) expect(decideIntake(job(s)).kind).not.toBe("new_job");
  });

  it("the job's create step follows it: a new attempt exactly when the decision starts one", () => {
    const input = {
      jobId: JOB_ID,
      tape: job("queued").tape,
      cancelTokenHash: "h2",
      why: "post" as const,
    };
    expect(create(null, input, T0, cfg).kind).toBe("created");
    for (const s of JOB_STATUSES) {
      const step = create(job(s), input, T0, cfg);
      expect(step.kind).toBe(startsAttempt(decideIntake(job(s))) ? "created" : "exists");
    }
  });
});
