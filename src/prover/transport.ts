import type { Config } from "../core/config.ts";
import type { JobError } from "../core/job.ts";
import { clampJson, clampText } from "./clamp.ts";
import { discard, readCapped, replyCap, type ReplyRoute } from "./reply.ts";

/**
 * One bounded call to a prover (src/prover/client.ts classifies what comes back): the key only
 * on `/api/*`, a redirect never followed, the reply read up to its route's byte cap
 * (src/prover/reply.ts) and its strings clamped (src/prover/clamp.ts). A failure is a value
 * (`{ error }`: redirected, too large, nested too deeply, timed out, unreachable), never thrown.
 */

/** A reply: its status and JSON body (strings clamped; `raw`: as sent, for strict checks). */
export type Reply = { status: number; json: unknown; raw: unknown } | { error: JobError };

export type TransportConfig = Pick<Config, "requestTimeoutMs" | "receiptKind">;

/** What to send: `route` picks the reply's cap (and whether the key goes along). */
export interface Call {
  route: ReplyRoute;
  method: string;
  path: string;
  body?: Uint8Array<ArrayBuffer>;
}

/**
 * One call to the prover: the key only on `/api/*`, redirects not followed, the reply read up
 * to `route`'s cap and parsed (`json` with every string clamped). Never throws.
 */
export async function request(
  cfg: TransportConfig,
  baseUrl: string,
  apiKey: string | undefined,
  { route, method, path, body }: Call,
): Promise<Reply> {
  const where = `${method} ${path.split("?")[0]}`;
  const headers = new Headers();
  // `/health` is open (the contract): a key there would go to whoever answers it.
  if (apiKey && route !== "health") headers.set("x-api-key", apiKey);
  if (body) headers.set("content-type", "application/octet-stream");
  try {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body,
      // A redirect would carry the request, key and tape included, wherever the prover says.
      redirect: "manual",
      signal: AbortSignal.timeout(cfg.requestTimeoutMs),
    });
    if (res.status >= 300 && res.status < 400) {
      await discard(res);
      return {
        error: {
          code: "prover_redirected",
          message: `the prover answered ${where} with HTTP ${res.status}: redirects are never followed`,
        },
      };
    }
    const cap = replyCap(route, cfg);
    const read = await readCapped(res, cap);
    if ("tooLarge" in read) {
      return {
        error: {
          code: "prover_reply_too_large",
          message: `the prover's reply to ${where} (HTTP ${res.status}) is over ${cap} bytes: not read`,
        },
      };
    }
    const raw = parseJson(read.text);
    const clamped = clampJson(raw);
    if (!clamped) {
      return { error: badReply(res.status, `the reply to ${where} nests too deeply`) };
    }
    return { status: res.status, json: clamped.value, raw };
  } catch (e) {
    const timedOut = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError");
    return {
      error: timedOut
        ? {
            code: "prover_timeout",
            message: `the prover did not answer ${where} within ${cfg.requestTimeoutMs} ms`,
          }
        : {
            code: "prover_unreachable",
            message: clampText(
              `could not reach the prover: ${e instanceof Error ? e.message : String(e)}`,
            ),
          },
    };
  }
}

/** The reply as JSON; undefined when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A reply that is not what the contract says: the prover's fault, a transport failure. */
export function badReply(status: number, why: string): JobError {
  return { code: "prover_bad_reply", message: `${why} (HTTP ${status})` };
}
