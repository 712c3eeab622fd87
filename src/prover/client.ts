import * as z from "zod";
import type { Config } from "../core/config.ts";
import type { JobError, Journal } from "../core/job.ts";
import type { PollOutcome, SubmitOutcome } from "../core/lifecycle.ts";
import type { CleanupOutcome } from "../core/prover-cleanup.ts";
import { CLAMP, clampCode, clampText, isSafeJobId } from "./clamp.ts";
import { healthReadingOf, type ProverHealth } from "./health-reading.ts";
import type { ReplyRoute } from "./reply.ts";
import { badReply, request } from "./transport.ts";

/**
 * The prover's HTTP contract (shared/PROVER_API.md). Every reply is status-checked and
 * zod-parsed, then classified here, once, into the outcomes the lifecycle core understands;
 * nothing else in the gateway looks at prover status codes or bodies.
 *
 * A prover is untrusted, so the conversation is bounded and private (src/prover/transport.ts):
 * each reply is read up to its route's byte cap (src/prover/reply.ts), a redirect is never
 * followed, every string taken from a reply is clamped (src/prover/clamp.ts), and the prover's
 * own key (src/prover/keys.ts) goes only on `/api/*` calls, never on the open `/health`. A reply
 * over its cap, a redirect or an unsafe job id is a transport failure, like an unreadable reply.
 * A `/health` reply is judged in src/prover/health-reading.ts.
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

  /** GET /health, judged against what this gateway needs (src/prover/health-reading.ts). */
  async health(): Promise<ProverHealth> {
    return healthReadingOf(await this.#request("health", "GET", "/health"), this.#cfg);
  }

  #request(route: ReplyRoute, method: string, path: string, body?: Uint8Array<ArrayBuffer>) {
    return request(this.#cfg, this.#baseUrl, this.#apiKey, { route, method, path, body });
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
