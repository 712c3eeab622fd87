import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_VARS } from "./test/support/test-vars.ts";

/**
 * Two projects: pure logic in Node (fast), and the Worker itself inside workerd via
 * @cloudflare/vitest-plugin (the renamed @cloudflare/vitest-pool-workers) against a real
 * HTTP dev prover that `globalSetup` starts on loopback.
 */
export default defineConfig({
  test: {
    // The Worker logs one JSON line per job transition; show logs only for failing tests.
    silent: "passed-only",
    projects: [
      {
        test: {
          name: "unit",
          environment: "node",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.jsonc" },
            // The production Worker plus the dispatcher's test-only RPCs (TestProverDispatcher).
            main: "./test/integration/test-worker.ts",
            miniflare: {
              bindings: { ...TEST_VARS, PROVER_BASE_URL: inject<string>("proverUrl") },
              durableObjects: {
                DISPATCHER: { className: "TestProverDispatcher", useSQLite: true },
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["./test/support/global-setup.ts"],
          setupFiles: ["./test/integration/setup.ts"],
          // One dev prover (single-flight, like the real one) serves every file: run files in turn.
          fileParallelism: false,
          testTimeout: 30_000,
        },
      },
    ],
  },
});
