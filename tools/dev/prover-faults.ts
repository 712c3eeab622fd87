/**
 * Fault injection for the dev prover: explicit rules (consumed in order) and a seeded random mode,
 * so the gateway's tests and the chaos run can reproduce every way the real prover misbehaves.
 */

/** Faults that act on the HTTP exchange itself (the next matching request). */
export const TRANSPORT_FAULTS = [
  "http_500",
  "http_502",
  "http_503",
  "reset",
  "slow",
  "hang",
  "malformed_json",
  "restart",
  "busy",
  "unauthorized",
] as const;

/** Faults that decide how the next accepted job ends (applied when its proof would finish). */
export const JOB_FAULTS = [
  "fail_proof_error",
  "fail_oom",
  "fail_internal_error",
  "fail_server_restarted",
  "fail_proof_timeout",
  "fail_zero_score",
  "fail_unknown",
  "result_mismatch",
  "result_incomplete",
  "lose_job",
  /** The right journal with a worthless seal (what a broken or dishonest box returns). */
  "forged_receipt",
] as const;

export type TransportFaultKind = (typeof TRANSPORT_FAULTS)[number];
export type JobFaultKind = (typeof JOB_FAULTS)[number];
export type FaultKind = TransportFaultKind | JobFaultKind;

/** Which prover route a request hits, for matching rules (`control` routes are never faulted). */
export type RouteKind = "submit" | "poll" | "delete" | "health" | "other";

/**
 * One injected fault. Transport kinds hit the next request(s) matching `on` (default "any").
 * Job-level kinds ignore `on`: they attach to the next accepted submission.
 * `times` (default 1) counts down each time the rule is applied.
 */
export interface FaultRule {
  kind: FaultKind;
  on?: "submit" | "poll" | "delete" | "health" | "any";
  times?: number;
  /** For "slow": how long the real reply is delayed (default 2000 ms). */
  delayMs?: number;
}

export interface RandomFaultOptions {
  rate: number;
  kinds?: FaultKind[];
  seed?: number;
}

/** A mix of faults a well-behaved gateway must survive without a stuck or wrong result. */
export const DEFAULT_RANDOM_KINDS: readonly FaultKind[] = [
  "http_500",
  "http_502",
  "http_503",
  "reset",
  "slow",
  "malformed_json",
  "busy",
  "fail_proof_error",
  "fail_oom",
  "fail_internal_error",
  "fail_server_restarted",
  "result_mismatch",
  "lose_job",
];

const TRANSPORT_SET: ReadonlySet<string> = new Set(TRANSPORT_FAULTS);
const ALL_SET: ReadonlySet<string> = new Set([...TRANSPORT_FAULTS, ...JOB_FAULTS]);

export function isFaultKind(k: unknown): k is FaultKind {
  return typeof k === "string" && ALL_SET.has(k);
}

export function isTransportFault(k: FaultKind): k is TransportFaultKind {
  return TRANSPORT_SET.has(k);
}

/** mulberry32: tiny deterministic PRNG so random-fault runs repeat for a given seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Validates untrusted rules (from the HTTP control route); throws with a readable message. */
export function validateRules(input: unknown): FaultRule[] {
  if (!Array.isArray(input)) throw new Error("rules must be an array");
  return input.map((r: unknown, i) => {
    if (typeof r !== "object" || r === null) throw new Error(`rules[${i}] is not an object`);
    const o = r as Record<string, unknown>;
    if (!isFaultKind(o.kind))
      throw new Error(`rules[${i}].kind ${JSON.stringify(o.kind)} is unknown`);
    const rule: FaultRule = { kind: o.kind };
    if (o.on !== undefined) {
      if (!["submit", "poll", "delete", "health", "any"].includes(String(o.on))) {
        throw new Error(`rules[${i}].on ${JSON.stringify(o.on)} is unknown`);
      }
      rule.on = o.on as FaultRule["on"];
    }
    if (o.times !== undefined) {
      if (typeof o.times !== "number" || !(o.times >= 1))
        throw new Error(`rules[${i}].times must be ≥ 1`);
      rule.times = o.times;
    }
    if (o.delayMs !== undefined) {
      if (typeof o.delayMs !== "number" || !(o.delayMs >= 0))
        throw new Error(`rules[${i}].delayMs must be ≥ 0`);
      rule.delayMs = o.delayMs;
    }
    return rule;
  });
}

/** Which kinds may hit a route in random mode (explicit rules are applied literally). */
function applicable(kind: FaultKind, route: RouteKind): boolean {
  if (!isTransportFault(kind)) return route === "submit";
  if (kind === "busy") return route === "submit";
  if (kind === "unauthorized") return route === "submit" || route === "poll" || route === "delete";
  return true;
}

/** Default delay of a `slow` reply, and how long a `hang` holds the socket before dropping it. */
export const SLOW_DELAY_MS = 2_000;
export const HANG_LIMIT_MS = 30_000;
const defaultDelay = (kind: FaultKind) => (kind === "hang" ? HANG_LIMIT_MS : SLOW_DELAY_MS);

/** What the server should do to one request. */
export interface FaultDecision {
  kind: FaultKind;
  delayMs: number;
}

/** Holds the pending rules and the random mode; decides faults per request and per job. */
export class FaultEngine {
  private rules: Array<FaultRule & { left: number }> = [];
  private random: { rate: number; kinds: FaultKind[]; rng: () => number } | null = null;
  private readonly defaultSeed: number;

  constructor(defaultSeed: number) {
    this.defaultSeed = defaultSeed;
  }

  add(rules: FaultRule[]): void {
    for (const r of rules) this.rules.push({ ...r, left: r.times ?? 1 });
  }

  setRandom(opts: RandomFaultOptions | null): void {
    if (opts === null) {
      this.random = null;
      return;
    }
    const kinds = opts.kinds && opts.kinds.length > 0 ? [...opts.kinds] : [...DEFAULT_RANDOM_KINDS];
    this.random = { rate: opts.rate, kinds, rng: mulberry32(opts.seed ?? this.defaultSeed) };
  }

  clear(): void {
    this.rules = [];
    this.random = null;
  }

  pending(): FaultRule[] {
    return this.rules.map(({ left, ...r }) => ({ ...r, times: left }));
  }

  /**
   * The fault for a request on `route`, consuming it. Rules go first and in order: on a submit,
   * a job-level rule at the head is left for `takeJobFault` (the request goes through).
   * A job-level kind drawn in random mode is returned as-is; the caller attaches it to the job.
   */
  forRequest(route: RouteKind): FaultDecision | null {
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i]!;
      if (!isTransportFault(r.kind)) {
        if (route === "submit") return null; // job-level rule at the head: served at acceptance
        continue;
      }
      const on = r.on ?? "any";
      if (on !== "any" && on !== route) continue;
      this.consume(i);
      return { kind: r.kind, delayMs: r.delayMs ?? defaultDelay(r.kind) };
    }
    if (!this.random) return null;
    const roll = this.random.rng();
    // always draw twice so the sequence depends only on request count
    const pick = this.random.rng();
    if (roll >= this.random.rate) return null;
    const kinds = this.random.kinds.filter((k) => applicable(k, route));
    if (kinds.length === 0) return null;
    const kind = kinds[Math.floor(pick * kinds.length)]!;
    return { kind, delayMs: defaultDelay(kind) };
  }

  /** The next job-level rule, consumed when a submission is accepted. */
  takeJobFault(): JobFaultKind | null {
    const i = this.rules.findIndex((r) => !isTransportFault(r.kind));
    if (i < 0) return null;
    const kind = this.rules[i]!.kind as JobFaultKind;
    this.consume(i);
    return kind;
  }

  private consume(i: number): void {
    const r = this.rules[i]!;
    r.left -= 1;
    if (r.left <= 0) this.rules.splice(i, 1);
  }
}
