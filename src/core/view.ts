import type { Claim } from "./claim.ts";
import type { Estimate } from "./estimate.ts";
import { isTerminal, type Job } from "./job.ts";

/** A job with its place in line and its ETA: what `GET`, the `202` and the socket show. */
export interface JobView {
  job: Job;
  /** While it waits in the dispatcher's line: how many jobs are served before it (0: next). */
  queue: { ahead: number } | null;
  /** When it should reach a prover and be proved (null once it ended). */
  estimate: Estimate | null;
  /** The proof's on-chain claim as the settlement service last reported it (null: none yet). */
  claim: Claim | null;
  /**
   * `automatic`: a settlement service is configured (WEBHOOK_URL and SETTLEMENT_TOKEN) and is
   * told of every proof, so a claim should follow; `none`: the player claims from their wallet.
   */
  settlement: Settlement;
}

export type Settlement = "automatic" | "none";

/** Whether a settlement service claims proofs for their players (see `JobView.settlement`). */
export const settlementOf = (cfg: { webhookUrl?: string; settlementToken?: string }): Settlement =>
  cfg.webhookUrl && cfg.settlementToken ? "automatic" : "none";

/**
 * Whether nothing more will change in this view: the job ended and, for a proof a settlement
 * service is claiming, its claim ended too. A live-status socket closes after such a view.
 */
export function viewIsFinal(v: JobView): boolean {
  if (!isTerminal(v.job.status)) return false;
  if (v.job.status !== "succeeded" || v.settlement === "none") return true;
  return v.claim?.status === "succeeded" || v.claim?.status === "failed";
}
