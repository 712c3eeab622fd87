import type { Context } from "hono";
import { sha256Hex } from "../core/hex.ts";
import type { AppEnv } from "./app-env.ts";

/**
 * Who a request comes from, for the intake rate limit, the fair line and MAX_WAITING_PER_CLIENT:
 * today the client's address (CF-Connecting-IP). This is the one place to change when an
 * authenticating front door passes a player id instead. Only a hash is kept (on the job, in the
 * dispatcher's line, as the rate limiter's key), never the address; the hash is pseudonymous, not
 * anonymous (IPv4 addresses are few enough to hash them all).
 */
export async function clientKey(c: Context<AppEnv>): Promise<string> {
  const id = c.req.header("cf-connecting-ip") ?? "unknown";
  return (await sha256Hex(new TextEncoder().encode(`proof-gateway client v1\n${id}`))).slice(0, 32);
}
