import { configFrom } from "../core/config.ts";
import type { ProverRecord } from "../core/fleet.ts";
import { onAccepted, onTransportFailure } from "../core/prover-health.ts";
import { free } from "../core/prover-work.ts";
import { onProofEnding } from "../core/grants.ts";
import { slotCooldownUntil } from "../core/line-timing.ts";
import { onContradicted } from "../core/quarantine.ts";
import { pump, type Dispatch } from "./pump.ts";

/**
 * What a job tells the dispatcher (src/objects/prover-dispatcher.ts) about the prover it holds
 * or held: accepted, busy, failed in transport, its verdict contradicted, its left-over proof
 * ended. Each updates that prover through the rules of src/core and, where a prover may be free
 * now, moves the line.
 */

/** The prover accepted the job's submission: it works, its run of failures is over. */
export function accepted(d: Dispatch, jobId: string, expectedEndAt: number | null): void {
  const held = d.provers.heldBy(jobId);
  if (held) d.provers.save(onAccepted(held, expectedEndAt));
}

/**
 * The prover answered 429 to the job holding it: it is busy with work we did not send (or not
 * yet finished with a cancelled proof). The job goes back to the head of the line and the
 * prover is offered again after a poll interval.
 */
export async function busy(d: Dispatch, jobId: string, arrivedAt: number, exclude: string[]) {
  const cfg = configFrom(d.env);
  const leave = (held: ProverRecord) => {
    const cooled = free(held, slotCooldownUntil(Date.now(), cfg));
    return { ...cooled, counts: { ...cooled.counts, busy: cooled.counts.busy + 1 } };
  };
  await backInLine(d, jobId, arrivedAt, leave, undefined, exclude);
}

/**
 * The prover failed the job's submission in transport (network, timeout, 5xx, 401, unreadable
 * reply): the prover's fault, never the job's. The prover is charged (its circuit may open)
 * and rests a poll interval; the job goes straight back to its place at the head of the line,
 * for another prover if one is available.
 */
export async function submitFailed(
  d: Dispatch,
  jobId: string,
  arrivedAt: number,
  error: string,
  exclude: string[],
): Promise<void> {
  const cfg = configFrom(d.env);
  const now = Date.now();
  const leave = (held: ProverRecord) =>
    free(onTransportFailure(held, error, now, cfg), slotCooldownUntil(now, cfg));
  await backInLine(d, jobId, arrivedAt, leave, undefined, exclude);
}

/**
 * The job leaves the prover it holds (updated by `leave`) and goes back in line at its arrival
 * time, by default for another prover than that one (`avoidUrl`: that one instead); then the
 * line moves.
 */
export async function backInLine(
  d: Dispatch,
  jobId: string,
  arrivedAt: number,
  leave: (held: ProverRecord) => ProverRecord,
  avoidUrl: string | null | undefined,
  exclude: string[],
): Promise<void> {
  const held = d.provers.heldBy(jobId);
  if (held) d.provers.save(leave(held));
  // It was served once already: back at the very head, not at the end of its client's turn.
  const avoid = avoidUrl === undefined ? (held?.url ?? null) : avoidUrl;
  d.line.enqueue(jobId, arrivedAt, avoid, true, exclude, Date.now());
  await pump(d);
}

/**
 * Opens the circuit of the prover on `url` at once: the job proving there saw
 * PROVER_CIRCUIT_FAILURES status reads in a row fail in transport (a run only that job can
 * see: it is the only one polling that prover).
 */
export function openCircuit(d: Dispatch, url: string, error: string): void {
  const cfg = configFrom(d.env);
  const p = d.provers.load(url);
  if (!p) return;
  const run = { ...p, failures: Math.max(p.failures, cfg.circuitFailures - 1) };
  d.provers.save(onTransportFailure(run, error, Date.now(), cfg));
}

/**
 * A verdict of the prover on `url` against the tape of `jobId` was found false: one
 * contradiction; quarantined at PROVER_QUARANTINE_AFTER, or `atOnce` (a receipt that does not
 * verify).
 */
export async function contradicted(
  d: Dispatch,
  url: string,
  jobId: string,
  reason: string,
  atOnce: boolean,
): Promise<void> {
  const cfg = configFrom(d.env);
  const p = d.provers.load(url);
  if (!p) return;
  const charged = onContradicted(p, { jobId, reason, atOnce }, Date.now(), cfg);
  d.provers.save(charged.prover);
  (charged.quarantined ? console.error : console.log)(JSON.stringify(charged.line));
  // A quarantine can leave a job waiting for a second opinion with no other prover to have:
  // its fallback may be due now.
  if (charged.quarantined) await pump(d);
}

/**
 * What the prover on `url` said to the deletion of the proof `jobId` left running when it
 * ended: the prover held for that proof is freed once it ended (or is gone).
 */
export async function proofEnded(
  d: Dispatch,
  jobId: string,
  url: string,
  outcome: "ended" | "alive" | "unreachable",
): Promise<void> {
  const p = d.provers.load(url);
  if (!p?.ending) return;
  const next = onProofEnding(p, jobId, outcome, Date.now(), configFrom(d.env));
  d.provers.save(next);
  if (!next.ending) await pump(d);
}
