import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, publicConfig } from "../../src/core/config.ts";
import { CONFIG_VARS, VAR_MEANINGS } from "../../src/core/vars.ts";
import { readWranglerConfig } from "../../tools/ops/wrangler-config.ts";

/** The committed wrangler.jsonc vars: what production runs by default. */
function committedVars(): Record<string, string> {
  return (
    readWranglerConfig(fileURLToPath(new URL("../../wrangler.jsonc", import.meta.url))).vars ?? {}
  );
}

const IMAGE = "30cb1dceaa1c626ed7eb906e1567347806eefed4b759b829a3ca3696573b7090";
/** The least a valid config needs: a prover, and the image its receipts must prove. */
const base = { PROVER_BASE_URL: "https://prover.example", PROVER_EXPECTED_IMAGE_ID: IMAGE };
const errorOf = (raw: Record<string, unknown>) => {
  try {
    parseConfig(raw);
    return null;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
};

describe("config", () => {
  it("the committed wrangler.jsonc vars are valid and equal the documented defaults", () => {
    const fromFile = parseConfig(committedVars());
    const defaults = parseConfig({
      PROVER_BASE_URL: committedVars().PROVER_BASE_URL,
      PROVER_EXPECTED_IMAGE_ID: committedVars().PROVER_EXPECTED_IMAGE_ID,
    });
    expect(fromFile).toEqual(defaults);
    expect(defaults).toMatchObject({
      requestTimeoutMs: 30_000,
      pollIntervalMs: 10_000,
      pollMinIntervalMs: 250,
      pollBudgetMs: 45_000,
      pollTimeoutMs: 660_000,
      stallWindowMs: 90_000,
      maxRecoveries: 3,
      maxJobWallTimeMs: 720_000,
      maxTapeBytes: 2_097_152,
      retryMinDelaySeconds: 2,
      retryMaxDelaySeconds: 60,
      completedJobRetentionMs: 86_400_000,
      receiptKind: "groth16",
      segmentLimitPo2: 21,
      verifyMode: "policy",
      verifyReceipts: "groth16",
      proverExpectedImageId: IMAGE,
    });
  });

  it("accepts small values for tests and local runs", () => {
    const c = parseConfig({
      ...base,
      PROVER_REQUEST_TIMEOUT_MS: "200",
      PROVER_POLL_INTERVAL_MS: "100",
      PROVER_POLL_MIN_INTERVAL_MS: "10",
      PROVER_POLL_BUDGET_MS: "300",
      PROVER_STALL_WINDOW_MS: "500",
      PROVER_POLL_TIMEOUT_MS: "2000",
      MAX_JOB_WALL_TIME_MS: "3000",
      RETRY_MIN_DELAY_SECONDS: "0",
      MAX_RETRY_DELAY_SECONDS: "1",
      DISPATCH_WATCHDOG_MS: "1500",
    });
    expect(c.pollIntervalMs).toBe(100);
  });

  it("PROVER_BASE_URL is required, must be http(s), and https unless loopback or allowed", () => {
    const off = { VERIFY_RECEIPTS: "off" };
    expect(errorOf(off)?.vars).toEqual(["PROVER_BASE_URL"]);
    expect(errorOf({ ...off, PROVER_BASE_URL: "ftp://x" })?.vars).toEqual(["PROVER_BASE_URL"]);
    expect(errorOf({ ...off, PROVER_BASE_URL: "http://prover.example" })?.message).toMatch(
      /must be https/,
    );
    expect(
      errorOf({ ...off, PROVER_BASE_URL: "http://prover.example", ALLOW_INSECURE_PROVER_URL: "1" }),
    ).toBeNull();
    for (const url of ["http://127.0.0.1:8790", "http://localhost:1", "http://[::1]:2"])
      expect(errorOf({ ...off, PROVER_BASE_URL: url })).toBeNull();
  });

  it("verifying receipts (the default) needs the expected image id and groth16 receipts: an error names both vars", () => {
    const noImage = errorOf({ PROVER_BASE_URL: "https://prover.example" });
    expect(noImage?.vars.sort()).toEqual(["PROVER_EXPECTED_IMAGE_ID", "VERIFY_RECEIPTS"]);
    expect(noImage?.message).toContain("VERIFY_RECEIPTS=groth16 needs PROVER_EXPECTED_IMAGE_ID");
    expect(errorOf({ ...base, VERIFY_RECEIPTS: "groth16" })).toBeNull();
    expect(
      errorOf({ PROVER_BASE_URL: "https://prover.example", VERIFY_RECEIPTS: "off" }),
    ).toBeNull();
    const composite = errorOf({ ...base, PROVER_RECEIPT_KIND: "composite" });
    expect(composite?.vars.sort()).toEqual(["PROVER_RECEIPT_KIND", "VERIFY_RECEIPTS"]);
    expect(
      errorOf({ ...base, PROVER_RECEIPT_KIND: "composite", VERIFY_RECEIPTS: "off" }),
    ).toBeNull();
    expect(errorOf({ ...base, VERIFY_RECEIPTS: "on" })?.message).toContain(
      "VERIFY_RECEIPTS must be groth16 or off",
    );
  });

  // Each invariant just inside (accepted) and just outside (refused, naming the var).
  const cases: [string, Record<string, string>, Record<string, string>, string][] = [
    [
      "poll floor ≤ poll ceiling",
      { PROVER_POLL_INTERVAL_MS: "1000", PROVER_POLL_MIN_INTERVAL_MS: "1000" },
      { PROVER_POLL_INTERVAL_MS: "1000", PROVER_POLL_MIN_INTERVAL_MS: "1001" },
      "PROVER_POLL_MIN_INTERVAL_MS",
    ],
    [
      "budget ≥ interval",
      {
        PROVER_POLL_INTERVAL_MS: "5000",
        PROVER_POLL_BUDGET_MS: "5000",
        PROVER_REQUEST_TIMEOUT_MS: "1000",
      },
      {
        PROVER_POLL_INTERVAL_MS: "5001",
        PROVER_POLL_BUDGET_MS: "5000",
        PROVER_REQUEST_TIMEOUT_MS: "1000",
      },
      "PROVER_POLL_BUDGET_MS",
    ],
    [
      "request timeout < budget",
      { PROVER_REQUEST_TIMEOUT_MS: "44999" },
      { PROVER_REQUEST_TIMEOUT_MS: "45000" },
      "PROVER_REQUEST_TIMEOUT_MS",
    ],
    [
      "budget < poll timeout",
      {
        PROVER_POLL_BUDGET_MS: "45000",
        PROVER_STALL_WINDOW_MS: "40000",
        PROVER_POLL_TIMEOUT_MS: "45001",
      },
      {
        PROVER_POLL_BUDGET_MS: "45000",
        PROVER_STALL_WINDOW_MS: "40000",
        PROVER_POLL_TIMEOUT_MS: "45000",
      },
      "PROVER_POLL_BUDGET_MS",
    ],
    [
      "poll timeout < wall cap",
      { MAX_JOB_WALL_TIME_MS: "660001" },
      { MAX_JOB_WALL_TIME_MS: "660000" },
      "PROVER_POLL_TIMEOUT_MS",
    ],
    [
      "stall window > request timeout",
      { PROVER_STALL_WINDOW_MS: "30001" },
      { PROVER_STALL_WINDOW_MS: "30000" },
      "PROVER_STALL_WINDOW_MS",
    ],
    [
      "stall window ≥ poll interval",
      {
        PROVER_REQUEST_TIMEOUT_MS: "1000",
        PROVER_POLL_INTERVAL_MS: "5000",
        PROVER_POLL_BUDGET_MS: "5000",
        PROVER_STALL_WINDOW_MS: "5000",
      },
      {
        PROVER_REQUEST_TIMEOUT_MS: "1000",
        PROVER_POLL_INTERVAL_MS: "5000",
        PROVER_POLL_BUDGET_MS: "5000",
        PROVER_STALL_WINDOW_MS: "4999",
      },
      "PROVER_STALL_WINDOW_MS",
    ],
    [
      "stall window < poll timeout",
      { PROVER_POLL_TIMEOUT_MS: "90001" },
      { PROVER_POLL_TIMEOUT_MS: "90000" },
      "PROVER_STALL_WINDOW_MS",
    ],
    [
      "watchdog > retry ceiling (seconds × 1000)",
      { DISPATCH_WATCHDOG_MS: "60001" },
      { DISPATCH_WATCHDOG_MS: "60000" },
      "DISPATCH_WATCHDOG_MS",
    ],
    [
      "watchdog > request timeout",
      { MAX_RETRY_DELAY_SECONDS: "10", DISPATCH_WATCHDOG_MS: "30001" },
      { MAX_RETRY_DELAY_SECONDS: "10", DISPATCH_WATCHDOG_MS: "30000" },
      "DISPATCH_WATCHDOG_MS",
    ],
    [
      "watchdog < wall cap",
      { DISPATCH_WATCHDOG_MS: "719999" },
      { DISPATCH_WATCHDOG_MS: "720000" },
      "DISPATCH_WATCHDOG_MS",
    ],
    [
      "recoveries 0..20",
      { PROVER_MAX_RECOVERIES: "20" },
      { PROVER_MAX_RECOVERIES: "21" },
      "PROVER_MAX_RECOVERIES",
    ],
    [
      "recoveries are not negative",
      { PROVER_MAX_RECOVERIES: "0" },
      { PROVER_MAX_RECOVERIES: "-1" },
      "PROVER_MAX_RECOVERIES",
    ],
    [
      "an admin token is long enough to be a secret",
      { ADMIN_TOKEN: "x".repeat(16) },
      { ADMIN_TOKEN: "x".repeat(15) },
      "ADMIN_TOKEN",
    ],
    [
      "retry floor ≤ ceiling",
      { RETRY_MIN_DELAY_SECONDS: "60" },
      { RETRY_MIN_DELAY_SECONDS: "61" },
      "RETRY_MIN_DELAY_SECONDS",
    ],
    [
      "tape limit ≤ 2 MiB",
      { MAX_TAPE_BYTES: "2097152" },
      { MAX_TAPE_BYTES: "2097153" },
      "MAX_TAPE_BYTES",
    ],
    [
      "segment limit 16..21 (low)",
      { PROVER_SEGMENT_LIMIT_PO2: "16" },
      { PROVER_SEGMENT_LIMIT_PO2: "15" },
      "PROVER_SEGMENT_LIMIT_PO2",
    ],
    [
      "segment limit 16..21 (high)",
      { PROVER_SEGMENT_LIMIT_PO2: "21" },
      { PROVER_SEGMENT_LIMIT_PO2: "22" },
      "PROVER_SEGMENT_LIMIT_PO2",
    ],
    [
      "receipt kind",
      { PROVER_RECEIPT_KIND: "succinct", VERIFY_RECEIPTS: "off" },
      { PROVER_RECEIPT_KIND: "stark", VERIFY_RECEIPTS: "off" },
      "PROVER_RECEIPT_KIND",
    ],
    [
      "verify mode",
      { PROVER_VERIFY_MODE: "verify" },
      { PROVER_VERIFY_MODE: "trust" },
      "PROVER_VERIFY_MODE",
    ],
    [
      "image id is 32-byte hex",
      { PROVER_EXPECTED_IMAGE_ID: "ab".repeat(32) },
      { PROVER_EXPECTED_IMAGE_ID: "ab".repeat(31) },
      "PROVER_EXPECTED_IMAGE_ID",
    ],
    [
      "numbers are whole",
      { PROVER_POLL_INTERVAL_MS: "1000" },
      { PROVER_POLL_INTERVAL_MS: "1000.5" },
      "PROVER_POLL_INTERVAL_MS",
    ],
    [
      "numbers are numbers",
      { MAX_RETRY_DELAY_SECONDS: "60" },
      { MAX_RETRY_DELAY_SECONDS: "sixty" },
      "MAX_RETRY_DELAY_SECONDS",
    ],
  ];
  it.each(cases)("%s", (_name, inside, outside, varName) => {
    expect(errorOf({ ...base, ...inside })).toBeNull();
    const err = errorOf({ ...base, ...outside });
    expect(err?.vars).toContain(varName);
    expect(err?.message).toContain(varName);
  });

  it("blank vars fall back to their defaults", () => {
    expect(
      parseConfig({
        ...base,
        PROVER_POLL_INTERVAL_MS: "",
        PROVER_EXPECTED_IMAGE_ID: "",
        VERIFY_RECEIPTS: "off",
      }),
    ).toMatchObject({
      pollIntervalMs: 10_000,
      proverExpectedImageId: undefined,
    });
  });
});

describe("publicConfig", () => {
  it("says whether the secrets are set, never what they are", () => {
    const c = parseConfig({
      ...base,
      PROVER_API_KEY: "key-123456",
      ADMIN_TOKEN: "admin-token-0123456789",
    });
    const shown = JSON.stringify(publicConfig(c));
    expect(shown).not.toContain("key-123456");
    expect(shown).not.toContain("admin-token-0123456789");
    expect(publicConfig(c)).toMatchObject({ proverApiKeySet: true, adminTokenSet: true });
  });
});

describe("VAR_MEANINGS", () => {
  it("explains every var the schema reads, and nothing else", () => {
    expect(Object.keys(VAR_MEANINGS).sort()).toEqual([...CONFIG_VARS].sort());
  });
});
