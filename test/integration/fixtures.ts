import { inject } from "vitest";

/** The shared fixtures, read in Node by globalSetup (workerd has no access to ../shared). */
export function fixture(name: "test-short" | "test-medium" | "test-real-game"): Uint8Array {
  const b64 = inject("fixtures")[name];
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
