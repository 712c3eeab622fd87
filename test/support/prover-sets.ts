/** One workerd test file's own dev provers (test/support/global-setup.ts starts them). */
export interface ProverSet {
  /** The configured prover: the file's PROVER_BASE_URL. */
  proverUrl: string;
  /** Two more, for fleet tests to add at runtime. */
  fleetUrls: string[];
}

/** Asks the factory `globalSetup` provides (`proverSetsUrl`) for a fresh set of dev provers. */
export async function newProverSet(factoryUrl: string): Promise<ProverSet> {
  const res = await fetch(factoryUrl, { method: "POST" });
  if (!res.ok) throw new Error(`dev prover factory: ${res.status} ${await res.text()}`);
  return (await res.json()) as ProverSet;
}
