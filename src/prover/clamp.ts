/**
 * Strings from a prover are untrusted: each one is clamped here before the gateway stores, logs
 * or shows it (a job's error, a health reading, the status document kept as the result). A
 * clamped string has no control or bidi-format characters and a bounded length; a prover job id,
 * which goes into URLs, must be a plain URL-safe token or the reply is refused.
 */

/** How long each kind of prover string may be, in UTF-16 units. */
export const CLAMP = {
  /** `error` texts (a guest panic message is one line; 512 leaves room for it). */
  message: 512,
  /** `error_code` and other enum-like words: `proof_timeout`, `groth16`, `cuda`, `AST3`. */
  code: 64,
  /** Short free fields of `/health`: `status`, `service`, `accelerator`, `image_id`. */
  field: 128,
  /** Any other string inside a prover's JSON reply (the status document is stored whole). */
  any: 4096,
  /** Object keys inside a prover's JSON reply. */
  key: 128,
} as const;

/** How deep a prover's JSON reply may nest (a groth16 status document with an unpruned receipt
 * claim nests under 20 levels). */
export const MAX_REPLY_DEPTH = 32;

/** C0/C1 controls, DEL, and format characters (bidi overrides, zero-width, line separators). */
const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;
const SPACING = /[\t\n\r]+/g;

/**
 * The string without control characters (tabs and newlines become one space), trimmed, at most
 * `max` UTF-16 units (cut with "…", never inside a surrogate pair).
 */
export function clampText(s: string, max: number = CLAMP.message): string {
  // Only a bounded prefix is ever looked at: a megabyte of text costs no more than `max`.
  let out = s
    .slice(0, max * 4 + 8)
    .replace(SPACING, " ")
    .replace(UNSAFE, "")
    .trim();
  if (out.length > max) {
    out = out.slice(0, max - 1);
    if (/[\uD800-\uDBFF]$/.test(out)) out = out.slice(0, -1);
    out += "…";
  }
  return out;
}

/** An enum-like word from a prover (an `error_code`, a receipt kind): letters, digits, `_.:-`. */
export function clampCode(s: string, max: number = CLAMP.code): string | undefined {
  const out = s
    .slice(0, max * 4)
    .replace(/[^A-Za-z0-9_.:-]/g, "")
    .slice(0, max);
  return out === "" ? undefined : out;
}

/**
 * Whether a prover's job id can go into a URL path as it is: 1–128 unreserved characters
 * (RFC 3986: letters, digits, `-._~`), and not `.` or `..` (a URL would resolve them away).
 */
export function isSafeJobId(s: unknown): s is string {
  return typeof s === "string" && /^[A-Za-z0-9._~-]{1,128}$/.test(s) && !/^\.+$/.test(s);
}

/**
 * A prover's parsed JSON with every string and key clamped (strings to CLAMP.any, keys to
 * CLAMP.key); null when it nests deeper than MAX_REPLY_DEPTH (which a later JSON.stringify or
 * structured clone might not survive). Keys are copied as data (`__proto__` stays a plain key).
 */
export function clampJson(value: unknown, depth = 0): { value: unknown } | null {
  if (typeof value === "string") return { value: clampText(value, CLAMP.any) };
  if (value === null || typeof value !== "object") return { value };
  if (depth >= MAX_REPLY_DEPTH) return null;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const c = clampJson(item, depth + 1);
      if (!c) return null;
      out.push(c.value);
    }
    return { value: out };
  }
  const entries: [string, unknown][] = [];
  for (const [k, v] of Object.entries(value)) {
    const c = clampJson(v, depth + 1);
    if (!c) return null;
    entries.push([clampText(k, CLAMP.key), c.value]);
  }
  return { value: Object.fromEntries(entries) };
}
