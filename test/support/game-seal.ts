/**
 * The game's on-chain seal, built the way its claim code (kalepail/stellar-zk-claude
 * `src/proof/artifact.ts`) builds it from an artifact: the first 4 bytes of the verifier
 * parameters digest (its 8 u32 words written little-endian) as the selector, then the 256-byte
 * Groth16 seal. Written here from the facts of that algorithm, for the drop-in's tests.
 */
export function gameSealHex(artifact: unknown): string {
  const at = (v: unknown, key: string): unknown =>
    typeof v === "object" && v !== null ? (v as Record<string, unknown>)[key] : undefined;
  const groth16 = at(
    at(at(at(at(at(artifact, "prover_response"), "result"), "proof"), "receipt"), "inner"),
    "Groth16",
  );
  const seal = at(groth16, "seal");
  const words = at(groth16, "verifier_parameters");
  if (!Array.isArray(seal) || seal.length !== 256) throw new Error("no 256-byte Groth16 seal");
  if (!Array.isArray(words) || words.length !== 8) throw new Error("no 8 verifier words");
  const digest = new DataView(new ArrayBuffer(32));
  words.forEach((w, i) => digest.setUint32(i * 4, w as number, true));
  const out = new Uint8Array(260);
  out.set(new Uint8Array(digest.buffer, 0, 4), 0);
  out.set(Uint8Array.from(seal as number[]), 4);
  return Array.from(out, (b) => b.toString(16).padStart(2, "0")).join("");
}
