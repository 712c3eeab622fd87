import type { TestProject } from "vitest/node";
import { startDevProver } from "../../src/dev/prover-server.ts";
import { TEST_API_KEY, TEST_PROOF_MS } from "./test-vars.ts";

/** Starts one real HTTP dev prover on loopback for the workerd tests and provides its URL. */
export default async function setup(project: TestProject) {
  const prover = await startDevProver({ port: 0, apiKey: TEST_API_KEY, proofMs: TEST_PROOF_MS, queuedMs: 20 });
  project.provide("proverUrl", prover.url);
  return async () => {
    await prover.close();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    proverUrl: string;
  }
}
