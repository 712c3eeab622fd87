/**
 * A drop-in for the Asteroids game's own proof client (kalepail/stellar-zk-claude,
 * `src/proof/api.ts`): the same exports, types and behaviour, served by this gateway. The game
 * swaps its file for this one and keeps its code: it submits, polls `getProofJob` until
 * `isTerminalProofStatus` (and, for a proof, until its claim has ended), cancels, fetches the
 * artifact it builds its on-chain seal from, and polls the health.
 *
 * The gateway's answers are mapped here into the game's shapes (each rule is on the function that
 * applies it). Browser-safe: fetch, AbortController, setTimeout and an optional sessionStorage.
 *
 *   configureGameApi({ baseUrl: "https://gateway.example" }); // only when served elsewhere
 */
import { errorFrom, GatewayError } from "./errors.ts";
import { estimateFrom, isJob, isRecord } from "./parse.ts";
import type {
  Estimate,
  FetchLike,
  GatewayJob,
  JobError,
  ResultDocument,
  VerifiedReceipt,
} from "./types.ts";

// ---------------------------------------------------------------------------------------------
// The game's types: its components and its claim code read these shapes.

export type ProofJobStatus =
  "queued" | "dispatching" | "prover_running" | "retrying" | "succeeded" | "failed";

export interface TapeMetadata {
  seed: number;
  frameCount: number;
  finalScore: number;
  finalRngState: number;
  checksum: number;
}

export interface ProofTapeInfo {
  sizeBytes: number;
  metadata: TapeMetadata;
}

export interface QueueTracking {
  attempts: number;
  lastAttemptAt: string | null;
  lastError: string | null;
  nextRetryAt: string | null;
}

export interface ProverTracking {
  jobId: string | null;
  status: "queued" | "running" | "succeeded" | "failed" | null;
  statusUrl: string | null;
  lastPolledAt: string | null;
  pollingErrors: number;
  recoveryAttempts: number;
}

export type ClaimStatus = "queued" | "submitting" | "retrying" | "succeeded" | "failed";

export interface ClaimTracking {
  claimantAddress: string;
  status: ClaimStatus;
  attempts: number;
  lastAttemptAt: string | null;
  lastError: string | null;
  nextRetryAt: string | null;
  submittedAt: string | null;
  txHash: string | null;
}

export interface ProofJournal {
  seed: number;
  frame_count: number;
  final_score: number;
  final_rng_state: number;
  tape_checksum: number;
  rules_digest: number;
}

export interface ProofStats {
  segments: number;
  total_cycles: number;
  user_cycles: number;
  paging_cycles: number;
  reserved_cycles: number;
}

export interface ProofResultSummary {
  elapsedMs: number;
  requestedReceiptKind: string;
  producedReceiptKind: string | null;
  journal: ProofJournal;
  stats: ProofStats;
}

export interface ProofResultInfo {
  artifactKey: string;
  summary: ProofResultSummary;
}

/** A job as the game shows it; times are ISO strings. */
export interface ProofJobPublic {
  jobId: string;
  status: ProofJobStatus;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  tape: ProofTapeInfo;
  queue: QueueTracking;
  prover: ProverTracking;
  result: ProofResultInfo | null;
  claim: ClaimTracking;
  error: string | null;
}

export interface SubmitProofJobResponse {
  success: true;
  status_url: string;
  job: ProofJobPublic;
}

export interface GetProofJobResponse {
  success: true;
  job: ProofJobPublic;
}

/** What the game's claim code reads `prover_response.result.proof.receipt.inner.Groth16` from. */
export interface StoredProofArtifactResponse {
  stored_at?: string;
  prover_response?: unknown;
}

export interface GatewayProverCompatibleHealth {
  status: "compatible";
  image_id: string;
  rules_digest_hex: string;
  ruleset: string;
}

export interface GatewayProverDegradedHealth {
  status: "degraded";
  error: string;
}

export type GatewayProverHealth = GatewayProverCompatibleHealth | GatewayProverDegradedHealth;

export interface GatewayHealthResponse {
  success: true;
  service: string;
  mode: string;
  expected: {
    rules_digest_hex: string;
    ruleset: string;
    image_id: string | null;
  };
  checked_at: string;
  prover: GatewayProverHealth;
  active_job: ProofJobPublic | null;
}

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

/** succeeded or failed (a cancelled job is shown failed): the game stops polling the proof. */
export function isTerminalProofStatus(status: ProofJobStatus): boolean {
  return status === "succeeded" || status === "failed";
}

// ---------------------------------------------------------------------------------------------
// Configuration.

/** The part of `Storage` kept here: one JSON entry per job (its cancel token and claimant). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface GameApiOptions {
  /**
   * The gateway's origin (and path prefix) when the game is served elsewhere, absolute:
   * `https://gateway.example`. Default: relative URLs (the game served from the gateway).
   */
  baseUrl?: string;
  /** Default: the global `fetch`. */
  fetch?: FetchLike;
  /**
   * Where cancel tokens outlive a reload. Default: `sessionStorage` when there is one; null:
   * memory only.
   */
  storage?: StorageLike | null;
}

/** Each call's time limit, ms; past it the call fails with `ProofApiError` status 0. */
export const GAME_API_TIMEOUT_MS = {
  submit: 30_000,
  job: 10_000,
  cancel: 10_000,
  artifact: 10_000,
  health: 10_000,
} as const;

interface Settings {
  root: string;
  fetch: FetchLike;
  storage: StorageLike | null;
}

let settings: Settings | null = null;
/** Each job's cancel token and claimant, as this page submitted it. */
const memory = new Map<string, Remembered>();

/**
 * Sets where and how the drop-in calls the gateway; options not given take their defaults. It
 * also forgets what was kept in memory, as a page load would (storage keeps what it holds).
 */
export function configureGameApi(opts: GameApiOptions = {}): void {
  let root = "";
  if (opts.baseUrl !== undefined && opts.baseUrl !== "") {
    try {
      root = new URL(opts.baseUrl).href.replace(/\/+$/, "");
    } catch {
      throw new TypeError(`baseUrl must be an absolute URL, got ${JSON.stringify(opts.baseUrl)}`);
    }
  }
  settings = {
    root,
    // Looked up per call and called on the global object: a browser's fetch called on anything
    // else throws.
    fetch: opts.fetch ?? ((url, init) => globalThis.fetch(url, init)),
    storage: opts.storage === undefined ? sessionStorageOrNull() : opts.storage,
  };
  memory.clear();
}

function current(): Settings {
  if (!settings) configureGameApi();
  return settings!;
}

function sessionStorageOrNull(): StorageLike | null {
  try {
    return (globalThis as { sessionStorage?: StorageLike }).sessionStorage ?? null;
  } catch {
    // reading sessionStorage throws where the browser forbids it (sandboxed frames)
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// What this page remembers of its submissions.

interface Remembered {
  /** The cancel token of the attempt this page started (shown once, in the 202). */
  token?: string;
  /** The address the game submitted with. */
  claimant?: string;
}

const STORAGE_PREFIX = "proof-gateway:game-api:";
const jobKey = (jobId: string) => `${STORAGE_PREFIX}job:${jobId}`;
const ACTIVE_KEY = `${STORAGE_PREFIX}active`;

/** Storage that is full, disabled or broken must never break a call: it is only a fallback. */
function stored(key: string): string | null {
  try {
    return current().storage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function store(key: string, value: string | null): void {
  try {
    const s = current().storage;
    if (value === null) s?.removeItem(key);
    else s?.setItem(key, value);
  } catch {
    // memory still has it
  }
}

function recall(jobId: string): Remembered {
  const known = memory.get(jobId);
  if (known) return known;
  const r: Remembered = {};
  try {
    const v: unknown = JSON.parse(stored(jobKey(jobId)) ?? "null");
    if (isRecord(v) && typeof v.token === "string") r.token = v.token;
    if (isRecord(v) && typeof v.claimant === "string") r.claimant = v.claimant;
  } catch {
    // not ours, or damaged: nothing remembered
  }
  memory.set(jobId, r);
  return r;
}

function keep(jobId: string, r: Remembered): void {
  memory.set(jobId, r);
  store(jobKey(jobId), r.token || r.claimant ? JSON.stringify(r) : null);
}

/** The job has ended: its token can cancel nothing any more. */
function dropToken(jobId: string): void {
  const { token: _token, ...rest } = recall(jobId);
  if (_token !== undefined) keep(jobId, rest);
}

// ---------------------------------------------------------------------------------------------
// Calls.

interface Answer {
  status: number;
  body: unknown;
}

/**
 * The JSON body of a 2xx answer; otherwise a GatewayError (status 0 `timeout` past the limit,
 * status 0 `network_error` without an answer).
 */
async function call(path: string, init: RequestInit, timeoutMs: number): Promise<Answer> {
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
function asProofError(e: unknown): ProofApiError {
  if (e instanceof ProofApiError) return e;
  if (e instanceof GatewayError) {
    const job = e.job ? publicJobOf({ job: e.job }) : null;
    return new ProofApiError(`${e.code}: ${e.message}`, e.status, job);
  }
  return new ProofApiError(`client_error: ${e instanceof Error ? e.message : String(e)}`, 0);
}

const badResponse = (status: number, what: string) =>
  new ProofApiError(`bad_response: the gateway's answer has no ${what}`, status);

const jobPath = (jobId: string) => `/api/proofs/jobs/${encodeURIComponent(jobId)}`;

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

async function fetchJob(jobId: string): Promise<ProofJobPublic> {
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

/**
 * `GET /api/proofs/jobs/:jobId/result`, as the artifact the game's claim code reads:
 * `stored_at` (ISO) and `prover_response.result.proof.receipt.inner.Groth16.{seal,
 * verifier_parameters}`. When the gateway verified the receipt, that part is built from the
 * verified receipt alone, never the prover's document: `seal` is the 256 bytes after the
 * selector in `receipt.seal`, `verifier_parameters` the pinned RISC Zero v3.0.0 parameters digest
 * as 8 little-endian u32 words, whose first 4 bytes are the receipt's selector, so the game's
 * selector ‖ seal is exactly `receipt.seal`. A receipt that was not verified (VERIFY_RECEIPTS=off,
 * or an old result): `prover_response` is the prover's own document, as stored.
 */
export async function getProofArtifact(jobId: string): Promise<StoredProofArtifactResponse> {
  try {
    const { status, body } = await call(
      `${jobPath(jobId)}/result`,
      { method: "GET" },
      GAME_API_TIMEOUT_MS.artifact,
    );
    if (!isRecord(body) || typeof body.jobId !== "string") throw badResponse(status, "result");
    return artifactOf(body as unknown as ResultDocument, status);
  } catch (e) {
    throw asProofError(e);
  }
}

/**
 * `GET /api/health`, mapped defensively (the gateway's health grows): `prover.status` is
 * `compatible` when the gateway says its prover is reachable and compatible (or, without a
 * prover reading, when its status is `ok`), else `degraded` with the gateway's problems as
 * `error`. `image_id`, `ruleset` and `rules_digest_hex` are the gateway's when it gives them,
 * else the expected image and the game's rules (AST3, 0x41535433). `expected.image_id` is the
 * gateway's PROVER_EXPECTED_IMAGE_ID. A `503 config_invalid` is a degraded health, not an error.
 * `active_job`: the job this tab last submitted (kept in sessionStorage) while the game would
 * still follow it (not ended, or proved with its claim still going), so a reloaded game picks it
 * up again; null otherwise (and without storage).
 */
export async function getGatewayHealth(): Promise<GatewayHealthResponse> {
  // Both at once, so the health answers within its own time limit.
  const active = activeJob();
  let body: unknown;
  try {
    ({ body } = await call("/api/health", { method: "GET" }, GAME_API_TIMEOUT_MS.health));
  } catch (e) {
    if (!(e instanceof GatewayError && e.code === "config_invalid")) throw asProofError(e);
    body = { status: "config_invalid", error: { message: `${e.code}: ${e.message}` } };
  }
  return healthOf(isRecord(body) ? body : {}, await active);
}

// ---------------------------------------------------------------------------------------------
// Mapping the gateway's job into the game's.

/** One reading of a job: the job, its ETA, its claim and whether a claim will follow. */
interface JobReading {
  job: GatewayJob;
  estimate?: Estimate;
  claim?: unknown;
  settlement?: unknown;
}

const viewOf = (body: Record<string, unknown>, job: GatewayJob): JobReading => ({
  job,
  estimate: estimateFrom(body.estimate),
  claim: body.claim,
  settlement: body.settlement,
});

/** Our job statuses after which nothing changes (a cancelled job included). */
const ENDED: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Status: `queued` → `queued`, or `retrying` when the job is back in line after a recovery
 * (`lastRecovery` set); `proving` → `dispatching` while the prover has it queued (or not yet
 * acknowledged), `prover_running` once it runs it (and while the gateway checks and stores its
 * result); `succeeded` → `succeeded`; `failed` and `cancelled` → `failed` (the game knows no
 * cancelled status and would poll it forever).
 */
function statusOf(job: GatewayJob): ProofJobStatus {
  switch (job.status) {
    case "queued":
      return job.lastRecovery ? "retrying" : "queued";
    case "proving":
      return job.prover?.status === "queued" || job.prover?.status == null
        ? "dispatching"
        : "prover_running";
    case "succeeded":
      return "succeeded";
    default:
      return "failed";
  }
}

const said = (e: JobError | null | undefined) => (e ? `${e.code}: ${e.message}` : null);

/** `failed`: `"<code>: <message>"`; `cancelled`: `"cancelled: <why>"`; otherwise null. */
function errorOf(job: GatewayJob): string | null {
  if (job.status === "cancelled") return `cancelled: ${job.error?.message ?? job.detail}`;
  if (job.status === "failed") return said(job.error) ?? "failed: the proof failed";
  return null;
}

const iso = (ms: number | null | undefined): string | null =>
  typeof ms === "number" && Number.isFinite(ms) ? new Date(ms).toISOString() : null;
const isoAlways = (ms: number): string => iso(ms) ?? new Date(0).toISOString();

/**
 * The game's job. Times become ISO strings (`completedAt` is `finishedAt`). `queue`: `attempts`
 * is the queue's deliveries, `lastAttemptAt` when the prover last accepted the tape, `lastError`
 * the prover's last error or else the last recovery's cause (`"<code>: <message>"`),
 * `nextRetryAt` the ETA's start while retrying. `prover`: `pollingErrors` is the failed polls in
 * a row, `recoveryAttempts` every resubmission (recoveries, the prover's rebuilds, the tape's
 * second chance); `statusUrl` is null (the prover is behind the gateway). `result` from the
 * job's result summary: `elapsedMs` the prover's time (0 when unknown), `producedReceiptKind`
 * the receipt's kind, `requestedReceiptKind` the one asked for (the produced one when the
 * gateway does not say), `stats` the prover's figures (its segment count and zero cycles when it
 * gave none). `claim`: see `claimOf`.
 */
function publicJobOf(r: JobReading): ProofJobPublic {
  const { job } = r;
  const status = statusOf(job);
  const result = job.result;
  const attempts = job.attempts;
  return {
    jobId: job.jobId,
    status,
    createdAt: isoAlways(job.createdAt),
    updatedAt: isoAlways(job.updatedAt),
    completedAt: iso(job.finishedAt),
    tape: {
      sizeBytes: job.tape.sizeBytes,
      metadata: {
        seed: job.tape.seed,
        frameCount: job.tape.frameCount,
        finalScore: job.tape.finalScore,
        finalRngState: job.tape.finalRngState,
        checksum: job.tape.checksum,
      },
    },
    queue: {
      attempts: attempts?.deliveries ?? 0,
      lastAttemptAt: iso(job.prover?.acceptedAt),
      lastError: said(job.prover?.lastError) ?? said(job.lastRecovery),
      nextRetryAt: status === "retrying" ? iso(r.estimate?.startAt) : null,
    },
    prover: {
      jobId: job.prover?.jobId ?? null,
      status: job.prover?.status ?? null,
      statusUrl: null,
      lastPolledAt: iso(job.prover?.lastPolledAt),
      pollingErrors: job.prover?.consecutivePollFailures ?? 0,
      recoveryAttempts:
        (attempts?.recoveries ?? 0) + (attempts?.proverRebuilds ?? 0) + (attempts?.rejections ?? 0),
    },
    result:
      result && job.status === "succeeded"
        ? {
            artifactKey: result.key,
            summary: {
              elapsedMs: result.proverElapsedMs ?? 0,
              requestedReceiptKind: result.requestedReceiptKind ?? result.receiptKind,
              producedReceiptKind: result.receiptKind,
              journal: {
                seed: result.journal.seed,
                frame_count: result.journal.frame_count,
                final_score: result.journal.final_score,
                final_rng_state: result.journal.final_rng_state,
                tape_checksum: result.journal.tape_checksum,
                rules_digest: result.journal.rules_digest,
              },
              stats: statsOf(result.stats, result.segments),
            },
          }
        : null,
    claim: claimOf(r),
    error: errorOf(job),
  };
}

function statsOf(stats: unknown, segments: number | null): ProofStats {
  const n = (k: string) =>
    isRecord(stats) && typeof stats[k] === "number" ? (stats[k] as number) : 0;
  return {
    segments:
      isRecord(stats) && typeof stats.segments === "number" ? n("segments") : (segments ?? 0),
    total_cycles: n("total_cycles"),
    user_cycles: n("user_cycles"),
    paging_cycles: n("paging_cycles"),
    reserved_cycles: n("reserved_cycles"),
  };
}

const CLAIM_STATUSES: readonly string[] = [
  "queued",
  "submitting",
  "retrying",
  "succeeded",
  "failed",
] satisfies readonly ClaimStatus[];

/** Shown when no settlement service will claim the proof: the game's own button does it. */
export const NO_AUTOMATIC_CLAIM = "no automatic claim: submit the proven score from your wallet";

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * The game reads `claim.status` on every render and polls a succeeded job until its claim has
 * ended. The gateway's `claim` (a settlement service's report) passes through: its status,
 * attempts, transaction, error (`lastError`), `submittedAt`, and `lastAttemptAt` = its last
 * update once it has been submitted. Without one: a proof with `settlement: "automatic"` is
 * `queued` (the service will claim it); a proof with `settlement: "none"` (or not said) is a
 * `failed` claim whose `lastError` is `NO_AUTOMATIC_CLAIM`, so the game stops polling and offers
 * its own on-chain button; a job not yet proved is `queued`; one that ended without a proof is
 * `failed` with no error (nothing to claim). `claimantAddress`: the claim's claimant, else the
 * job's, else the address this page submitted with ("" if none is known).
 */
function claimOf(r: JobReading): ClaimTracking {
  const { job } = r;
  const claim =
    isRecord(r.claim) && CLAIM_STATUSES.includes(r.claim.status as string) ? r.claim : null;
  const claimantAddress = str(claim?.claimant) ?? job.claimant ?? recall(job.jobId).claimant ?? "";
  if (claim) {
    const attempts = num(claim.attempts) ?? 0;
    return {
      claimantAddress,
      status: claim.status as ClaimStatus,
      attempts,
      lastAttemptAt: attempts > 0 ? iso(num(claim.updatedAt)) : null,
      lastError: str(claim.error),
      nextRetryAt: null,
      submittedAt: iso(num(claim.submittedAt)),
      txHash: str(claim.txHash),
    };
  }
  const none = {
    claimantAddress,
    attempts: 0,
    lastAttemptAt: null,
    nextRetryAt: null,
    submittedAt: null,
    txHash: null,
  };
  if (job.status === "succeeded") {
    return r.settlement === "automatic"
      ? { ...none, status: "queued", lastError: null }
      : { ...none, status: "failed", lastError: NO_AUTOMATIC_CLAIM };
  }
  if (ENDED.has(job.status)) return { ...none, status: "failed", lastError: null };
  return { ...none, status: "queued", lastError: null };
}

/** Whether the game stops following this job (its `useEffect` poll condition). */
const gameIsDone = (j: ProofJobPublic) =>
  isTerminalProofStatus(j.status) &&
  (j.status !== "succeeded" || j.claim.status === "succeeded" || j.claim.status === "failed");

async function activeJob(): Promise<ProofJobPublic | null> {
  const jobId = stored(ACTIVE_KEY);
  if (!jobId) return null;
  try {
    const job = await fetchJob(jobId);
    if (!gameIsDone(job)) return job;
    store(ACTIVE_KEY, null);
  } catch (e) {
    if (e instanceof GatewayError && (e.status === 404 || e.status === 400)) {
      store(ACTIVE_KEY, null);
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The artifact.

/** RISC Zero's Groth16 verifier parameters digest, v3.0.0 (as src/verify/params.ts pins it). */
export const VERIFIER_PARAMETERS_DIGEST =
  "73c457ba541936f0d907daf0c7253a39a9c5c427c225ba7709e44702d3c6eedc";

const hexBytes = (hex: string) =>
  Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));

/** The digest as the receipt carries it: 8 u32 words, little-endian. */
function verifierParameterWords(): number[] {
  const view = new DataView(hexBytes(VERIFIER_PARAMETERS_DIGEST).buffer);
  return Array.from({ length: 8 }, (_, i) => view.getUint32(i * 4, true));
}

function artifactOf(doc: ResultDocument, status: number): StoredProofArtifactResponse {
  const storedAt = iso(doc.storedAt);
  const receipt = doc.receipt;
  const proverResponse =
    receipt?.verified === true ? trustedProverDocument(doc, receipt, status) : doc.prover;
  return { ...(storedAt ? { stored_at: storedAt } : {}), prover_response: proverResponse };
}

/** The prover-shaped document the game reads, from the verified receipt and checked journal. */
function trustedProverDocument(doc: ResultDocument, receipt: VerifiedReceipt, status: number) {
  const selector = VERIFIER_PARAMETERS_DIGEST.slice(0, 8);
  const seal = receipt.seal?.toLowerCase() ?? "";
  if (receipt.selector?.toLowerCase() !== selector) {
    throw new ProofApiError(
      `unsupported_verifier: the receipt's selector is ${receipt.selector} (verifier ${receipt.verifierVersion}); this client builds seals for ${selector} (RISC Zero v3.0.0) only`,
      status,
    );
  }
  if (!/^[0-9a-f]{520}$/.test(seal) || !seal.startsWith(selector)) {
    throw new ProofApiError(
      "bad_response: the verified receipt's seal is not the selector and 256 bytes",
      status,
    );
  }
  return {
    job_id: doc.proverJobId,
    status: "succeeded",
    result: {
      proof: {
        journal: doc.journal,
        receipt: {
          inner: {
            Groth16: {
              seal: Array.from(hexBytes(seal.slice(8))),
              verifier_parameters: verifierParameterWords(),
            },
          },
        },
        produced_receipt_kind: doc.receiptKind,
      },
      elapsed_ms: doc.proverElapsedMs,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Health.

const RULESET = "AST3";
const RULES_DIGEST_HEX = "0x41535433";

function digestHex(v: unknown): string | null {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) {
    return `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
  }
  return str(v);
}

function healthOf(
  body: Record<string, unknown>,
  active: ProofJobPublic | null,
): GatewayHealthResponse {
  const prover = isRecord(body.prover) ? body.prover : null;
  const config = isRecord(body.config) ? body.config : {};
  const expectedImage = str(config.proverExpectedImageId) || null;
  const compatible =
    prover && typeof prover.compatible === "boolean"
      ? prover.compatible && prover.reachable !== false
      : body.status === "ok";
  const problems =
    prover && Array.isArray(prover.problems)
      ? prover.problems.filter((p): p is string => typeof p === "string")
      : [];
  const bodyError = isRecord(body.error) ? str(body.error.message) : str(body.error);
  const health: GatewayProverHealth = compatible
    ? {
        status: "compatible",
        image_id: str(prover?.imageId) ?? str(prover?.image_id) ?? expectedImage ?? "unknown",
        rules_digest_hex:
          digestHex(prover?.rulesDigest) ?? digestHex(prover?.rules_digest) ?? RULES_DIGEST_HEX,
        ruleset: str(prover?.ruleset) ?? RULESET,
      }
    : {
        status: "degraded",
        error:
          problems.join("; ") ||
          bodyError ||
          (prover?.reachable === false
            ? "the prover is unreachable"
            : `the gateway reports ${str(body.status) ?? "no status"}`),
      };
  return {
    success: true,
    service: str(body.service) ?? "proof-gateway",
    mode: str(body.mode) ?? "fair-line",
    expected: { rules_digest_hex: RULES_DIGEST_HEX, ruleset: RULESET, image_id: expectedImage },
    checked_at: iso(num(prover?.checkedAt)) ?? new Date().toISOString(),
    prover: health,
    active_job: active,
  };
}
