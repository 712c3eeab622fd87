import { PROVER_MAX_TAPE_BYTES } from "./vars.ts";
import type { Job, JobError, TapeInfo, Verdict } from "./job.ts";
import { MAX_REJECTION_RETRIES, rebuild, type RebuildConfig } from "./recovery.ts";
import { HEADER_BYTES, MAX_FRAMES, TRAILER_BYTES } from "./tape.ts";

/**
 * No job ends on one prover's word that its tape is bad. Pure rules of what a prover's verdict
 * against a tape means for the job (the prover side, contradictions and quarantine, is
 * src/core/quarantine.ts; which prover the job goes to next, src/core/grants.ts).
 *
 * - A verdict the gateway can check and finds false is a lie: `zero_score_not_allowed` for a
 *   tape whose score it read as non-zero; a 400 (`invalid_tape`, `tape_empty`, `tape_too_large`,
 *   `invalid_max_frames`, `invalid_segment_limit`, any 400) for a tape its parser accepted with
 *   options it chose; a result whose journal is not the tape's; a receipt that does not verify.
 *   The job goes back to the head of the line for another prover and the liar is charged.
 * - A verdict it cannot check (a guest refusal: `proof_error` that is not out of memory; an
 *   unknown failure code) is recorded and the job goes back to the head of the line for another
 *   prover. The job ends only when two different provers gave such a verdict: `tape_rejected`
 *   when both were guest refusals, else `prover_failed`. When no other prover can be had, the
 *   dispatcher gives it to the same prover once more after PROVER_CIRCUIT_COOLDOWN_MS; a second
 *   refusal there ends the job with `error.unconfirmed: true`.
 * - A tape a prover refused and another proved: each prover that refused it is charged.
 * None of these use PROVER_MAX_RECOVERIES: the wall-time cap bounds them.
 */

/** The longest prover-supplied code kept on a verdict. */
export const VERDICT_CODE_MAX = 64;

/**
 * Whether the gateway's own reading of the tape says it is provable: what intake's parser
 * accepts (a non-zero score, at most MAX_FRAMES frames, the exact length, within the prover's
 * size limit). A job whose tape fails this (seeded in tests, or stored before a rule existed)
 * takes a prover's refusal at its word: the gateway agrees.
 */
export function tapeProvable(tape: TapeInfo): boolean {
  return (
    tape.finalScore > 0 &&
    tape.frameCount <= MAX_FRAMES &&
    tape.sizeBytes === HEADER_BYTES + tape.frameCount + TRAILER_BYTES &&
    tape.sizeBytes <= PROVER_MAX_TAPE_BYTES
  );
}

export const verdictsOf = (job: Job): Verdict[] => job.verdicts ?? [];

/**
 * The provers this job goes to only when no other can be had: every one that gave a verdict
 * against its tape in this attempt.
 */
export const excludedProvers = (job: Job): string[] => [
  ...new Set(verdictsOf(job).map((v) => v.url)),
];

function withVerdict(job: Job, v: Verdict): Job {
  const code = v.code.slice(0, VERDICT_CODE_MAX);
  return { ...job, verdicts: [...verdictsOf(job), { ...v, code }] };
}

/**
 * The prover on `url` said something false about the tape (`code`): recorded, and the job is
 * rebuilt for another prover (a prover's fault: no recovery used; `cause.code` must be one of
 * PROVER_FAULT_CODES). `cleanup`: its prover job is still to be deleted.
 */
export function onLie(
  job: Job,
  url: string,
  code: string,
  cause: JobError,
  now: number,
  cfg: RebuildConfig,
  opts: { cleanup?: boolean } = {},
): Job {
  const recorded = withVerdict(job, { url, code, kind: "lied", at: now });
  return rebuild(recorded, cause, now, cfg, { cleanup: opts.cleanup ?? false });
}

/**
 * The prover on `url` refused the tape with a verdict the gateway cannot check (`error`; `why`:
 * the sentence that says so). The first is a question for another prover; a second from another
 * prover ends the job (confirmed); a second from the same prover (the dispatcher found no other)
 * ends it unconfirmed. A prover that lied about this tape earlier gets no say: its refusal sends
 * the job on like a lie.
 */
export function onRefusal(
  job: Job,
  url: string,
  error: JobError,
  why: string,
  now: number,
  cfg: RebuildConfig,
): Job {
  const prior = verdictsOf(job);
  const liars = new Set(prior.filter((v) => v.kind === "lied").map((v) => v.url));
  const recorded = withVerdict(job, { url, code: error.code, kind: "refused", at: now });
  if (liars.has(url)) {
    const message = `${why} This prover already said something false about this tape: its refusal counts for nothing. Asking another prover.`;
    return rebuild(recorded, { code: "prover_lied", message }, now, cfg);
  }
  const credible = prior.filter((v) => v.kind === "refused" && !liars.has(v.url));
  const other = credible.find((v) => v.url !== url);
  const same = credible.find((v) => v.url === url);
  const guest = (v: { code: string }) => v.code === "proof_error";
  if (other || same) {
    const first = (other ?? same)!;
    const code = guest(first) && guest(error) ? "tape_rejected" : "prover_failed";
    const what =
      code === "tape_rejected"
        ? "The proof program refused the tape: it does not replay to its own final score and RNG state (edited or corrupt)."
        : "The prover failed the proof with a failure this gateway does not know.";
    const last = `${error.message} (${error.code})`;
    const message = other
      ? `${what} Two provers said so (last: ${last}).`
      : `${what} Only one prover could be asked (no other prover in the fleet can work), and it said so twice, the second time after PROVER_CIRCUIT_COOLDOWN_MS (last: ${last}): this verdict is unconfirmed.`;
    return {
      ...recorded,
      status: "failed",
      detail: message,
      error: other ? { code, message } : { code, message, unconfirmed: true },
      finishedAt: now,
      updatedAt: now,
    };
  }
  const cause = {
    code: guest(error) ? "proof_error" : "prover_failed",
    message: `${why} Asking another prover for a second opinion.`,
  };
  // Its one second chance (an earlier refusal was discredited by a lie: the prover's fault).
  const proverFault = (job.attempts.rejections ?? 0) >= MAX_REJECTION_RETRIES;
  return rebuild(recorded, cause, now, cfg, { rejection: !proverFault, proverFault });
}

/** A contradicted verdict, for the dispatcher to charge its prover with. */
export interface FoundFalse {
  url: string;
  /** What was false, in a few words for operators. */
  reason: string;
  /** A receipt that does not verify quarantines at once. */
  atOnce: boolean;
}

function lieReason(v: Verdict): string {
  if (v.code === "receipt_invalid") return "returned a receipt that does not verify";
  if (v.code === "result_mismatch") return "returned a result whose journal is not the tape's";
  return `said ${v.code || "(no code)"} of a tape this gateway reads as valid and provable`;
}

/**
 * The verdicts the move from `before` to `after` found false: lies recorded in this step, and,
 * when the job just succeeded, every other prover's refusal of the tape it proved.
 */
export function contradictions(before: Job | null, after: Job): FoundFalse[] {
  const sameAttempt = before !== null && before.attempt === after.attempt;
  const added = verdictsOf(after).slice(sameAttempt ? verdictsOf(before!).length : 0);
  const found: FoundFalse[] = added
    .filter((v) => v.kind === "lied")
    .map((v) => ({ url: v.url, reason: lieReason(v), atOnce: v.code === "receipt_invalid" }));
  if (after.status === "succeeded" && (!sameAttempt || before!.status !== "succeeded")) {
    const refusers = new Map<string, string>();
    for (const v of verdictsOf(after)) {
      if (v.kind === "refused" && v.url !== after.prover.url) refusers.set(v.url, v.code);
    }
    for (const [url, code] of refusers) {
      found.push({
        url,
        reason: `refused a tape (${code || "no code"}) another prover proved`,
        atOnce: false,
      });
    }
  }
  return found;
}
