/**
 * The on-chain claim of a proof, as the settlement service (for example the game's claim relayer)
 * reports it through `PUT /api/settlement/jobs/:jobId/claim`. It is kept beside the result in R2,
 * so it outlives the job's record, and shown as `claim` in every job view.
 */
export const CLAIM_STATUSES = ["queued", "submitting", "retrying", "succeeded", "failed"] as const;
export type ClaimStatus = (typeof CLAIM_STATUSES)[number];

/** The longest `error` a report may carry (it is shown to players as is). */
export const MAX_CLAIM_ERROR_CHARS = 500;

/** What the settlement service reports: the claim's status, its transaction, why it failed. */
export interface ClaimReport {
  status: ClaimStatus;
  /** The Stellar transaction hash (64 hex), once there is one. */
  txHash?: string | null;
  error?: string | null;
}

export interface Claim {
  status: ClaimStatus;
  /** Who the proof is claimed for: the attempt's `x-claimant-address` (null: none was given). */
  claimant: string | null;
  txHash: string | null;
  error: string | null;
  /** How many times the claim was submitted on chain (reports entering `submitting`). */
  attempts: number;
  /** When it was first submitted (null: not yet). */
  submittedAt: number | null;
  updatedAt: number;
}

export type ClaimUpdate =
  | { ok: true; claim: Claim; changed: boolean }
  | { ok: false; code: "claim_settled"; message: string };

/**
 * The claim after a report. A claim that `succeeded` is settled: the same report again is
 * accepted (the service may retry its call), any other is refused. A `failed` claim may be tried
 * again (the relayer's own retry, or an operator's). A transaction hash, once known, is kept
 * until a report names another.
 */
export function applyClaimReport(
  prev: Claim | null,
  report: ClaimReport,
  claimant: string | null,
  now: number,
): ClaimUpdate {
  const txHash = report.txHash ?? prev?.txHash ?? null;
  const error = report.status === "succeeded" ? null : (report.error ?? null);
  if (prev?.status === "succeeded") {
    if (report.status === "succeeded" && txHash === prev.txHash)
      return { ok: true, claim: prev, changed: false };
    return {
      ok: false,
      code: "claim_settled",
      message: `the claim already succeeded${prev.txHash ? ` (transaction ${prev.txHash})` : ""}; it cannot change`,
    };
  }
  const entersSubmitting = report.status === "submitting" && prev?.status !== "submitting";
  const claim: Claim = {
    status: report.status,
    claimant: prev?.claimant ?? claimant,
    txHash,
    error,
    attempts: (prev?.attempts ?? 0) + (entersSubmitting ? 1 : 0),
    submittedAt: prev?.submittedAt ?? (entersSubmitting ? now : null),
    updatedAt: now,
  };
  const changed =
    !prev ||
    prev.status !== claim.status ||
    prev.txHash !== claim.txHash ||
    prev.error !== claim.error;
  return { ok: true, claim: changed ? claim : prev, changed };
}
