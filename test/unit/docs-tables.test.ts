import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { CONFIG_VARS, VARS } from "../../src/core/vars.ts";
import { ERROR_CODES, type ErrorCodeName } from "../../src/http/schemas.ts";
import { ERROR_MEANINGS, renderBlocks, rewrite, run } from "../../tools/ops/docs-tables.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CODES = Object.keys(ERROR_CODES) as ErrorCodeName[];

/** A copy of the files `npm run docs` reads, in a fresh directory. */
function copyRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), "docs-tables-"));
  mkdirSync(join(dir, "docs"));
  cpSync(join(ROOT, "docs"), join(dir, "docs"), { recursive: true });
  for (const f of ["README.md", "wrangler.jsonc"]) cpSync(join(ROOT, f), join(dir, f));
  return dir;
}

/** Runs `npm run docs` on `root`: its exit code and what it printed. */
function docs(root: string, check: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const code = run(
    root,
    check,
    (s) => out.push(s),
    (s) => err.push(s),
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const fresh = () => {
  const d = copyRoot();
  dirs.push(d);
  return d;
};

describe("the generated blocks", () => {
  const blocks = renderBlocks(ROOT);

  it("the var table has one row per var, in the list's order, with its meaning", () => {
    const rows = blocks.vars!.split("\n").slice(2);
    expect(rows.map((r) => /^\| `([A-Z0-9_]+)` \|/.exec(r)?.[1])).toEqual(CONFIG_VARS);
    for (const [i, name] of CONFIG_VARS.entries()) {
      expect(rows[i]).toContain(VARS[name].meaning.replaceAll("|", "\\|"));
    }
  });

  it("shows the schema's default, and wrangler.jsonc's value where it differs", () => {
    const row = (name: string) =>
      blocks.vars!.split("\n").find((r) => r.startsWith(`| \`${name}\``));
    expect(row("PROVER_POLL_TIMEOUT_MS")).toContain("| 660000 (11 min) |");
    expect(row("PROVER_ALLOW_CPU")).toContain("| `0` |");
    expect(row("VERIFY_RECEIPTS")).toContain("| `groth16` |");
    expect(row("ADMIN_TOKEN")).toContain("| — (secret) |");
    expect(row("PROVER_BASE_URL")).toContain(
      "| required; `http://127.0.0.1:8790` in wrangler.jsonc |",
    );
    expect(row("PROVER_EXPECTED_IMAGE_ID")).toContain(
      "| empty; `30cb1dce…7090` in wrangler.jsonc |",
    );
  });

  it("the full error table has every code with its status and meaning", () => {
    const rows = blocks["error-codes-full"]!.split("\n").slice(2);
    expect(rows).toHaveLength(CODES.length);
    for (const [i, code] of CODES.entries()) {
      expect(rows[i]!.startsWith(`| \`${code}\` | ${ERROR_CODES[code]} | `), code).toBe(true);
    }
    expect(Object.keys(ERROR_MEANINGS).sort()).toEqual([...CODES].sort());
  });

  it("the compact error table puts every code once, under its status", () => {
    const seen = new Map<string, number>();
    for (const row of blocks["error-codes"]!.split("\n").slice(2)) {
      const [codes, status] = row.split(" | ");
      for (const [, c] of codes!.matchAll(/`([a-z_]+)`/g)) {
        expect(seen.has(c!), c).toBe(false);
        seen.set(c!, Number(status));
      }
    }
    expect(Object.fromEntries(seen)).toEqual(ERROR_CODES);
  });

  it("the timeout block is `npm run timeouts`' output, fenced", () => {
    expect(blocks.timeouts).toMatch(/^```\nTimeouts and retries \(wrangler.jsonc\)\n[\s\S]*\n```$/);
    expect(blocks.timeouts).toContain("All timeouts nest correctly.");
  });
});

describe("rewrite", () => {
  it("replaces only what is between a block's markers", () => {
    const text = "before\n<!-- generated:a note -->\nold\n<!-- /generated:a -->\nafter\n";
    expect(rewrite(text, { a: "new" }, "x.md")).toBe(
      "before\n<!-- generated:a note -->\nnew\n<!-- /generated:a -->\nafter\n",
    );
  });

  it("fills an empty block", () => {
    const text = "<!-- generated:a -->\n<!-- /generated:a -->\n";
    expect(rewrite(text, { a: "x\ny" }, "x.md")).toBe(
      "<!-- generated:a -->\nx\ny\n<!-- /generated:a -->\n",
    );
  });

  it("refuses a block it does not know, naming the file", () => {
    expect(() => rewrite("<!-- generated:zz -->\n<!-- /generated:zz -->", {}, "x.md")).toThrow(
      /x\.md: unknown generated block "zz"/,
    );
  });
});

describe("npm run docs", () => {
  it("--check passes on the committed README and docs", () => {
    expect(docs(ROOT, true)).toEqual({ code: 0, out: "", err: "" });
  });

  it("--check fails on a stale block, naming the file, and writes nothing", () => {
    const root = fresh();
    const readme = join(root, "README.md");
    const stale = readFileSync(readme, "utf8").replace(/\| 660000 \(11 min\) \|/, "| 600000 |");
    writeFileSync(readme, stale);
    const r = docs(root, true);
    expect(r.code).toBe(1);
    expect(r.err).toBe("README.md is stale: run npm run docs");
    expect(readFileSync(readme, "utf8")).toBe(stale);
  });

  it("without --check rewrites the stale file back to the committed one", () => {
    const root = fresh();
    const api = join(root, "docs", "api.md");
    writeFileSync(
      api,
      readFileSync(api, "utf8").replace(/\| `tape_empty` \| 400 \|/, "| `x` | 1 |"),
    );
    expect(docs(root, false)).toMatchObject({ code: 0, out: "rewrote docs/api.md" });
    expect(readFileSync(api, "utf8")).toBe(readFileSync(join(ROOT, "docs", "api.md"), "utf8"));
    expect(docs(root, true).code).toBe(0);
  });

  it("exits 2 when a block is in no file", () => {
    const root = fresh();
    const readme = join(root, "README.md");
    writeFileSync(readme, readFileSync(readme, "utf8").replaceAll("generated:vars", "gone"));
    expect(docs(root, true)).toMatchObject({
      code: 2,
      err: "no file has the generated block(s) vars",
    });
  });
});
