import type { Job } from "./job.ts";

/**
 * One structured JSON line per lifecycle transition (Workers Logs indexes JSON lines).
 * Never carries tape bytes or secrets: only ids, states, codes and durations.
 */
export function logTransition(before: Job | null, after: Job, reason: string): void {
  if (before && before.status === after.status && before.prover.status === after.prover.status)
    return;
  console.log(
    JSON.stringify({
      event: "job_transition",
      jobId: after.jobId,
      from: before ? before.status : null,
      to: after.status,
      proverStatus: after.prover.status,
      reason,
      code: after.error?.code ?? after.lastRecovery?.code ?? null,
      attempt: after.attempt,
      submissions: after.attempts.submissions,
      deliveries: after.attempts.deliveries,
      recoveries: after.attempts.recoveries,
      redispatches: after.attempts.redispatches ?? 0,
      sinceLastUpdateMs: before ? after.updatedAt - before.updatedAt : 0,
      attemptMs: after.updatedAt - after.attemptStartedAt,
      ageMs: after.updatedAt - after.createdAt,
    }),
  );
}
