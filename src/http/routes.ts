import { OpenAPIHono } from "@hono/zod-openapi";
import { cors } from "hono/cors";
import { admin } from "./admin.ts";
import { jobs } from "./jobs.ts";
import { settlement } from "./settlement.ts";
import { meta } from "./meta.ts";
import { configFrom } from "../core/config.ts";
import { answerError, answerNotFound } from "./errors.ts";
import { guardedEnv } from "./bindings.ts";
import { adminHealth, adminHealthRoute, healthRoute, publicHealth } from "./health.ts";
import { postJob, postTapeRoute } from "./intake.ts";
import type { AppEnv } from "./app-env.ts";
import { onInvalid } from "./validation.ts";

/**
 * The HTTP front door. Every answer is JSON; every error is `{success:false,error:{code,message}}`.
 * Each route is declared with its schemas (`createRoute`): they validate its path and query, and
 * src/http/openapi.ts documents it from them.
 */
export const app = new OpenAPIHono<AppEnv>({ defaultHook: onInvalid });

// R2, queue and Durable Object failures become DependencyErrors: 503 with Retry-After, never 500.
app.use("*", async (c, next) => {
  c.env = guardedEnv(c.env);
  await next();
  c.header("cache-control", "no-store");
  c.header("x-content-type-options", "nosniff");
});

// Browser game clients: only the origins in CORS_ALLOWED_ORIGINS get CORS headers (never "*").
const gameCors = cors({
  origin: (origin, c) => (allowedOrigins(c.env).includes(origin) ? origin : null),
  allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
  allowHeaders: ["content-type", "authorization", "x-claimant-address"],
  exposeHeaders: ["retry-after"],
  maxAge: 600,
});
app.use("/api/proofs/*", gameCors);
app.use("/api/health", gameCors);

// The anonymous view: counts, cached, rate-limited (the full one is GET /api/admin/health).
app.openapi(healthRoute, publicHealth);

// Everything below needs a valid config.
app.use("/api/proofs/*", async (c, next) => {
  c.set("config", configFrom(c.env));
  await next();
});

app.openapi(postTapeRoute, postJob);

// The full health view: its own admin check, so that it answers while the config is invalid.
app.openapi(adminHealthRoute, adminHealth);
app.route("/api/proofs/jobs", jobs);
app.route("/api/admin", admin);
app.route("/api/settlement", settlement);

app.route("/", meta);

app.notFound(answerNotFound);
app.onError(answerError);

export { INTAKE_RATE_PERIOD_SECONDS, TOO_MANY_WAITING_RETRY_SECONDS } from "./intake.ts";

/** CORS_ALLOWED_ORIGINS, or none while the config is invalid (/api/health then says why). */
function allowedOrigins(env: Env): string[] {
  try {
    return configFrom(env).corsAllowedOrigins;
  } catch {
    return [];
  }
}
