import type { Job } from "./job.ts";
import { fail } from "./ending.ts";
import type { LifecycleConfig, MessageAction, PollOutcome, SubmitOutcome } from "./lifecycle.ts";
import { abandonProverJob } from "./prover-cleanup.ts";
import { failureAction, rebuild } from "./recovery.ts";
import { onLie, onRefusal, tapeProvable } from "./verdicts.ts";

/** What the prover said, applied to the job: to a submission (`onSubmit`), to a status read (`onPoll`). */

/**
 * The prover answered a submission.
 * - accepted: proving; the poll deadline starts now.
 * - busy (429): back-pressure, not failure. The job goes back in line (the dispatcher offers
 *   that prover again after a poll interval) and the message is acked: no error retry is used.
 * - transient (network, timeout, 5xx, 401, bad reply): the prover's fault, not the job's. The job
 *   goes straight back to its place at the head of the line for the next available prover (the
 *   dispatcher charges the prover's circuit); the message is acked, so a flaky prover never
 *   dead-letters a job, and no slot is held while anything backs off.
 * - rejected (400): for a tape the gateway's own parser accepted (with options it chose) the
 *   verdict is false: the job stays queued and goes back to the head of the line for another
 *   prover, and the prover is charged (`line: "lied"`). For a tape the gateway finds unprovable
 *   too (a zero score), it stands: `prover_rejected`.
 */
export function onSubmit(
  job: Job,
  outcome: SubmitOutcome,
  proverUrl: string,
  now: number,
  cfg: LifecycleConfig,
  expectedProofMs: number | null = null,
): { job: Job; message: MessageAction; line: "busy" | "fault" | "lied" | null } {
  if (job.status !== "queued") return { job, message: { ack: true }, line: null };
  const attempts = { ...job.attempts, submissions: job.attempts.submissions + 1 };
  switch (outcome.kind) {
    case "accepted":
      return {
        job: {
          ...job,
          attempts,
          status: "proving",
          detail: "The prover accepted the tape; waiting for it to start.",
          prover: {
            ...job.prover,
            url: proverUrl,
            jobId: outcome.proverJobId,
            status: "queued",
            acceptedAt: now,
            pollDeadlineAt: now + cfg.pollTimeoutMs,
            expectedEndAt: expectedProofMs === null ? null : now + expectedProofMs,
            lastPolledAt: null,
            consecutivePollFailures: 0,
            firstFailedPollAt: null,
            lastError: null,
          },
          updatedAt: now,
        },
        message: { ack: true },
        line: null,
      };
    case "busy":
      return {
        job: {
          ...job,
          attempts,
          detail: "The prover is busy with another proof; next in line.",
          prover: { ...job.prover, lastError: outcome.error },
          updatedAt: now,
        },
        message: { ack: true },
        line: "busy",
      };
    case "transient":
      return {
        job: {
          ...job,
          attempts,
          detail: `The prover could not take the tape (${outcome.error.code}); back at the head of the line for the next available prover.`,
          prover: { ...job.prover, lastError: outcome.error },
          updatedAt: now,
        },
        message: { ack: true },
        line: "fault",
      };
    case "rejected": {
      const said = `${outcome.error.message} (${outcome.error.code})`;
      if (!tapeProvable(job.tape)) {
        const message = `The prover refused the tape: ${said}; this gateway reads it as unprovable too.`;
        return {
          job: fail({ ...job, attempts }, { code: "prover_rejected", message }, now),
          message: { ack: true },
          line: null,
        };
      }
      const cause = {
        code: "prover_lied",
        message: `The prover refused a tape this gateway parsed as valid, with options it chose: ${said}. That verdict is false.`,
      };
      const lied = onLie({ ...job, attempts }, proverUrl, outcome.error.code, cause, now, cfg);
      return {
        job: {
          ...lied,
          detail: `${cause.message} Back at the head of the line for another prover.`,
        },
        message: { ack: true },
        line: "lied",
      };
    }
  }
}

/** What the alarm loop does after a poll has been applied. */
export type AfterPoll =
  /** The proof is in: verify it against the tape and store it, then call `onResultStored`. */
  | { kind: "store" }
  /** Keep waiting on the prover. */
  | { kind: "wait" }
  /** The job left `proving`: it ended, or went back in line to be rebuilt. */
  | { kind: "done" };

/**
 * Applies one status read of the prover job:
 * - pending: keep polling;
 * - transient: ridden out, unless every poll has failed for longer than the stall window —
 *   then the prover job counts as lost and is rebuilt;
 * - lost (404), or failed with server_restarted / internal_error: rebuilt;
 *   proof_timeout or out of memory: rebuilt with smaller segments;
 * - failed with a verdict against the tape (src/core/verdicts.ts): zero_score_not_allowed for a
 *   non-zero score is a lie (rebuilt for another prover); a guest refusal (proof_error) or an
 *   unknown code asks another prover, and ends the job only when a second prover agrees.
 */
export function onPoll(
  job: Job,
  outcome: PollOutcome,
  now: number,
  cfg: LifecycleConfig,
): { job: Job; next: AfterPoll } {
  if (job.status !== "proving") return { job, next: { kind: "done" } };
  const polled = {
    ...job,
    attempts: { ...job.attempts, polls: job.attempts.polls + 1 },
    prover: { ...job.prover, lastPolledAt: now },
    updatedAt: now,
  };
  const done = (j: Job) => ({ job: j, next: { kind: "done" } as const });
  switch (outcome.kind) {
    case "pending":
      return {
        job: {
          ...polled,
          detail:
            outcome.status === "running"
              ? "The prover is proving the tape."
              : "The prover accepted the tape; waiting for it to start.",
          prover: {
            ...polled.prover,
            status: outcome.status,
            consecutivePollFailures: 0,
            firstFailedPollAt: null,
            lastError: null,
          },
        },
        next: { kind: "wait" },
      };
    case "transient": {
      const since = polled.prover.firstFailedPollAt ?? now;
      const failing = {
        ...polled,
        detail: `Could not read the proof's status (${outcome.error.code}); will try again.`,
        prover: {
          ...polled.prover,
          consecutivePollFailures: polled.prover.consecutivePollFailures + 1,
          firstFailedPollAt: since,
          lastError: outcome.error,
        },
      };
      if (now - since <= cfg.stallWindowMs) return { job: failing, next: { kind: "wait" } };
      return done(
        rebuild(
          failing,
          {
            code: "prover_stalled",
            message: `Every status read of the prover job failed for ${now - since} ms (last: ${outcome.error.code}).`,
          },
          now,
          cfg,
          { cleanup: true },
        ),
      );
    }
    case "succeeded":
      return {
        job: {
          ...polled,
          prover: {
            ...polled.prover,
            status: "succeeded",
            consecutivePollFailures: 0,
            firstFailedPollAt: null,
            lastError: null,
          },
        },
        next: { kind: "store" },
      };
    case "failed": {
      // The prover's job is over: tell it to forget it (it keeps finished jobs, at most max_jobs).
      const failed = abandonProverJob(
        {
          ...polled,
          prover: { ...polled.prover, status: "failed" as const, lastError: outcome.error },
        },
        outcome.error.code,
        now,
        cfg,
      );
      const why = `The prover failed the proof: ${outcome.error.message} (${outcome.error.code}).`;
      const action = failureAction(outcome.error);
      const url = job.prover.url ?? "";
      if (action === "zero_score") {
        if (!tapeProvable(job.tape)) {
          const message = `${why} This gateway reads the tape's score as 0 too.`;
          return done(fail(failed, { code: "prover_rejected", message }, now));
        }
        const cause = {
          code: "prover_lied",
          message: `${why} The tape's final score is ${job.tape.finalScore}: that verdict is false.`,
        };
        return done(onLie(failed, url, outcome.error.code, cause, now, cfg));
      }
      if (action === "guest_refused" || action === "unknown")
        return done(onRefusal(failed, url, outcome.error, why, now, cfg));
      return done(
        rebuild(failed, { code: outcome.error.code, message: why }, now, cfg, {
          smaller: action === "rebuild_smaller",
        }),
      );
    }
    case "lost":
      return done(
        rebuild(
          polled,
          {
            code: "prover_job_lost",
            message: "The prover no longer knows this job (it restarted or swept it).",
          },
          now,
          cfg,
        ),
      );
  }
}
