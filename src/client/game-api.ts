/**
 * A drop-in for the Asteroids game's own proof client (kalepail/stellar-zk-claude,
 * `src/proof/api.ts`): the same exports, types and behaviour, served by this gateway. The game
 * swaps its file for this one and keeps its code: it submits, polls `getProofJob` until
 * `isTerminalProofStatus` (and, for a proof, until its claim has ended), cancels, fetches the
 * artifact it builds its on-chain seal from, and polls the health.
 *
 * The gateway's answers are mapped here into the game's shapes (each rule is on the function that
 * applies it). Browser-safe: fetch, AbortController, setTimeout and an optional sessionStorage.
 *
 *   configureGameApi({ baseUrl: "https://gateway.example" }); // only when served elsewhere
 *
 * One file per concern, under src/client/game/: `types.ts` (the game's types), `settings.ts`
 * (configureGameApi, and the cancel tokens and claimants this page remembers), `http.ts` (the
 * fetch with its time limit; ProofApiError), `job.ts` (our job as the game's, its status and
 * claim), `job-calls.ts` (submit, get, cancel), `artifact.ts` (from the verified receipt) and
 * `health.ts`. This file is the module the game imports: it re-exports the public names only.
 */
export type {
  ClaimStatus,
  ClaimTracking,
  GatewayHealthResponse,
  GatewayProverCompatibleHealth,
  GatewayProverDegradedHealth,
  GatewayProverHealth,
  GetProofJobResponse,
  ProofJobPublic,
  ProofJobStatus,
  ProofJournal,
  ProofResultInfo,
  ProofResultSummary,
  ProofStats,
  ProofTapeInfo,
  ProverTracking,
  QueueTracking,
  StoredProofArtifactResponse,
  SubmitProofJobResponse,
  TapeMetadata,
} from "./game/types.ts";
export { ProofApiError } from "./game/http.ts";
export { isTerminalProofStatus, NO_AUTOMATIC_CLAIM } from "./game/job.ts";
export { configureGameApi, GAME_API_TIMEOUT_MS } from "./game/settings.ts";
export type { GameApiOptions, StorageLike } from "./game/settings.ts";
export { cancelProofJob, getProofJob, submitProofJob } from "./game/job-calls.ts";
export { getProofArtifact, VERIFIER_PARAMETERS_DIGEST } from "./game/artifact.ts";
export { getGatewayHealth } from "./game/health.ts";
