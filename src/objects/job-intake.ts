import { decideIntake } from "../core/intake.ts";
import type { Job, TapeInfo } from "../core/job.ts";
import type { JobView } from "../http/job-view.ts";
import { clientQuotaOf, releaseClientPlace, type Reservation } from "./client-quota.ts";
import type { CreateResult } from "./proof-job.ts";

/** A tape arriving for its job: a player's POST, or an operator's redrive of the stored tape. */
export interface IntakeInput {
  jobId: string;
  tape: TapeInfo;
  /** The hash of the cancel token the answer shows if this starts an attempt. */
  cancelTokenHash: string;
  why: "post" | "redrive";
  /** The posting client's key (null: an operator; the attempt keeps the job's client). */
  client: string | null;
  claimant: string | null;
  /** MAX_WAITING_PER_CLIENT as the front door read it (null: counted, never refused). */
  cap: number | null;
  /**
   * Whether the front door stored the tape in R2 (it does before asking: the tape is durable
   * before any attempt exists). Not stored: only an existing job or a kept proof can answer.
   */
  tapeStored: boolean;
}

export type IntakeResult =
  /** Queued, proving or succeeded (also: created meanwhile by an identical post): 200. */
  | { kind: "existing"; job: Job; view: JobView | null }
  /** Proved before, its record since cleared: the kept proof answers (200). */
  | { kind: "kept"; view: JobView }
  /** A new job, or a new attempt after failed/cancelled: 202 with the cancel token. */
  | { kind: "created"; job: Job; view: JobView | null }
  /** The client already has `live` attempts not ended (429 too_many_waiting). */
  | { kind: "too_many_waiting"; live: number }
  /** It would start an attempt, but the tape is not stored: nothing accepted (503). */
  | { kind: "tape_not_stored" }
  /** The queue refused the new attempt: nothing kept, its place given back (503). */
  | { kind: "enqueue_failed"; message: string };

/** What the intake needs of the job's own object (src/objects/proof-job.ts). */
export interface IntakeHost {
  env: Env;
  /** The job with its deadlines applied (null: none). */
  get(): Promise<Job | null>;
  /** The job rebuilt from its kept result (null: none). */
  archived(): Promise<Job | null>;
  view(): Promise<JobView | null>;
  create(
    jobId: string,
    tape: TapeInfo,
    cancelTokenHash: string,
    why: "post" | "redrive",
    client: string | null,
    claimant: string | null,
  ): Promise<CreateResult>;
}

/**
 * The whole intake of a tape inside its job's object, in one call from the front door: decide
 * (src/core/intake.ts), let a kept proof answer, take the client's place (its ClientQuota shard, not the
 * dispatcher: the dispatcher learns of the job when its queue message is delivered), create the
 * attempt and enqueue it, and return what the answer shows. A place taken is given back when the
 * attempt is not accepted after all (object or queue failure).
 */
export async function jobIntake(host: IntakeHost, input: IntakeInput): Promise<IntakeResult> {
  const decision = decideIntake(await host.get());
  if (decision.kind === "existing") {
    return { kind: "existing", job: decision.job, view: await bestView(host) };
  }
  if (decision.kind === "new_job" && (await host.archived())) {
    const view = await host.view();
    if (view) return { kind: "kept", view };
  }
  if (!input.tapeStored) return { kind: "tape_not_stored" };
  const { jobId } = input;
  const client = input.client ?? (decision.kind === "new_attempt" ? decision.job.client : null);
  if (client) {
    const place = await reserve(host.env, client, jobId, input.cap);
    if (!place.ok) return { kind: "too_many_waiting", live: place.live };
  }
  const { tape, cancelTokenHash, why, claimant } = input;
  let created: CreateResult;
  try {
    created = await host.create(jobId, tape, cancelTokenHash, why, input.client, claimant);
  } catch (e) {
    await releaseClientPlace(host.env, client, jobId);
    throw e;
  }
  switch (created.kind) {
    case "enqueue_failed":
      await releaseClientPlace(host.env, client, jobId);
      return created;
    case "exists":
      // An identical post created it meanwhile: the place is that attempt's (same job id).
      return { kind: "existing", job: created.job, view: await bestView(host) };
    case "created":
      return { kind: "created", job: created.job, view: await bestView(host) };
  }
}

/**
 * The client's place for the attempt. If its ClientQuota cannot say, the tape is let through (as
 * with the rate limiter: a player's proof matters more than a perfect count).
 */
async function reserve(
  env: Env,
  client: string,
  jobId: string,
  cap: number | null,
): Promise<Reservation> {
  try {
    return await clientQuotaOf(env, client).reserve(client, jobId, cap);
  } catch (e) {
    console.error(JSON.stringify({ event: "reserve_failed", jobId, error: String(e) }));
    return { ok: true };
  }
}

/** The job's view for its ETA (best effort: an intake never fails for want of one). */
async function bestView(host: IntakeHost): Promise<JobView | null> {
  try {
    return await host.view();
  } catch {
    return null;
  }
}
