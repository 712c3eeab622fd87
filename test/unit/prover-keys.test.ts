/**
 * Which key each prover gets: its own (given when added at runtime), the configured ones (only
 * for a prover the config names), or none; and how a job object keeps the key its grant gave.
 */
import { describe, expect, it } from "vitest";
import {
  authOf,
  jobKeyFor,
  keyFor,
  keyFromGrant,
  type KeyConfig,
  type KeyedAdmission,
} from "../../src/prover/keys.ts";

const A = "https://gpu-a.example";
const B = "https://gpu-b.example";
const RUNTIME = "https://market-box.example";
const cfg: KeyConfig = {
  proverBaseUrl: A,
  proverBaseUrls: [B],
  proverApiKey: "shared",
  proverApiKeys: { [B]: "b-own", [RUNTIME]: "listed-but-not-configured" },
};

/** A job object's synchronous KV, in memory. */
function kv() {
  const m = new Map<string, unknown>();
  return {
    get: <T>(k: string) => structuredClone(m.get(k)) as T | undefined,
    put: <T>(k: string, v: T) => void m.set(k, structuredClone(v)),
    keys: () => [...m.keys()],
  };
}

describe("authOf and keyFor", () => {
  it("a configured prover gets its PROVER_API_KEYS entry, else PROVER_API_KEY", () => {
    expect(keyFor(authOf("config", null), cfg, A)).toBe("shared");
    expect(keyFor(authOf("config", null), cfg, B)).toBe("b-own");
  });

  it("a runtime prover gets its own key, or none: never the configured ones", () => {
    expect(keyFor(authOf("runtime", "own-key"), cfg, RUNTIME)).toBe("own-key");
    expect(authOf("runtime", null)).toEqual({ kind: "none" });
    // Even when PROVER_API_KEYS happens to list its origin.
    expect(keyFor(authOf("runtime", null), cfg, RUNTIME)).toBeUndefined();
  });

  it("an own key wins over the configured ones", () => {
    expect(keyFor(authOf("config", "given"), cfg, A)).toBe("given");
  });

  it("the configured keys go only to a prover the config names now", () => {
    const dropped: KeyConfig = { ...cfg, proverBaseUrls: [] };
    expect(keyFor({ kind: "config" }, dropped, B)).toBeUndefined();
    expect(keyFor({ kind: "config" }, dropped, A)).toBe("shared");
  });
});

describe("a job object's keys", () => {
  const granted = (url: string, auth?: KeyedAdmission["auth"]): KeyedAdmission => ({
    kind: "granted",
    proverUrl: url,
    msPer1000Frames: null,
    ...(auth ? { auth } : {}),
  });

  it("keeps the key its grant gave for later status reads and clean-ups, under its own key", () => {
    const store = kv();
    const own = { kind: "own", key: "market-key" } as const;
    expect(keyFromGrant(store, cfg, granted(RUNTIME, own), RUNTIME)).toBe("market-key");
    expect(jobKeyFor(store, cfg, RUNTIME)).toBe("market-key");
    // A later grant of a configured prover does not forget the first.
    expect(keyFromGrant(store, cfg, granted(A, { kind: "config" }), A)).toBe("shared");
    expect(jobKeyFor(store, cfg, RUNTIME)).toBe("market-key");
    expect(jobKeyFor(store, cfg, A)).toBe("shared");
    // Not in the job document's storage key ("job").
    expect(store.keys()).toEqual(["proverAuth"]);
  });

  it("a runtime prover granted without a key gets none, for submit and later", () => {
    const store = kv();
    expect(keyFromGrant(store, cfg, granted(RUNTIME, { kind: "none" }), RUNTIME)).toBeUndefined();
    expect(jobKeyFor(store, cfg, RUNTIME)).toBeUndefined();
  });

  it("nothing kept (a grant from before per-prover keys): the configured keys, configured provers only", () => {
    const store = kv();
    expect(keyFromGrant(store, cfg, granted(A), A)).toBe("shared");
    expect(jobKeyFor(store, cfg, B)).toBe("b-own");
    expect(jobKeyFor(store, cfg, RUNTIME)).toBeUndefined();
  });

  it("a grant for another prover than the request's is not kept for it", () => {
    const store = kv();
    const own = { kind: "own", key: "k" } as const;
    expect(keyFromGrant(store, cfg, granted(B, own), RUNTIME)).toBeUndefined();
    expect(jobKeyFor(store, cfg, B)).toBe("b-own");
  });
});
