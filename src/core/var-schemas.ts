import * as z from "zod";

/**
 * The building blocks of the var schemas in `vars.ts`: each takes the var's name, which its error
 * messages quote, and the limits the platform sets on them.
 */

/** A blank var ("" or spaces) counts as not set: its default applies. */
export const blankToUndefined = (v: unknown) =>
  typeof v === "string" && v.trim() === "" ? undefined : v;

/** A whole number within bounds; `unit` completes its type error ("… must be a whole number"). */
const whole = (unit: string) => (def: number, min: number, max: number) => (name: string) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: `${name} must be a whole number${unit}` })
      .int(`${name} must be a whole number${unit}`)
      .min(min, `${name} must be at least ${min}`)
      .max(max, `${name} must be at most ${max}`)
      .default(def),
  );
export const ms = whole(" of milliseconds");
export const int = whole("");

/** An optional bearer token: at least 16 characters, so that it cannot be guessed. */
export const bearerSecret = (name: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .min(16, `${name} must be at least 16 characters (use a long random secret)`)
      .optional(),
  );

/** The prover's own intake limit; the gateway never accepts more. */
export const PROVER_MAX_TAPE_BYTES = 2_097_152;
/** Cloudflare Queues refuse a retry delay above 12 h. */
export const QUEUE_MAX_DELAY_SECONDS = 43_200;
/**
 * The longest webhook retry window: `max_retries` 100 (the Queues maximum) of the capped backoff
 * in src/core/webhook.ts spans ~3.8 days, and a queue keeps a message 4 days by default.
 */
export const MAX_WEBHOOK_RETRY_WINDOW_MS = 3 * 86_400_000;
/** Keep one alarm invocation well inside the Durable Object 15-minute wall limit. */
export const MAX_POLL_BUDGET_MS = 600_000;

/** `https://game.example` or `http://localhost:5173`: what a browser sends as Origin. */
function isOrigin(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === "https:" || u.protocol === "http:") && u.origin === s;
  } catch {
    return false;
  }
}

/** An http(s) origin, trailing slashes dropped (the https rule is checked across vars in config.ts). */
const proverUrl = (name: string) =>
  z
    .url({ error: `${name} must be an absolute http(s) URL`, protocol: /^https?$/ })
    .transform((s) => s.replace(/\/+$/, ""));

/** One prover origin (required). */
export const proverOrigin = (name: string) => z.preprocess(blankToUndefined, proverUrl(name));

/** Comma-separated prover origins; empty: none. */
export const proverOrigins = (name: string) =>
  z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((u) => u.trim())
            .filter(Boolean)
        : [],
    z.array(proverUrl(name)),
  );

/** "0" or "1", as a boolean. */
export const flag = (name: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .enum(["0", "1"], { error: `${name} must be 0 or 1` })
      .default("0")
      .transform((v) => v === "1"),
  );

/** One of `values`, `def` when unset. */
export const oneOf =
  <const T extends readonly [string, ...string[]]>(values: T, def: T[number]) =>
  (name: string) => {
    const list =
      values.length === 2
        ? values.join(" or ")
        : `${values.slice(0, -1).join(", ")} or ${values.at(-1)}`;
    return z.preprocess(
      blankToUndefined,
      z.enum(values, { error: `${name} must be ${list}` }).default(def),
    );
  };

/** A JSON object of prover origin → API key; unset: `{}`. */
export const keyMap = (name: string) =>
  z.preprocess(
    (v) => {
      if (blankToUndefined(v) === undefined) return {};
      try {
        return JSON.parse(String(v));
      } catch {
        return null;
      }
    },
    z.record(z.string(), z.string().min(1), {
      error: `${name} must be a JSON object of prover origin → API key`,
    }),
  );

/** A 32-byte image id, 64 hex characters, lowercased; optional. */
export const imageId = (name: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, `${name} must be 64 hex characters (a 32-byte image id)`)
      .transform((s) => s.toLowerCase())
      .optional(),
  );

/** Comma-separated browser origins; empty: none. */
export const browserOrigins = (name: string) =>
  z.preprocess(
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
        error: `${name} must be a comma-separated list of origins like https://game.example (scheme and host only, no path, no *)`,
      }),
  );

/** An optional absolute http(s) URL (the https rule is checked across vars in config.ts). */
export const optionalUrl = (name: string) =>
  z.preprocess(
    blankToUndefined,
    z.url({ error: `${name} must be an absolute http(s) URL`, protocol: /^https?$/ }).optional(),
  );

/** An optional origin, trailing slashes dropped. */
export const optionalOrigin = (name: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .transform((s) => s.trim().replace(/\/+$/, ""))
      .refine(isOrigin, {
        error: `${name} must be an origin like https://gateway.example (scheme and host, no path)`,
      })
      .optional(),
  );

/** An optional string (a secret whose format, if any, config.ts checks). */
export const optionalString = () => z.preprocess(blankToUndefined, z.string().optional());
