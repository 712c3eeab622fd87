/**
 * The vars the workerd tests run with: the same names as wrangler.jsonc, scaled down to
 * hundreds of milliseconds so whole job lifecycles run in seconds. Tests derive their
 * boundaries from these values (never from literals), so changing one keeps them meaningful.
 */
export const TEST_API_KEY = "test-prover-key";

export const TEST_VARS = {
  PROVER_API_KEY: TEST_API_KEY,
  PROVER_REQUEST_TIMEOUT_MS: "1000",
  PROVER_POLL_INTERVAL_MS: "100",
  PROVER_POLL_MIN_INTERVAL_MS: "10",
  PROVER_POLL_BUDGET_MS: "1200",
  PROVER_STALL_WINDOW_MS: "2500",
  PROVER_POLL_TIMEOUT_MS: "20000",
  PROVER_MAX_RECOVERIES: "2",
  DISPATCH_WATCHDOG_MS: "3000",
  MAX_JOB_WALL_TIME_MS: "30000",
  RETRY_MIN_DELAY_SECONDS: "0",
  MAX_RETRY_DELAY_SECONDS: "1",
  COMPLETED_JOB_RETENTION_MS: "60000",
  PROVER_CIRCUIT_COOLDOWN_MS: "300",
  PROVER_HEALTH_INTERVAL_MS: "500",
  PROVER_ALLOW_CPU: "1",
  // Most tests post synthetic tapes, whose dev-prover receipts are fakes; receipt tests turn it on.
  VERIFY_RECEIPTS: "off",
  // Tests post many tapes from one client; the cap has tests of its own.
  MAX_WAITING_PER_CLIENT: "1000",
} as const;

/** How long the dev prover takes per proof in the workerd tests. */
export const TEST_PROOF_MS = 300;

/**
 * The webhook signing secret of the workerd webhook tests (whsec_ + base64 of 32 bytes): the
 * receiver that `globalSetup` starts verifies every delivery with it. Not in TEST_VARS: the other
 * tests run with webhooks off; the webhook tests pass it to the consumer themselves.
 */
export const TEST_WEBHOOK_SECRET = "whsec_PB/UpK82u3lMSVRrIUep7+uiPA1iIIaY/9kNgmkHUZk=";
