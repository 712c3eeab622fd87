import * as z from "zod";
import { blankToUndefined, CONFIG_VARS, VAR_SCHEMAS, VARS, type VarName } from "./vars.ts";
import { webhookKey } from "./webhook.ts";

/**
 * Every wrangler var (the list is `vars.ts`), parsed once into a typed `Config`. The rest of the
 * code never reads `env.SOMETHING` strings. Here: the rules between vars, and the parse.
 */

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
    low: "PROVER_POLL_MIN_INTERVAL_MS",
    op: "≤",
    high: "PROVER_POLL_INTERVAL_MS",
    blame: "PROVER_POLL_MIN_INTERVAL_MS",
    why: "adaptive polling's floor cannot exceed its ceiling",
  },
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

export const configSchema = z.object(VAR_SCHEMAS).superRefine((v, ctx) => {
  const fail = (path: string, message: string) =>
    ctx.addIssue({ code: "custom", path: [path], message });
  const insecure = (u: string) => {
    const url = new URL(u);
    return (
      url.protocol === "http:" && !isLoopback(url.hostname) && v.ALLOW_INSECURE_PROVER_URL !== "1"
    );
  };
  const httpsOnly =
    "must be https (plain http only for loopback or with ALLOW_INSECURE_PROVER_URL=1)";
  if (insecure(v.PROVER_BASE_URL)) {
    fail(
      "PROVER_BASE_URL",
      `PROVER_BASE_URL ${httpsOnly}, got ${new URL(v.PROVER_BASE_URL).origin}`,
    );
  }
  for (const u of v.PROVER_BASE_URLS.filter(insecure)) {
    fail("PROVER_BASE_URLS", `PROVER_BASE_URLS ${httpsOnly}, got ${new URL(u).origin}`);
  }
  for (const rule of ORDER_RULES) {
    if (!holds(rule, v)) fail(rule.blame, ruleMessage(rule, v));
  }
  // Verification checks the seal against the image the gateway expects, never the prover's word.
  if (v.VERIFY_RECEIPTS === "groth16" && !v.PROVER_EXPECTED_IMAGE_ID) {
    const m =
      "VERIFY_RECEIPTS=groth16 needs PROVER_EXPECTED_IMAGE_ID (the image the receipts must prove); set it, or VERIFY_RECEIPTS=off for a dev prover";
    fail("VERIFY_RECEIPTS", m);
    fail("PROVER_EXPECTED_IMAGE_ID", m);
  }
  if (v.VERIFY_RECEIPTS === "groth16" && v.PROVER_RECEIPT_KIND !== "groth16") {
    const m = `VERIFY_RECEIPTS=groth16 needs PROVER_RECEIPT_KIND=groth16, got ${v.PROVER_RECEIPT_KIND}`;
    fail("VERIFY_RECEIPTS", m);
    fail("PROVER_RECEIPT_KIND", m);
  }
  // Webhooks: off without WEBHOOK_URL; with it, they must be signable and link a result.
  if (v.WEBHOOK_URL && new URL(v.WEBHOOK_URL).protocol === "http:") {
    const host = new URL(v.WEBHOOK_URL).hostname;
    if (!isLoopback(host))
      fail("WEBHOOK_URL", `WEBHOOK_URL must be https (plain http only for loopback), got ${host}`);
  }
  if (v.WEBHOOK_SECRET !== undefined && webhookKey(v.WEBHOOK_SECRET) === null) {
    const m = `${v.WEBHOOK_URL ? "WEBHOOK_URL needs a valid WEBHOOK_SECRET: " : ""}WEBHOOK_SECRET must be whsec_ followed by the base64 of a 24 to 64-byte random key (Standard Webhooks)`;
    fail("WEBHOOK_SECRET", m);
    if (v.WEBHOOK_URL) fail("WEBHOOK_URL", m);
  }
  if (v.WEBHOOK_URL && v.WEBHOOK_SECRET === undefined) {
    const m = "WEBHOOK_URL needs WEBHOOK_SECRET (whsec_ + base64 key) to sign its events";
    fail("WEBHOOK_URL", m);
    fail("WEBHOOK_SECRET", m);
  }
  if (v.WEBHOOK_URL && v.PUBLIC_BASE_URL === undefined) {
    const m =
      "WEBHOOK_URL needs PUBLIC_BASE_URL (the gateway's public origin) to link each event's result";
    fail("WEBHOOK_URL", m);
    fail("PUBLIC_BASE_URL", m);
  }
});

/** The typed configuration every part of the gateway receives: a field per var with a `key`. */
export type Config = {
  [N in VarName as (typeof VARS)[N]["key"] & string]: z.output<(typeof VAR_SCHEMAS)[N]>;
};

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
    const messages = r.error.issues.map((i) =>
      i.code !== "custom" && blankToUndefined(input[String(i.path[0])]) === undefined
        ? `${String(i.path[0])} is required`
        : i.message,
    );
    const message = [...new Set(messages)].join("; ");
    throw new ConfigError(vars, message);
  }
  const config: Record<string, unknown> = {};
  for (const name of CONFIG_VARS) {
    const key = VARS[name].key;
    if (key !== null) config[key] = r.data[name];
  }
  return config as Config;
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
  const { proverApiKey, proverApiKeys, adminToken, webhookSecret, settlementToken, ...rest } = c;
  return {
    ...rest,
    // A receiver's path or query may carry a token of its own: only the origin is shown.
    webhookUrl: rest.webhookUrl === undefined ? undefined : new URL(rest.webhookUrl).origin,
    proverApiKeySet: proverApiKey !== undefined,
    proverApiKeysFor: Object.keys(proverApiKeys).length,
    adminTokenSet: adminToken !== undefined,
    webhookSecretSet: webhookSecret !== undefined,
    settlementTokenSet: settlementToken !== undefined,
  };
}

/**
 * A prover URL an operator adds at runtime, under the same rules as PROVER_BASE_URL (absolute
 * http(s); https unless loopback or ALLOW_INSECURE_PROVER_URL=1): the origin, or why not.
 */
export function checkProverUrl(
  raw: unknown,
  cfg: Pick<Config, "allowInsecureProverUrl">,
): { ok: true; url: string } | { ok: false; message: string } {
  const r = VAR_SCHEMAS.PROVER_BASE_URL.safeParse(raw);
  if (!r.success || typeof r.data !== "string") {
    return { ok: false, message: "url must be an absolute http(s) URL" };
  }
  const u = new URL(r.data);
  if (u.pathname !== "/" || u.search || u.hash) {
    return { ok: false, message: "url must be an origin (scheme, host, port), without a path" };
  }
  if (u.protocol === "http:" && !isLoopback(u.hostname) && cfg.allowInsecureProverUrl !== "1") {
    return {
      ok: false,
      message: `url must be https (plain http only for loopback or with ALLOW_INSECURE_PROVER_URL=1), got ${u.origin}`,
    };
  }
  return { ok: true, url: u.origin };
}
