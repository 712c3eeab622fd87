import * as z from "zod";
import { epochMs, epochMsOrNull, JobId, JobStatus } from "./job.ts";

/**
 * The fleet's and the line's shapes as the admin API and health show them: src/core/fleet.ts,
 * src/core/speed.ts and the dispatcher's views (src/objects/*) have the same types (unit tests
 * keep them equal).
 */

export const HealthReading = z.object({
  reachable: z.boolean(),
  compatible: z.boolean(),
  problems: z.array(z.string()),
  accelerator: z.string().nullable(),
  imageId: z.string().nullable(),
  devMode: z.boolean().nullable(),
});

/** A figure of observed proofs; null until there are any. */
const figure = z.number().nullable();

export const TimeoutMargins = z.object({
  proofs: z.number(),
  proofMs: z.object({ p95: figure, max: figure }),
  ofPollTimeout: z.object({ p95: figure, max: figure }),
  ofWallTime: z.object({ p95: figure, max: figure }),
  warnings: z.array(z.string()),
});

export const PROVER_STATES = [
  "proving",
  "available",
  "busy",
  "open",
  "draining",
  "unreachable",
  "incompatible",
  "cpu",
  "dev_mode",
  "unchecked",
  "quarantined",
] as const;
export const ProverState = z.enum(PROVER_STATES);

export const LineSummary = z.object({
  waiting: z.number(),
  slots: z.array(
    z.object({
      url: z.string(),
      holder: z.string().nullable(),
      heldSince: epochMsOrNull,
      cooldownUntil: epochMs,
    }),
  ),
  provers: z.partialRecord(ProverState, z.number()),
  timeouts: TimeoutMargins,
  calls: z.record(z.string(), z.number()),
});

export const Speed = z.object({
  proofs: z.number(),
  msPer1000Frames: z.object({ median: figure, p95: figure }),
  proofMs: z.object({ median: figure, p95: figure, max: figure }),
});

/** A prover as the admin API shows it (`ProverView`, src/objects/prover-dispatcher.ts). */
export const ProverView = z.object({
  id: z.string(),
  url: z.string(),
  state: ProverState,
  why: z.string(),
  source: z.enum(["config", "runtime"]),
  job: z.string().nullable(),
  heldSince: epochMsOrNull,
  health: HealthReading.extend({ checkedAt: epochMsOrNull }).nullable(),
  circuit: z.object({
    failures: z.number(),
    openUntil: epochMsOrNull,
    opens: z.number(),
    lastError: z.string().nullable(),
  }),
  counts: z.object({
    granted: z.number(),
    faults: z.number(),
    busy: z.number(),
    contradictions: z.number().meta({ description: "Its verdicts found false, ever." }),
  }),
  quarantine: z
    .object({
      since: epochMs,
      reason: z.string(),
      contradictions: z.number(),
      jobs: z.array(z.string()).meta({ description: "The jobs whose verdicts were contradicted." }),
    })
    .nullable()
    .meta({ description: "Quarantined: no work until an operator resumes it." }),
  speed: Speed,
});

/** A job in the index (`IndexedJob`, src/objects/job-index.ts). */
export const IndexedJob = z.object({
  jobId: JobId,
  status: JobStatus,
  attempt: z.number(),
  attemptStartedAt: epochMs,
  updatedAt: epochMs,
  errorCode: z.string().nullable(),
});
