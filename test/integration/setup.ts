import { afterAll, beforeEach } from "vitest";
import { fleet, forgetJobs, prover, resetDispatcher, resetJobIndex } from "./helpers.ts";

// Every test starts with a fresh dev prover (no jobs, faults or hung sockets, startup settings),
// and every file leaves it that way: a request left hanging must not outlive its test file.
// Jobs of earlier tests are wiped (their alarms would otherwise keep working on the shared
// prover), and the dispatcher starts each test with an empty line and free slots.
beforeEach(async () => {
  await forgetJobs();
  await resetDispatcher();
  await resetJobIndex();
  await Promise.all([prover, ...fleet].map((p) => p.reset()));
});
afterAll(async () => {
  await forgetJobs();
  await Promise.all([prover, ...fleet].map((p) => p.reset()));
});
