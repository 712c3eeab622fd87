import { readFileSync } from "node:fs";
import { parse, printParseErrorCode, type ParseError } from "jsonc-parser";

/** The parts of wrangler.jsonc the timeout audit reads. */
export interface QueueConsumer {
  queue: string;
  max_batch_size?: number;
  max_batch_timeout?: number;
  max_retries?: number;
  dead_letter_queue?: string;
}

export interface WranglerConfig {
  compatibility_date?: string;
  compatibility_flags?: string[];
  vars?: Record<string, string>;
  queues?: { producers?: { binding: string; queue: string }[]; consumers?: QueueConsumer[] };
  ratelimits?: { name: string; namespace_id: string; simple: { limit: number; period: number } }[];
}

/** Parses JSONC as wrangler does: comments and trailing commas allowed, anything else an error. */
export function parseWranglerConfig(text: string, file = "wrangler.jsonc"): WranglerConfig {
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0) {
    const e = errors[0]!;
    throw new Error(`${file}: ${printParseErrorCode(e.error)} at offset ${e.offset}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error(`${file}: not a JSON object`);
  return value as WranglerConfig;
}

export function readWranglerConfig(path: string): WranglerConfig {
  return parseWranglerConfig(readFileSync(path, "utf8"), path);
}

/** `NAME:VALUE`, as `wrangler dev --var` takes it (the value may itself contain ':'). */
export function parseVarFlag(flag: string): [string, string] {
  const i = flag.indexOf(":");
  if (i <= 0) throw new UsageError(`--var wants NAME:VALUE, got "${flag}"`);
  return [flag.slice(0, i), flag.slice(i + 1)];
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}
