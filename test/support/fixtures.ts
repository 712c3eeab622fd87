import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Real tapes from the game client, read from ../shared/fixtures (never copied into the repo). */
export const FIXTURES_DIR = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
export const FIXTURE_NAMES = ["test-short", "test-medium", "test-real-game"] as const;
export type FixtureName = (typeof FIXTURE_NAMES)[number];

export function fixture(name: FixtureName): Uint8Array {
  return new Uint8Array(readFileSync(`${FIXTURES_DIR}${name}.tape`));
}
