import { ApiError } from "./errors.ts";

/**
 * Reads a request body, refusing (413) as soon as more than `limit` bytes have arrived,
 * whatever Content-Length claims: a declared length over the limit is refused before
 * reading, and a body that runs past it is cancelled mid-stream.
 */
export async function readBodyLimited(req: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new ApiError(413, "tape_too_large", `the tape is larger than MAX_TAPE_BYTES (${limit} bytes)`);
  const declared = req.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limit) throw tooLarge();
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(
      400,
      "body_unreadable",
      `the request body could not be read: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
