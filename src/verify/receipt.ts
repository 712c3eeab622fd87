import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import * as z from "zod";
import type { Journal, ReceiptCheck } from "../core/job.ts";
import { receiptClaimDigest } from "./digest.ts";
import { verifySeal } from "./groth16.ts";
import { VERIFIER_VERSION, verifierParameters } from "./params.ts";

/**
 * Verifies the Groth16 receipt in a prover's status document (../shared/PROVER_API.md): the seal
 * must prove that image `imageId` (PROVER_EXPECTED_IMAGE_ID, never the prover's word) ran and
 * committed exactly the receipt's journal bytes, under RISC Zero's v3.0.0 verifier parameters.
 * The claim digest is computed here from the image id and the journal; the prover's own `claim`
 * is ignored. Returns what the game's on-chain claim needs.
 */

const byte = z.number().int().min(0).max(255);
const u32 = z.number().int().min(0).max(0xffff_ffff);
const receiptSchema = z.object({
  inner: z.object({
    Groth16: z.object({
      seal: z.array(byte),
      verifier_parameters: z.array(u32).length(8).optional(),
    }),
  }),
  journal: z.object({ bytes: z.array(byte) }),
  metadata: z.object({ verifier_parameters: z.array(u32).length(8).optional() }).optional(),
});
const documentSchema = z.object({
  result: z.object({ proof: z.object({ receipt: z.unknown() }) }),
});

/** Eight u32 words, little-endian, as 32 bytes hex (how the receipt carries a digest). */
export function wordsToHex(words: readonly number[]): string {
  const b = new Uint8Array(4 * words.length);
  const v = new DataView(b.buffer);
  words.forEach((w, i) => v.setUint32(4 * i, w, true));
  return bytesToHex(b);
}

/** The 24-byte journal: six u32 little-endian. */
export function decodeJournal(bytes: Uint8Array): Journal | null {
  if (bytes.length !== 24) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, 24);
  const at = (i: number) => v.getUint32(4 * i, true);
  return {
    seed: at(0),
    frame_count: at(1),
    final_score: at(2),
    final_rng_state: at(3),
    tape_checksum: at(4),
    rules_digest: at(5),
  };
}

export function verifyProverReceipt(document: unknown, imageId: string): ReceiptCheck {
  const { digest, selector } = verifierParameters();
  const doc = documentSchema.safeParse(document);
  if (!doc.success) return { ok: false, reason: "the reply carries no receipt" };
  const parsed = receiptSchema.safeParse(doc.data.result.proof.receipt);
  if (!parsed.success) return { ok: false, reason: "the receipt is not a Groth16 receipt" };
  const r = parsed.data;
  const params = r.inner.Groth16.verifier_parameters ?? r.metadata?.verifier_parameters;
  if (params && wordsToHex(params) !== digest) {
    return {
      ok: false,
      reason: `the receipt names verifier parameters ${wordsToHex(params).slice(0, 8)}…, not v${VERIFIER_VERSION} (${selector})`,
    };
  }
  const journalBytes = Uint8Array.from(r.journal.bytes);
  const journal = decodeJournal(journalBytes);
  if (!journal) return { ok: false, reason: `the journal is ${journalBytes.length} bytes, not 24` };
  const seal = Uint8Array.from(r.inner.Groth16.seal);
  const claim = receiptClaimDigest(hexToBytes(imageId), journalBytes);
  const check = verifySeal(seal, claim);
  if (!check.ok) return check;
  return {
    ok: true,
    journal,
    receipt: {
      verified: true,
      method: "groth16",
      verifierVersion: VERIFIER_VERSION,
      selector,
      seal: selector + bytesToHex(seal),
      imageId,
      journalRaw: bytesToHex(journalBytes),
      journalDigest: bytesToHex(sha256(journalBytes)),
      claimDigest: bytesToHex(claim),
    },
  };
}

/**
 * Verifies an on-chain seal (selector ‖ seal, as the game submits it and as the fixtures hold
 * it) for `imageId` and the raw journal: the selector must be the pinned one.
 */
export function verifyOnchainSeal(
  onchainSeal: Uint8Array,
  imageId: Uint8Array,
  journal: Uint8Array,
): { ok: true } | { ok: false; reason: string } {
  const { selector } = verifierParameters();
  const got = bytesToHex(onchainSeal.subarray(0, 4));
  if (got !== selector) return { ok: false, reason: `selector ${got} is not ${selector}` };
  return verifySeal(onchainSeal.subarray(4), receiptClaimDigest(imageId, journal));
}
