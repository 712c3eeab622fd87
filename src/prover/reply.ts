import type { Config } from "../core/config.ts";

/**
 * How much of a prover's reply the gateway reads, per route: the body is streamed and cancelled
 * as soon as it passes its cap, so a prover that answers with megabytes (or forever) costs a
 * Worker no more memory than the cap. The figures come from the contract (shared/PROVER_API.md):
 *
 * - `/health`, submit, delete: one small JSON object (the `/health` document is ~550 bytes, a
 *   `202` ~150, an error one line): 16 KiB is 30× the largest.
 * - status with `receipt_kind=groth16`: the document and its receipt (a 256-number seal, the
 *   claim, the journal) is a few KB as JSON (2.2 KB for the real game's): 1 MiB is over 100× it.
 * - status with `succinct` or `composite` (only useful with VERIFY_RECEIPTS=off, for dev
 *   provers): a STARK seal as a JSON number array is hundreds of KB per segment: 8 MiB.
 *
 * The caps count the decoded body (after content-encoding), so a compressed bomb is cut too.
 */
export const REPLY_CAPS = {
  health: 16 * 1024,
  submit: 16 * 1024,
  delete: 16 * 1024,
  status: 1024 * 1024,
  /** The status cap when the receipts asked for are STARKs (succinct, composite). */
  statusStark: 8 * 1024 * 1024,
} as const;

export type ReplyRoute = "health" | "submit" | "status" | "delete";

/** The byte cap of a reply on `route`, for the receipt kind this gateway asks for. */
export function replyCap(route: ReplyRoute, cfg: Pick<Config, "receiptKind">): number {
  if (route === "status" && cfg.receiptKind !== "groth16") return REPLY_CAPS.statusStark;
  return REPLY_CAPS[route];
}

/** The body as text, or `tooLarge` once more than `cap` bytes came (the rest is not read). */
export type CappedBody = { text: string } | { tooLarge: true };

/**
 * Reads at most `cap` bytes of `res`'s body: a declared Content-Length over the cap is refused
 * unread, and a body that streams past the cap is cancelled there. Errors of the stream (a
 * timeout, a reset) are thrown to the caller, as `res.text()` would.
 */
export async function readCapped(res: Response, cap: number): Promise<CappedBody> {
  const declared = Number(res.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > cap) {
    await discard(res);
    return { tooLarge: true };
  }
  if (!res.body) return { text: "" };
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let bytes = 0;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > cap) {
      await reader.cancel().catch(() => undefined);
      return { tooLarge: true };
    }
    text += decoder.decode(value, { stream: true });
  }
  return { text: text + decoder.decode() };
}

/** Drops a body the gateway will not read (a redirect, a reply refused by its length). */
export async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // already closed or errored: nothing to free
  }
}
