import type { Context } from "hono";
import { sha256Hex } from "../core/hex.ts";
import type { AppEnv } from "./app-env.ts";
import { clientNetwork } from "./client-network.ts";

/**
 * Who a request comes from, for the rate limits, the fair line and MAX_WAITING_PER_CLIENT: the
 * client's network (from CF-Connecting-IP, see `clientNetwork`). This is the one place to change
 * when an authenticating front door passes a player id instead. Only a hash is kept (on the job,
 * in the dispatcher's line, as the rate limiters' key), never the address; the hash is
 * pseudonymous, not anonymous (IPv4 addresses and /64s in use are few enough to hash them all).
 */
export async function clientKey(c: Context<AppEnv>): Promise<string> {
  const network = clientNetwork(c.req.header("cf-connecting-ip"));
  return (await sha256Hex(new TextEncoder().encode(`proof-gateway client v2\n${network}`))).slice(
    0,
    32,
  );
}
