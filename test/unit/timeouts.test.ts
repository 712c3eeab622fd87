import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { audit, main } from "../../tools/ops/timeouts.ts";
import {
  parseVarFlag,
  parseWranglerConfig,
  type WranglerConfig,
} from "../../tools/ops/wrangler-config.ts";
import { worstCaseRetrySchedule } from "../../src/core/retries.ts";
import { isDeadLetterQueue } from "../../src/queue/message.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const committed = (): WranglerConfig =>
  parseWranglerConfig(readFileSync(`${ROOT}wrangler.jsonc`, "utf8"));
const jobsConsumer = (w: WranglerConfig) =>
  w.queues!.consumers!.find((c) => !isDeadLetterQueue(c.queue))!;
const run = (argv: string[]) => {
  const out: string[] = [];
  const code = main(
    argv,
    (s) => out.push(s),
    (s) => out.push(s),
  );
  return { code, text: out.join("\n") };
};

describe("npm run timeouts: the audit", () => {
  it("passes on the committed wrangler.jsonc, with the schedule the README quotes", () => {
    const r = audit(committed());
    expect(r.problems).toEqual([]);
    expect(r.nesting.every((n) => n.ok)).toBe(true);
    const w = committed();
    const expected = worstCaseRetrySchedule(jobsConsumer(w).max_retries!, {
      retryMinDelaySeconds: Number(w.vars!.RETRY_MIN_DELAY_SECONDS),
      retryMaxDelaySeconds: Number(w.vars!.MAX_RETRY_DELAY_SECONDS),
    });
    expect(r.schedule).toMatchObject({
      queue: "proof-jobs",
      delaysSeconds: expected,
      totalSeconds: expected.reduce((a, b) => a + b, 0),
    });
    expect(r.schedule!.totalSeconds).toBe(362);
    expect(r.rows.map((x) => x.setting)).toEqual(
      expect.arrayContaining([
        "PROVER_POLL_BUDGET_MS",
        "PROVER_STALL_WINDOW_MS",
        "MAX_JOB_WALL_TIME_MS",
        "max_retries (queue proof-jobs)",
      ]),
    );
  });

  // Each broken invariant is refused by the config schema itself, naming the var to change.
  it.each([
    ["budget < interval", { PROVER_POLL_INTERVAL_MS: "50000" }, "PROVER_POLL_BUDGET_MS"],
    ["poll deadline ≥ wall cap", { PROVER_POLL_TIMEOUT_MS: "720000" }, "PROVER_POLL_TIMEOUT_MS"],
    [
      "request timeout ≥ budget",
      { PROVER_REQUEST_TIMEOUT_MS: "45000" },
      "PROVER_REQUEST_TIMEOUT_MS",
    ],
    ["retry floor > ceiling", { RETRY_MIN_DELAY_SECONDS: "61" }, "RETRY_MIN_DELAY_SECONDS"],
    [
      "stall window ≥ poll deadline",
      { PROVER_STALL_WINDOW_MS: "660000" },
      "PROVER_STALL_WINDOW_MS",
    ],
  ])("%s → a problem naming %s, and exit 1", (_name, overrides, varName) => {
    const r = audit(committed(), overrides);
    expect(r.problems.flatMap((p) => p.vars)).toContain(varName);
    expect(r.nesting.some((n) => !n.ok)).toBe(true);
    const args = Object.entries(overrides).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
    const { code, text } = run(["--config", `${ROOT}wrangler.jsonc`, ...args]);
    expect(code).toBe(1);
    expect(text).toContain(varName);
  });

  it("the retry schedule against the wall-time cap: just inside passes, at the cap it fails naming the vars", () => {
    const total = audit(committed()).schedule!.totalSeconds;
    // Keep the nesting valid while moving the cap: the poll deadline and stall window stay below
    // it.
    const small = { PROVER_POLL_TIMEOUT_MS: "100000", PROVER_STALL_WINDOW_MS: "90000" };
    const inside = audit(committed(), { ...small, MAX_JOB_WALL_TIME_MS: String(total * 1000 + 1) });
    expect(inside.problems).toEqual([]);
    const outside = audit(committed(), { ...small, MAX_JOB_WALL_TIME_MS: String(total * 1000) });
    expect(outside.problems).toHaveLength(1);
    expect(outside.problems[0]!.vars).toEqual([
      "RETRY_MIN_DELAY_SECONDS",
      "MAX_RETRY_DELAY_SECONDS",
      "max_retries (queue proof-jobs)",
      "MAX_JOB_WALL_TIME_MS",
    ]);
  });

  it("the jobs queue must dead-letter to a queue that has its own consumer", () => {
    const w = committed();
    const noDlqConsumer: WranglerConfig = {
      ...w,
      queues: { ...w.queues, consumers: [jobsConsumer(w)] },
    };
    expect(
      audit(noDlqConsumer)
        .problems.map((p) => p.message)
        .join(),
    ).toMatch(/proof-jobs-dlq has no consumer/);
    const noDlq: WranglerConfig = {
      ...w,
      queues: { ...w.queues, consumers: [{ ...jobsConsumer(w), dead_letter_queue: undefined }] },
    };
    expect(
      audit(noDlq)
        .problems.map((p) => p.message)
        .join(),
    ).toMatch(/no dead_letter_queue/);
  });
});

describe("reading wrangler.jsonc and --var like wrangler", () => {
  it("takes comments, trailing commas and // inside strings", () => {
    const w = parseWranglerConfig(`{
      // a comment
      "vars": { "PROVER_BASE_URL": "https://prover.example//x", /* block */ "A": "1", },
    }`);
    expect(w.vars).toEqual({ PROVER_BASE_URL: "https://prover.example//x", A: "1" });
  });
  it("refuses broken JSON with a position", () => {
    expect(() => parseWranglerConfig(`{ "vars": { "A": }`)).toThrow(/offset/);
  });
  it("NAME:VALUE keeps colons in the value (URLs)", () => {
    expect(parseVarFlag("PROVER_BASE_URL:https://p.example:8443/x")).toEqual([
      "PROVER_BASE_URL",
      "https://p.example:8443/x",
    ]);
    expect(() => parseVarFlag("NOCOLON")).toThrow(/NAME:VALUE/);
  });
  it("bad usage exits 2", () => {
    expect(run(["--nope"]).code).toBe(2);
    expect(run(["--var", "X"]).code).toBe(2);
    expect(run(["--var"]).code).toBe(2);
  });
});

describe("as a command", () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [`${ROOT}tools/ops/timeouts.ts`, ...args], {
      cwd: ROOT,
      encoding: "utf8",
    });
  it("exits 0 on the committed config and prints every timeout var", () => {
    const r = cli([]);
    expect(r.status).toBe(0);
    for (const name of [
      "PROVER_REQUEST_TIMEOUT_MS",
      "PROVER_POLL_INTERVAL_MS",
      "PROVER_POLL_BUDGET_MS",
      "PROVER_STALL_WINDOW_MS",
      "PROVER_POLL_TIMEOUT_MS",
      "MAX_JOB_WALL_TIME_MS",
      "proof-jobs-dlq",
    ]) {
      expect(r.stdout).toContain(name);
    }
  });
  it("exits 1 naming the vars when an override breaks the nesting", () => {
    const r = cli(["--var", "MAX_JOB_WALL_TIME_MS:600000"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("PROVER_POLL_TIMEOUT_MS");
    expect(r.stderr).toContain("MAX_JOB_WALL_TIME_MS");
  });
});
