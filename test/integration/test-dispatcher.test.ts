import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ProverDispatcher } from "../../src/objects/prover-dispatcher.ts";
import { dispatcher } from "./helpers.ts";
import { TestProverDispatcher } from "./test-worker.ts";

describe("the dispatcher's test-only RPCs", () => {
  it("are on the subclass the tests' DISPATCHER binding runs, and not in production", async () => {
    const inspection = ["charge", "position", "snapshot"];
    const production = Object.getOwnPropertyNames(ProverDispatcher.prototype);
    for (const name of inspection) expect(production).not.toContain(name);
    expect(Object.getOwnPropertyNames(TestProverDispatcher.prototype)).toEqual(
      expect.arrayContaining(inspection),
    );
    const ran = await runInDurableObject(dispatcher(), (instance) => instance.constructor.name);
    expect(ran).toBe("TestProverDispatcher");
  });
});
