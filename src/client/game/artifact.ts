/**
 * The artifact the game builds its on-chain seal from, taken from the gateway's verified receipt.
 */
import { isRecord } from "../parse.ts";
import type { ResultDocument, VerifiedReceipt } from "../types.ts";
import { asProofError, badResponse, call, jobPath, ProofApiError } from "./http.ts";
import { GAME_API_TIMEOUT_MS } from "./settings.ts";
import type { StoredProofArtifactResponse } from "./types.ts";
import { iso } from "./values.ts";

/**
 * `GET /api/proofs/jobs/:jobId/result`, as the artifact the game's claim code reads:
 * `stored_at` (ISO) and `prover_response.result.proof.receipt.inner.Groth16.{seal,
 * verifier_parameters}`. When the gateway verified the receipt, that part is built from the
 * verified receipt alone, never the prover's document: `seal` is the 256 bytes after the
 * selector in `receipt.seal`, `verifier_parameters` the pinned RISC Zero v3.0.0 parameters digest
 * as 8 little-endian u32 words, whose first 4 bytes are the receipt's selector, so the game's
 * selector ‖ seal is exactly `receipt.seal`. A receipt that was not verified (VERIFY_RECEIPTS=off,
 * or an old result): `prover_response` is the prover's own document, as stored.
 */
export async function getProofArtifact(jobId: string): Promise<StoredProofArtifactResponse> {
  try {
    const { status, body } = await call(
      `${jobPath(jobId)}/result`,
      { method: "GET" },
      GAME_API_TIMEOUT_MS.artifact,
    );
    if (!isRecord(body) || typeof body.jobId !== "string") throw badResponse(status, "result");
    return artifactOf(body as unknown as ResultDocument, status);
  } catch (e) {
    throw asProofError(e);
  }
}

/** RISC Zero's Groth16 verifier parameters digest, v3.0.0 (as src/verify/params.ts pins it). */
export const VERIFIER_PARAMETERS_DIGEST =
  "73c457ba541936f0d907daf0c7253a39a9c5c427c225ba7709e44702d3c6eedc";

const hexBytes = (hex: string) =>
  Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));

/** The digest as the receipt carries it: 8 u32 words, little-endian. */
function verifierParameterWords(): number[] {
  const view = new DataView(hexBytes(VERIFIER_PARAMETERS_DIGEST).buffer);
  return Array.from({ length: 8 }, (_, i) => view.getUint32(i * 4, true));
}

function artifactOf(doc: ResultDocument, status: number): StoredProofArtifactResponse {
  const storedAt = iso(doc.storedAt);
  const receipt = doc.receipt;
  const proverResponse =
    receipt?.verified === true ? trustedProverDocument(doc, receipt, status) : doc.prover;
  return { ...(storedAt ? { stored_at: storedAt } : {}), prover_response: proverResponse };
}

/** The prover-shaped document the game reads, from the verified receipt and checked journal. */
function trustedProverDocument(doc: ResultDocument, receipt: VerifiedReceipt, status: number) {
  const selector = VERIFIER_PARAMETERS_DIGEST.slice(0, 8);
  const seal = receipt.seal?.toLowerCase() ?? "";
  if (receipt.selector?.toLowerCase() !== selector) {
    throw new ProofApiError(
      `unsupported_verifier: the receipt's selector is ${receipt.selector} (verifier ${receipt.verifierVersion}); this client builds seals for ${selector} (RISC Zero v3.0.0) only`,
      status,
    );
  }
  if (!/^[0-9a-f]{520}$/.test(seal) || !seal.startsWith(selector)) {
    throw new ProofApiError(
      "bad_response: the verified receipt's seal is not the selector and 256 bytes",
      status,
    );
  }
  return {
    job_id: doc.proverJobId,
    status: "succeeded",
    result: {
      proof: {
        journal: doc.journal,
        receipt: {
          inner: {
            Groth16: {
              seal: Array.from(hexBytes(seal.slice(8))),
              verifier_parameters: verifierParameterWords(),
            },
          },
        },
        produced_receipt_kind: doc.receiptKind,
      },
      elapsed_ms: doc.proverElapsedMs,
    },
  };
}
