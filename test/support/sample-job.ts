import type { Journal, TapeInfo } from "../../src/core/job.ts";
import { RULES_DIGEST_AST3 } from "../../src/core/tape.ts";

/** The tape facts the pure-logic suites build their jobs from (no real tape behind them). */
export const SAMPLE_TAPE: TapeInfo = {
  sizeBytes: 40,
  seed: 1,
  frameCount: 12,
  finalScore: 90,
  finalRngState: 7,
  checksum: 99,
  sha256: "a".repeat(64),
};

/** The journal a proof of SAMPLE_TAPE carries. */
export const SAMPLE_JOURNAL: Journal = {
  seed: 1,
  frame_count: 12,
  final_score: 90,
  final_rng_state: 7,
  tape_checksum: 99,
  rules_digest: RULES_DIGEST_AST3,
};
