import type { Config } from "./config.ts";

/**
 * Exponential backoff with jitter for queue redeliveries: the n-th retry waits about
 * floor·2^(n-1) seconds, jittered into its upper half so a burst of failures spreads out,
 * never below `retryMinDelaySeconds` nor above `retryMaxDelaySeconds`.
 * `random` is injectable so tests can pin the jitter.
 */
export function retryDelaySeconds(
  attempt: number,
  cfg: Pick<Config, "retryMinDelaySeconds" | "retryMaxDelaySeconds">,
  random: () => number = Math.random,
): number {
  const floor = cfg.retryMinDelaySeconds;
  const ceiling = cfg.retryMaxDelaySeconds;
  const n = Math.max(1, Math.floor(attempt));
  const exp = Math.min(ceiling, Math.max(1, floor) * 2 ** Math.min(n - 1, 30));
  const jittered = Math.round(exp * (0.5 + random() * 0.5));
  return Math.min(ceiling, Math.max(floor, jittered));
}

/** The longest backoff a message can accumulate before `maxRetries` sends it to the DLQ. */
export function worstCaseRetrySchedule(
  maxRetries: number,
  cfg: Pick<Config, "retryMinDelaySeconds" | "retryMaxDelaySeconds">,
): number[] {
  return Array.from({ length: maxRetries }, (_, i) => retryDelaySeconds(i + 1, cfg, () => 1));
}
