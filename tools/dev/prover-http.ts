/**
 * Pure request helpers for the dev prover: routing, auth, body reading, submit validation and the
 * `/health` body, all as PROVER_API.md states them (kept apart so the server file is only wiring).
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import {
  MAX_FRAMES,
  parseTape,
  RULES_DIGEST_AST3,
  TapeError,
  type TapeFacts,
} from "../../src/core/tape.ts";
import type { RouteKind } from "./prover-faults.ts";
import type { JobOptions, ReceiptKind } from "./prover-jobs.ts";

export const MAX_TAPE_BYTES = 2_097_152;
/** The image id the dev prover reports unless configured: the current guest's (the image of the real
 * receipts in ../shared/fixtures), which wrangler.jsonc expects. */
export const DEV_PROVER_IMAGE_ID =
  "30cb1dceaa1c626ed7eb906e1567347806eefed4b759b829a3ca3696573b7090";

export interface Body {
  bytes: Uint8Array;
  /** More than MAX_TAPE_BYTES arrived (the excess was drained, not kept). */
  tooLarge: boolean;
}

export function readBody(req: IncomingMessage): Promise<Body> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    req.on("data", (c: Uint8Array) => {
      size += c.length;
      if (size <= MAX_TAPE_BYTES) chunks.push(c);
    });
    req.on("end", () =>
      resolve({ bytes: new Uint8Array(Buffer.concat(chunks)), tooLarge: size > MAX_TAPE_BYTES }),
    );
    req.on("error", reject);
  });
}

/** `x-api-key: <key>` or `Authorization: Bearer <key>`; always true when no key is set. */
export function authorized(headers: IncomingHttpHeaders, key: string | undefined): boolean {
  if (!key) return true;
  if (headers["x-api-key"] === key) return true;
  const m = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? "");
  return !!m && m[1]!.trim() === key;
}

export function routeOf(method: string, path: string): { route: RouteKind; id?: string } {
  if (path === "/health" && method === "GET") return { route: "health" };
  if (path === "/api/jobs/prove-tape/raw" && method === "POST") return { route: "submit" };
  const m = /^\/api\/jobs\/([^/]+)$/.exec(path);
  if (m && method === "GET") return { route: "poll", id: decodeURIComponent(m[1]!) };
  if (m && method === "DELETE") return { route: "delete", id: decodeURIComponent(m[1]!) };
  return { route: "other" };
}

export interface HealthInput {
  accelerator: "cuda" | "cpu";
  imageId: string;
  devMode: boolean;
  queued: number;
  running: number;
  stored: number;
  maxJobs: number;
  timedOutProofKillMs: number;
  authRequired: boolean;
}

export function healthBody(h: HealthInput): Record<string, unknown> {
  return {
    status: "ok",
    service: "asteroids-verifier-api (dev prover)",
    accelerator: h.accelerator,
    image_id: h.imageId,
    rules_digest: RULES_DIGEST_AST3,
    rules_digest_hex: "0x41535433",
    ruleset: "AST3",
    dev_mode: h.devMode,
    queued_jobs: h.queued,
    running_jobs: h.running,
    stored_jobs: h.stored,
    max_jobs: h.maxJobs,
    prover_concurrency: 1,
    max_tape_bytes: MAX_TAPE_BYTES,
    max_frames: MAX_FRAMES,
    min_segment_limit_po2: 16,
    max_segment_limit_po2: 21,
    http_max_connections: 25000,
    http_keep_alive_secs: 75,
    timed_out_proof_kill_secs: Math.ceil(h.timedOutProofKillMs / 1000),
    auth_required: h.authRequired,
  };
}

export type Submission =
  | { ok: true; facts: TapeFacts; options: Omit<JobOptions, "proof_mode" | "accelerator"> }
  | { ok: false; code: string; error: string };

/** Validates the submit query and tape the way the real server does (400s, no state involved). */
export function parseSubmission(q: URLSearchParams, body: Body): Submission {
  const no = (code: string, error: string): Submission => ({ ok: false, code, error });
  const receipt = q.get("receipt_kind") ?? "composite";
  if (receipt !== "composite" && receipt !== "succinct" && receipt !== "groth16") {
    return no("invalid_request", `unknown receipt_kind ${JSON.stringify(receipt)}`);
  }
  const verify = q.get("verify_mode") ?? "policy";
  if (verify !== "verify" && verify !== "policy")
    return no("invalid_request", `unknown verify_mode ${JSON.stringify(verify)}`);
  const po2 = Number(q.get("segment_limit_po2") ?? 21);
  if (!Number.isInteger(po2) || po2 < 16 || po2 > 21) {
    return no("invalid_segment_limit", "segment_limit_po2 must be between 16 and 21");
  }
  const maxFrames = Number(q.get("max_frames") ?? MAX_FRAMES);
  if (!Number.isInteger(maxFrames) || maxFrames < 1 || maxFrames > MAX_FRAMES) {
    return no("invalid_max_frames", `max_frames must be between 1 and ${MAX_FRAMES}`);
  }
  if (body.tooLarge) return no("tape_too_large", `the tape exceeds ${MAX_TAPE_BYTES} bytes`);
  if (body.bytes.length === 0) return no("tape_empty", "the tape is empty");
  let facts: TapeFacts;
  try {
    facts = parseTape(body.bytes);
  } catch (e) {
    if (e instanceof TapeError && e.code === "zero_score")
      return no("zero_score_not_allowed", e.message);
    return no("invalid_tape", e instanceof Error ? e.message : String(e));
  }
  if (facts.frameCount > maxFrames) {
    return no("invalid_tape", `frame count ${facts.frameCount} exceeds max_frames ${maxFrames}`);
  }
  const receiptKind: ReceiptKind = receipt;
  return {
    ok: true,
    facts,
    options: {
      max_frames: maxFrames,
      receipt_kind: receiptKind,
      segment_limit_po2: po2,
      verify_mode: verify,
    },
  };
}
