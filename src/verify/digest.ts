import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, utf8ToBytes } from "@noble/hashes/utils.js";

/**
 * RISC Zero's structural hashing (risc0-ethereum `StructHash.sol`) and the receipt claim a
 * Groth16 seal proves (`IRiscZeroVerifier.sol`: `ReceiptClaim`, `Output`, `SystemState`).
 */

const u32le = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};

/** `sha256(sha256(tag) ‖ down… ‖ data… ‖ u16le(down.length))`, data as u32 little-endian. */
export function taggedStruct(tag: string, down: Uint8Array[], data: number[] = []): Uint8Array {
  const len = new Uint8Array([down.length & 0xff, down.length >> 8]);
  return sha256(concatBytes(sha256(utf8ToBytes(tag)), ...down, ...data.map(u32le), len));
}

const ZERO = new Uint8Array(32);

/**
 * The digest of the claim "image `imageId` ran to a successful halt and committed `journal`,
 * with no input and no assumptions": what the seal must prove.
 */
export function receiptClaimDigest(imageId: Uint8Array, journal: Uint8Array): Uint8Array {
  const post = taggedStruct("risc0.SystemState", [ZERO], [0]);
  const output = taggedStruct("risc0.Output", [sha256(journal), ZERO]);
  return taggedStruct("risc0.ReceiptClaim", [ZERO, imageId, post, output], [0, 0]);
}
