import type { ErrorCodeName } from "../core/error-codes.ts";
import { bearerToken, sameSecret } from "./cancel-token.ts";
import { ApiError } from "./errors.ts";

/** Who a secret-guarded route is for: the var holding its token and the 403 when it is unset. */
export interface BearerGate {
  /** The token's var, named in the messages (`ADMIN_TOKEN`, `SETTLEMENT_TOKEN`). */
  name: string;
  realm: string;
  /** The 403 answered while no token is configured. */
  disabled: { code: ErrorCodeName; message: string };
}

/**
 * `Authorization: Bearer <token>` checked against `expected` in constant time: 403 (the gate's
 * code) while no token is configured, 401 unauthorized with `WWW-Authenticate` for a missing or
 * wrong one. The one check behind the admin API, the admin health view and claim reports.
 */
export async function requireBearer(
  header: string | undefined,
  expected: string | undefined,
  gate: BearerGate,
): Promise<void> {
  if (expected === undefined) throw new ApiError(403, gate.disabled.code, gate.disabled.message);
  const token = bearerToken(header);
  if (token === null || !(await sameSecret(token, expected))) {
    throw new ApiError(
      401,
      "unauthorized",
      token === null
        ? `send Authorization: Bearer <${gate.name}>`
        : `that ${gate.realm} token is not valid`,
      undefined,
      { "www-authenticate": `Bearer realm="${gate.realm}"` },
    );
  }
}

/** The operator's gate (ADMIN_TOKEN). */
export const ADMIN_GATE: BearerGate = {
  name: "ADMIN_TOKEN",
  realm: "admin",
  disabled: {
    code: "admin_disabled",
    message: "the admin API is disabled: no ADMIN_TOKEN is configured",
  },
};
