/**
 * The gateway's player API for the browser game: submit a tape, follow its proof live, fetch the
 * result, cancel. Browser-safe: only fetch, WebSocket, URL, setTimeout and Blob/ArrayBuffer; the
 * core's types come in with `import type` and are erased from the bundle.
 *
 *   const gw = createGatewayClient({ baseUrl: "https://gateway.example" });
 *   const { jobId } = await gw.submit(tapeBytes);
 *   const job = await gw.watch(jobId, ({ job, queue, estimate }) => render(job, queue, estimate)).done;
 *   if (job.status === "succeeded") claim(await gw.result(jobId));
 */
import { errorFrom, GatewayError } from "./errors.ts";
import { estimateFrom, isJob, isRecord, updateFrom } from "./parse.ts";
import type {
  FetchLike,
  GatewayJob,
  JobUpdate,
  ResultDocument,
  SocketConstructor,
  Submission,
} from "./types.ts";
import { watchJob, type Watch, type WatchOptions } from "./watch.ts";

export { GatewayError } from "./errors.ts";
export { isTerminalStatus } from "./parse.ts";
export type * from "./types.ts";
export type { Watch, WatchOptions } from "./watch.ts";

export interface GatewayClientOptions {
  /** The gateway's origin (and path prefix, if any), absolute: `https://gateway.example`. */
  baseUrl: string;
  /** Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Default: the global `WebSocket`; without one, `watch` polls. */
  WebSocket?: SocketConstructor;
}

export interface GatewayClient {
  /**
   * Posts a tape, for `claimant` (a Stellar `G…` account or `C…` contract) when given.
   * `existing`: the same bytes are already queued, proving or proved (no token).
   */
  submit(tape: Uint8Array | ArrayBuffer | Blob, opts?: { claimant?: string }): Promise<Submission>;
  /** The job now, its place in line and its ETA. */
  get(jobId: string): Promise<JobUpdate>;
  /** Follows the job live until it ends; see `Watch`. */
  watch(jobId: string, onUpdate: (update: JobUpdate) => void, opts?: WatchOptions): Watch;
  /** The stored result of a succeeded job (409 `result_not_ready` / `no_result` otherwise). */
  result(jobId: string): Promise<ResultDocument>;
  /** Cancels a queued or proving job with the token `submit` gave; answers the cancelled job. */
  cancel(jobId: string, cancelToken: string): Promise<GatewayJob>;
}

export function createGatewayClient(opts: GatewayClientOptions): GatewayClient {
  let base: URL;
  try {
    base = new URL(opts.baseUrl);
  } catch {
    throw new TypeError(`baseUrl must be an absolute URL, got ${JSON.stringify(opts.baseUrl)}`);
  }
  const root = base.href.replace(/\/+$/, "");
  // Bound: a browser's fetch called as a method of anything but the window throws.
  const doFetch: FetchLike = opts.fetch ?? ((url, init) => globalThis.fetch(url, init));
  const Socket: SocketConstructor | undefined =
    opts.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
  const jobPath = (jobId: string) => `/api/proofs/jobs/${encodeURIComponent(jobId)}`;

  /** The answer's JSON body when it is 2xx, else its GatewayError. */
  async function call(
    path: string,
    init?: RequestInit,
  ): Promise<{ status: number; body: unknown }> {
    let res: Response;
    try {
      res = await doFetch(`${root}${path}`, init);
    } catch (e) {
      throw new GatewayError(
        0,
        "network_error",
        `the gateway could not be reached: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    if (!res.ok) throw await errorFrom(res);
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      throw new GatewayError(res.status, "bad_response", `the gateway's answer is not JSON`);
    }
    return { status: res.status, body };
  }

  const badShape = (status: number, what: string) =>
    new GatewayError(status, "bad_response", `the gateway's answer has no ${what}`);

  async function get(jobId: string): Promise<JobUpdate> {
    const { status, body } = await call(jobPath(jobId));
    const update = updateFrom(body);
    if (!update) throw badShape(status, "job");
    return update;
  }

  const socketUrl = (jobId: string) => {
    const url = new URL(`${root}${jobPath(jobId)}/ws`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  };

  return {
    async submit(tape, submitOpts) {
      const headers: Record<string, string> = { "content-type": "application/octet-stream" };
      if (submitOpts?.claimant) headers["x-claimant-address"] = submitOpts.claimant;
      const { status, body } = await call("/api/proofs/jobs", {
        method: "POST",
        headers,
        body: bodyOf(tape),
      });
      if (!isRecord(body) || !isJob(body.job)) throw badShape(status, "job");
      const cancelToken = typeof body.cancel_token === "string" ? body.cancel_token : null;
      const estimate = estimateFrom(body.estimate);
      return {
        jobId: body.job.jobId,
        cancelToken,
        job: body.job,
        existing: status === 200,
        estimate,
      };
    },

    get,

    watch(jobId, onUpdate, watchOpts) {
      return watchJob(
        { get, socketUrl: socketUrl(jobId), WebSocket: Socket },
        jobId,
        onUpdate,
        watchOpts,
      );
    },

    async result(jobId) {
      const { status, body } = await call(`${jobPath(jobId)}/result`);
      if (!isRecord(body) || typeof body.jobId !== "string") throw badShape(status, "result");
      return body as unknown as ResultDocument;
    },

    async cancel(jobId, cancelToken) {
      const { status, body } = await call(jobPath(jobId), {
        method: "DELETE",
        headers: { authorization: `Bearer ${cancelToken}` },
      });
      if (!isRecord(body) || !isJob(body.job)) throw badShape(status, "job");
      return body.job;
    },
  };
}

/** fetch takes views of an ArrayBuffer only: one of a SharedArrayBuffer is copied. */
function bodyOf(tape: Uint8Array | ArrayBuffer | Blob): BodyInit {
  if (!(tape instanceof Uint8Array)) return tape;
  return tape.buffer instanceof ArrayBuffer
    ? (tape as Uint8Array<ArrayBuffer>)
    : new Uint8Array(tape);
}
