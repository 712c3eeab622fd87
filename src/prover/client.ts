import * as z from "zod";
import type { Config } from "../core/config.ts";
import type { JobError } from "../core/job.ts";
import type { Journal } from "../core/job.ts";
import type { PollOutcome, SubmitOutcome } from "../core/lifecycle.ts";
import type { CleanupOutcome } from "../core/prover-cleanup.ts";
import { apiKeyFor, type HealthReading } from "../core/fleet.ts";
import { RULES_DIGEST_AST3 } from "../core/tape.ts";

/**
 * The prover's HTTP contract (shared/PROVER_API.md). Every reply is status-checked and
 * zod-parsed, then classified here, once, into the outcomes the lifecycle core understands;
 * nothing else in the gateway looks at prover status codes or bodies.
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

type Reply = { status: number; text: string } | { error: JobError };

export interface SubmitOptions {
  receiptKind: string;
  segmentLimitPo2: number;
  verifyMode: string;
}

type ClientConfig = Pick<
  Config,
  "proverBaseUrl" | "proverApiKey" | "proverApiKeys" | "requestTimeoutMs" | "proverExpectedImageId"
>;

export class ProverClient {
  readonly #cfg: ClientConfig;
  readonly #baseUrl: string;
  /** `baseUrl`: which prover (the dispatcher's choice); PROVER_BASE_URL when not given. */
  constructor(cfg: ClientConfig, baseUrl: string = cfg.proverBaseUrl) {
    this.#cfg = cfg;
    this.#baseUrl = baseUrl.replace(/\/+$/, "");
  }

  /** POST /api/jobs/prove-tape/raw */
  async submit(tape: Uint8Array, opts: SubmitOptions): Promise<SubmitOutcome> {
    const q = new URLSearchParams({
      receipt_kind: opts.receiptKind,
      segment_limit_po2: String(opts.segmentLimitPo2),
      verify_mode: opts.verifyMode,
    });
    const reply = await this.#request("POST", `/api/jobs/prove-tape/raw?${q}`, tape);
    if ("error" in reply) return { kind: "transient", error: reply.error };
    const { status, text } = reply;
    if (status === 202 || status === 200) {
      const ok = submitAccepted.safeParse(parseJson(text));
      return ok.success
        ? { kind: "accepted", proverJobId: ok.data.job_id }
        : { kind: "transient", error: badReply(status, "the submit reply has no job_id") };
    }
    const body = errorBody.safeParse(parseJson(text));
    const code = body.success ? body.data.error_code : undefined;
    const message = (body.success ? body.data.error : undefined) ?? `HTTP ${status}`;
    if (status === 429) return { kind: "busy", error: { code: code ?? "prover_busy", message } };
    if (status === 400)
      return { kind: "rejected", error: { code: code ?? "bad_request", message } };
    return { kind: "transient", error: httpError(status, code, message) };
  }

  /** GET /api/jobs/{id} */
  async status(proverJobId: string): Promise<PollOutcome> {
    const reply = await this.#request("GET", `/api/jobs/${encodeURIComponent(proverJobId)}`);
    if ("error" in reply) return { kind: "transient", error: reply.error };
    const { status, text } = reply;
    const json = parseJson(text);
    if (status === 404) {
      const body = errorBody.safeParse(json);
      if (body.success && body.data.error_code === "job_not_found") return { kind: "lost" };
      return {
        kind: "transient",
        error: httpError(status, undefined, "unexpected 404 from the prover"),
      };
    }
    if (status !== 200) {
      const body = errorBody.safeParse(json);
      return {
        kind: "transient",
        error: httpError(
          status,
          body.success ? body.data.error_code : undefined,
          (body.success && body.data.error) || `HTTP ${status}`,
        ),
      };
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
      case "failed":
        return {
          kind: "failed",
          error: {
            code: job.error_code ?? "unknown_failure",
            message: job.error ?? "no reason given",
          },
        };
      case "succeeded": {
        const proof = job.result?.proof;
        const journal = journalSchema.safeParse(proof?.journal);
        return {
          kind: "succeeded",
          journal: journal.success ? (journal.data satisfies Journal) : null,
          receiptKind: proof?.produced_receipt_kind ?? proof?.requested_receipt_kind ?? "unknown",
          segments: proof?.stats?.segments ?? null,
          elapsedMs: job.result?.elapsed_ms ?? null,
          document: job,
        };
      }
    }
  }

  /** DELETE /api/jobs/{id}: 409 `job_active` while the proof still runs (it cannot be stopped). */
  async delete(proverJobId: string): Promise<CleanupOutcome> {
    const reply = await this.#request("DELETE", `/api/jobs/${encodeURIComponent(proverJobId)}`);
    if ("error" in reply) return "error";
    if (reply.status === 200) return "deleted";
    const body = errorBody.safeParse(parseJson(reply.text));
    const code = body.success ? body.data.error_code : undefined;
    if (reply.status === 404 && code === "job_not_found") return "gone";
    if (reply.status === 409) return "active";
    return "error";
  }

  /** GET /health, judged against what this gateway needs (AST3 rules, pinned image id). */
  async health(): Promise<ProverHealth> {
    const reply = await this.#request("GET", "/health");
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
    const parsed = healthSchema.safeParse(parseJson(reply.text));
    if (!parsed.success) return down("GET /health did not answer in the prover's format");
    const h = parsed.data;
    const problems: string[] = [];
    if (h.ruleset !== "AST3") problems.push(`ruleset is ${h.ruleset ?? "missing"}, expected AST3`);
    if (h.rules_digest !== RULES_DIGEST_AST3)
      problems.push(`rules_digest is ${h.rules_digest ?? "missing"}, expected 0x41535433`);
    if (!h.image_id || !/^[0-9a-fA-F]{64}$/.test(h.image_id))
      problems.push("image_id is not 32-byte hex");
    else if (
      this.#cfg.proverExpectedImageId &&
      h.image_id.toLowerCase() !== this.#cfg.proverExpectedImageId
    ) {
      problems.push(`image_id ${h.image_id} is not the pinned PROVER_EXPECTED_IMAGE_ID`);
    }
    const compatible = problems.length === 0;
    if (h.accelerator === "cpu")
      problems.push("accelerator is cpu: the GPU is gone, proofs will be far too slow");
    return {
      reachable: true,
      compatible,
      problems,
      accelerator: h.accelerator ?? null,
      imageId: h.image_id ?? null,
      devMode: h.dev_mode ?? null,
      busy:
        h.queued_jobs !== undefined && h.running_jobs !== undefined
          ? h.queued_jobs + h.running_jobs > 0
          : null,
    };
  }

  async #request(method: string, path: string, body?: Uint8Array): Promise<Reply> {
    const headers = new Headers();
    const key = apiKeyFor(this.#cfg, this.#baseUrl);
    if (key) headers.set("x-api-key", key);
    if (body) headers.set("content-type", "application/octet-stream");
    try {
      const res = await fetch(`${this.#baseUrl}${path}`, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.#cfg.requestTimeoutMs),
      });
      return { status: res.status, text: await res.text() };
    } catch (e) {
      const timedOut = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError");
      return {
        error: timedOut
          ? {
              code: "prover_timeout",
              message: `the prover did not answer ${method} ${path.split("?")[0]} within ${this.#cfg.requestTimeoutMs} ms`,
            }
          : {
              code: "prover_unreachable",
              message: `could not reach the prover: ${e instanceof Error ? e.message : String(e)}`,
            },
      };
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function badReply(status: number, why: string): JobError {
  return { code: "prover_bad_reply", message: `${why} (HTTP ${status})` };
}

function httpError(status: number, code: string | undefined, message: string): JobError {
  if (status === 401)
    return {
      code: "prover_unauthorized",
      message: "the prover refused the API key (check PROVER_API_KEY)",
    };
  return {
    code: status >= 500 ? "prover_unavailable" : "prover_bad_reply",
    message: `${message} (HTTP ${status}${code ? `, ${code}` : ""})`,
  };
}
