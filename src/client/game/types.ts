/**
 * The game's types: its components and its claim code read these shapes (the game's
 * `src/proof/api.ts`; test/types/game-api.types.ts holds ours to them).
 */

export type ProofJobStatus =
  "queued" | "dispatching" | "prover_running" | "retrying" | "succeeded" | "failed";

export interface TapeMetadata {
  seed: number;
  frameCount: number;
  finalScore: number;
  finalRngState: number;
  checksum: number;
}

export interface ProofTapeInfo {
  sizeBytes: number;
  metadata: TapeMetadata;
}

export interface QueueTracking {
  attempts: number;
  lastAttemptAt: string | null;
  lastError: string | null;
  nextRetryAt: string | null;
}

export interface ProverTracking {
  jobId: string | null;
  status: "queued" | "running" | "succeeded" | "failed" | null;
  statusUrl: string | null;
  lastPolledAt: string | null;
  pollingErrors: number;
  recoveryAttempts: number;
}

export type ClaimStatus = "queued" | "submitting" | "retrying" | "succeeded" | "failed";

export interface ClaimTracking {
  claimantAddress: string;
  status: ClaimStatus;
  attempts: number;
  lastAttemptAt: string | null;
  lastError: string | null;
  nextRetryAt: string | null;
  submittedAt: string | null;
  txHash: string | null;
}

export interface ProofJournal {
  seed: number;
  frame_count: number;
  final_score: number;
  final_rng_state: number;
  tape_checksum: number;
  rules_digest: number;
}

export interface ProofStats {
  segments: number;
  total_cycles: number;
  user_cycles: number;
  paging_cycles: number;
  reserved_cycles: number;
}

export interface ProofResultSummary {
  elapsedMs: number;
  requestedReceiptKind: string;
  producedReceiptKind: string | null;
  journal: ProofJournal;
  stats: ProofStats;
}

export interface ProofResultInfo {
  artifactKey: string;
  summary: ProofResultSummary;
}

/** A job as the game shows it; times are ISO strings. */
export interface ProofJobPublic {
  jobId: string;
  status: ProofJobStatus;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  tape: ProofTapeInfo;
  queue: QueueTracking;
  prover: ProverTracking;
  result: ProofResultInfo | null;
  claim: ClaimTracking;
  error: string | null;
}

export interface SubmitProofJobResponse {
  success: true;
  status_url: string;
  job: ProofJobPublic;
}

export interface GetProofJobResponse {
  success: true;
  job: ProofJobPublic;
}

/** What the game's claim code reads `prover_response.result.proof.receipt.inner.Groth16` from. */
export interface StoredProofArtifactResponse {
  stored_at?: string;
  prover_response?: unknown;
}

export interface GatewayProverCompatibleHealth {
  status: "compatible";
  image_id: string;
  rules_digest_hex: string;
  ruleset: string;
}

export interface GatewayProverDegradedHealth {
  status: "degraded";
  error: string;
}

export type GatewayProverHealth = GatewayProverCompatibleHealth | GatewayProverDegradedHealth;

export interface GatewayHealthResponse {
  success: true;
  service: string;
  mode: string;
  expected: {
    rules_digest_hex: string;
    ruleset: string;
    image_id: string | null;
  };
  checked_at: string;
  prover: GatewayProverHealth;
  active_job: ProofJobPublic | null;
}
