/**
 * `npm run docs`: rewrites the generated blocks of README.md and docs/*.md from the code — the var
 * table (src/core/vars.ts), the error codes (ERROR_CODES, src/http/schemas.ts) and the output of
 * `npm run timeouts` on the committed wrangler.jsonc. A block sits between
 * `<!-- generated:NAME … -->` and `<!-- /generated:NAME -->`; nothing outside blocks is touched.
 * `npm run docs -- --check` (CI) writes nothing and exits 1 naming each stale file.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CONFIG_VARS, VAR_SCHEMAS, VARS, type VarName } from "../../src/core/vars.ts";
import { ERROR_CODES, type ErrorCodeName } from "../../src/core/error-codes.ts";
import { audit, format } from "./timeouts.ts";
import { readWranglerConfig } from "./wrangler-config.ts";

/**
 * What each error code means. ERROR_CODES holds only code → status; the type makes a new code
 * without a meaning a typecheck error.
 */
export const ERROR_MEANINGS: Record<ErrorCodeName, string> = {
  tape_empty: "empty body",
  tape_truncated: "shorter than the 28-byte header + trailer",
  bad_magic: "bytes 0..4 are not `PTKZ` (`0x5A4B5450`)",
  unsupported_version: "version byte is not 2",
  unsupported_rules: "rules tag is not 3 (AST3)",
  reserved_bytes_set: "header bytes 6..8 are not zero",
  too_many_frames: "frame count over 18,000",
  length_mismatch: "the length is not exactly 16 + frames + 12",
  reserved_input_bits_set: "a frame input has any of its high 4 bits set",
  checksum_mismatch: "the CRC-32 of header + inputs disagrees with the tape's",
  zero_score: "final score 0: the prover refuses to prove it",
  tape_too_large:
    "body over `MAX_TAPE_BYTES`: refused on a declared `Content-Length` before reading, or as soon as the stream passes the limit",
  unsupported_media_type: "a content type other than `application/octet-stream`",
  body_unreadable: "the request body stream failed",
  invalid_job_id: "a job id that is not 64 lowercase hex characters",
  cancel_forbidden:
    "`DELETE` without `Authorization: Bearer <cancel_token>`, or with a token that is not this attempt's (nor the `ADMIN_TOKEN`)",
  job_succeeded: "`DELETE` of a job that already succeeded: its proof is kept",
  job_failed: "`DELETE` of a job that already failed: it stays failed",
  job_not_found:
    "no such job (never submitted, or cleared after `COMPLETED_JOB_RETENTION_MS` with no result kept in R2)",
  result_not_ready: "the job is still `queued` or `proving`",
  no_result: "the job ended `failed` or `cancelled`",
  result_not_found: "the job succeeded but its R2 result document is gone (R2 lifecycle rule)",
  rate_limited:
    "more `POST /api/proofs/jobs` (30 per 60 s) or `GET /api/health` (60 per 60 s) from this client than the limit; `Retry-After` says when to try again",
  upgrade_required: "`GET …/ws` without `Upgrade: websocket`",
  origin_forbidden:
    "`GET …/ws` from a browser origin that is neither the gateway's nor in `CORS_ALLOWED_ORIGINS`",
  too_many_sockets: "a job already has 20 live-status sockets: poll `GET` instead",
  too_many_waiting:
    "this client already has `MAX_WAITING_PER_CLIENT` jobs queued or proving; `Retry-After: 60`. Re-posting a tape already in flight (the `200` answer) never gets it",
  invalid_claimant:
    "`x-claimant-address` is not a Stellar `G…` account or `C…` contract StrKey with a valid checksum (a secret `S…` seed is refused and named as one)",
  settlement_disabled: "`PUT /api/settlement/*` while no `SETTLEMENT_TOKEN` is configured",
  claim_settled:
    "a claim report for a claim that already succeeded (the same report again is accepted)",
  body_too_large: "a claim report over 4 KiB",
  unauthorized:
    "`/api/admin/*` or `/api/settlement/*` without the right `Authorization: Bearer` token (`WWW-Authenticate: Bearer`)",
  admin_disabled: "`/api/admin/*` while no `ADMIN_TOKEN` is configured",
  invalid_status: "`GET /api/admin/jobs?status=` that is not a job status",
  invalid_limit: "`GET /api/admin/jobs?limit=` outside 1..100",
  invalid_cursor: "`GET /api/admin/jobs?cursor=` that is not a `next_cursor` it gave",
  job_not_redrivable: "redrive of a job that is not `failed` or `cancelled`",
  tape_missing: "redrive of a job whose tape R2 no longer holds",
  invalid_body:
    "`POST /api/admin/provers` without a JSON body or with a bad `apiKey`; a claim report that is not JSON or breaks its schema (the message names the field)",
  invalid_prover_url:
    "`POST /api/admin/provers` with a URL that breaks the `PROVER_BASE_URL` rules (absolute http(s) origin; https unless loopback or `ALLOW_INSECURE_PROVER_URL=1`)",
  prover_exists: "that prover is already in the fleet (its key unchanged)",
  prover_not_found: "no prover with that id",
  prover_proving: "`DELETE` of a prover that is proving a job (drain it first)",
  prover_configured:
    "`DELETE` of a prover from `PROVER_BASE_URL(S)`: it can be drained, not deleted",
  not_found: "no such route",
  config_invalid:
    "a wrangler var is invalid; `error.vars` names it (never its value) and `GET /api/admin/health` says why",
  queue_unavailable:
    "the jobs queue failed (a new attempt could not be enqueued: nothing was kept, post again); `Retry-After: 5`",
  storage_unavailable:
    "R2 failed (the tape could not be stored: nothing was accepted, post again; or a result could not be read); `Retry-After: 5`",
  object_unavailable:
    "a Durable Object (the job, the dispatcher or the job index) threw, was reset or is overloaded; `Retry-After: 5`. A post it interrupted is not counted against its client",
  bad_request: "a request the HTTP framework itself refused",
  internal_error: "a bug; logged",
};

/** What a status means across its codes (the README's compact table). */
const STATUS_MEANINGS: Record<number, string> = {
  400: "the request or the tape is malformed",
  401: "a bearer token is missing or wrong",
  403: "not allowed, or the feature is not configured",
  404: "no such job, result, prover or route",
  409: "the job, claim or prover is in the wrong state for this",
  413: "the body is too large",
  415: "the body's content type is not a tape's",
  426: "a WebSocket upgrade is needed",
  429: "a limit of this client or job (`Retry-After` on `rate_limited` and `too_many_waiting`)",
  500: "a bug",
  503: "a dependency or the config failed; `Retry-After: 5` (not for `config_invalid`)",
};

const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");

/** 250 ms, 30 s, 11 min, 24 h. */
function duration(ms: number): string {
  if (ms < 1000 || ms % 1000 !== 0) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 120 || s % 60 !== 0) return `${s} s`;
  const m = s / 60;
  return m < 120 || m % 60 !== 0 ? `${m} min` : `${m / 60} h`;
}

/** A long value (an image id) shortened to its ends. */
const short = (v: string) => (v.length > 24 ? `${v.slice(0, 8)}…${v.slice(-4)}` : v);

/** The default column: the schema's default, and wrangler.jsonc's value where it differs. */
function defaultCell(name: VarName, committed: Record<string, string>): string {
  const r = VAR_SCHEMAS[name].safeParse(undefined);
  const secret = VARS[name].group === "secret";
  const data: unknown = r.success ? r.data : undefined;
  const none =
    data === undefined ||
    (Array.isArray(data) && data.length === 0) ||
    (typeof data === "object" && data !== null && Object.keys(data).length === 0);
  let shown: string;
  if (!r.success) shown = "required";
  else if (none) shown = secret ? "— (secret)" : "empty";
  else if (typeof data === "boolean") shown = `\`${data ? 1 : 0}\``;
  else if (typeof data === "number")
    shown = name.endsWith("_MS") && data >= 1000 ? `${data} (${duration(data)})` : `${data}`;
  else shown = `\`${String(data)}\``;
  // wrangler.jsonc's value, when it sets one other than the default.
  const set = committed[name]?.trim();
  const def = none ? "" : typeof data === "boolean" ? (data ? "1" : "0") : String(data);
  if (set && (!r.success || set !== def)) shown += `; \`${short(set)}\` in wrangler.jsonc`;
  return shown;
}

/** Every generated block by name: its text between the markers. */
export function renderBlocks(root: string): Record<string, string> {
  const wrangler = readWranglerConfig(join(root, "wrangler.jsonc"));
  const committed = wrangler.vars ?? {};
  const vars = [
    "| var | default | meaning |",
    "|---|---|---|",
    ...CONFIG_VARS.map(
      (n) => `| \`${n}\` | ${cell(defaultCell(n, committed))} | ${cell(VARS[n].meaning)} |`,
    ),
  ];
  const codes = Object.keys(ERROR_CODES) as ErrorCodeName[];
  const statuses = [...new Set(codes.map((c) => ERROR_CODES[c] as number))].sort((a, b) => a - b);
  const compact = [
    "| codes | HTTP | in short |",
    "|---|---|---|",
    ...statuses.map((s) => {
      const these = codes.filter((c) => ERROR_CODES[c] === s).map((c) => `\`${c}\``);
      return `| ${these.join(" / ")} | ${s} | ${cell(STATUS_MEANINGS[s] ?? "")} |`;
    }),
  ];
  const full = [
    "| code | HTTP | cause |",
    "|---|---|---|",
    ...codes.map((c) => `| \`${c}\` | ${ERROR_CODES[c]} | ${cell(ERROR_MEANINGS[c])} |`),
  ];
  const timeouts = ["```", format(audit(wrangler), "wrangler.jsonc"), "```"];
  return {
    vars: vars.join("\n"),
    "error-codes": compact.join("\n"),
    "error-codes-full": full.join("\n"),
    timeouts: timeouts.join("\n"),
  };
}

const BLOCK = /(<!-- generated:([a-z-]+)[^>]*-->\n)([\s\S]*?)(\n?<!-- \/generated:\2 -->)/g;

/** `text` with each block's body replaced; throws naming an unknown block. */
export function rewrite(text: string, blocks: Record<string, string>, file: string): string {
  return text.replace(BLOCK, (_, open: string, name: string, _body: string, close: string) => {
    const body = blocks[name];
    if (body === undefined) throw new Error(`${file}: unknown generated block "${name}"`);
    return `${open}${body}\n${close.replace(/^\n/, "")}`;
  });
}

/** README.md and every docs/*.md, relative to `root`. */
export function docFiles(root: string): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`);
  return ["README.md", ...docs];
}

/** Rewrites (or with `check`, compares) every file's blocks; returns the exit code. */
export function run(
  root: string,
  check: boolean,
  print: (s: string) => void = console.log,
  printError: (s: string) => void = console.error,
): number {
  const blocks = renderBlocks(root);
  const used = new Set<string>();
  const stale: string[] = [];
  try {
    for (const file of docFiles(root)) {
      const path = join(root, file);
      const text = readFileSync(path, "utf8");
      for (const m of text.matchAll(BLOCK)) used.add(m[2]!);
      const fresh = rewrite(text, blocks, file);
      if (fresh === text) continue;
      stale.push(file);
      if (!check) writeFileSync(path, fresh);
    }
  } catch (e) {
    printError(e instanceof Error ? e.message : String(e));
    return 2;
  }
  const unused = Object.keys(blocks).filter((b) => !used.has(b));
  if (unused.length) {
    printError(`no file has the generated block(s) ${unused.join(", ")}`);
    return 2;
  }
  if (check) {
    for (const f of stale) printError(`${f} is stale: run npm run docs`);
    return stale.length ? 1 : 0;
  }
  print(stale.length ? `rewrote ${stale.join(", ")}` : "docs are up to date");
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  if (args.some((a) => a !== "--check")) {
    console.error("usage: npm run docs [-- --check]");
    process.exit(2);
  }
  process.exit(run(fileURLToPath(new URL("../..", import.meta.url)), args.includes("--check")));
}
