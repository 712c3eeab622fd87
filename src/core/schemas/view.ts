import * as z from "zod";
import { CLAIM_STATUSES } from "../claim.ts";
import { epochMs, epochMsOrNull } from "./job.ts";

/**
 * What a job's views add to the job (src/core/view.ts): its claim (src/core/claim.ts), its ETA
 * (src/core/estimate.ts), its place in line and who settles it.
 */

export const ClaimStatus = z.enum(CLAIM_STATUSES);

export const Claim = z.object({
  status: ClaimStatus,
  claimant: z.string().nullable(),
  txHash: z.string().nullable(),
  error: z.string().nullable(),
  attempts: z.number(),
  submittedAt: epochMsOrNull,
  updatedAt: epochMs,
});

export const Settlement = z.enum(["automatic", "none"]).meta({
  description:
    "automatic: a settlement service (WEBHOOK_URL + SETTLEMENT_TOKEN) claims proofs for their players; none: players claim from their wallets.",
});

export const Estimate = z.object({
  startAt: epochMsOrNull,
  finishAt: epochMs,
  basis: z.enum(["measured", "default"]),
});

export const QueuePlace = z.object({
  ahead: z.number().meta({ description: "Jobs served before this one (0: next)." }),
});
