import { fileURLToPath } from "node:url";
import { parseConfig, type Config } from "../../src/core/config.ts";
import { readWranglerConfig } from "../../tools/ops/wrangler-config.ts";
import { TEST_VARS } from "./test-vars.ts";

/**
 * The configs pure-logic suites run under: the committed wrangler.jsonc vars and the scaled-down
 * workerd test vars. A boundary that only happens to match one of them breaks under the other.
 */
const committed =
  readWranglerConfig(fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url))).vars ?? {};
export const configWith = (over: Record<string, string> = {}) =>
  parseConfig({ ...committed, ...over });
export const CONFIGS: [string, Config][] = [
  ["committed defaults", configWith()],
  ["scaled test vars", configWith(TEST_VARS)],
];

export const URL_A = "https://prover-a.example";
export const URL_B = "https://prover-b.example";
export const T0 = 1_700_000_000_000;
