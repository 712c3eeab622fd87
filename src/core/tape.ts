/**
 * The game's tape format (little-endian), as in shared/PROVER_API.md:
 *   0..4 magic "PTKZ" (0x5A4B5450) · 4 version 2 · 5 rules tag 3 (AST3) · 6..8 reserved 0
 *   8..12 seed · 12..16 frame count N (≤ 18000) · 16..16+N inputs (low 4 bits only)
 *   then final score (> 0) · final RNG state · CRC-32 of bytes 0..16+N.
 * Pure: runs in workerd and in Node (the dev prover derives its journal from it).
 */

export const TAPE_MAGIC = 0x5a4b5450;
export const TAPE_VERSION = 2;
export const RULES_TAG_AST3 = 3;
export const RULES_DIGEST_AST3 = 0x41535433;
export const MAX_FRAMES = 18_000;
export const HEADER_BYTES = 16;
export const TRAILER_BYTES = 12;

/** The facts a valid tape states about its game; a proof's journal must repeat them. */
export interface TapeFacts {
  sizeBytes: number;
  seed: number;
  frameCount: number;
  finalScore: number;
  finalRngState: number;
  /** CRC-32 stored in the tape (of header + inputs); equals the journal's `tape_checksum`. */
  checksum: number;
}

export type TapeErrorCode =
  | "tape_empty"
  | "tape_truncated"
  | "bad_magic"
  | "unsupported_version"
  | "unsupported_rules"
  | "reserved_bytes_set"
  | "too_many_frames"
  | "length_mismatch"
  | "reserved_input_bits_set"
  | "checksum_mismatch"
  | "zero_score";

/** A tape that breaks the format: `code` is stable, `message` names the offending field. */
export class TapeError extends Error {
  override readonly name = "TapeError";
  readonly code: TapeErrorCode;
  constructor(code: TapeErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3: reflected, poly 0xEDB88320, init and final xor 0xFFFFFFFF). */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const hex32 = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

/** Parses and fully validates a tape; throws `TapeError` for anything the format forbids. */
export function parseTape(bytes: Uint8Array): TapeFacts {
  if (bytes.length === 0) throw new TapeError("tape_empty", "the tape is empty");
  if (bytes.length < HEADER_BYTES + TRAILER_BYTES) {
    throw new TapeError(
      "tape_truncated",
      `the tape is ${bytes.length} bytes; a tape has at least ${HEADER_BYTES + TRAILER_BYTES}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic !== TAPE_MAGIC) {
    throw new TapeError(
      "bad_magic",
      `magic is ${hex32(magic)}; expected ${hex32(TAPE_MAGIC)} ("PTKZ")`,
    );
  }
  if (bytes[4] !== TAPE_VERSION) {
    throw new TapeError(
      "unsupported_version",
      `version is ${bytes[4]}; only version ${TAPE_VERSION} is supported`,
    );
  }
  if (bytes[5] !== RULES_TAG_AST3) {
    throw new TapeError(
      "unsupported_rules",
      `rules tag is ${bytes[5]}; only ${RULES_TAG_AST3} (AST3) is supported`,
    );
  }
  if (bytes[6] !== 0 || bytes[7] !== 0) {
    throw new TapeError("reserved_bytes_set", "reserved header bytes 6..8 must be zero");
  }
  const seed = view.getUint32(8, true);
  const frameCount = view.getUint32(12, true);
  if (frameCount > MAX_FRAMES) {
    throw new TapeError(
      "too_many_frames",
      `frame count is ${frameCount}; at most ${MAX_FRAMES} is allowed`,
    );
  }
  const expected = HEADER_BYTES + frameCount + TRAILER_BYTES;
  if (bytes.length !== expected) {
    throw new TapeError(
      "length_mismatch",
      `the tape is ${bytes.length} bytes but its frame count ${frameCount} needs exactly ${expected}`,
    );
  }
  for (let i = 0; i < frameCount; i++) {
    if (bytes[HEADER_BYTES + i]! & 0xf0) {
      throw new TapeError(
        "reserved_input_bits_set",
        `frame ${i} input is 0x${bytes[HEADER_BYTES + i]!.toString(16)}; only the low 4 bits may be set`,
      );
    }
  }
  const trailer = HEADER_BYTES + frameCount;
  const finalScore = view.getUint32(trailer, true);
  const finalRngState = view.getUint32(trailer + 4, true);
  const checksum = view.getUint32(trailer + 8, true);
  const actual = crc32(bytes.subarray(0, trailer));
  if (actual !== checksum) {
    throw new TapeError(
      "checksum_mismatch",
      `CRC-32 is ${hex32(actual)} but the tape says ${hex32(checksum)}`,
    );
  }
  if (finalScore === 0)
    throw new TapeError("zero_score", "the final score is 0; a zero-score game cannot be proved");
  return { sizeBytes: bytes.length, seed, frameCount, finalScore, finalRngState, checksum };
}

/** Builds a valid tape (for tests, the dev prover's self-checks and the chaos run). */
export function buildTape(opts: {
  seed: number;
  inputs: Uint8Array | number[];
  finalScore: number;
  finalRngState: number;
}): Uint8Array {
  const n = opts.inputs.length;
  const bytes = new Uint8Array(HEADER_BYTES + n + TRAILER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, TAPE_MAGIC, true);
  bytes[4] = TAPE_VERSION;
  bytes[5] = RULES_TAG_AST3;
  view.setUint32(8, opts.seed >>> 0, true);
  view.setUint32(12, n, true);
  bytes.set(opts.inputs, HEADER_BYTES);
  view.setUint32(HEADER_BYTES + n, opts.finalScore >>> 0, true);
  view.setUint32(HEADER_BYTES + n + 4, opts.finalRngState >>> 0, true);
  view.setUint32(HEADER_BYTES + n + 8, crc32(bytes.subarray(0, HEADER_BYTES + n)), true);
  return bytes;
}
