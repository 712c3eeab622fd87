// Secrets are not in wrangler.jsonc, so `wrangler types` cannot see them: declare them here.
declare global {
  namespace Cloudflare {
    interface Env {
      PROVER_API_KEY?: string;
      PROVER_API_KEYS?: string;
      ADMIN_TOKEN?: string;
      /** Tests only (vitest.config.ts): this file's two spare dev provers, space-separated. */
      TEST_FLEET_URLS?: string;
    }
  }
}

// What test/support/global-setup.ts provides to the tests.
declare module "vitest" {
  export interface ProvidedContext {
    /** Origin of the dev prover factory: a POST starts a file's own set (prover-sets.ts). */
    proverSetsUrl: string;
    /** The shared tape fixtures, base64 (workerd cannot read ../shared itself). */
    fixtures: Record<"test-short" | "test-medium" | "test-real-game", string>;
    /** The real GPU receipt of test-real-game.tape (hex), from ../shared/fixtures. */
    realReceipt: { imageId: string; journalRaw: string; onchainSeal: string };
    /** `max_retries` of the jobs queue's consumer in wrangler.jsonc. */
    queueMaxRetries: number;
    /** The INTAKE_RATE_LIMITER binding's settings in wrangler.jsonc. */
    intakeRateLimit: { limit: number; period: number };
  }
}
export {};
