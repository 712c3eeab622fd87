import * as z from "zod";
import type { Config } from "../core/config.ts";
import type { HealthReading } from "../core/fleet.ts";
import { RULES_DIGEST_AST3 } from "../core/tape.ts";
import { CLAMP, clampText } from "./clamp.ts";
import type { Reply } from "./transport.ts";

/**
 * A prover's `GET /health` reply judged against what this gateway needs: the AST3 rules and
 * digest, a 32-byte image id equal to PROVER_EXPECTED_IMAGE_ID when set, a GPU. What the reading
 * means for work is the fleet's (src/core/fleet.ts).
 */

const healthSchema = z
  .object({
    status: z.string(),
    accelerator: z.string().optional(),
    image_id: z.string().optional(),
    rules_digest: z.number().optional(),
    ruleset: z.string().optional(),
    dev_mode: z.boolean().optional(),
    queued_jobs: z.number().optional(),
    running_jobs: z.number().optional(),
    max_tape_bytes: z.number().optional(),
  })
  .loose();

/** A `/health` reading as the fleet judges it (src/core/fleet.ts), and whether it is busy now. */
export interface ProverHealth extends HealthReading {
  busy: boolean | null;
}

/** A `/health` reading as the fleet judges it (src/core/fleet.ts), and whether it is busy now. */
export interface ProverHealth extends HealthReading {
  busy: boolean | null;
}

/** The reading a `/health` reply (or its failure) makes: unreachable unless a 200 in format. */
export function healthReadingOf(
  reply: Reply,
  cfg: Pick<Config, "proverExpectedImageId">,
): ProverHealth {
  const down = (problem: string): ProverHealth => ({
    reachable: false,
    compatible: false,
    problems: [problem],
    accelerator: null,
    imageId: null,
    devMode: null,
    busy: null,
  });
  if ("error" in reply) return down(reply.error.message);
  if (reply.status !== 200) return down(`GET /health answered HTTP ${reply.status}`);
  const parsed = healthSchema.safeParse(reply.json);
  if (!parsed.success) return down("GET /health did not answer in the prover's format");
  const h = parsed.data;
  // Every string of the reading is clamped: it is stored, shown to operators and logged.
  const ruleset = h.ruleset === undefined ? undefined : clampText(h.ruleset, CLAMP.code);
  const imageId = h.image_id === undefined ? undefined : clampText(h.image_id, CLAMP.field);
  const accelerator =
    h.accelerator === undefined ? undefined : clampText(h.accelerator, CLAMP.code);
  const problems: string[] = [];
  if (ruleset !== "AST3") problems.push(`ruleset is ${ruleset ?? "missing"}, expected AST3`);
  if (h.rules_digest !== RULES_DIGEST_AST3)
    problems.push(`rules_digest is ${h.rules_digest ?? "missing"}, expected 0x41535433`);
  if (!imageId || !/^[0-9a-fA-F]{64}$/.test(imageId)) problems.push("image_id is not 32-byte hex");
  else if (cfg.proverExpectedImageId && imageId.toLowerCase() !== cfg.proverExpectedImageId) {
    problems.push(`image_id ${imageId} is not the pinned PROVER_EXPECTED_IMAGE_ID`);
  }
  const compatible = problems.length === 0;
  if (accelerator === "cpu")
    problems.push("accelerator is cpu: the GPU is gone, proofs will be far too slow");
  return {
    reachable: true,
    compatible,
    problems,
    accelerator: accelerator ?? null,
    imageId: imageId ?? null,
    devMode: h.dev_mode ?? null,
    busy:
      h.queued_jobs !== undefined && h.running_jobs !== undefined
        ? h.queued_jobs + h.running_jobs > 0
        : null,
  };
}
