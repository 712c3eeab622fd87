import * as z from "zod";
import type { Config } from "../core/config.ts";
import type { JobError } from "../core/job.ts";
import type { Journal } from "../core/job.ts";
import type { PollOutcome, SubmitOutcome } from "../core/lifecycle.ts";
import type { CleanupOutcome } from "../core/prover-cleanup.ts";
import type { HealthReading } from "../core/fleet.ts";
import { RULES_DIGEST_AST3 } from "../core/tape.ts";
import { CLAMP, clampCode, clampJson, clampText, isSafeJobId } from "./clamp.ts";
import { discard, readCapped, replyCap, type ReplyRoute } from "./reply.ts";

/**
 * The prover's HTTP contract (shared/PROVER_API.md). Every reply is status-checked and
 * zod-parsed, then classified here, once, into the outcomes the lifecycle core understands;
 * nothing else in the gateway looks at prover status codes or bodies.
 *
 * A prover is untrusted, so the conversation is bounded and private: each reply is read up to
 * its route's byte cap (src/prover/reply.ts), a redirect is never followed, every string taken
 * from a reply is clamped (src/prover/clamp.ts), and the prover's own key (src/prover/keys.ts)
 * goes only on `/api/*` calls, never on the open `/health`. A reply over its cap, a redirect or
 * an unsafe job id is a transport failure, like an unreadable reply.
 */

const errorBody = z
  .object({ error: z.string().optional(), error_code: z.string().optional() })
  .loose();

const submitAccepted = z.object({ job_id: z.string().min(1) }).loose();

const journalSchema = z.object({
  seed: z.number().int(),
  frame_count: z.number().int(),
  final_score: z.number().int(),
  final_rng_state: z.number().int(),
  tape_checksum: z.number().int(),
  rules_digest: z.number().int(),
});

const jobStatus = z
  .object({
    job_id: z.string(),
    status: z.enum(["queued", "running", "succeeded", "failed"]),
    result: z
      .object({
        proof: z
          .object({
            journal: z.unknown(),
            receipt: z.unknown(),
            requested_receipt_kind: z.string().optional(),
            produced_receipt_kind: z.string().optional(),
            stats: z.object({ segments: z.number().int().optional() }).loose().optional(),
          })
          .loose(),
        elapsed_ms: z.number().optional(),
      })
      .loose()
      .optional(),
    error: z.string().optional(),
    error_code: z.string().optional(),
  })
  .loose();

export type ProverJobStatus = z.infer<typeof jobStatus>;

const healthSchema = z
  .object({
    status: z.string(),
    accelerator: z.string().optional(),
    image_id: z.string().optional(),
    rules_digest: z.number().optional(),
    ruleset: z.string().optional(),
    dev_mode: z.boolean().optional(),
    queued_jobs: z.number().optional(),
    running_jobs: z.number().optional(),
    max_tape_bytes: z.number().optional(),
  })
  .loose();

/** A `/health` reading as the fleet judges it (src/core/fleet.ts), and whether it is busy now. */
export interface ProverHealth extends HealthReading {
  busy: boolean | null;
}

/** A reply: its status and JSON body (strings clamped; `raw`: as sent, for strict checks). */
type Reply = { status: number; json: unknown; raw: unknown } | { error: JobError };

export interface SubmitOptions {
  receiptKind: string;
  segmentLimitPo2: number;
  verifyMode: string;
}

type ClientConfig = Pick<
  Config,
  "proverBaseUrl" | "requestTimeoutMs" | "proverExpectedImageId" | "receiptKind"
>;

export class ProverClient {
  readonly #cfg: ClientConfig;
  readonly #baseUrl: string;
  readonly #apiKey: string | undefined;
  /**
   * `baseUrl`: which prover (the dispatcher's choice); PROVER_BASE_URL when not given. `apiKey`:
   * that prover's key for `/api/*` (src/prover/keys.ts `keyFor`); none when not given.
   */
  constructor(cfg: ClientConfig, baseUrl: string = cfg.proverBaseUrl, apiKey?: string) {
    this.#cfg = cfg;
    this.#baseUrl = baseUrl.replace(/\/+$/, "");
    this.#apiKey = apiKey;
  }

  /** POST /api/jobs/prove-tape/raw */
  async submit(tape: Uint8Array<ArrayBuffer>, opts: SubmitOptions): Promise<SubmitOutcome> {
    const q = new URLSearchParams({
      receipt_kind: opts.receiptKind,
      segment_limit_po2: String(opts.segmentLimitPo2),
      verify_mode: opts.verifyMode,
    });
    const reply = await this.#request("submit", "POST", `/api/jobs/prove-tape/raw?${q}`, tape);
    if ("error" in reply) return { kind: "transient", error: reply.error };
    const { status, json, raw } = reply;
    if (status === 202 || status === 200) {
      // The id as sent, not clamped: a token is either safe as it is or refused.
      const ok = submitAccepted.safeParse(raw);
      if (!ok.success)
        return { kind: "transient", error: badReply(status, "the submit reply has no job_id") };
      // It goes into URLs: anything but a plain token is a broken (or hostile) reply.
      if (!isSafeJobId(ok.data.job_id))
        return {
          kind: "transient",
          error: badReply(status, "the submit reply's job_id is not a URL-safe token"),
        };
      return { kind: "accepted", proverJobId: ok.data.job_id };
    }
    const { code, message: said } = errorOf(json);
    const message = said ?? `HTTP ${status}`;
    if (status === 429) return { kind: "busy", error: { code: code ?? "prover_busy", message } };
    if (status === 400)
      return { kind: "rejected", error: { code: code ?? "bad_request", message } };
    return { kind: "transient", error: httpError(status, code, message) };
  }

  /** GET /api/jobs/{id} */
  async status(proverJobId: string): Promise<PollOutcome> {
    const path = `/api/jobs/${encodeURIComponent(proverJobId)}`;
    const reply = await this.#request("status", "GET", path);
    if ("error" in reply) return { kind: "transient", error: reply.error };
    const { status, json } = reply;
    if (status === 404) {
      if (errorOf(json).code === "job_not_found") return { kind: "lost" };
      return {
        kind: "transient",
        error: httpError(status, undefined, "unexpected 404 from the prover"),
      };
    }
    if (status !== 200) {
      const { code, message } = errorOf(json);
      return { kind: "transient", error: httpError(status, code, message || `HTTP ${status}`) };
    }
    const parsed = jobStatus.safeParse(json);
    if (!parsed.success)
      return {
        kind: "transient",
        error: badReply(status, "the job status reply is not in the prover's format"),
      };
    const job = parsed.data;
    switch (job.status) {
      case "queued":
      case "running":
        return { kind: "pending", status: job.status };
      case "failed": {
        const { code, message } = errorOf(job);
        return {
          kind: "failed",
          error: { code: code ?? "unknown_failure", message: message || "no reason given" },
        };
      }
      case "succeeded": {
        const proof = job.result?.proof;
        const journal = journalSchema.safeParse(proof?.journal);
        const kind = proof?.produced_receipt_kind ?? proof?.requested_receipt_kind;
        return {
          kind: "succeeded",
          journal: journal.success ? (journal.data satisfies Journal) : null,
          receiptKind: (kind && clampCode(kind, 32)) || "unknown",
          segments: proof?.stats?.segments ?? null,
          elapsedMs: job.result?.elapsed_ms ?? null,
          document: job,
        };
      }
    }
  }

  /** DELETE /api/jobs/{id}: 409 `job_active` while the proof still runs (it cannot be stopped). */
  async delete(proverJobId: string): Promise<CleanupOutcome> {
    const path = `/api/jobs/${encodeURIComponent(proverJobId)}`;
    const reply = await this.#request("delete", "DELETE", path);
    if ("error" in reply) return "error";
    if (reply.status === 200) return "deleted";
    if (reply.status === 404 && errorOf(reply.json).code === "job_not_found") return "gone";
    if (reply.status === 409) return "active";
    return "error";
  }

  /** GET /health, judged against what this gateway needs (AST3 rules, pinned image id). */
  async health(): Promise<ProverHealth> {
    const reply = await this.#request("health", "GET", "/health");
    const down = (problem: string): ProverHealth => ({
      reachable: false,
      compatible: false,
      problems: [problem],
      accelerator: null,
      imageId: null,
      devMode: null,
      busy: null,
    });
    if ("error" in reply) return down(reply.error.message);
    if (reply.status !== 200) return down(`GET /health answered HTTP ${reply.status}`);
    const parsed = healthSchema.safeParse(reply.json);
    if (!parsed.success) return down("GET /health did not answer in the prover's format");
    const h = parsed.data;
    // Every string of the reading is clamped: it is stored, shown to operators and logged.
    const ruleset = h.ruleset === undefined ? undefined : clampText(h.ruleset, CLAMP.code);
    const imageId = h.image_id === undefined ? undefined : clampText(h.image_id, CLAMP.field);
    const accelerator =
      h.accelerator === undefined ? undefined : clampText(h.accelerator, CLAMP.code);
    const problems: string[] = [];
    if (ruleset !== "AST3") problems.push(`ruleset is ${ruleset ?? "missing"}, expected AST3`);
    if (h.rules_digest !== RULES_DIGEST_AST3)
      problems.push(`rules_digest is ${h.rules_digest ?? "missing"}, expected 0x41535433`);
    if (!imageId || !/^[0-9a-fA-F]{64}$/.test(imageId))
      problems.push("image_id is not 32-byte hex");
    else if (
      this.#cfg.proverExpectedImageId &&
      imageId.toLowerCase() !== this.#cfg.proverExpectedImageId
    ) {
      problems.push(`image_id ${imageId} is not the pinned PROVER_EXPECTED_IMAGE_ID`);
    }
    const compatible = problems.length === 0;
    if (accelerator === "cpu")
      problems.push("accelerator is cpu: the GPU is gone, proofs will be far too slow");
    return {
      reachable: true,
      compatible,
      problems,
      accelerator: accelerator ?? null,
      imageId: imageId ?? null,
      devMode: h.dev_mode ?? null,
      busy:
        h.queued_jobs !== undefined && h.running_jobs !== undefined
          ? h.queued_jobs + h.running_jobs > 0
          : null,
    };
  }

  /**
   * One call to the prover: the key only on `/api/*`, redirects not followed, the reply read up
   * to `route`'s cap and parsed (`json` with every string clamped). Never throws.
   */
  async #request(
    route: ReplyRoute,
    method: string,
    path: string,
    body?: Uint8Array<ArrayBuffer>,
  ): Promise<Reply> {
    const where = `${method} ${path.split("?")[0]}`;
    const headers = new Headers();
    // `/health` is open (the contract): a key there would go to whoever answers it.
    if (this.#apiKey && route !== "health") headers.set("x-api-key", this.#apiKey);
    if (body) headers.set("content-type", "application/octet-stream");
    try {
      const res = await fetch(`${this.#baseUrl}${path}`, {
        method,
        headers,
        body,
        // A redirect would carry the request, key and tape included, wherever the prover says.
        redirect: "manual",
        signal: AbortSignal.timeout(this.#cfg.requestTimeoutMs),
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
      const cap = replyCap(route, this.#cfg);
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
              message: `the prover did not answer ${where} within ${this.#cfg.requestTimeoutMs} ms`,
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
}

/** The reply as JSON; undefined when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `error_code` and `error` of a prover's error reply (or failed job), clamped; absent if not. */
function errorOf(json: unknown): { code?: string; message?: string } {
  const body = errorBody.safeParse(json);
  if (!body.success) return {};
  const { error, error_code } = body.data;
  return {
    code: error_code === undefined ? undefined : clampCode(error_code),
    message: error === undefined ? undefined : clampText(error, CLAMP.message),
  };
}

function badReply(status: number, why: string): JobError {
  return { code: "prover_bad_reply", message: `${why} (HTTP ${status})` };
}

function httpError(status: number, code: string | undefined, message: string): JobError {
  if (status === 401)
    return {
      code: "prover_unauthorized",
      message:
        "the prover refused the API key (check its own key, or PROVER_API_KEY(S) for a configured prover)",
    };
  return {
    code: status >= 500 ? "prover_unavailable" : "prover_bad_reply",
    message: `${message} (HTTP ${status}${code ? `, ${code}` : ""})`,
  };
}
