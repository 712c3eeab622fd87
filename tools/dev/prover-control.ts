/**
 * The dev prover's `/__dev/*` control routes: the same controls as the `DevProver` object, over
 * HTTP, for tests running inside workerd (which can only reach the prover over the network).
 * Never subject to auth, faults or hostile modes.
 */
import type { ServerResponse } from "node:http";
import { isFaultKind, validateRules, type FaultKind } from "./prover-faults.ts";
import { HOSTILE_MODES, isHostileMode } from "./prover-hostile.ts";
import type { DevProver } from "./prover-server.ts";

export interface ControlContext {
  method: string;
  path: string;
  body: Uint8Array;
  res: ServerResponse;
  prover: DevProver;
  send(res: ServerResponse, status: number, body: unknown): void;
  config(): Record<string, unknown>;
}

const NUMERIC = [
  "proofMs",
  "proofMsPerFrame",
  "queuedMs",
  "runningJobTimeoutMs",
  "timedOutProofKillMs",
  "restartOutageMs",
  "maxJobs",
  "sweepIntervalMs",
  "finishedJobTtlMs",
  "hugeReplyBytes",
];

function parseJson(body: Uint8Array): unknown {
  const text = new TextDecoder().decode(body).trim();
  return text === "" ? null : JSON.parse(text);
}

function parseRandom(v: unknown): { rate: number; kinds?: FaultKind[]; seed?: number } | null {
  if (v === null) return null;
  if (typeof v !== "object") throw new Error("body must be an object or null");
  const o = v as Record<string, unknown>;
  if (typeof o.rate !== "number" || o.rate < 0 || o.rate > 1)
    throw new Error("rate must be a number in 0..1");
  const out: { rate: number; kinds?: FaultKind[]; seed?: number } = { rate: o.rate };
  if (o.kinds !== undefined) {
    if (!Array.isArray(o.kinds) || !o.kinds.every(isFaultKind))
      throw new Error("kinds must be fault kinds");
    out.kinds = o.kinds;
  }
  if (o.seed !== undefined) {
    if (typeof o.seed !== "number") throw new Error("seed must be a number");
    out.seed = o.seed;
  }
  return out;
}

function parseConfig(v: unknown): Parameters<DevProver["configure"]>[0] {
  if (typeof v !== "object" || v === null) throw new Error("body must be an object");
  const o = v as Record<string, unknown>;
  for (const [k, val] of Object.entries(o)) {
    if (NUMERIC.includes(k)) {
      if (typeof val !== "number" || !Number.isFinite(val) || val < 0)
        throw new Error(`${k} must be a number ≥ 0`);
    } else if (k === "accelerator") {
      if (val !== "cuda" && val !== "cpu") throw new Error("accelerator must be cuda or cpu");
    } else if (k === "imageId") {
      if (typeof val !== "string") throw new Error("imageId must be a string");
    } else if (k === "devMode") {
      if (typeof val !== "boolean") throw new Error("devMode must be a boolean");
    } else if (k === "hostile") {
      if (val !== null && !isHostileMode(val))
        throw new Error(`hostile must be null or one of ${HOSTILE_MODES.join(", ")}`);
    } else if (k === "apiKey") {
      if (val !== null && typeof val !== "string")
        throw new Error("apiKey must be a string or null");
    } else throw new Error(`unknown setting ${k}`);
  }
  return o as Parameters<DevProver["configure"]>[0];
}

/** Serves one `/__dev/*` request. */
export function handleControl(c: ControlContext): void {
  const { method, path, res, prover, send } = c;
  const bad = (e: unknown) =>
    send(res, 400, {
      success: false,
      error: e instanceof Error ? e.message : String(e),
      error_code: "bad_control_request",
    });
  try {
    if (method === "GET" && path === "/__dev/stats") return send(res, 200, prover.stats());
    if (method === "GET" && path === "/__dev/config") return send(res, 200, c.config());
    if (method !== "POST")
      return send(res, 404, {
        success: false,
        error: "no such control route",
        error_code: "not_found",
      });
    switch (path) {
      case "/__dev/faults": {
        const body = parseJson(c.body) as { rules?: unknown } | null;
        prover.injectFaults(validateRules(body?.rules));
        return send(res, 200, { success: true, pending: prover.stats().pendingFaults });
      }
      case "/__dev/random-faults":
        prover.setRandomFaults(parseRandom(parseJson(c.body)));
        return send(res, 200, { success: true });
      case "/__dev/reset":
        prover.reset();
        return send(res, 200, { success: true });
      case "/__dev/end-proofs":
        prover.endProofs();
        return send(res, 200, { success: true });
      case "/__dev/config":
        prover.configure(parseConfig(parseJson(c.body)));
        return send(res, 200, { success: true, config: c.config() });
      case "/__dev/restart": {
        // Answer first, then go down: the caller learns the outage length and can wait it out.
        const outage = Number(c.config().restartOutageMs);
        send(res, 200, { success: true, outage_ms: outage });
        res.once("finish", () => void prover.restart());
        return;
      }
      default:
        return send(res, 404, {
          success: false,
          error: "no such control route",
          error_code: "not_found",
        });
    }
  } catch (e) {
    return bad(e);
  }
}
