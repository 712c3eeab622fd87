import type { Job } from "./job.ts";

/**
 * One structured JSON line per lifecycle transition (Workers Logs indexes JSON lines), or null
 * when neither the job's nor its prover's status changed. Never carries tape bytes or secrets:
 * only ids, states, codes and durations.
 */
export function transitionLine(
  before: Job | null,
  after: Job,
  reason: string,
): Record<string, unknown> | null {
  if (before && before.status === after.status && before.prover.status === after.prover.status)
    return null;
  return {
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
  };
}
