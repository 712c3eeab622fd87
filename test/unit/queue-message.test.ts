import { describe, expect, it } from "vitest";
import { deadLetterApplies, isDeadLetterQueue } from "../../src/queue/message.ts";

describe("a dead letter ends the attempt it is about, never a newer one", () => {
  const job = { attempt: 2, attemptStartedAt: 10_000 };

  it("one naming its attempt: that attempt only", () => {
    expect(deadLetterApplies(job, { attempt: 2, sentAt: null })).toBe(true);
    expect(deadLetterApplies(job, { attempt: 1, sentAt: null })).toBe(false);
    expect(deadLetterApplies(job, { attempt: 3, sentAt: null })).toBe(false);
    // The attempt wins over the send time.
    expect(deadLetterApplies(job, { attempt: 1, sentAt: 20_000 })).toBe(false);
    expect(deadLetterApplies(job, { attempt: 2, sentAt: 0 })).toBe(true);
  });

  it("one naming none: an attempt that had begun when it was sent (boundary: the same millisecond)", () => {
    expect(deadLetterApplies(job, { attempt: null, sentAt: 10_000 })).toBe(true);
    expect(deadLetterApplies(job, { attempt: null, sentAt: 9_999 })).toBe(false);
    expect(deadLetterApplies(job, { attempt: null, sentAt: 10_001 })).toBe(true);
  });

  it("one with neither: the current attempt", () => {
    expect(deadLetterApplies(job, { attempt: null, sentAt: null })).toBe(true);
  });
});

describe("the jobs queue's messages", () => {
  it("the dead-letter queue is known by its -dlq suffix", () => {
    expect(isDeadLetterQueue("proof-jobs-dlq")).toBe(true);
    expect(isDeadLetterQueue("proof-jobs")).toBe(false);
  });
});
