import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { errorBody } from "../core/error-codes.ts";
import { ConfigError, configFrom, publicConfig, type Config } from "../core/config.ts";
import { VAR_SCHEMAS } from "../core/vars.ts";
import { dispatcherOf, type LineSummary } from "../objects/prover-dispatcher.ts";
import { proverHealth } from "../prover/health.ts";
import type { AppEnv } from "./app-env.ts";
import { ADMIN_GATE, requireBearer } from "./bearer.ts";
import { clientKey } from "./client.ts";
import { ApiError, publicConfigMessage } from "./errors.ts";
import { answers, json, SECURITY } from "./route-spec.ts";
import * as S from "./schemas.ts";

/**
 * The gateway's health, in two views. `GET /api/health` (anonymous): whether it can prove now,
 * the fleet as counts by state, the line's length and whether the config is valid; no URL, job
 * id or holder; one dispatcher read per isolate per PUBLIC_HEALTH_CACHE_MS, however many ask;
 * rate-limited per client. `GET /api/admin/health` (ADMIN_TOKEN): the whole picture for
 * operators, read afresh. Both judge `status` by the fleet, not by any one prover.
 */

/** How long one isolate answers the public health from one reading of the dispatcher (ms). */
export const PUBLIC_HEALTH_CACHE_MS = 5_000;

/**
 * HEALTH_RATE_LIMITER (wrangler.jsonc `ratelimits`; a unit test keeps them equal): this many
 * public health reads per client per period, generous for a game that asks on load and a monitor
 * that asks every few seconds. Excess: 429 rate_limited with Retry-After: the period.
 */
export const HEALTH_RATE_LIMIT = 60;
export const HEALTH_RATE_PERIOD_SECONDS = 60;

/**
 * The prover states in which a prover proves, or gets the next job without an operator: free and
 * healthy (`available`), `proving`, resting a poll interval after a 429 or a failed submission
 * (`busy`), or not read for a while (`unchecked`: its last reading, if any, was good, and it is
 * read again before it gets work). Every other state (open circuit, drained, unreachable,
 * incompatible, on the CPU, in dev mode, quarantined, or any state added later) is out.
 */
export const WORKING_STATES: ReadonlySet<string> = new Set([
  "available",
  "proving",
  "busy",
  "unchecked",
]);

/** `ok` while at least one prover is in a working state; `degraded` otherwise (or unknown). */
export function fleetStatus(provers: Partial<Record<string, number>> | null): "ok" | "degraded" {
  if (!provers) return "degraded";
  const working = Object.entries(provers).some(([s, n]) => WORKING_STATES.has(s) && (n ?? 0) > 0);
  return working ? "ok" : "degraded";
}

/** What the public view shows of the line: its length and the fleet's counts by state. */
export interface PublicLine {
  waiting: number;
  provers: LineSummary["provers"];
}

export interface FleetReading {
  at: number;
  /** Null: the dispatcher could not be read (the gateway is then `degraded`). */
  line: PublicLine | null;
}

/**
 * The last reading per dispatcher binding (one per isolate in production; a test's replaced
 * binding gets its own), and whether a request is reading the line right now. Only settled
 * readings are shared: a promise is never awaited by another request than its own.
 */
const readings = new WeakMap<object, { last: FleetReading | null; since: number | null }>();

/**
 * The line and the fleet for the public view: the last reading while it is younger than
 * PUBLIC_HEALTH_CACHE_MS, or while another request of this isolate is taking the next one (so a
 * flood asks the dispatcher once per period, not once per request); else a new reading.
 */
export async function fleetReading(env: Env, now: number): Promise<FleetReading> {
  let entry = readings.get(env.DISPATCHER);
  if (!entry) readings.set(env.DISPATCHER, (entry = { last: null, since: null }));
  const { last, since } = entry;
  if (last && now - last.at < PUBLIC_HEALTH_CACHE_MS) return last;
  if (last && since !== null && now - since < PUBLIC_HEALTH_CACHE_MS) return last;
  entry.since = now;
  try {
    const summary = await lineSummary(env);
    const reading = {
      at: now,
      line: summary && { waiting: summary.waiting, provers: summary.provers },
    };
    entry.last = reading;
    return reading;
  } finally {
    entry.since = null;
  }
}

/** The dispatcher's summary of the line and the fleet; null (logged) when it cannot say. */
async function lineSummary(env: Env): Promise<LineSummary | null> {
  try {
    return await dispatcherOf(env).summary();
  } catch (e) {
    console.error(JSON.stringify({ event: "health_line_unreadable", error: String(e) }));
    return null;
  }
}

export const healthRoute = createRoute({
  method: "get",
  path: "/api/health",
  summary: "Whether the gateway can prove now: status, the fleet by state, the line's length",
  description:
    "Anonymous, for the game and monitors: no prover URL, job id or holder. One reading of the line per isolate every 5 s, however many ask; rate-limited per client (HEALTH_RATE_LIMITER). The full view is GET /api/admin/health.",
  tags: ["player"],
  responses: answers(
    {
      200: json("The gateway is up (`status` says whether it can prove now).", S.HealthBody),
      503: json(
        "config_invalid: a wrangler var is invalid; `error.vars` names it (its value is not shown).",
        S.HealthConfigInvalidBody,
      ),
    },
    ["rate_limited", "internal_error"],
  ),
});

/** `GET /api/health`: anonymous, cached, rate-limited; `503 config_invalid` names the bad vars. */
export async function publicHealth(c: Context<AppEnv>) {
  await limitHealth(c);
  let cfg: Config;
  try {
    cfg = configFrom(c.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return configInvalid(c, e, publicConfigMessage(e));
  }
  const reading = await fleetReading(c.env, Date.now());
  return c.json({
    success: true as const,
    status: fleetStatus(reading.line?.provers ?? null),
    config: {
      valid: true as const,
      proverExpectedImageId: cfg.proverExpectedImageId ?? null,
      verifyReceipts: cfg.verifyReceipts,
    },
    line: reading.line,
    checkedAt: reading.at,
  });
}

export const adminHealthRoute = createRoute({
  method: "get",
  path: "/api/admin/health",
  summary:
    "The whole health: config, the configured prover's reading, the line with holders, margins",
  description:
    "Read afresh on every call. Answers while the config is invalid (503 with what is wrong with each var), so its own ADMIN_TOKEN check is made on that var alone.",
  tags: ["admin"],
  security: SECURITY.admin,
  responses: answers(
    {
      200: json("The gateway is up (`status` as in GET /api/health).", S.AdminHealthBody),
      503: json(
        "config_invalid: `error.vars` names the bad vars, `error.message` says why.",
        S.HealthConfigInvalidBody,
      ),
    },
    ["admin_disabled", "unauthorized", "internal_error"],
  ),
});

/**
 * `GET /api/admin/health`: the config (no secrets), the PROVER_BASE_URL prover's own reading,
 * the line with its holders, the fleet, the timeout margins and the dispatcher's call counts,
 * read afresh. An invalid config answers 503 with the whole message (the public view names the
 * vars only). Behind ADMIN_TOKEN, checked here on its own so that it works while other vars are
 * invalid.
 */
export async function adminHealth(c: Context<AppEnv>) {
  await requireAdmin(c);
  let cfg: Config;
  try {
    cfg = configFrom(c.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return configInvalid(c, e, e.message);
  }
  const [prover, line] = await Promise.all([proverHealth(cfg), lineSummary(c.env)]);
  return c.json({
    success: true as const,
    status: fleetStatus(line?.provers ?? null),
    config: publicConfig(cfg),
    prover: { url: cfg.proverBaseUrl, ...prover },
    line,
    // Observed proof times near a timeout (line.timeouts has the figures).
    warnings: line?.timeouts.warnings ?? [],
  });
}

function configInvalid(c: Context<AppEnv>, e: ConfigError, message: string) {
  console.error(JSON.stringify({ event: "config_invalid", vars: e.vars, error: e.message }));
  return c.json(
    { ...errorBody(e.code, message, { vars: e.vars }), status: "config_invalid" as const },
    503,
  );
}

/** At most HEALTH_RATE_LIMIT public reads per client per period; a failing limiter lets it through. */
async function limitHealth(c: Context<AppEnv>): Promise<void> {
  let allowed = true;
  try {
    allowed = (await c.env.HEALTH_RATE_LIMITER.limit({ key: await clientKey(c) })).success;
  } catch (e) {
    console.error(
      JSON.stringify({ event: "rate_limiter_failed", route: "health", error: String(e) }),
    );
  }
  if (!allowed) {
    throw new ApiError(
      429,
      "rate_limited",
      `too many health reads from this client; try again in ${HEALTH_RATE_PERIOD_SECONDS} s`,
      undefined,
      { "retry-after": String(HEALTH_RATE_PERIOD_SECONDS) },
    );
  }
}

/**
 * `Authorization: Bearer <ADMIN_TOKEN>`, as the admin API asks it (403 admin_disabled without a
 * token configured, 401 unauthorized for a missing or wrong one), with ADMIN_TOKEN read on its
 * own: the other vars may be invalid.
 */
async function requireAdmin(c: Context<AppEnv>): Promise<void> {
  const raw = (c.env as unknown as Record<string, unknown>).ADMIN_TOKEN;
  await requireBearer(
    c.req.header("authorization"),
    VAR_SCHEMAS.ADMIN_TOKEN.safeParse(raw).data,
    ADMIN_GATE,
  );
}
