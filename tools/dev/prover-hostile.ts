/**
 * Hostile modes for the dev prover: a whole box that lies, refuses, floods or redirects for as
 * long as the mode is set (not a per-request fault), so the gateway's tests and `npm run chaos
 * -- --hostile MODE` can show that no job ends on one prover's word, no reply is read without a
 * cap and no key follows a redirect.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { RouteKind } from "./prover-faults.ts";

export const HOSTILE_MODES = [
  /** Accepts every tape, proves for the usual time, then reports it `failed: zero_score_not_allowed`. */
  "lie_zero_score",
  /** Accepts every tape, then reports it `failed` with an error code the gateway does not know. */
  "lie_unknown_code",
  /** Answers `400 invalid_tape` to every submission. */
  "reject_all",
  /** Every reply (of a prover route) is the honest JSON followed by hundreds of MB of spaces. */
  "huge_replies",
  /** Every request is answered `302` to a second local listener that counts what reaches it. */
  "redirect",
] as const;

export type HostileMode = (typeof HOSTILE_MODES)[number];

/** The modes that tell a false verdict about a tape (what the gateway must charge). */
export const LYING_MODES: readonly HostileMode[] = [
  "lie_zero_score",
  "lie_unknown_code",
  "reject_all",
];

export function isHostileMode(v: unknown): v is HostileMode {
  return typeof v === "string" && (HOSTILE_MODES as readonly string[]).includes(v);
}

/** The failure a lying mode reports for every job it accepted. */
export const HOSTILE_LIES: Partial<Record<HostileMode, { code: string; error: string }>> = {
  lie_zero_score: { code: "zero_score_not_allowed", error: "replay final score is 0" },
  lie_unknown_code: { code: "device_lost", error: "CUDA device lost while proving" },
};

/** Default size of a `huge_replies` body: hundreds of megabytes, never held in memory. */
export const HUGE_REPLY_BYTES = 300 * 1024 * 1024;
/** A huge reply the client still reads after this long is cut (the server always stops). */
export const HUGE_REPLY_MAX_MS = 120_000;
const PAD = Buffer.alloc(64 * 1024, 0x20);

/** What a hostile box did, for `GET /__dev/stats` (`hostile`). */
export interface HostileStats {
  /** The mode now (null: honest). */
  mode: HostileMode | null;
  /** Replies the mode shaped: a lie, a refusal, a huge body, a redirect. */
  answers: number;
  /**
   * False verdicts told, one per job or submission: a lying failure served at least once, a valid
   * tape refused. What the gateway should charge the box with.
   */
  lies: number;
  /** `huge_replies`: bytes of padding written, and bodies still being written. */
  hugeBytes: number;
  hugeOpen: number;
  /** `huge_replies`: bodies written to their end (a client read one whole), and the most of one. */
  hugeCompleted: number;
  hugeMaxBytes: number;
  /** `redirect`: what reached the second listener (the target of every 302). */
  sink: SinkStats;
}

export interface SinkStats {
  url: string | null;
  requests: number;
  /** Requests that carried `x-api-key` or `authorization` (a leaked key). */
  keyed: number;
  withApiKey: number;
  withAuthorization: number;
  /** Requests by prover route ("health", "submit" …; a submission followed as a GET counts as one). */
  byRoute: Partial<Record<RouteKind, { requests: number; keyed: number }>>;
}

export const freshHostileStats = (mode: HostileMode | null, sinkUrl: string | null) => ({
  mode,
  answers: 0,
  lies: 0,
  hugeBytes: 0,
  hugeOpen: 0,
  hugeCompleted: 0,
  hugeMaxBytes: 0,
  sink: freshSinkStats(sinkUrl),
});
const freshSinkStats = (url: string | null): SinkStats => ({
  url,
  requests: 0,
  keyed: 0,
  withApiKey: 0,
  withAuthorization: 0,
  byRoute: {},
});

/** True when a request carries a key in either of the contract's headers. */
export const carriesKey = (h: IncomingHttpHeaders) =>
  h["x-api-key"] !== undefined || h.authorization !== undefined;

/**
 * Writes `head` (the honest reply) and then spaces up to `total` bytes, lazily: one shared 64 KiB
 * chunk, written only as fast as the client reads. Stops when the client hangs up, the server
 * closes (`stopped()`), or after HUGE_REPLY_MAX_MS. No content-length: a client can only refuse
 * it by counting what it reads.
 */
export async function streamHuge(
  res: ServerResponse,
  status: number,
  type: string,
  head: string,
  total: number,
  stats: HostileStats,
  stopped: () => boolean,
): Promise<void> {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": type });
  res.write(head);
  let left = total - Buffer.byteLength(head);
  let written = Buffer.byteLength(head);
  const deadline = Date.now() + HUGE_REPLY_MAX_MS;
  stats.hugeOpen++;
  try {
    while (left > 0 && !res.destroyed && !stopped() && Date.now() < deadline) {
      const chunk = left >= PAD.length ? PAD : PAD.subarray(0, left);
      left -= chunk.length;
      written += chunk.length;
      stats.hugeBytes += chunk.length;
      stats.hugeMaxBytes = Math.max(stats.hugeMaxBytes, written);
      if (!res.write(chunk)) await drainedOrClosed(res);
    }
    if (left <= 0 && !res.destroyed) {
      res.end();
      // written, not necessarily read: the last chunks may still sit in socket buffers
      await new Promise<void>((resolve) => res.once("close", () => resolve()));
      if (res.writableFinished) stats.hugeCompleted++;
    } else res.destroy();
  } finally {
    stats.hugeOpen--;
  }
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}

/** The second listener of `redirect` mode: counts every request and what it carried. */
export interface RedirectSink {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the redirect target on loopback. It answers `/health` with `healthy()` (so a gateway that
 * follows redirects would go on sending the box work, and its key with it) and everything else
 * `503`.
 */
export function startRedirectSink(
  host: string,
  stats: () => SinkStats,
  routeOf: (method: string, path: string) => RouteKind,
  healthy: () => unknown,
): Promise<RedirectSink> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const s = stats();
      const route = routeOf(req.method ?? "GET", new URL(req.url ?? "/", "http://x").pathname);
      const keyed = carriesKey(req.headers);
      s.requests++;
      if (keyed) s.keyed++;
      if (req.headers["x-api-key"] !== undefined) s.withApiKey++;
      if (req.headers.authorization !== undefined) s.withAuthorization++;
      const r = (s.byRoute[route] ??= { requests: 0, keyed: 0 });
      r.requests++;
      if (keyed) r.keyed++;
      const [status, body] =
        route === "health"
          ? [200, healthy()]
          : [
              503,
              {
                success: false,
                error: "redirect target of a hostile dev prover",
                error_code: "redirect_sink",
              },
            ];
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
      });
      res.end(text);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      resolve({
        url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
