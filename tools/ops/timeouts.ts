/**
 * `npm run timeouts`: the operator's timeout audit. Reads wrangler.jsonc (plus `--var NAME:VALUE`
 * overrides, as wrangler takes them), prints every timeout and retry setting with its meaning,
 * how they nest, the worst-case queue retry schedule against the wall-time cap and the DLQ
 * wiring, and exits 1 naming the vars when something is wrong. The nesting rules are the config
 * schema's own (`ORDER_RULES`): one source of truth for this audit and the running Worker.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  ConfigError,
  ORDER_RULES,
  holds,
  parseConfig,
  ruleMessage,
} from "../../src/core/config.ts";
import { worstCaseRetrySchedule } from "../../src/core/retries.ts";
import { CONFIG_VARS, VAR_MEANINGS, VAR_SCHEMAS, type VarName } from "../../src/core/vars.ts";
import { isDeadLetterQueue } from "../../src/queue/message.ts";
import { liveMain } from "./timeouts-live.ts";
import {
  parseVarFlag,
  readWranglerConfig,
  UsageError,
  type WranglerConfig,
} from "./wrangler-config.ts";

export interface Row {
  setting: string;
  value: string;
  meaning: string;
}

export interface Report {
  rows: Row[];
  /** The values the nesting rules compared (defaults filled in). */
  values: Record<string, number>;
  /** Each nesting rule with the values it compared. */
  nesting: { text: string; ok: boolean; why: string }[];
  schedule: {
    queue: string;
    maxRetries: number;
    delaysSeconds: number[];
    totalSeconds: number;
    wallCapMs: number;
    requestTimeoutMs: number;
  } | null;
  wiring: { text: string; ok: boolean }[];
  /** What is wrong; each names the vars (or wrangler.jsonc keys) to change. Empty: all is well. */
  problems: { message: string; vars: string[] }[];
  /** Worth knowing, not wrong. */
  notes: string[];
}

function human(name: string, value: number): string {
  if (name.endsWith("_MS"))
    return value >= 1000 ? `${value} ms (${fmtSeconds(value / 1000)})` : `${value} ms`;
  if (name.endsWith("_SECONDS")) return `${value} s`;
  return String(value);
}

function fmtSeconds(s: number): string {
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 120 && s % 60 === 0) return `${s / 60} min`;
  return `${Number(s.toFixed(3))} s`;
}

/** The pure audit: no files, no printing. */
export function audit(wrangler: WranglerConfig, overrides: Record<string, string> = {}): Report {
  const raw: Record<string, string> = { ...(wrangler.vars ?? {}), ...overrides };
  const problems: Report["problems"] = [];
  const notes: string[] = [];
  try {
    parseConfig(raw);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push({ message: e.message, vars: e.vars });
  }
  // The var's own schema fills in its default, so the table shows what the Worker would run
  // with; a value it refuses is shown as given (the problem above names it).
  const effective = (name: VarName): number => {
    const r = VAR_SCHEMAS[name].safeParse(raw[name]);
    return Number(r.success ? r.data : raw[name]);
  };

  const consumers = wrangler.queues?.consumers ?? [];
  const jobs = consumers.find((c) => !isDeadLetterQueue(c.queue));
  const rows: Row[] = [];
  for (const name of CONFIG_VARS) {
    const { group, meaning } = VAR_MEANINGS[name];
    if (group !== "timeout" && group !== "retry") continue;
    rows.push({ setting: name, value: human(name, effective(name)), meaning });
  }
  if (jobs) {
    rows.push({
      setting: `max_retries (queue ${jobs.queue})`,
      value: String(jobs.max_retries ?? 3),
      meaning:
        "Failed deliveries (errors inside the gateway) retried before the message goes to the dead-letter queue.",
    });
  }

  const values = Object.fromEntries(
    ORDER_RULES.flatMap((r) => [r.low, r.high]).map((n) => [n, effective(n)]),
  );
  const nesting = ORDER_RULES.map((rule) => ({
    text: `${rule.low} ${values[rule.low]}${rule.lowScale ? ` × ${rule.lowScale}` : ""} ${rule.op} ${rule.high} ${values[rule.high]}`,
    ok: holds(rule, values),
    why: holds(rule, values) ? rule.why : ruleMessage(rule, values),
  }));

  let schedule: Report["schedule"] = null;
  const wiring: Report["wiring"] = [];
  if (!jobs) {
    problems.push({
      message: "wrangler.jsonc has no consumer for the jobs queue",
      vars: ["queues.consumers"],
    });
  } else {
    const maxRetries = jobs.max_retries ?? 3;
    const retryCfg = {
      retryMinDelaySeconds: effective("RETRY_MIN_DELAY_SECONDS"),
      retryMaxDelaySeconds: effective("MAX_RETRY_DELAY_SECONDS"),
    };
    const delays = worstCaseRetrySchedule(maxRetries, retryCfg);
    const total = delays.reduce((a, b) => a + b, 0);
    const wallCapMs = effective("MAX_JOB_WALL_TIME_MS");
    const requestTimeoutMs = effective("PROVER_REQUEST_TIMEOUT_MS");
    schedule = {
      queue: jobs.queue,
      maxRetries,
      delaysSeconds: delays,
      totalSeconds: total,
      wallCapMs,
      requestTimeoutMs,
    };
    if (total * 1000 >= wallCapMs) {
      problems.push({
        message: `the worst-case retry schedule (${total} s) outlives MAX_JOB_WALL_TIME_MS (${wallCapMs} ms): jobs would hit the wall-time cap before the dead-letter queue could end them`,
        vars: [
          "RETRY_MIN_DELAY_SECONDS",
          "MAX_RETRY_DELAY_SECONDS",
          `max_retries (queue ${jobs.queue})`,
          "MAX_JOB_WALL_TIME_MS",
        ],
      });
    } else if (total * 1000 + (maxRetries + 1) * requestTimeoutMs >= wallCapMs) {
      notes.push(
        `with every submission also timing out (${maxRetries + 1} × ${requestTimeoutMs} ms), the retries would outlast the wall-time cap: such a job ends wall_time_exceeded rather than retries_exhausted`,
      );
    }
    const dlqName = jobs.dead_letter_queue;
    if (!dlqName) {
      wiring.push({ text: `${jobs.queue} has no dead_letter_queue`, ok: false });
      problems.push({
        message: `queue ${jobs.queue} has no dead_letter_queue: jobs whose retries run out would never be ended`,
        vars: [`dead_letter_queue (queue ${jobs.queue})`],
      });
    } else {
      wiring.push({
        text: `${jobs.queue} (max_batch_size ${jobs.max_batch_size ?? 10}, max_retries ${maxRetries}) → dead_letter_queue ${dlqName}`,
        ok: true,
      });
      const dlq = consumers.find((c) => c.queue === dlqName);
      if (!dlq) {
        wiring.push({ text: `${dlqName} has no consumer`, ok: false });
        problems.push({
          message: `the dead-letter queue ${dlqName} has no consumer: nothing would end the jobs sent there`,
          vars: [`queues.consumers (${dlqName})`],
        });
      } else if (!isDeadLetterQueue(dlq.queue)) {
        wiring.push({ text: `${dlqName} does not end in -dlq`, ok: false });
        problems.push({
          message: `the gateway recognises its dead-letter queue by the -dlq suffix; ${dlqName} does not have it`,
          vars: [`dead_letter_queue (queue ${jobs.queue})`],
        });
      } else {
        wiring.push({
          text: `${dlqName} has its own consumer (max_retries ${dlq.max_retries ?? 3}): it ends jobs as retries_exhausted`,
          ok: true,
        });
      }
    }
    if (jobs.max_batch_size !== undefined && jobs.max_batch_size !== 1) {
      notes.push(
        `max_batch_size ${jobs.max_batch_size}: a batch submits one job at a time, each up to PROVER_REQUEST_TIMEOUT_MS`,
      );
    }
  }
  return { rows, values, nesting, schedule, wiring, problems, notes };
}

export function format(report: Report, source: string): string {
  const out: string[] = [];
  const mark = (ok: boolean) => (ok ? "ok  " : "FAIL");
  out.push(`Timeouts and retries (${source})`, "");
  const w1 = Math.max(...report.rows.map((r) => r.setting.length));
  const w2 = Math.max(...report.rows.map((r) => r.value.length));
  for (const r of report.rows)
    out.push(`  ${r.setting.padEnd(w1)}  ${r.value.padEnd(w2)}  ${r.meaning}`);
  const v = (name: string) => fmtSeconds(report.values[name]! / 1000);
  out.push(
    "",
    `How they nest: request timeout ${v("PROVER_REQUEST_TIMEOUT_MS")} < poll budget ${v("PROVER_POLL_BUDGET_MS")} < poll deadline ${v("PROVER_POLL_TIMEOUT_MS")} < wall-time cap ${v("MAX_JOB_WALL_TIME_MS")}`,
  );
  out.push("(each rule below is the config schema's own):");
  for (const n of report.nesting) out.push(`  ${mark(n.ok)} ${n.text}  — ${n.why}`);
  const s = report.schedule;
  if (s) {
    out.push(
      "",
      `Worst-case retry schedule of queue ${s.queue} (max_retries ${s.maxRetries}, each delay at the top of its jitter):`,
    );
    const ok = s.totalSeconds * 1000 < s.wallCapMs;
    out.push(
      `  ${mark(ok)} ${s.delaysSeconds.join("+") || "0"} = ${s.totalSeconds} s ${ok ? "<" : "≥"} MAX_JOB_WALL_TIME_MS ${fmtSeconds(s.wallCapMs / 1000)}`,
    );
    out.push(
      `       plus ${s.maxRetries + 1} submissions × PROVER_REQUEST_TIMEOUT_MS ${fmtSeconds(s.requestTimeoutMs / 1000)} = ${fmtSeconds(s.totalSeconds + ((s.maxRetries + 1) * s.requestTimeoutMs) / 1000)} at the very worst`,
    );
    out.push(
      "  A busy or failing prover uses none of these: " +
        "waiting jobs are acked and wait in the dispatcher's line.",
    );
  }
  if (report.wiring.length) {
    out.push("", "Queue wiring:");
    for (const w of report.wiring) out.push(`  ${mark(w.ok)} ${w.text}`);
  }
  for (const n of report.notes) out.push("", `note: ${n}`);
  out.push("");
  if (report.problems.length === 0) out.push("All timeouts nest correctly.");
  else {
    out.push(`${report.problems.length} problem(s):`);
    for (const p of report.problems) out.push(`  - ${p.message} [${p.vars.join(", ")}]`);
  }
  return out.join("\n");
}

const USAGE =
  "usage: npm run timeouts -- [--config wrangler.jsonc] [--var NAME:VALUE]...\n" +
  "       npm run timeouts -- --live <gateway URL> [--token ADMIN_TOKEN]";

/** Runs the audit for argv; returns the exit code (0 ok, 1 problems, 2 usage). */
export function main(
  argv: string[],
  print: (s: string) => void = console.log,
  printError: (s: string) => void = console.error,
): number {
  let file = "wrangler.jsonc";
  const overrides: Record<string, string> = {};
  try {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      const [flag, inline] =
        arg.startsWith("--") && arg.includes("=")
          ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
          : [arg, undefined];
      const value = () => {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new UsageError(`${flag} needs a value`);
        return v;
      };
      if (flag === "--help" || flag === "-h") {
        print(USAGE);
        return 0;
      } else if (flag === "--config") file = value();
      else if (flag === "--var") {
        const [name, v] = parseVarFlag(value());
        overrides[name] = v;
      } else throw new UsageError(`unknown argument ${arg}`);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    printError(`${e.message}\n${USAGE}`);
    return 2;
  }
  let wrangler: WranglerConfig;
  try {
    wrangler = readWranglerConfig(resolve(file));
  } catch (e) {
    printError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const names = Object.keys(overrides);
  const report = audit(wrangler, overrides);
  const text = format(report, names.length ? `${file} with --var ${names.join(", ")}` : file);
  if (report.problems.length) printError(text);
  else print(text);
  return report.problems.length ? 1 : 0;
}

/** `--live URL [--token T]`: the running gateway's observed margins (tools/ops/timeouts-live.ts). */
async function cli(argv: string[]): Promise<number> {
  const at = argv.indexOf("--live");
  if (at === -1) return main(argv);
  const rest = argv.filter((_, i) => i !== at && i !== at + 1);
  const t = rest.indexOf("--token");
  const token = t === -1 ? process.env.ADMIN_TOKEN : rest[t + 1];
  const unknown = rest.filter((_, i) => i !== t && i !== t + 1);
  if (!argv[at + 1] || (t !== -1 && !token) || unknown.length) {
    console.error(USAGE);
    return 2;
  }
  return liveMain(argv[at + 1]!, token);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href)
  process.exit(await cli(process.argv.slice(2)));
