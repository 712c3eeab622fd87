/**
 * Calls to the gateway: the fetch with its time limit and its errors, and the game's error
 * (`ProofApiError`) for whatever went wrong.
 */
import { errorFrom, GatewayError } from "../errors.ts";
import { publicJobOf } from "./job.ts";
import { current } from "./settings.ts";
import type { ProofJobPublic } from "./types.ts";

/**
 * Whatever went wrong. `message` starts with the gateway's error code (`too_many_waiting: …`);
 * `status` is the HTTP status, 0 when there was no answer (a timeout, a network failure).
 * `activeJob`: the job, when the error answer carried one.
 */
export class ProofApiError extends Error {
  readonly status: number;
  readonly activeJob: ProofJobPublic | null;

  constructor(message: string, status: number, activeJob: ProofJobPublic | null = null) {
    super(message);
    this.name = "ProofApiError";
    this.status = status;
    this.activeJob = activeJob;
  }
}

interface Answer {
  status: number;
  body: unknown;
}

/**
 * The JSON body of a 2xx answer; otherwise a GatewayError (status 0 `timeout` past the limit,
 * status 0 `network_error` without an answer).
 */
export async function call(path: string, init: RequestInit, timeoutMs: number): Promise<Answer> {
  const { root, fetch } = current();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const timeout = () =>
    new GatewayError(0, "timeout", `the gateway did not answer within ${timeoutMs / 1000} s`);
  try {
    let res: Response;
    try {
      res = await fetch(`${root}${path}`, { ...init, signal: controller.signal });
    } catch (e) {
      if (timedOut) throw timeout();
      throw new GatewayError(
        0,
        "network_error",
        `the gateway could not be reached: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    if (!res.ok) {
      const error = await errorFrom(res);
      throw timedOut ? timeout() : error;
    }
    try {
      return { status: res.status, body: await res.json() };
    } catch {
      throw timedOut
        ? timeout()
        : new GatewayError(res.status, "bad_response", "the gateway's answer is not JSON");
    }
  } finally {
    clearTimeout(timer);
  }
}

/** The game's error for anything `call` or a mapping threw. */
export function asProofError(e: unknown): ProofApiError {
  if (e instanceof ProofApiError) return e;
  if (e instanceof GatewayError) {
    const job = e.job ? publicJobOf({ job: e.job }) : null;
    return new ProofApiError(`${e.code}: ${e.message}`, e.status, job);
  }
  return new ProofApiError(`client_error: ${e instanceof Error ? e.message : String(e)}`, 0);
}

export const badResponse = (status: number, what: string) =>
  new ProofApiError(`bad_response: the gateway's answer has no ${what}`, status);

export const jobPath = (jobId: string) => `/api/proofs/jobs/${encodeURIComponent(jobId)}`;
