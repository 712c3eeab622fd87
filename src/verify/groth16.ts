import { bn254 } from "@noble/curves/bn254.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { BN254_CONTROL_ID, CONTROL_ROOT, VERIFYING_KEY } from "./params.ts";

/**
 * The Groth16 check of a RISC Zero seal over a claim digest, on BN254 with @noble/curves (an
 * audited pairing library): the same equation as risc0-ethereum's `Groth16Verifier.sol`
 * `verifyProof`, with the public inputs of `RiscZeroGroth16Verifier.sol` `_verifyIntegrity`.
 * A bad seal is a `false` with the reason, never a throw.
 */

const { G1, G2, fields } = bn254;
const { Fp, Fp2, Fp12 } = fields;
const R = bn254.fields.Fr.ORDER;

export type SealCheck = { ok: true } | { ok: false; reason: string };

/** `splitDigest`: the 32 bytes reversed, read big-endian, as (low 128 bits, high 128 bits). */
export function splitDigest(digest: Uint8Array): [bigint, bigint] {
  const v = BigInt(`0x${bytesToHex(Uint8Array.from(digest).reverse())}`);
  const mask = (1n << 128n) - 1n;
  return [v & mask, v >> 128n];
}

/** The five public inputs: control root (lo, hi), claim digest (lo, hi), BN254 control id. */
export function publicInputs(claimDigest: Uint8Array): bigint[] {
  return [
    ...splitDigest(hexToBytes(CONTROL_ROOT)),
    ...splitDigest(claimDigest),
    BigInt(`0x${BN254_CONTROL_ID}`),
  ];
}

const word = (seal: Uint8Array, i: number) =>
  BigInt(`0x${bytesToHex(seal.subarray(32 * i, 32 * i + 32))}`);

class Bad extends Error {}

/** A coordinate must be a canonical field element (below the modulus). */
function fp(v: bigint): bigint {
  if (v >= Fp.ORDER) throw new Bad("a coordinate is not below the field modulus");
  return v;
}

function g1(x: bigint, y: bigint) {
  const p = G1.Point.fromAffine({ x: fp(x), y: fp(y) });
  try {
    p.assertValidity();
  } catch {
    throw new Bad("a G1 point is not on the curve");
  }
  if (p.is0()) throw new Bad("a G1 point is the identity");
  return p;
}

/** Imaginary part first (the seal's and Solidity's order); noble takes (c0 real, c1 imaginary). */
function g2(x1: bigint, x0: bigint, y1: bigint, y0: bigint) {
  const p = G2.Point.fromAffine({
    x: Fp2.fromBigTuple([fp(x0), fp(x1)]),
    y: Fp2.fromBigTuple([fp(y0), fp(y1)]),
  });
  try {
    p.assertValidity();
  } catch {
    throw new Bad("the G2 point is not on the curve or not in the subgroup");
  }
  if (p.is0()) throw new Bad("the G2 point is the identity");
  return p;
}

const vk = {
  alpha: G1.Point.fromAffine({ x: VERIFYING_KEY.alpha[0], y: VERIFYING_KEY.alpha[1] }),
  ic: VERIFYING_KEY.ic.map(([x, y]) => G1.Point.fromAffine({ x, y })),
  beta: g2pt(VERIFYING_KEY.beta),
  gamma: g2pt(VERIFYING_KEY.gamma),
  delta: g2pt(VERIFYING_KEY.delta),
};
function g2pt([[x1, x0], [y1, y0]]: typeof VERIFYING_KEY.beta) {
  return G2.Point.fromAffine({ x: Fp2.fromBigTuple([x0, x1]), y: Fp2.fromBigTuple([y0, y1]) });
}

/**
 * Whether `seal` (256 bytes: A, B, C; see ../shared/GROTH16.md) is a valid Groth16 proof for
 * `claimDigest` under the v3.0.0 verifying key: e(−A, B)·e(α, β)·e(vk_x, γ)·e(C, δ) = 1.
 */
export function verifySeal(seal: Uint8Array, claimDigest: Uint8Array): SealCheck {
  if (seal.length !== 256)
    return { ok: false, reason: `the seal is ${seal.length} bytes, not 256` };
  try {
    const a = g1(word(seal, 0), word(seal, 1));
    const b = g2(word(seal, 2), word(seal, 3), word(seal, 4), word(seal, 5));
    const c = g1(word(seal, 6), word(seal, 7));
    const inputs = publicInputs(claimDigest);
    if (inputs.some((v) => v >= R)) return { ok: false, reason: "a public input is not below r" };
    let vkX = vk.ic[0]!;
    inputs.forEach((v, i) => {
      if (v !== 0n) vkX = vkX.add(vk.ic[i + 1]!.multiplyUnsafe(v));
    });
    const product = bn254.pairingBatch([
      { g1: a.negate(), g2: b },
      { g1: vk.alpha, g2: vk.beta },
      { g1: vkX, g2: vk.gamma },
      { g1: c, g2: vk.delta },
    ]);
    return Fp12.eql(product, Fp12.ONE)
      ? { ok: true }
      : { ok: false, reason: "the pairing check failed: the seal does not prove this claim" };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, reason: e.message };
    return { ok: false, reason: `the seal could not be read (${String(e)})` };
  }
}
