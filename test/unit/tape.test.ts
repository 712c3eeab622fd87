import { describe, expect, it } from "vitest";
import {
  buildTape,
  crc32,
  MAX_FRAMES,
  parseTape,
  TapeError,
  type TapeErrorCode,
} from "../../src/core/tape.ts";
import { fixture } from "../support/fixtures.ts";

const codeOf = (bytes: Uint8Array): TapeErrorCode | "ok" => {
  try {
    parseTape(bytes);
    return "ok";
  } catch (e) {
    if (e instanceof TapeError) return e.code;
    throw e;
  }
};

const valid = (frames = 10, score = 5) =>
  buildTape({
    seed: 0x1234,
    inputs: new Uint8Array(frames).fill(0x0f),
    finalScore: score,
    finalRngState: 77,
  });

/** Rewrites a tape field, then fixes the CRC so only that field is wrong. */
function mutate(
  bytes: Uint8Array,
  edit: (b: Uint8Array, v: DataView) => void,
  fixCrc = true,
): Uint8Array {
  const b = bytes.slice();
  const v = new DataView(b.buffer);
  edit(b, v);
  if (fixCrc) {
    const n = v.getUint32(12, true);
    if (16 + n + 12 === b.length) v.setUint32(16 + n + 8, crc32(b.subarray(0, 16 + n)), true);
  }
  return b;
}

describe("the real fixtures", () => {
  it("parses the full real game with the journal a GPU prover produced", () => {
    expect(parseTape(fixture("test-real-game"))).toEqual({
      sizeBytes: 13857,
      seed: 0x43c9c6cd,
      frameCount: 13829,
      finalScore: 32860,
      finalRngState: 0xa9713c03,
      checksum: 0xc8eebb89,
    });
  });
  it("parses the medium game", () => {
    expect(parseTape(fixture("test-medium"))).toMatchObject({
      seed: 0xdeadbeef,
      frameCount: 3980,
      finalScore: 90,
    });
  });
  it("refuses the zero-score tape", () => {
    expect(codeOf(fixture("test-short"))).toBe("zero_score");
  });
});

describe("every rule of the format", () => {
  it("CRC-32 is the IEEE one", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });
  it("a generated tape parses", () => expect(codeOf(valid())).toBe("ok"));
  it("empty", () => expect(codeOf(new Uint8Array())).toBe("tape_empty"));
  it("shorter than header + trailer (27 bytes) vs exactly 28 with no frames", () => {
    expect(codeOf(valid(0).subarray(0, 27))).toBe("tape_truncated");
    expect(codeOf(valid(0))).toBe("ok");
  });
  it("magic", () => expect(codeOf(mutate(valid(), (b) => (b[0] = 0x51)))).toBe("bad_magic"));
  it("version", () =>
    expect(codeOf(mutate(valid(), (b) => (b[4] = 1)))).toBe("unsupported_version"));
  it("rules tag", () =>
    expect(codeOf(mutate(valid(), (b) => (b[5] = 2)))).toBe("unsupported_rules"));
  it("reserved bytes 6 and 7", () => {
    expect(codeOf(mutate(valid(), (b) => (b[6] = 1)))).toBe("reserved_bytes_set");
    expect(codeOf(mutate(valid(), (b) => (b[7] = 0x80)))).toBe("reserved_bytes_set");
  });
  it("frame count at the limit is fine, one past it is refused", () => {
    expect(codeOf(valid(MAX_FRAMES))).toBe("ok");
    const over = buildTape({
      seed: 1,
      inputs: new Uint8Array(MAX_FRAMES + 1),
      finalScore: 1,
      finalRngState: 1,
    });
    expect(codeOf(over)).toBe("too_many_frames");
  });
  it("frame count that disagrees with the length (one short, one long)", () => {
    expect(codeOf(mutate(valid(10), (_b, v) => v.setUint32(12, 11, true), false))).toBe(
      "length_mismatch",
    );
    expect(codeOf(mutate(valid(10), (_b, v) => v.setUint32(12, 9, true), false))).toBe(
      "length_mismatch",
    );
    const extra = new Uint8Array(valid(10).length + 1);
    extra.set(valid(10));
    expect(codeOf(extra)).toBe("length_mismatch");
  });
  it("only the low 4 bits of an input may be set (0x0f ok, 0x10 refused)", () => {
    expect(codeOf(mutate(valid(), (b) => (b[16 + 3] = 0x0f)))).toBe("ok");
    expect(codeOf(mutate(valid(), (b) => (b[16 + 3] = 0x10)))).toBe("reserved_input_bits_set");
  });
  it("CRC covers header and inputs", () => {
    expect(codeOf(mutate(valid(), (b) => (b[16] = 0x01), false))).toBe("checksum_mismatch");
    expect(codeOf(mutate(valid(), (b) => (b[8] = b[8]! ^ 1), false))).toBe("checksum_mismatch");
    expect(codeOf(mutate(valid(), (b) => (b[b.length - 1] = b[b.length - 1]! ^ 1), false))).toBe(
      "checksum_mismatch",
    );
  });
  it("score 1 is provable, score 0 is not", () => {
    expect(codeOf(valid(10, 1))).toBe("ok");
    expect(codeOf(valid(10, 0))).toBe("zero_score");
  });
  it("works on a view into a larger buffer", () => {
    const t = valid();
    const big = new Uint8Array(t.length + 8);
    big.set(t, 8);
    expect(codeOf(big.subarray(8))).toBe("ok");
  });
});
