import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Real tapes from the game client, read from ../shared/fixtures (never copied into the repo). */
export const FIXTURES_DIR = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));

export function fixture(name: "test-short" | "test-medium" | "test-real-game"): Uint8Array {
  return new Uint8Array(readFileSync(`${FIXTURES_DIR}${name}.tape`));
}
