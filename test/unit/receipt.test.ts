import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { describe, expect, it } from "vitest";
import { receiptClaimDigest } from "../../src/verify/digest.ts";
import { publicInputs, splitDigest, verifySeal } from "../../src/verify/groth16.ts";
import {
  PINNED_PARAMETERS_DIGEST,
  verifierParameters,
  verifierParametersDigest,
  VERIFYING_KEY,
} from "../../src/verify/params.ts";
import {
  decodeJournal,
  verifyOnchainSeal,
  verifyProverReceipt,
  wordsToHex,
} from "../../src/verify/receipt.ts";
import { receiptFixture } from "../support/fixtures.ts";

/**
 * RISC Zero Groth16 receipts verified in plain JS against the real GPU receipts in
 * ../shared/fixtures: the real one verifies; every tampered variant is refused (never a throw).
 */
const real = receiptFixture("proof-real-game-groth16");
const legacy = receiptFixture("proof-short-groth16");
const bytes = hexToBytes;

/** The receipt as the prover's status document carries it (../shared/PROVER_API.md). */
function proverDocument(seal: Uint8Array, journal: Uint8Array, params?: number[]) {
  const words =
    params ??
    Array.from({ length: 8 }, (_, i) =>
      new DataView(bytes(PINNED_PARAMETERS_DIGEST).buffer).getUint32(4 * i, true),
    );
  return {
    status: "succeeded",
    result: {
      proof: {
        receipt: {
          inner: { Groth16: { seal: [...seal], claim: {}, verifier_parameters: words } },
          journal: { bytes: [...journal] },
          metadata: { verifier_parameters: words },
        },
      },
    },
  };
}
const flip = (b: Uint8Array, at: number) => {
  const c = Uint8Array.from(b);
  c[at] = c[at]! ^ 0x01;
  return c;
};

describe("the verifier parameters", () => {
  it("recomputed from the constants, hash to the pinned v3.0.0 digest; the selector is its first 4 bytes", () => {
    expect(bytesToHex(verifierParametersDigest())).toBe(PINNED_PARAMETERS_DIGEST);
    expect(verifierParameters()).toEqual({
      digest: PINNED_PARAMETERS_DIGEST,
      selector: "73c457ba",
    });
  });
  it("a wrong constant cannot pass silently: any change moves the digest", () => {
    const ic = [...VERIFYING_KEY.ic];
    ic[3] = [ic[3]![0] + 1n, ic[3]![1]];
    expect(
      bytesToHex(verifierParametersDigest(undefined, undefined, { ...VERIFYING_KEY, ic })),
    ).not.toBe(PINNED_PARAMETERS_DIGEST);
    const root = "00" + "a54dc85ac99f851c92d7c96d7318af41dbe7c0194edfcc37eb4d422a998c1f56".slice(2);
    expect(bytesToHex(verifierParametersDigest(root))).not.toBe(PINNED_PARAMETERS_DIGEST);
  });
});

describe("the claim and its public inputs", () => {
  it("the real game's claim digest is the one ../shared/GROTH16.md names", () => {
    expect(bytesToHex(receiptClaimDigest(bytes(real.imageId), bytes(real.journalRaw)))).toBe(
      "1a37551ead6c827358f7bce2c1d819eb32486bc8e44de0c29064ff2d0a12b42e",
    );
  });
  it("splitDigest reverses the bytes and splits at 128 bits", () => {
    const d = new Uint8Array(32).map((_, i) => i);
    const [lo, hi] = splitDigest(d);
    expect(lo).toBe(BigInt(`0x${bytesToHex(d.slice(0, 16).reverse())}`));
    expect(hi).toBe(BigInt(`0x${bytesToHex(d.slice(16).reverse())}`));
    expect(publicInputs(d)).toHaveLength(5);
  });
  it("the journal decodes as six u32 little-endian; anything but 24 bytes does not", () => {
    expect(decodeJournal(bytes(real.journalRaw))).toEqual({
      seed: 0x43c9c6cd,
      frame_count: 13829,
      final_score: 32860,
      final_rng_state: 0xa9713c03,
      tape_checksum: 0xc8eebb89,
      rules_digest: 0x41535433,
    });
    expect(decodeJournal(new Uint8Array(23))).toBeNull();
    expect(decodeJournal(new Uint8Array(25))).toBeNull();
  });
});

describe("a real GPU receipt", () => {
  const onchain = bytes(real.onchainSeal);
  const seal = onchain.subarray(4);
  const claim = receiptClaimDigest(bytes(real.imageId), bytes(real.journalRaw));

  it("verifies, on chain form and in the prover's document", () => {
    expect(verifyOnchainSeal(onchain, bytes(real.imageId), bytes(real.journalRaw))).toEqual({
      ok: true,
    });
    const verdict = verifyProverReceipt(proverDocument(seal, bytes(real.journalRaw)), real.imageId);
    expect(verdict).toMatchObject({
      ok: true,
      journal: { final_score: 32860 },
      receipt: {
        verified: true,
        method: "groth16",
        verifierVersion: "3.0.0",
        selector: "73c457ba",
        seal: real.onchainSeal,
        imageId: real.imageId,
        journalRaw: real.journalRaw,
        claimDigest: bytesToHex(claim),
      },
    });
    if (verdict.ok) expect(verdict.receipt.seal).toHaveLength(520); // 260 bytes
  });

  // A flipped byte in each part of the seal: A.x, A.y, B (each of its four words), C.x, C.y.
  it.each([
    ["A.x", 0],
    ["A.y", 63],
    ["B.x.c1", 64],
    ["B.x.c0", 100],
    ["B.y.c1", 140],
    ["B.y.c0", 191],
    ["C.x", 192],
    ["C.y", 255],
  ])("a flipped byte in %s is refused", (_part, at) => {
    const r = verifySeal(flip(seal, at), claim);
    expect(r.ok).toBe(false);
  });

  it("a seal of valid curve points that are the wrong ones is refused by the pairing check", () => {
    // −A: on the curve and in the group, but not the proof's A.
    const P = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
    const y = BigInt(`0x${bytesToHex(seal.subarray(32, 64))}`);
    const negated = Uint8Array.from(seal);
    negated.set(hexToBytes((P - y).toString(16).padStart(64, "0")), 32);
    expect(verifySeal(negated, claim)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("pairing check failed"),
    });
  });

  it("a changed journal is refused (every byte counts)", () => {
    for (const at of [0, 8, 23]) {
      const journal = flip(bytes(real.journalRaw), at);
      expect(verifyProverReceipt(proverDocument(seal, journal), real.imageId).ok).toBe(false);
    }
  });

  it("another image id is refused: the legacy receipt verifies only for its own image", () => {
    expect(
      verifyOnchainSeal(bytes(legacy.onchainSeal), bytes(legacy.imageId), bytes(legacy.journalRaw)),
    ).toEqual({ ok: true });
    expect(
      verifyOnchainSeal(bytes(legacy.onchainSeal), bytes(real.imageId), bytes(legacy.journalRaw)),
    ).toMatchObject({ ok: false, reason: expect.stringContaining("pairing") });
    expect(verifyOnchainSeal(onchain, bytes(legacy.imageId), bytes(real.journalRaw)).ok).toBe(
      false,
    );
  });

  it("a wrong selector is refused, in the on-chain seal and in the receipt's parameters", () => {
    expect(
      verifyOnchainSeal(flip(onchain, 0), bytes(real.imageId), bytes(real.journalRaw)),
    ).toMatchObject({
      ok: false,
      reason: expect.stringContaining("selector"),
    });
    const other = proverDocument(seal, bytes(real.journalRaw), [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(verifyProverReceipt(other, real.imageId)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("verifier parameters"),
    });
    expect(wordsToHex([0xba57c473])).toBe("73c457ba");
  });

  it("malformed seals are refused, never thrown: wrong length, off the curve, not canonical, the identity", () => {
    expect(verifySeal(seal.subarray(0, 255), claim)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("255 bytes"),
    });
    const big = Uint8Array.from(seal);
    big.fill(0xff, 0, 32); // A.x ≥ the field modulus
    expect(verifySeal(big, claim)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("modulus"),
    });
    const zero = Uint8Array.from(seal);
    zero.fill(0, 0, 64); // A = (0, 0): not on the curve
    expect(verifySeal(zero, claim).ok).toBe(false);
    expect(verifySeal(new Uint8Array(256), claim).ok).toBe(false);
  });

  it("a document without a Groth16 receipt, or with a fake one, is refused", () => {
    expect(verifyProverReceipt({}, real.imageId).ok).toBe(false);
    expect(
      verifyProverReceipt(
        { result: { proof: { receipt: { inner: { Succinct: {} } } } } },
        real.imageId,
      ),
    ).toMatchObject({
      ok: false,
      reason: "the receipt is not a Groth16 receipt",
    });
    const fake = new Uint8Array(256).map((_, i) => (i * 37) & 0xff);
    expect(verifyProverReceipt(proverDocument(fake, bytes(real.journalRaw)), real.imageId).ok).toBe(
      false,
    );
  });
});
