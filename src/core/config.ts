import * as z from "zod";

/**
 * Every wrangler var, parsed once into a typed `Config`. The rest of the code never reads
 * `env.SOMETHING` strings. Bounds are wide on purpose (tests and local runs use hundreds of
 * milliseconds); the cross-field invariants are what keep the timeouts nested sensibly.
 */

const blankToUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);

const ms = (name: string, def: number, min: number, max: number) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: `${name} must be a whole number of milliseconds` })
      .int(`${name} must be a whole number of milliseconds`)
      .min(min, `${name} must be at least ${min}`)
      .max(max, `${name} must be at most ${max}`)
      .default(def),
  );

const int = (name: string, def: number, min: number, max: number) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: `${name} must be a whole number` })
      .int(`${name} must be a whole number`)
      .min(min, `${name} must be at least ${min}`)
      .max(max, `${name} must be at most ${max}`)
      .default(def),
  );

/** The prover's own intake limit; the gateway never accepts more. */
export const PROVER_MAX_TAPE_BYTES = 2_097_152;
/** Cloudflare Queues refuse a retry delay above 12 h. */
const QUEUE_MAX_DELAY_SECONDS = 43_200;
/** Keep one alarm invocation well inside the Durable Object 15-minute wall limit. */
const MAX_POLL_BUDGET_MS = 600_000;

const fields = z.object({
  PROVER_BASE_URL: z.preprocess(
    blankToUndefined,
    z.url({ error: "PROVER_BASE_URL must be an absolute http(s) URL", protocol: /^https?$/ }),
  ),
  ALLOW_INSECURE_PROVER_URL: z.preprocess(blankToUndefined, z.enum(["0", "1"]).default("0")),
  PROVER_API_KEY: z.preprocess(blankToUndefined, z.string().optional()),
  ADMIN_TOKEN: z.preprocess(
    blankToUndefined,
    z
      .string()
      .min(16, "ADMIN_TOKEN must be at least 16 characters (use a long random secret)")
      .optional(),
  ),
  PROVER_EXPECTED_IMAGE_ID: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(
        /^[0-9a-fA-F]{64}$/,
        "PROVER_EXPECTED_IMAGE_ID must be 64 hex characters (a 32-byte image id)",
      )
      .transform((s) => s.toLowerCase())
      .optional(),
  ),
  PROVER_REQUEST_TIMEOUT_MS: ms("PROVER_REQUEST_TIMEOUT_MS", 30_000, 50, 300_000),
  PROVER_POLL_INTERVAL_MS: ms("PROVER_POLL_INTERVAL_MS", 3_000, 10, 600_000),
  PROVER_POLL_BUDGET_MS: ms("PROVER_POLL_BUDGET_MS", 45_000, 10, MAX_POLL_BUDGET_MS),
  PROVER_POLL_TIMEOUT_MS: ms("PROVER_POLL_TIMEOUT_MS", 660_000, 100, 86_400_000),
  PROVER_STALL_WINDOW_MS: ms("PROVER_STALL_WINDOW_MS", 90_000, 10, 86_400_000),
  PROVER_MAX_RECOVERIES: int("PROVER_MAX_RECOVERIES", 3, 0, 20),
  DISPATCH_WATCHDOG_MS: ms("DISPATCH_WATCHDOG_MS", 90_000, 100, 86_400_000),
  MAX_JOB_WALL_TIME_MS: ms("MAX_JOB_WALL_TIME_MS", 720_000, 100, 86_400_000),
  MAX_TAPE_BYTES: int("MAX_TAPE_BYTES", PROVER_MAX_TAPE_BYTES, 28, PROVER_MAX_TAPE_BYTES),
  RETRY_MIN_DELAY_SECONDS: int("RETRY_MIN_DELAY_SECONDS", 2, 0, QUEUE_MAX_DELAY_SECONDS),
  MAX_RETRY_DELAY_SECONDS: int("MAX_RETRY_DELAY_SECONDS", 60, 0, QUEUE_MAX_DELAY_SECONDS),
  COMPLETED_JOB_RETENTION_MS: ms("COMPLETED_JOB_RETENTION_MS", 86_400_000, 0, 30 * 86_400_000),
  PROVER_RECEIPT_KIND: z.preprocess(
    blankToUndefined,
    z
      .enum(["composite", "succinct", "groth16"], {
        error: "PROVER_RECEIPT_KIND must be composite, succinct or groth16",
      })
      .default("groth16"),
  ),
  PROVER_SEGMENT_LIMIT_PO2: int("PROVER_SEGMENT_LIMIT_PO2", 21, 16, 21),
  CORS_ALLOWED_ORIGINS: z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .transform((s) =>
        (s ?? "")
          .split(",")
          .map((o) => o.trim())
          .filter(Boolean),
      )
      .refine((list) => list.every(isOrigin), {
        error:
          "CORS_ALLOWED_ORIGINS must be a comma-separated list of origins like https://game.example (scheme and host only, no path, no *)",
      }),
  ),
  PROVER_VERIFY_MODE: z.preprocess(
    blankToUndefined,
    z
      .enum(["verify", "policy"], { error: "PROVER_VERIFY_MODE must be verify or policy" })
      .default("policy"),
  ),
});

type VarName = keyof z.output<typeof fields>;

/**
 * How the timeouts must nest, as data: the schema enforces these, and `npm run timeouts` prints
 * them, from this one list. `blame` is the var an error names as the one to change.
 */
export interface OrderRule {
  low: VarName;
  op: "<" | "≤";
  high: VarName;
  /** Multiplies `low` before comparing (1000: seconds against milliseconds). */
  lowScale?: number;
  blame: VarName;
  why: string;
}

export const ORDER_RULES: readonly OrderRule[] = [
  {
    low: "PROVER_POLL_INTERVAL_MS",
    op: "≤",
    high: "PROVER_POLL_BUDGET_MS",
    blame: "PROVER_POLL_BUDGET_MS",
    why: "one alarm must fit at least one poll interval",
  },
  {
    low: "PROVER_REQUEST_TIMEOUT_MS",
    op: "<",
    high: "PROVER_POLL_BUDGET_MS",
    blame: "PROVER_REQUEST_TIMEOUT_MS",
    why: "one request must fit inside one alarm's budget",
  },
  {
    low: "PROVER_POLL_BUDGET_MS",
    op: "<",
    high: "PROVER_POLL_TIMEOUT_MS",
    blame: "PROVER_POLL_BUDGET_MS",
    why: "the poll deadline must span more than one alarm",
  },
  {
    low: "PROVER_POLL_TIMEOUT_MS",
    op: "<",
    high: "MAX_JOB_WALL_TIME_MS",
    blame: "PROVER_POLL_TIMEOUT_MS",
    why: "the wall-time cap must leave room for the whole poll deadline",
  },
  {
    low: "PROVER_REQUEST_TIMEOUT_MS",
    op: "<",
    high: "PROVER_STALL_WINDOW_MS",
    blame: "PROVER_STALL_WINDOW_MS",
    why: "one slow request must not count as a stall",
  },
  {
    low: "PROVER_POLL_INTERVAL_MS",
    op: "≤",
    high: "PROVER_STALL_WINDOW_MS",
    blame: "PROVER_STALL_WINDOW_MS",
    why: "a stall needs more than one failed poll",
  },
  {
    low: "PROVER_STALL_WINDOW_MS",
    op: "<",
    high: "PROVER_POLL_TIMEOUT_MS",
    blame: "PROVER_STALL_WINDOW_MS",
    why: "a stall must be noticed before the poll deadline",
  },
  {
    low: "MAX_RETRY_DELAY_SECONDS",
    lowScale: 1000,
    op: "<",
    high: "DISPATCH_WATCHDOG_MS",
    blame: "DISPATCH_WATCHDOG_MS",
    why: "a job backing off between submit retries must not look lost",
  },
  {
    low: "PROVER_REQUEST_TIMEOUT_MS",
    op: "<",
    high: "DISPATCH_WATCHDOG_MS",
    blame: "DISPATCH_WATCHDOG_MS",
    why: "a submission under way must not look lost",
  },
  {
    low: "DISPATCH_WATCHDOG_MS",
    op: "<",
    high: "MAX_JOB_WALL_TIME_MS",
    blame: "DISPATCH_WATCHDOG_MS",
    why: "a lost job must be found before its wall-time cap",
  },
  {
    low: "RETRY_MIN_DELAY_SECONDS",
    op: "≤",
    high: "MAX_RETRY_DELAY_SECONDS",
    blame: "RETRY_MIN_DELAY_SECONDS",
    why: "the backoff floor cannot exceed its ceiling",
  },
];

type Values = Partial<Record<VarName, unknown>>;

export function holds(rule: OrderRule, v: Values): boolean {
  const a = Number(v[rule.low]) * (rule.lowScale ?? 1);
  const b = Number(v[rule.high]);
  return rule.op === "<" ? a < b : a <= b;
}

export function ruleMessage(rule: OrderRule, v: Values): string {
  const low = `${rule.low} (${String(v[rule.low])})${rule.lowScale ? ` × ${rule.lowScale}` : ""}`;
  const high = `${rule.high} (${String(v[rule.high])})`;
  return rule.blame === rule.low
    ? `${low} must be ${rule.op} ${high}`
    : `${high} must be ${rule.op === "<" ? ">" : "≥"} ${low}`;
}

export const configSchema = fields.superRefine((v, ctx) => {
  const fail = (path: string, message: string) =>
    ctx.addIssue({ code: "custom", path: [path], message });
  const url = new URL(v.PROVER_BASE_URL);
  if (
    url.protocol === "http:" &&
    !isLoopback(url.hostname) &&
    v.ALLOW_INSECURE_PROVER_URL !== "1"
  ) {
    fail(
      "PROVER_BASE_URL",
      `PROVER_BASE_URL must be https (plain http only for loopback or with ALLOW_INSECURE_PROVER_URL=1), got ${url.origin}`,
    );
  }
  for (const rule of ORDER_RULES) {
    if (!holds(rule, v)) fail(rule.blame, ruleMessage(rule, v));
  }
});

type Parsed = z.output<typeof configSchema>;

/** The typed configuration every part of the gateway receives. */
export interface Config {
  proverBaseUrl: string;
  proverApiKey: string | undefined;
  /** Optional operator secret; may cancel any job (and, later, use the admin API). */
  adminToken: string | undefined;
  proverExpectedImageId: string | undefined;
  requestTimeoutMs: number;
  pollIntervalMs: number;
  pollBudgetMs: number;
  pollTimeoutMs: number;
  stallWindowMs: number;
  maxRecoveries: number;
  dispatchWatchdogMs: number;
  maxJobWallTimeMs: number;
  maxTapeBytes: number;
  retryMinDelaySeconds: number;
  retryMaxDelaySeconds: number;
  completedJobRetentionMs: number;
  receiptKind: "composite" | "succinct" | "groth16";
  segmentLimitPo2: number;
  verifyMode: "verify" | "policy";
  /** Browser origins that get CORS headers (exact match); empty: none. */
  corsAllowedOrigins: string[];
}

/** The var names the schema reads (also the list `/api/health` and the README document). */
export const CONFIG_VARS = Object.keys(fields.shape) as (keyof Parsed)[];

/** An invalid var: `vars` names every offending var, `message` says what is wrong with each. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "config_invalid";
  readonly vars: string[];
  constructor(vars: string[], message: string) {
    super(message);
    this.vars = vars;
  }
}

/** `https://game.example` or `http://localhost:5173`: what a browser sends as Origin. */
function isOrigin(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === "https:" || u.protocol === "http:") && u.origin === s;
  } catch {
    return false;
  }
}

export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Parses raw vars (strings, as wrangler passes them) into a `Config`, or throws `ConfigError`. */
export function parseConfig(raw: Record<string, unknown>): Config {
  const input: Record<string, unknown> = {};
  for (const name of CONFIG_VARS) input[name] = raw[name];
  const r = configSchema.safeParse(input);
  if (!r.success) {
    const vars = [...new Set(r.error.issues.map((i) => String(i.path[0] ?? "config")))];
    const message = r.error.issues
      .map((i) =>
        i.code !== "custom" && blankToUndefined(input[String(i.path[0])]) === undefined
          ? `${String(i.path[0])} is required`
          : i.message,
      )
      .join("; ");
    throw new ConfigError(vars, message);
  }
  const v = r.data;
  return {
    proverBaseUrl: v.PROVER_BASE_URL.replace(/\/+$/, ""),
    proverApiKey: v.PROVER_API_KEY,
    adminToken: v.ADMIN_TOKEN,
    proverExpectedImageId: v.PROVER_EXPECTED_IMAGE_ID,
    requestTimeoutMs: v.PROVER_REQUEST_TIMEOUT_MS,
    pollIntervalMs: v.PROVER_POLL_INTERVAL_MS,
    pollBudgetMs: v.PROVER_POLL_BUDGET_MS,
    pollTimeoutMs: v.PROVER_POLL_TIMEOUT_MS,
    stallWindowMs: v.PROVER_STALL_WINDOW_MS,
    maxRecoveries: v.PROVER_MAX_RECOVERIES,
    dispatchWatchdogMs: v.DISPATCH_WATCHDOG_MS,
    maxJobWallTimeMs: v.MAX_JOB_WALL_TIME_MS,
    maxTapeBytes: v.MAX_TAPE_BYTES,
    retryMinDelaySeconds: v.RETRY_MIN_DELAY_SECONDS,
    retryMaxDelaySeconds: v.MAX_RETRY_DELAY_SECONDS,
    completedJobRetentionMs: v.COMPLETED_JOB_RETENTION_MS,
    receiptKind: v.PROVER_RECEIPT_KIND,
    segmentLimitPo2: v.PROVER_SEGMENT_LIMIT_PO2,
    verifyMode: v.PROVER_VERIFY_MODE,
    corsAllowedOrigins: v.CORS_ALLOWED_ORIGINS,
  };
}

const cache = new WeakMap<object, Config | ConfigError>();

/** `parseConfig` memoised per env object: a Worker isolate validates its vars once. */
export function configFrom(env: object): Config {
  let c = cache.get(env);
  if (!c) {
    try {
      c = parseConfig(env as Record<string, unknown>);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      c = e;
    }
    cache.set(env, c);
  }
  if (c instanceof ConfigError) throw c;
  return c;
}

/** The effective config with secrets removed, for `/api/health`. */
export function publicConfig(c: Config): Record<string, unknown> {
  const { proverApiKey, adminToken, ...rest } = c;
  return {
    ...rest,
    proverApiKeySet: proverApiKey !== undefined,
    adminTokenSet: adminToken !== undefined,
  };
}

/** What each var is for, in one sentence: `npm run timeouts`, `/api/health` readers and the README use these. */
export const VAR_MEANINGS: Record<
  (typeof CONFIG_VARS)[number],
  { group: "prover" | "timeout" | "retry" | "limit" | "secret"; meaning: string }
> = {
  PROVER_BASE_URL: {
    group: "prover",
    meaning: "Base URL of the prover (https unless loopback or allowed).",
  },
  ALLOW_INSECURE_PROVER_URL: {
    group: "prover",
    meaning: "1 allows plain http to a non-loopback prover.",
  },
  PROVER_API_KEY: { group: "secret", meaning: "Sent as x-api-key to the prover (secret)." },
  ADMIN_TOKEN: {
    group: "secret",
    meaning:
      "Operator bearer token for /api/admin/* and cancelling any job (secret; unset: admin API disabled).",
  },
  PROVER_EXPECTED_IMAGE_ID: {
    group: "prover",
    meaning: "Pin the prover's image_id; /api/health reports a mismatch.",
  },
  PROVER_REQUEST_TIMEOUT_MS: {
    group: "timeout",
    meaning:
      "One HTTP request to the prover (submit, poll, delete, health) is abandoned after this.",
  },
  PROVER_POLL_INTERVAL_MS: {
    group: "timeout",
    meaning:
      "Pause between two status polls of a proving job; also how often a busy prover is asked again.",
  },
  PROVER_POLL_BUDGET_MS: {
    group: "timeout",
    meaning: "How long one Durable Object alarm keeps polling before it re-arms itself.",
  },
  PROVER_STALL_WINDOW_MS: {
    group: "timeout",
    meaning:
      "If every poll fails for longer than this, the prover job is treated as lost and rebuilt.",
  },
  PROVER_POLL_TIMEOUT_MS: {
    group: "timeout",
    meaning:
      "Absolute poll deadline, from the prover's acceptance: past it the prover job is abandoned (rebuilt or failed).",
  },
  DISPATCH_WATCHDOG_MS: {
    group: "timeout",
    meaning:
      "A waiting job not picked up by the queue for this long (lost message, crash) is re-sent by its own Durable Object.",
  },
  MAX_JOB_WALL_TIME_MS: {
    group: "timeout",
    meaning: "Wall-time cap of one attempt, from the POST: no job waits or proves longer.",
  },
  PROVER_MAX_RECOVERIES: {
    group: "retry",
    meaning:
      "How many times a job may be rebuilt (resubmitted fresh) after the prover lost or spoiled its proof.",
  },
  RETRY_MIN_DELAY_SECONDS: {
    group: "retry",
    meaning: "Floor of the queue redelivery backoff after a submit error.",
  },
  MAX_RETRY_DELAY_SECONDS: {
    group: "retry",
    meaning: "Ceiling of the queue redelivery backoff after a submit error.",
  },
  COMPLETED_JOB_RETENTION_MS: {
    group: "timeout",
    meaning: "How long an ended job stays readable before its Durable Object is cleared.",
  },
  MAX_TAPE_BYTES: {
    group: "limit",
    meaning: "Largest tape accepted (the prover's own limit is 2 MiB).",
  },
  PROVER_RECEIPT_KIND: {
    group: "prover",
    meaning: "receipt_kind asked of the prover (groth16 for on-chain verification).",
  },
  PROVER_SEGMENT_LIMIT_PO2: {
    group: "prover",
    meaning:
      "segment_limit_po2 of a first submission; lowered by one (floor 16) after each out-of-memory or proof_timeout.",
  },
  PROVER_VERIFY_MODE: { group: "prover", meaning: "verify_mode asked of the prover." },
  CORS_ALLOWED_ORIGINS: {
    group: "limit",
    meaning:
      "Comma-separated browser origins of the game client that get CORS headers; empty: none, never *.",
  },
};
