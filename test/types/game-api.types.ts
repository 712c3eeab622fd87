/**
 * Type-level test: src/client/game-api.ts must be a drop-in for the game's `src/proof/api.ts`,
 * whose surface game-api.fixture.ts states. Every exported type and function is held to the
 * game's both ways (mutual assignability) and for identity (so an optional field removed or
 * added fails too), and the module exports every value the game's does. Checked by
 * `npm run typecheck` (tsconfig.browser.json: DOM types only, as in the game); nothing runs.
 */
import type * as Game from "./game-api.fixture.ts";
import type * as Ours from "../../src/client/game-api.ts";

/** A and B are each assignable to the other. */
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** A and B are the same type to the compiler (optional fields and modifiers included). */
type Identical<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Same<A, B> = Mutual<A, B> extends true ? Identical<A, B> : false;
type Assert<T extends true> = T;

export type Types = [
  Assert<Same<Ours.ProofJobStatus, Game.ProofJobStatus>>,
  Assert<Same<Ours.TapeMetadata, Game.TapeMetadata>>,
  Assert<Same<Ours.ProofTapeInfo, Game.ProofTapeInfo>>,
  Assert<Same<Ours.QueueTracking, Game.QueueTracking>>,
  Assert<Same<Ours.ProverTracking, Game.ProverTracking>>,
  Assert<Same<Ours.ClaimStatus, Game.ClaimStatus>>,
  Assert<Same<Ours.ClaimTracking, Game.ClaimTracking>>,
  Assert<Same<Ours.ProofJournal, Game.ProofJournal>>,
  Assert<Same<Ours.ProofStats, Game.ProofStats>>,
  Assert<Same<Ours.ProofResultSummary, Game.ProofResultSummary>>,
  Assert<Same<Ours.ProofResultInfo, Game.ProofResultInfo>>,
  Assert<Same<Ours.ProofJobPublic, Game.ProofJobPublic>>,
  Assert<Same<Ours.SubmitProofJobResponse, Game.SubmitProofJobResponse>>,
  Assert<Same<Ours.GetProofJobResponse, Game.GetProofJobResponse>>,
  Assert<Same<Ours.StoredProofArtifactResponse, Game.StoredProofArtifactResponse>>,
  Assert<Same<Ours.GatewayProverCompatibleHealth, Game.GatewayProverCompatibleHealth>>,
  Assert<Same<Ours.GatewayProverDegradedHealth, Game.GatewayProverDegradedHealth>>,
  Assert<Same<Ours.GatewayProverHealth, Game.GatewayProverHealth>>,
  Assert<Same<Ours.GatewayHealthResponse, Game.GatewayHealthResponse>>,
  Assert<Same<Ours.ProofApiError, Game.ProofApiError>>,
];

export type Values = [
  Assert<Same<typeof Ours.ProofApiError, typeof Game.ProofApiError>>,
  Assert<Same<typeof Ours.isTerminalProofStatus, typeof Game.isTerminalProofStatus>>,
  Assert<Same<typeof Ours.submitProofJob, typeof Game.submitProofJob>>,
  Assert<Same<typeof Ours.getProofJob, typeof Game.getProofJob>>,
  Assert<Same<typeof Ours.cancelProofJob, typeof Game.cancelProofJob>>,
  Assert<Same<typeof Ours.getProofArtifact, typeof Game.getProofArtifact>>,
  Assert<Same<typeof Ours.getGatewayHealth, typeof Game.getGatewayHealth>>,
  // Every value the game's module exports, with its type (ours may export more).
  Assert<Same<Pick<typeof Ours, keyof typeof Game>, typeof Game>>,
];
