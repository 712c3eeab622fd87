/**
 * Cancel tokens. A job id is the SHA-256 of the tape, so knowing it proves nothing about who
 * posted it; the answer that starts an attempt carries a random token instead, and only its
 * hash is stored. `DELETE` must show the token (or the admin token) as a bearer token.
 */
import { sha256Hex } from "../core/hex.ts";

const encoder = new TextEncoder();

/** 32 random bytes, base64url: the token for the player, and its hash for the job. */
export async function newCancelToken(): Promise<{ token: string; hash: string }> {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const token = btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
  return { token, hash: await hashToken(token) };
}

export const hashToken = (token: string) => sha256Hex(encoder.encode(token));

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m ? m[1]! : null;
}

/** Compares secrets without leaking how much of them matched. */
export async function sameSecret(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([hashToken(a), hashToken(b)]);
  return crypto.subtle.timingSafeEqual(encoder.encode(ha), encoder.encode(hb));
}
