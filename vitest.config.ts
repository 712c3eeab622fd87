import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { newProverSet } from "./test/support/prover-sets.ts";
import { TEST_VARS } from "./test/support/test-vars.ts";

/**
 * Two projects: pure logic in Node (fast), and the Worker itself inside workerd via
 * @cloudflare/vitest-plugin (the renamed @cloudflare/vitest-pool-workers) against real HTTP dev
 * provers that `globalSetup` starts on loopback.
 */
export default defineConfig({
  test: {
    // The Worker logs one JSON line per job transition; show logs only for failing tests.
    silent: "passed-only",
    // The workerd files mostly wait on the dev provers, the queues and the alarms: several run
    // side by side, and the unit files with them (one shared maxWorkers puts both projects in
    // one group; two different ones would run the projects one after the other).
    maxWorkers: 3,
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
          // Called once per test file: each file gets its own runtime (storage, queues, alarms)
          // and its own dev provers, so no file sees another's jobs, faults or hung sockets.
          cloudflareTest(async ({ inject }) => {
            const provers = await newProverSet(inject<string>("proverSetsUrl"));
            return {
              wrangler: { configPath: "./wrangler.jsonc" },
              // The production Worker plus the dispatcher's test-only RPCs (TestProverDispatcher).
              main: "./test/integration/test-worker.ts",
              miniflare: {
                bindings: {
                  ...TEST_VARS,
                  PROVER_BASE_URL: provers.proverUrl,
                  TEST_FLEET_URLS: provers.fleetUrls.join(" "),
                },
                durableObjects: {
                  DISPATCHER: { className: "TestProverDispatcher", useSQLite: true },
                },
              },
            };
          }),
        ],
        test: {
          name: "workers",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["./test/support/global-setup.ts"],
          setupFiles: ["./test/integration/setup.ts"],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
