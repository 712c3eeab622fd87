import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Real tapes from the game client, read from ../shared/fixtures (never copied into the repo). */
export const FIXTURES_DIR = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
export const FIXTURE_NAMES = ["test-short", "test-medium", "test-real-game"] as const;
export type FixtureName = (typeof FIXTURE_NAMES)[number];

export function fixture(name: FixtureName): Uint8Array {
  return new Uint8Array(readFileSync(`${FIXTURES_DIR}${name}.tape`));
}

export type ReceiptFixtureName = "proof-real-game-groth16" | "proof-short-groth16";

/**
 * A real GPU receipt from ../shared/fixtures: the image id, the 24 journal bytes and the on-chain
 * seal (selector ‖ 256-byte seal), each stored as hex text.
 */
export function receiptFixture(name: ReceiptFixtureName): {
  imageId: string;
  journalRaw: string;
  onchainSeal: string;
} {
  const hex = (ext: string) => readFileSync(`${FIXTURES_DIR}${name}.${ext}`, "utf8").trim();
  return { imageId: hex("image_id"), journalRaw: hex("journal_raw"), onchainSeal: hex("seal") };
}
