/**
 * The dev prover's job store and state machine (queued → running → succeeded | failed),
 * computed from timestamps so a poll at any moment sees exactly what the real server would show,
 * plus one timer per job for the side effects (a lost job disappearing, a proof timeout killing the
 * server).
 */
import { createHash, randomUUID } from "node:crypto";
import type { Journal } from "../../src/core/job.ts";
import { RULES_DIGEST_AST3, type TapeFacts } from "../../src/core/tape.ts";
import { receiptKey, type RealReceipts } from "./fixture-receipts.ts";
import type { JobFaultKind } from "./prover-faults.ts";

export type ReceiptKind = "composite" | "succinct" | "groth16";
export type JobStatus = "queued" | "running" | "succeeded" | "failed";

/** The submit options as the real server echoes them in `options`. */
export interface JobOptions {
  max_frames: number;
  receipt_kind: ReceiptKind;
  segment_limit_po2: number;
  proof_mode: "dev" | "secure";
  verify_mode: "verify" | "policy";
  accelerator: "cuda" | "cpu";
}

/** Timings fixed when the job is accepted (later `configure` calls do not change running jobs). */
export interface JobTimings {
  queuedMs: number;
  proofMs: number;
  runningJobTimeoutMs: number;
}

/** The journal a proof commits to: the same shape the gateway checks (src/core/job.ts). */
export type { Journal };

/** One job as `JobStore.list` shows it (for tests and the chaos run's report). */
export interface StoredJob {
  id: string;
  status: JobStatus;
  /** The tape it proves: which gateway job it is for (seed and checksum tell tapes apart). */
  facts: TapeFacts;
  createdAt: number;
  finishedAt: number | null;
  errorCode: string | null;
}

interface Job {
  id: string;
  facts: TapeFacts;
  options: JobOptions;
  timings: JobTimings;
  fate: JobFaultKind | null;
  /** A hostile box's false verdict, reported when the proof would have succeeded. */
  lie: { code: string; error: string } | null;
  createdAt: number;
  status: JobStatus;
  startedAt?: number;
  finishedAt?: number;
  error?: string;
  errorCode?: string;
  timer?: ReturnType<typeof setTimeout>;
}

export interface JobStoreHooks {
  /** A job failed `proof_timeout` at `at` (ms): the server must abort itself later. */
  onProofTimeout(jobId: string, at: number): void;
  /** A job left the queue and began proving at `at` (ms): for the stats timeline. */
  onStarted?(jobId: string, at: number): void;
  /** A job finished (or was forgotten): for stats and logs. */
  onFinished(
    jobId: string,
    outcome: "succeeded" | "failed" | "lost",
    errorCode: string | undefined,
    at: number,
  ): void;
}

const FAILURES: Partial<Record<JobFaultKind, { code: string; error: string }>> = {
  fail_proof_error: {
    code: "proof_error",
    error: "prover failed: segment proving error (injected)",
  },
  fail_oom: {
    code: "proof_error",
    error: "prover failed: out of memory: allocation failed on device (injected)",
  },
  fail_internal_error: { code: "internal_error", error: "worker join error (injected)" },
  fail_server_restarted: {
    code: "server_restarted",
    error: "server restarted while the job was running",
  },
  fail_proof_timeout: {
    code: "proof_timeout",
    error: "proof exceeded RUNNING_JOB_TIMEOUT (injected)",
  },
  fail_zero_score: { code: "zero_score_not_allowed", error: "replay final score is 0 (injected)" },
  fail_unknown: { code: "mystery_failure", error: "something unexpected happened (injected)" },
};

/** The journal a real proof of this tape commits to. */
export function journalFor(f: TapeFacts): Journal {
  return {
    seed: f.seed,
    frame_count: f.frameCount,
    final_score: f.finalScore,
    final_rng_state: f.finalRngState,
    tape_checksum: f.checksum,
    rules_digest: RULES_DIGEST_AST3,
  };
}

function journalBytes(j: Journal): number[] {
  const b = new Uint8Array(24);
  const v = new DataView(b.buffer);
  [
    j.seed,
    j.frame_count,
    j.final_score,
    j.final_rng_state,
    j.tape_checksum,
    j.rules_digest,
  ].forEach((n, i) => v.setUint32(i * 4, n >>> 0, true));
  return [...b];
}

function fakeStats(frames: number, po2: number) {
  const user = 50_000 + frames * 560;
  const paging = Math.floor(user / 10);
  const total = 2 ** Math.ceil(Math.log2(user + paging + 1));
  return {
    segments: Math.max(1, Math.ceil(total / 2 ** po2)),
    total_cycles: total,
    user_cycles: user,
    paging_cycles: paging,
    reserved_cycles: total - user - paging,
  };
}

/** RISC Zero's v3.0.0 Groth16 verifier parameters digest as the receipt carries it: 8 u32 LE. */
const VERIFIER_PARAMETERS = (() => {
  const b = Buffer.from("73c457ba541936f0d907daf0c7253a39a9c5c427c225ba7709e44702d3c6eedc", "hex");
  return Array.from({ length: 8 }, (_, i) => b.readUInt32LE(4 * i));
})();

/**
 * A receipt in risc0's serde form (groth16: `inner.Groth16.seal`, 256 bytes). For a tape a real
 * GPU receipt is known for (`real`, from ../shared/fixtures) it is that receipt, which verifies;
 * otherwise the seal is hash noise that does not (a fake, as a dev-mode prover's are).
 */
function receiptFor(
  kind: ReceiptKind,
  journal: Journal,
  imageId: string,
  segments: number,
  real: number[] | undefined,
) {
  const bytes = journalBytes(journal);
  const digest = createHash("sha256").update(imageId).update(Uint8Array.from(bytes)).digest();
  const noise: number[] = [];
  for (let i = 0; noise.length < 256; i++) {
    noise.push(...createHash("sha256").update(digest).update(String(i)).digest());
  }
  const claim = {
    image_id: imageId,
    journal_digest: createHash("sha256").update(Uint8Array.from(bytes)).digest("hex"),
  };
  const params = VERIFIER_PARAMETERS;
  const inner =
    kind === "groth16"
      ? { Groth16: { seal: real ?? noise.slice(0, 256), claim, verifier_parameters: params } }
      : kind === "succinct"
        ? { Succinct: { seal_digest: digest.toString("hex"), claim } }
        : { Composite: { segments: segments, seal_digest: digest.toString("hex"), claim } };
  return { inner, journal: { bytes }, metadata: { verifier_parameters: params } };
}

/** The job store: jobs by id, evaluated lazily against the clock. */
export class JobStore {
  private readonly jobs = new Map<string, Job>();
  private readonly hooks: JobStoreHooks;
  imageId: string;

  /** Real GPU receipts by image and journal (tools/dev/fixture-receipts.ts). */
  private readonly real: RealReceipts;

  constructor(hooks: JobStoreHooks, imageId: string, real: RealReceipts = new Map()) {
    this.hooks = hooks;
    this.imageId = imageId;
    this.real = real;
  }

  get size(): number {
    return this.jobs.size;
  }

  add(
    facts: TapeFacts,
    options: JobOptions,
    timings: JobTimings,
    fate: JobFaultKind | null,
    lie: { code: string; error: string } | null = null,
  ): string {
    const id = randomUUID();
    const job: Job = {
      id,
      facts,
      options,
      timings,
      fate,
      lie,
      createdAt: Date.now(),
      status: "queued",
    };
    this.jobs.set(id, job);
    const endIn = timings.queuedMs + Math.min(timings.proofMs, timings.runningJobTimeoutMs);
    this.arm(job, endIn + 1);
    return id;
  }

  /** Fires the job's end on time even if nobody polls (timers may fire a hair early: re-arm). */
  private arm(job: Job, ms: number): void {
    job.timer = setTimeout(() => {
      this.settle(job, Date.now());
      if (this.jobs.get(job.id) === job && (job.status === "queued" || job.status === "running"))
        this.arm(job, 5);
    }, ms);
  }

  /** Advances one job to where the clock says it is. Idempotent. */
  private settle(job: Job, now: number): void {
    const t = job.timings;
    if (job.status === "queued" && now >= job.createdAt + t.queuedMs) {
      job.status = "running";
      job.startedAt = job.createdAt + t.queuedMs;
      this.hooks.onStarted?.(job.id, job.startedAt);
    }
    if (job.status !== "running") return;
    const started = job.startedAt!;
    if (t.runningJobTimeoutMs < t.proofMs) {
      if (now >= started + t.runningJobTimeoutMs) {
        this.fail(
          job,
          started + t.runningJobTimeoutMs,
          "proof_timeout",
          "proof exceeded RUNNING_JOB_TIMEOUT",
        );
      }
      return;
    }
    if (now < started + t.proofMs) return;
    const at = started + t.proofMs;
    if (job.fate === "lose_job") {
      this.remove(job.id);
      this.hooks.onFinished(job.id, "lost", undefined, at);
      return;
    }
    const failure = job.lie ?? (job.fate ? FAILURES[job.fate] : undefined);
    if (failure) {
      this.fail(job, at, failure.code, failure.error);
      return;
    }
    job.status = "succeeded";
    job.finishedAt = at;
    this.hooks.onFinished(job.id, "succeeded", undefined, at);
  }

  private fail(job: Job, at: number, code: string, error: string): void {
    job.status = "failed";
    job.finishedAt = at;
    job.errorCode = code;
    job.error = error;
    this.hooks.onFinished(job.id, "failed", code, at);
    if (code === "proof_timeout") this.hooks.onProofTimeout(job.id, at);
  }

  /**
   * Every queued or running proof ends now, as it would have at its own end (its fate kept): for
   * tests that hold the prover busy until they have seen what they wait for.
   */
  endActive(now = Date.now()): void {
    for (const job of [...this.jobs.values()]) {
      if (job.status !== "queued" && job.status !== "running") continue;
      const t = job.timings;
      const queuedMs = Math.min(t.queuedMs, now - job.createdAt);
      const proofMs = Math.min(t.proofMs, now - (job.createdAt + queuedMs));
      job.timings = { ...t, queuedMs, proofMs };
      this.settle(job, now);
    }
  }

  settleAll(now = Date.now()): void {
    for (const job of [...this.jobs.values()]) this.settle(job, now);
  }

  /** True while a job is queued or running: the real server is single-flight. */
  busy(): boolean {
    this.settleAll();
    for (const j of this.jobs.values())
      if (j.status === "queued" || j.status === "running") return true;
    return false;
  }

  counts(): Record<JobStatus, number> {
    this.settleAll();
    const c: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const j of this.jobs.values()) c[j.status]++;
    return c;
  }

  status(id: string): JobStatus | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    this.settle(job, Date.now());
    return this.jobs.get(id)?.status;
  }

  /** True when the job ended failed with a hostile box's false verdict. */
  lied(id: string): boolean {
    const job = this.jobs.get(id);
    return !!job?.lie && job.status === "failed";
  }

  /** The `GET /api/jobs/{id}` body, or undefined when the job is unknown. */
  view(id: string): Record<string, unknown> | undefined {
    if (!this.status(id)) return undefined;
    const job = this.jobs.get(id)!;
    const s = (ms: number | undefined) => (ms === undefined ? undefined : Math.floor(ms / 1000));
    const body: Record<string, unknown> = {
      job_id: job.id,
      status: job.status,
      created_at_unix_s: s(job.createdAt),
      started_at_unix_s: s(job.startedAt),
      finished_at_unix_s: s(job.finishedAt),
      tape_size_bytes: job.facts.sizeBytes,
      options: job.options,
    };
    if (job.status === "succeeded") body.result = this.result(job);
    if (job.status === "failed") {
      body.error = job.error;
      body.error_code = job.errorCode;
    }
    return body;
  }

  private result(job: Job) {
    const journal: Partial<Journal> = journalFor(job.facts);
    if (job.fate === "result_mismatch") journal.final_score = (journal.final_score! + 1) >>> 0;
    if (job.fate === "result_incomplete") {
      delete journal.final_rng_state;
      delete journal.tape_checksum;
    }
    const stats = fakeStats(job.facts.frameCount, job.options.segment_limit_po2);
    const kind = job.options.receipt_kind;
    return {
      proof: {
        journal,
        receipt: receiptFor(
          kind,
          journalFor(job.facts),
          this.imageId,
          stats.segments,
          job.fate === "forged_receipt"
            ? undefined
            : this.real.get(receiptKey(this.imageId, journalBytes(journalFor(job.facts)))),
        ),
        requested_receipt_kind: kind,
        produced_receipt_kind: kind,
        stats,
      },
      elapsed_ms: job.finishedAt! - job.startedAt!,
    };
  }

  /** Every stored job, settled to now, oldest first. */
  list(): StoredJob[] {
    this.settleAll();
    return [...this.jobs.values()].map((j) => ({
      id: j.id,
      status: j.status,
      facts: { ...j.facts },
      createdAt: j.createdAt,
      finishedAt: j.finishedAt ?? null,
      errorCode: j.errorCode ?? null,
    }));
  }

  remove(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job) return false;
    clearTimeout(job.timer);
    return this.jobs.delete(id);
  }

  /** The real server's periodic sweep; returns how many jobs it deleted. */
  sweep(runningJobTimeoutMs: number, finishedTtlMs: number, now = Date.now()): number {
    this.settleAll(now);
    let n = 0;
    for (const j of [...this.jobs.values()]) {
      const active = j.status === "queued" || j.status === "running";
      const stale = active
        ? now - j.createdAt > runningJobTimeoutMs
        : now - j.finishedAt! > finishedTtlMs;
      if (stale && this.remove(j.id)) n++;
    }
    return n;
  }

  clear(): void {
    for (const j of this.jobs.values()) clearTimeout(j.timer);
    this.jobs.clear();
  }
}
