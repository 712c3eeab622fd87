import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The real GPU receipts in ../shared/fixtures (hex text: `<name>.seal` = selector ‖ 256-byte seal,
 * `<name>.journal_raw`, `<name>.image_id`), keyed by image id and journal: the dev prover serves
 * the real seal for a tape whose journal (and image) a real receipt is for, so `npm run dev`
 * proves test-real-game.tape with its receipt really verified. Missing fixtures: none (fakes only).
 */
export const FIXTURES_DIR = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));

/** `${imageId}:${journalHex}` → the 256 seal bytes (without the selector). */
export type RealReceipts = ReadonlyMap<string, number[]>;

export const receiptKey = (imageId: string, journal: readonly number[]) =>
  `${imageId.toLowerCase()}:${Buffer.from(journal).toString("hex")}`;

export function loadRealReceipts(dir = FIXTURES_DIR): RealReceipts {
  const out = new Map<string, number[]>();
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith(".seal"));
  } catch {
    return out;
  }
  for (const file of names) {
    const base = `${dir}${file.slice(0, -".seal".length)}`;
    try {
      const hex = (ext: string) => readFileSync(`${base}.${ext}`, "utf8").trim();
      const seal = [...Buffer.from(hex("seal"), "hex")].slice(4);
      const journal = [...Buffer.from(hex("journal_raw"), "hex")];
      if (seal.length === 256) out.set(receiptKey(hex("image_id"), journal), seal);
    } catch {
      // an incomplete fixture: skipped
    }
  }
  return out;
}
