import { applyClaimReport, type Claim, type ClaimReport } from "../claim.ts";
import { estimateFor, type Outlook } from "../estimate.ts";
import type { Config } from "../config.ts";
import type { Job } from "../job.ts";
import type { LifecycleConfig } from "../lifecycle.ts";
import { placeFreshUntil } from "../line-timing.ts";
import { settlementOf, type JobView } from "../view.ts";
import { ask, load, now, type Flow } from "./io.ts";
import { readFlow } from "./reads.ts";

/** The vars a view reads: the lifecycle's, and whether a settlement service claims proofs. */
export type ViewConfig = LifecycleConfig & Pick<Config, "webhookUrl" | "settlementToken">;

/**
 * `view`: the job as a player sees it: the job, its place in line (`queue`, while it waits in
 * the dispatcher's line) and its ETA. What the line looks like is asked of the dispatcher at most
 * once per `placeFreshUntil` (kept in storage), so that players polling often, or many sockets
 * on one job, do not each ask it. Null when there is no job.
 */
export function* viewFlow(cfg: ViewConfig): Flow<JobView | null> {
  const job = yield* readFlow(cfg);
  const settlement = settlementOf(cfg);
  if (!job) {
    // The record was cleared after its retention: the proof, if R2 keeps it, still answers.
    const archived = yield* ask({ kind: "archived" });
    if (!archived) return null;
    const claim = yield* claimOf(archived.jobId);
    return { job: archived, queue: null, estimate: null, claim, settlement };
  }
  const at = yield* now();
  const outlook = job.status === "queued" ? yield* outlookOf(job, at) : null;
  return {
    job,
    queue: outlook && outlook.ahead !== null ? { ahead: outlook.ahead } : null,
    estimate: estimateFor(job, outlook ?? (yield* cachedOutlook(job)), at),
    // A live record's claim is only ever written here (`reportClaim`): no R2 read for it.
    claim: job.status === "succeeded" ? yield* ask({ kind: "keptClaim" }) : null,
    settlement,
  };
}

/** The dispatcher's outlook for a waiting job, kept while `placeFreshUntil` says it is fresh. */
function* outlookOf(job: Job, at: number): Flow<Outlook | null> {
  const cached = yield* ask({ kind: "cachedOutlook" });
  if (
    cached &&
    cached.attempt === job.attempt &&
    at < placeFreshUntil(cached.outlook.ahead ?? cached.outlook.waiting, cached.at)
  )
    return cached.outlook;
  let outlook: Outlook;
  try {
    outlook = yield* ask({ kind: "outlook", jobId: job.jobId });
  } catch {
    return null; // the dispatcher cannot say: no place, a default ETA
  }
  // Not in line yet (its message is on the way): asked again next time, not kept.
  if (outlook.ahead !== null) {
    yield* ask({ kind: "cacheOutlook", cached: { outlook, at, attempt: job.attempt } });
  }
  return outlook;
}

/** The last outlook, for the speed a proving job's ETA falls back on (null: none). */
function* cachedOutlook(job: Job): Flow<Outlook | null> {
  const cached = yield* ask({ kind: "cachedOutlook" });
  return cached && cached.attempt === job.attempt ? cached.outlook : null;
}

/**
 * The claim: kept in storage while the job's record lives, in R2 beside the result for as long
 * as that is kept.
 */
function* claimOf(jobId: string): Flow<Claim | null> {
  const kept = yield* ask({ kind: "keptClaim" });
  if (kept) return kept;
  return yield* ask({ kind: "storedClaim", jobId });
}

export type ClaimOutcome =
  | { kind: "not_found" }
  /** The job has not succeeded (yet): there is no proof to claim. */
  | { kind: "no_proof"; job: Job }
  | { kind: "refused"; message: string }
  | { kind: "storage_failed"; message: string }
  | { kind: "recorded"; claim: Claim };

/**
 * `reportClaim`: the settlement service's report on the proof's on-chain claim. Written to R2
 * first (so it outlives the job's record), then kept beside the record and pushed to the job's
 * sockets.
 */
export function* claimFlow(report: ClaimReport, cfg: LifecycleConfig): Flow<ClaimOutcome> {
  const live = yield* readFlow(cfg);
  const job = live ?? (yield* ask({ kind: "archived" }));
  if (!job) return { kind: "not_found" };
  if (job.status !== "succeeded") return { kind: "no_proof", job };
  const earlier = yield* claimOf(job.jobId);
  const update = applyClaimReport(earlier, report, job.claimant ?? null, yield* now());
  if (!update.ok) return { kind: "refused", message: update.message };
  if (!update.changed) return { kind: "recorded", claim: update.claim };
  try {
    yield* ask({ kind: "writeClaim", jobId: job.jobId, claim: update.claim });
  } catch (e) {
    return { kind: "storage_failed", message: e instanceof Error ? e.message : String(e) };
  }
  // A cleared record keeps no storage here: R2 alone holds its claim.
  if (live && (yield* load())) {
    yield* ask({ kind: "keepClaim", claim: update.claim });
    yield* ask({ kind: "broadcast" });
  }
  return { kind: "recorded", claim: update.claim };
}
