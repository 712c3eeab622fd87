import type { Claim, Estimate, GatewayJob, JobUpdate, QueuePlace } from "./types.ts";

/**
 * Light checks of what the gateway sends (no zod: it would triple the game's bundle). They make
 * sure the fields the client and the page read are there; the gateway made the rest.
 */

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Enough of a job to rely on: an id and a status. */
export const isJob = (v: unknown): v is GatewayJob =>
  isRecord(v) && typeof v.jobId === "string" && typeof v.status === "string";

const TERMINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled"]);

/** succeeded, failed or cancelled: the job will not change any more (this attempt). */
export const isTerminalStatus = (status: string) => TERMINAL.has(status);

function queueFrom(v: unknown): QueuePlace {
  return isRecord(v) && typeof v.ahead === "number" ? { ahead: v.ahead } : null;
}

export function estimateFrom(v: unknown): Estimate {
  if (!isRecord(v) || typeof v.finishAt !== "number") return null;
  return {
    startAt: typeof v.startAt === "number" ? v.startAt : null,
    finishAt: v.finishAt,
    basis: typeof v.basis === "string" ? v.basis : "unknown",
  };
}

/** A claim with a status, or null (an older gateway sends none). */
export function claimFrom(v: unknown): Claim | null {
  return isRecord(v) && typeof v.status === "string" ? (v as unknown as Claim) : null;
}

/**
 * The update in a `GET /api/proofs/jobs/:id` answer or a socket message (`{type:"job",…}`), or
 * null when `body` is not one. `queue`, `estimate` and `claim` are null when absent, and
 * `settlement` is `none` unless the gateway says `automatic`.
 */
export function updateFrom(body: unknown): JobUpdate | null {
  if (!isRecord(body) || !isJob(body.job)) return null;
  return {
    job: body.job,
    queue: queueFrom(body.queue),
    estimate: estimateFrom(body.estimate),
    claim: claimFrom(body.claim),
    settlement: body.settlement === "automatic" ? "automatic" : "none",
  };
}

/** A socket message's update; null for anything else (another type, not JSON, binary). */
export function socketUpdate(data: unknown): JobUpdate | null {
  if (typeof data !== "string") return null;
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    return null;
  }
  return isRecord(body) && body.type === "job" ? updateFrom(body) : null;
}
