/**
 * Configuration (where and how the drop-in calls the gateway), and what this page remembers of
 * its submissions: each job's cancel token and claimant, in memory and, as a fallback that
 * outlives a reload, in storage.
 */
import { isRecord } from "../parse.ts";
import type { FetchLike } from "../types.ts";

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

export function current(): Settings {
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
export const ACTIVE_KEY = `${STORAGE_PREFIX}active`;

/** Storage that is full, disabled or broken must never break a call: it is only a fallback. */
export function stored(key: string): string | null {
  try {
    return current().storage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

export function store(key: string, value: string | null): void {
  try {
    const s = current().storage;
    if (value === null) s?.removeItem(key);
    else s?.setItem(key, value);
  } catch {
    // memory still has it
  }
}

export function recall(jobId: string): Remembered {
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

export function keep(jobId: string, r: Remembered): void {
  memory.set(jobId, r);
  store(jobKey(jobId), r.token || r.claimant ? JSON.stringify(r) : null);
}

/** The job has ended: its token can cancel nothing any more. */
export function dropToken(jobId: string): void {
  const { token: _token, ...rest } = recall(jobId);
  if (_token !== undefined) keep(jobId, rest);
}
