import { afterAll, beforeEach } from "vitest";
import { prover } from "./helpers.ts";

// Every test starts with a fresh dev prover (no jobs, faults or hung sockets, startup settings),
// and every file leaves it that way: a request left hanging must not outlive its test file.
beforeEach(async () => {
  await prover.reset();
});
afterAll(async () => {
  await prover.reset();
});
