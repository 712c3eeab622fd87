import type { Claim } from "../core/claim.ts";
import type { PublicJob } from "../core/job.ts";
import type { Settlement } from "../core/view.ts";

/**
 * The shapes the gateway's player API answers with, as the browser sees them. Type-only imports
 * of the core: they are erased, so nothing of the Worker ends up in the game's bundle.
 */

export type { JobError, JobStatus, Journal, ResultDocument, VerifiedReceipt } from "../core/job.ts";
export type { Claim, ClaimStatus } from "../core/claim.ts";
export type { Settlement } from "../core/view.ts";

/** A job as the API shows it (`PublicJob`): never the cancel token's hash nor the client's. */
export type GatewayJob = PublicJob;

/** The job's place in line: `ahead` jobs are served before it (0: next). Null unless it waits. */
export type QueuePlace = { ahead: number } | null;

/**
 * When the proof should start and be ready (epoch ms); `startAt` null once it is on a prover.
 * Null for a job that has ended, or when the gateway cannot say.
 */
export type Estimate = { startAt: number | null; finishAt: number; basis: string } | null;

/** One reading of a job: what `get` answers and what `watch` passes on each change. */
export interface JobUpdate {
  job: GatewayJob;
  queue: QueuePlace;
  estimate: Estimate;
  /** The proof's on-chain claim as the settlement service reported it (null: none yet). */
  claim: Claim | null;
  /** `automatic`: a settlement service claims the proof; `none`: the player claims it. */
  settlement: Settlement;
}

/** `submit`'s answer. `cancelToken` is shown once, in the answer that starts an attempt. */
export interface Submission {
  jobId: string;
  /** Null when the tape was already queued, proving or proved (`existing`): no new attempt. */
  cancelToken: string | null;
  job: GatewayJob;
  existing: boolean;
  /** Its ETA as the line stood when it was posted (null when the gateway gave none). */
  estimate: Estimate;
}

/** The subset of `fetch` the client calls. */
export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * The handlers and method of a browser `WebSocket` the client uses (typed as the DOM types them,
 * so the browser's class fits; the client reads only `data`).
 */
export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  close(code?: number, reason?: string): void;
}

export type SocketConstructor = new (url: string) => SocketLike;

/** How `watch` is getting its updates right now. */
export type Transport = "socket" | "polling";
