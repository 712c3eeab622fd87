import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_VARS, VAR_SCHEMAS } from "../../src/core/vars.ts";

/** The rows of README.md's "## Configuration" table: var name → its default column. */
function readmeDefaults(): Map<string, string> {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Configuration\n")) ?? "";
  const rows = new Map<string, string>();
  for (const line of section.split("\n")) {
    const m = /^\|\s*`([A-Z0-9_]+)`\s*\|([^|]*)\|/.exec(line);
    if (m) rows.set(m[1]!, m[2]!.trim());
  }
  return rows;
}

describe("README configuration table", () => {
  const rows = readmeDefaults();

  it("documents exactly the vars of the list", () => {
    expect([...rows.keys()].sort()).toEqual([...CONFIG_VARS].sort());
  });

  it.each(CONFIG_VARS)("%s: the default column shows the list's default", (name) => {
    const cell = rows.get(name) ?? "";
    expect(cell).not.toBe("");
    const r = VAR_SCHEMAS[name].safeParse(undefined);
    // Required (no default), secret or empty by default: the cell only has to say so.
    const empty =
      r.success &&
      typeof r.data === "object" &&
      r.data !== null &&
      Object.keys(r.data as object).length === 0;
    if (!r.success || r.data === undefined || empty) return;
    // A 0/1 switch parses to a boolean; the README shows the var's own spelling.
    const shown = typeof r.data === "boolean" ? (r.data ? "1" : "0") : String(r.data);
    // A whole word of the cell, so that a default of 3 is not found in 30000.
    expect(cell.split(/[^\w.]+/)).toContain(shown);
  });
});
