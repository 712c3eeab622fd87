import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes, hexToBytes } from "@noble/hashes/utils.js";
import { taggedStruct } from "./digest.ts";

/**
 * RISC Zero's Groth16 verifier parameters, release v3.0.0, as data. Sources (tag v3.0.0):
 * - risc0/risc0-ethereum `contracts/src/groth16/Groth16Verifier.sol`: the verifying key below
 *   (decimal; G2 coordinates imaginary part first, as in the seal);
 * - risc0/risc0-ethereum `contracts/src/groth16/ControlID.sol`: CONTROL_ROOT, BN254_CONTROL_ID;
 * - risc0/risc0-ethereum `contracts/src/groth16/RiscZeroGroth16Verifier.sol`: how the verifying
 *   key and the parameters are hashed, and the selector (their digest's first 4 bytes);
 * - risc0/risc0-ethereum `contracts/deployment.toml`: selector 0x73c457ba ↔ v3.0.0.
 * The digest is recomputed from these values (`verifierParameters`) and must equal the pinned
 * one, so a wrong constant cannot pass silently.
 */

export const VERIFIER_VERSION = "3.0.0";

/** The v3.0.0 verifier parameters digest; its first 4 bytes are the on-chain selector. */
export const PINNED_PARAMETERS_DIGEST =
  "73c457ba541936f0d907daf0c7253a39a9c5c427c225ba7709e44702d3c6eedc";

export const CONTROL_ROOT = "a54dc85ac99f851c92d7c96d7318af41dbe7c0194edfcc37eb4d422a998c1f56";
/** As the Solidity constant (big-endian); risc0's Rust constant is these bytes reversed. */
export const BN254_CONTROL_ID = "04446e66d300eb7fb45c9726bb53c793dda407a62e9601618bb43c5c14657ac0";

type G1 = readonly [bigint, bigint];
/** x (imaginary, real), y (imaginary, real): Solidity's and the seal's order. */
type G2 = readonly [readonly [bigint, bigint], readonly [bigint, bigint]];

export const VERIFYING_KEY: {
  alpha: G1;
  beta: G2;
  gamma: G2;
  delta: G2;
  ic: readonly G1[];
} = {
  alpha: [
    20491192805390485299153009773594534940189261866228447918068658471970481763042n,
    9383485363053290200918347156157836566562967994039712273449902621266178545958n,
  ],
  beta: [
    [
      4252822878758300859123897981450591353533073413197771768651442665752259397132n,
      6375614351688725206403948262868962793625744043794305715222011528459656738731n,
    ],
    [
      21847035105528745403288232691147584728191162732299865338377159692350059136679n,
      10505242626370262277552901082094356697409835680220590971873171140371331206856n,
    ],
  ],
  gamma: [
    [
      11559732032986387107991004021392285783925812861821192530917403151452391805634n,
      10857046999023057135944570762232829481370756359578518086990519993285655852781n,
    ],
    [
      4082367875863433681332203403145435568316851327593401208105741076214120093531n,
      8495653923123431417604973247489272438418190587263600148770280649306958101930n,
    ],
  ],
  delta: [
    [
      1668323501672964604911431804142266013250380587483576094566949227275849579036n,
      12043754404802191763554326994664886008979042643626290185762540825416902247219n,
    ],
    [
      7710631539206257456743780535472368339139328733484942210876916214502466455394n,
      13740680757317479711909903993315946540841369848973133181051452051592786724563n,
    ],
  ],
  ic: [
    [
      8446592859352799428420270221449902464741693648963397251242447530457567083492n,
      1064796367193003797175961162477173481551615790032213185848276823815288302804n,
    ],
    [
      3179835575189816632597428042194253779818690147323192973511715175294048485951n,
      20895841676865356752879376687052266198216014795822152491318012491767775979074n,
    ],
    [
      5332723250224941161709478398807683311971555792614491788690328996478511465287n,
      21199491073419440416471372042641226693637837098357067793586556692319371762571n,
    ],
    [
      12457994489566736295787256452575216703923664299075106359829199968023158780583n,
      19706766271952591897761291684837117091856807401404423804318744964752784280790n,
    ],
    [
      19617808913178163826953378459323299110911217259216006187355745713323154132237n,
      21663537384585072695701846972542344484111393047775983928357046779215877070466n,
    ],
    [
      6834578911681792552110317589222010969491336870276623105249474534788043166867n,
      15060583660288623605191393599883223885678013570733629274538391874953353488393n,
    ],
  ],
};

/** A field element as 32 bytes, big-endian (Solidity's abi.encodePacked of a uint256). */
export function be32(v: bigint): Uint8Array {
  return hexToBytes(v.toString(16).padStart(64, "0"));
}

const hashPoint = (coords: readonly bigint[]) => sha256(concatBytes(...coords.map(be32)));

/** RiscZeroGroth16Verifier.sol `verifier_key_digest`: the tagged hash of the verifying key. */
export function verifyingKeyDigest(vk = VERIFYING_KEY): Uint8Array {
  const g2 = (p: G2) => hashPoint([...p[0], ...p[1]]);
  return taggedStruct("risc0_groth16.VerifyingKey", [
    hashPoint(vk.alpha),
    g2(vk.beta),
    g2(vk.gamma),
    g2(vk.delta),
    taggedList(
      "risc0_groth16.VerifyingKey.IC",
      vk.ic.map((p) => hashPoint(p)),
    ),
  ]);
}

/** StructHash.sol `taggedList`: cons cells from the tail, starting from 32 zero bytes. */
function taggedList(tag: string, items: Uint8Array[]): Uint8Array {
  let tail: Uint8Array = new Uint8Array(32);
  for (const head of [...items].reverse()) tail = taggedStruct(tag, [head, tail]);
  return tail;
}

/**
 * The verifier parameters digest: `risc0.Groth16ReceiptVerifierParameters` over the control
 * root, the BN254 control id (byte-reversed from the Solidity constant) and the verifying key.
 */
export function verifierParametersDigest(
  controlRoot = CONTROL_ROOT,
  bn254ControlId = BN254_CONTROL_ID,
  vk = VERIFYING_KEY,
): Uint8Array {
  return taggedStruct("risc0.Groth16ReceiptVerifierParameters", [
    hexToBytes(controlRoot),
    hexToBytes(bn254ControlId).reverse(),
    verifyingKeyDigest(vk),
  ]);
}

/** Thrown when the constants above do not hash to the pinned digest (a wrong constant). */
export class VerifierParametersError extends Error {
  override readonly name = "VerifierParametersError";
}

let checked: { digest: string; selector: string } | null = null;

/**
 * The parameters digest and selector, recomputed once from the constants and compared with the
 * pinned v3.0.0 digest; throws `VerifierParametersError` if they differ.
 */
export function verifierParameters(): { digest: string; selector: string } {
  if (checked) return checked;
  const digest = bytesToHex(verifierParametersDigest());
  if (digest !== PINNED_PARAMETERS_DIGEST) {
    throw new VerifierParametersError(
      `the Groth16 verifier constants hash to ${digest}, not the pinned v${VERIFIER_VERSION} digest ${PINNED_PARAMETERS_DIGEST}`,
    );
  }
  checked = { digest, selector: digest.slice(0, 8) };
  return checked;
}
