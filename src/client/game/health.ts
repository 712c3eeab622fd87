/** The gateway's health as the game reads it, with the job this tab would still follow. */
import { GatewayError } from "../errors.ts";
import { isRecord } from "../parse.ts";
import { asProofError, call } from "./http.ts";
import { fetchJob } from "./job-calls.ts";
import { isTerminalProofStatus } from "./job.ts";
import { ACTIVE_KEY, GAME_API_TIMEOUT_MS, store, stored } from "./settings.ts";
import type { GatewayHealthResponse, GatewayProverHealth, ProofJobPublic } from "./types.ts";
import { iso, num, str } from "./values.ts";

/**
 * `GET /api/health`, mapped defensively (the gateway's health grows): `prover.status` is
 * `compatible` when the gateway says its prover is reachable and compatible (or, without a
 * prover reading — the anonymous health has the fleet's counts only — when its status is `ok`:
 * some prover can work), else `degraded` with the gateway's problems as `error`. `checked_at`:
 * when the gateway took its reading (`prover.checkedAt`, else `checkedAt`), else now. `image_id`, `ruleset` and `rules_digest_hex` are the gateway's when it gives them,
 * else the expected image and the game's rules (AST3, 0x41535433). `expected.image_id` is the
 * gateway's PROVER_EXPECTED_IMAGE_ID. A `503 config_invalid` is a degraded health, not an error.
 * `active_job`: the job this tab last submitted (kept in sessionStorage) while the game would
 * still follow it (not ended, or proved with its claim still going), so a reloaded game picks it
 * up again; null otherwise (and without storage).
 */
export async function getGatewayHealth(): Promise<GatewayHealthResponse> {
  // Both at once, so the health answers within its own time limit.
  const active = activeJob();
  let body: unknown;
  try {
    ({ body } = await call("/api/health", { method: "GET" }, GAME_API_TIMEOUT_MS.health));
  } catch (e) {
    if (!(e instanceof GatewayError && e.code === "config_invalid")) throw asProofError(e);
    body = { status: "config_invalid", error: { message: `${e.code}: ${e.message}` } };
  }
  return healthOf(isRecord(body) ? body : {}, await active);
}

/** Whether the game stops following this job (its `useEffect` poll condition). */
const gameIsDone = (j: ProofJobPublic) =>
  isTerminalProofStatus(j.status) &&
  (j.status !== "succeeded" || j.claim.status === "succeeded" || j.claim.status === "failed");

async function activeJob(): Promise<ProofJobPublic | null> {
  const jobId = stored(ACTIVE_KEY);
  if (!jobId) return null;
  try {
    const job = await fetchJob(jobId);
    if (!gameIsDone(job)) return job;
    store(ACTIVE_KEY, null);
  } catch (e) {
    if (e instanceof GatewayError && (e.status === 404 || e.status === 400)) {
      store(ACTIVE_KEY, null);
    }
  }
  return null;
}

const RULESET = "AST3";
const RULES_DIGEST_HEX = "0x41535433";

function digestHex(v: unknown): string | null {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) {
    return `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
  }
  return str(v);
}

function healthOf(
  body: Record<string, unknown>,
  active: ProofJobPublic | null,
): GatewayHealthResponse {
  const prover = isRecord(body.prover) ? body.prover : null;
  const config = isRecord(body.config) ? body.config : {};
  const expectedImage = str(config.proverExpectedImageId) || null;
  const compatible =
    prover && typeof prover.compatible === "boolean"
      ? prover.compatible && prover.reachable !== false
      : body.status === "ok";
  const problems =
    prover && Array.isArray(prover.problems)
      ? prover.problems.filter((p): p is string => typeof p === "string")
      : [];
  const bodyError = isRecord(body.error) ? str(body.error.message) : str(body.error);
  const health: GatewayProverHealth = compatible
    ? {
        status: "compatible",
        image_id: str(prover?.imageId) ?? str(prover?.image_id) ?? expectedImage ?? "unknown",
        rules_digest_hex:
          digestHex(prover?.rulesDigest) ?? digestHex(prover?.rules_digest) ?? RULES_DIGEST_HEX,
        ruleset: str(prover?.ruleset) ?? RULESET,
      }
    : {
        status: "degraded",
        error:
          problems.join("; ") ||
          bodyError ||
          (prover?.reachable === false
            ? "the prover is unreachable"
            : `the gateway reports ${str(body.status) ?? "no status"}`),
      };
  return {
    success: true,
    service: str(body.service) ?? "proof-gateway",
    mode: str(body.mode) ?? "fair-line",
    expected: { rules_digest_hex: RULES_DIGEST_HEX, ruleset: RULESET, image_id: expectedImage },
    checked_at: iso(num(prover?.checkedAt)) ?? iso(num(body.checkedAt)) ?? new Date().toISOString(),
    prover: health,
    active_job: active,
  };
}
