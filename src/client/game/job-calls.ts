/** The game's calls on a proof job: submit, read, cancel. */
import { GatewayError } from "../errors.ts";
import { isJob, isRecord } from "../parse.ts";
import { asProofError, badResponse, call, jobPath, ProofApiError } from "./http.ts";
import { ENDED, publicJobOf, viewOf } from "./job.ts";
import {
  ACTIVE_KEY,
  current,
  dropToken,
  GAME_API_TIMEOUT_MS,
  keep,
  recall,
  store,
} from "./settings.ts";
import type { GetProofJobResponse, ProofJobPublic, SubmitProofJobResponse } from "./types.ts";

/**
 * `POST /api/proofs/jobs` with the tape and `x-claimant-address` (sent when not blank; the
 * gateway checks it is a `G…`/`C…` address). A `202` starts an attempt: its cancel token is kept
 * (memory and storage) for `cancelProofJob`; a `200` means the same tape's job already exists
 * (no token: the one kept from its `202`, if any, stays). The address is remembered as the
 * claim's `claimantAddress` until the gateway names one. Errors: the gateway's code and message
 * (`zero_score: …`, `too_many_waiting: …`, `rate_limited: …`), status 0 past 30 s.
 */
export async function submitProofJob(
  tapeBytes: Uint8Array,
  claimantAddress: string,
): Promise<SubmitProofJobResponse> {
  try {
    const claimant = claimantAddress.trim();
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    if (claimant) headers["x-claimant-address"] = claimant;
    const { status, body } = await call(
      "/api/proofs/jobs",
      // A copy: fetch takes views of an ArrayBuffer only, and the caller may reuse its bytes.
      { method: "POST", headers, body: new Uint8Array(tapeBytes) },
      GAME_API_TIMEOUT_MS.submit,
    );
    if (!isRecord(body) || !isJob(body.job)) throw badResponse(status, "job");
    const jobId = body.job.jobId;
    const before = recall(jobId);
    const token = typeof body.cancel_token === "string" ? body.cancel_token : undefined;
    keep(
      jobId,
      token
        ? { token, ...(claimant ? { claimant } : {}) }
        : { ...before, ...(before.claimant || !claimant ? {} : { claimant }) },
    );
    store(ACTIVE_KEY, jobId);
    const statusUrl = typeof body.status_url === "string" ? body.status_url : jobPath(jobId);
    return {
      success: true,
      status_url: `${current().root}${statusUrl}`,
      job: publicJobOf(viewOf(body, body.job)),
    };
  } catch (e) {
    throw asProofError(e);
  }
}

/**
 * `GET /api/proofs/jobs/:jobId`, mapped (see `publicJobOf`). Once the job has ended its kept
 * cancel token is dropped.
 */
export async function getProofJob(jobId: string): Promise<GetProofJobResponse> {
  try {
    return { success: true, job: await fetchJob(jobId) };
  } catch (e) {
    throw asProofError(e);
  }
}

export async function fetchJob(jobId: string): Promise<ProofJobPublic> {
  const { status, body } = await call(jobPath(jobId), { method: "GET" }, GAME_API_TIMEOUT_MS.job);
  if (!isRecord(body) || !isJob(body.job)) throw badResponse(status, "job");
  if (ENDED.has(body.job.status)) dropToken(jobId);
  return publicJobOf(viewOf(body, body.job));
}

/**
 * `DELETE /api/proofs/jobs/:jobId` with `Authorization: Bearer <token>`, the token kept from the
 * `submitProofJob` that started the attempt (in this page, or in this tab's sessionStorage
 * across a reload). No token kept: `ProofApiError` 403 without asking the gateway (only the
 * submitter may cancel). The cancelled job comes back as `failed`. A job that had already ended
 * (`409 job_succeeded` / `job_failed`) is answered as it is, as if the cancel had come too late,
 * so the game shows its end; a wrong token is the gateway's `403 cancel_forbidden`.
 */
export async function cancelProofJob(jobId: string): Promise<GetProofJobResponse> {
  const token = recall(jobId).token;
  if (!token) {
    throw new ProofApiError(
      `cancel_forbidden: this page holds no cancel token for job ${jobId}; only the tab that submitted the tape can cancel it`,
      403,
    );
  }
  try {
    const { status, body } = await call(
      jobPath(jobId),
      { method: "DELETE", headers: { authorization: `Bearer ${token}` } },
      GAME_API_TIMEOUT_MS.cancel,
    );
    if (!isRecord(body) || !isJob(body.job)) throw badResponse(status, "job");
    dropToken(jobId);
    return { success: true, job: publicJobOf(viewOf(body, body.job)) };
  } catch (e) {
    if (e instanceof GatewayError && e.status === 409 && e.job) {
      dropToken(jobId);
      // The 409 carries the job alone: its claim and settlement come with a read.
      const job =
        e.job.status === "succeeded"
          ? await fetchJob(jobId).catch(() => publicJobOf({ job: e.job! }))
          : publicJobOf({ job: e.job });
      return { success: true, job };
    }
    throw asProofError(e);
  }
}
