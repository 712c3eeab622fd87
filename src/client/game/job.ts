/**
 * Mapping the gateway's job into the game's: its status, error, result and claim. Pure but for
 * the claimant this page remembers.
 */
import { estimateFrom, isRecord } from "../parse.ts";
import type { Estimate, GatewayJob, JobError } from "../types.ts";
import { recall } from "./settings.ts";
import type {
  ClaimStatus,
  ClaimTracking,
  ProofJobPublic,
  ProofJobStatus,
  ProofStats,
} from "./types.ts";
import { iso, isoAlways, num, str } from "./values.ts";

/** succeeded or failed (a cancelled job is shown failed): the game stops polling the proof. */
export function isTerminalProofStatus(status: ProofJobStatus): boolean {
  return status === "succeeded" || status === "failed";
}

/** One reading of a job: the job, its ETA, its claim and whether a claim will follow. */
export interface JobReading {
  job: GatewayJob;
  estimate?: Estimate;
  claim?: unknown;
  settlement?: unknown;
}

export const viewOf = (body: Record<string, unknown>, job: GatewayJob): JobReading => ({
  job,
  estimate: estimateFrom(body.estimate),
  claim: body.claim,
  settlement: body.settlement,
});

/** Our job statuses after which nothing changes (a cancelled job included). */
export const ENDED: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Status: `queued` → `queued`, or `retrying` when the job is back in line after a recovery
 * (`lastRecovery` set); `proving` → `dispatching` while the prover has it queued (or not yet
 * acknowledged), `prover_running` once it runs it (and while the gateway checks and stores its
 * result); `succeeded` → `succeeded`; `failed` and `cancelled` → `failed` (the game knows no
 * cancelled status and would poll it forever).
 */
function statusOf(job: GatewayJob): ProofJobStatus {
  switch (job.status) {
    case "queued":
      return job.lastRecovery ? "retrying" : "queued";
    case "proving":
      return job.prover?.status === "queued" || job.prover?.status == null
        ? "dispatching"
        : "prover_running";
    case "succeeded":
      return "succeeded";
    default:
      return "failed";
  }
}

const said = (e: JobError | null | undefined) => (e ? `${e.code}: ${e.message}` : null);

/** `failed`: `"<code>: <message>"`; `cancelled`: `"cancelled: <why>"`; otherwise null. */
function errorOf(job: GatewayJob): string | null {
  if (job.status === "cancelled") return `cancelled: ${job.error?.message ?? job.detail}`;
  if (job.status === "failed") return said(job.error) ?? "failed: the proof failed";
  return null;
}

/**
 * The game's job. Times become ISO strings (`completedAt` is `finishedAt`). `queue`: `attempts`
 * is the queue's deliveries, `lastAttemptAt` when the prover last accepted the tape, `lastError`
 * the prover's last error or else the last recovery's cause (`"<code>: <message>"`),
 * `nextRetryAt` the ETA's start while retrying. `prover`: `pollingErrors` is the failed polls in
 * a row, `recoveryAttempts` every resubmission (recoveries, the prover's rebuilds, the tape's
 * second chance); `statusUrl` is null (the prover is behind the gateway). `result` from the
 * job's result summary: `elapsedMs` the prover's time (0 when unknown), `producedReceiptKind`
 * the receipt's kind, `requestedReceiptKind` the one asked for (the produced one when the
 * gateway does not say), `stats` the prover's figures (its segment count and zero cycles when it
 * gave none). `claim`: see `claimOf`.
 */
export function publicJobOf(r: JobReading): ProofJobPublic {
  const { job } = r;
  const status = statusOf(job);
  const result = job.result;
  const attempts = job.attempts;
  return {
    jobId: job.jobId,
    status,
    createdAt: isoAlways(job.createdAt),
    updatedAt: isoAlways(job.updatedAt),
    completedAt: iso(job.finishedAt),
    tape: {
      sizeBytes: job.tape.sizeBytes,
      metadata: {
        seed: job.tape.seed,
        frameCount: job.tape.frameCount,
        finalScore: job.tape.finalScore,
        finalRngState: job.tape.finalRngState,
        checksum: job.tape.checksum,
      },
    },
    queue: {
      attempts: attempts?.deliveries ?? 0,
      lastAttemptAt: iso(job.prover?.acceptedAt),
      lastError: said(job.prover?.lastError) ?? said(job.lastRecovery),
      nextRetryAt: status === "retrying" ? iso(r.estimate?.startAt) : null,
    },
    prover: {
      jobId: job.prover?.jobId ?? null,
      status: job.prover?.status ?? null,
      statusUrl: null,
      lastPolledAt: iso(job.prover?.lastPolledAt),
      pollingErrors: job.prover?.consecutivePollFailures ?? 0,
      recoveryAttempts:
        (attempts?.recoveries ?? 0) + (attempts?.proverRebuilds ?? 0) + (attempts?.rejections ?? 0),
    },
    result:
      result && job.status === "succeeded"
        ? {
            artifactKey: result.key,
            summary: {
              elapsedMs: result.proverElapsedMs ?? 0,
              requestedReceiptKind: result.requestedReceiptKind ?? result.receiptKind,
              producedReceiptKind: result.receiptKind,
              journal: {
                seed: result.journal.seed,
                frame_count: result.journal.frame_count,
                final_score: result.journal.final_score,
                final_rng_state: result.journal.final_rng_state,
                tape_checksum: result.journal.tape_checksum,
                rules_digest: result.journal.rules_digest,
              },
              stats: statsOf(result.stats, result.segments),
            },
          }
        : null,
    claim: claimOf(r),
    error: errorOf(job),
  };
}

function statsOf(stats: unknown, segments: number | null): ProofStats {
  const n = (k: string) =>
    isRecord(stats) && typeof stats[k] === "number" ? (stats[k] as number) : 0;
  return {
    segments:
      isRecord(stats) && typeof stats.segments === "number" ? n("segments") : (segments ?? 0),
    total_cycles: n("total_cycles"),
    user_cycles: n("user_cycles"),
    paging_cycles: n("paging_cycles"),
    reserved_cycles: n("reserved_cycles"),
  };
}

const CLAIM_STATUSES: readonly string[] = [
  "queued",
  "submitting",
  "retrying",
  "succeeded",
  "failed",
] satisfies readonly ClaimStatus[];

/** Shown when no settlement service will claim the proof: the game's own button does it. */
export const NO_AUTOMATIC_CLAIM = "no automatic claim: submit the proven score from your wallet";

/**
 * The game reads `claim.status` on every render and polls a succeeded job until its claim has
 * ended. The gateway's `claim` (a settlement service's report) passes through: its status,
 * attempts, transaction, error (`lastError`), `submittedAt`, and `lastAttemptAt` = its last
 * update once it has been submitted. Without one: a proof with `settlement: "automatic"` is
 * `queued` (the service will claim it); a proof with `settlement: "none"` (or not said) is a
 * `failed` claim whose `lastError` is `NO_AUTOMATIC_CLAIM`, so the game stops polling and offers
 * its own on-chain button; a job not yet proved is `queued`; one that ended without a proof is
 * `failed` with no error (nothing to claim). `claimantAddress`: the claim's claimant, else the
 * job's, else the address this page submitted with ("" if none is known).
 */
function claimOf(r: JobReading): ClaimTracking {
  const { job } = r;
  const claim =
    isRecord(r.claim) && CLAIM_STATUSES.includes(r.claim.status as string) ? r.claim : null;
  const claimantAddress = str(claim?.claimant) ?? job.claimant ?? recall(job.jobId).claimant ?? "";
  if (claim) {
    const attempts = num(claim.attempts) ?? 0;
    return {
      claimantAddress,
      status: claim.status as ClaimStatus,
      attempts,
      lastAttemptAt: attempts > 0 ? iso(num(claim.updatedAt)) : null,
      lastError: str(claim.error),
      nextRetryAt: null,
      submittedAt: iso(num(claim.submittedAt)),
      txHash: str(claim.txHash),
    };
  }
  const none = {
    claimantAddress,
    attempts: 0,
    lastAttemptAt: null,
    nextRetryAt: null,
    submittedAt: null,
    txHash: null,
  };
  if (job.status === "succeeded") {
    return r.settlement === "automatic"
      ? { ...none, status: "queued", lastError: null }
      : { ...none, status: "failed", lastError: NO_AUTOMATIC_CLAIM };
  }
  if (ENDED.has(job.status)) return { ...none, status: "failed", lastError: null };
  return { ...none, status: "queued", lastError: null };
}
