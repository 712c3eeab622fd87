import type { Effect } from "../effects.ts";
import { admitted, deliver, submitted, type StepConfig } from "../steps/dispatch.ts";
import type { MessageAction } from "../lifecycle.ts";
import { ask, load, lock, now, perform, type Flow } from "./io.ts";

const ACK: MessageAction = { ack: true };
const UNLOCK: Effect[] = [{ kind: "unlock" }];

/**
 * `dispatch`, a queue delivery: ask the dispatcher for a prover and, if granted, submit the tape.
 * Waiting in line, a busy prover and a prover's failure all ack the message (the job waits in
 * line); only a failure inside the gateway (a throw) retries it.
 */
export function* dispatchFlow(cfg: StepConfig): Flow<MessageAction> {
  const stored = yield* load();
  if (!stored) return ACK;
  const { jobId } = stored;
  const delivery = deliver(stored, yield* lock(), yield* now(), cfg);
  yield* perform(jobId, delivery.effects);
  if (delivery.next.kind === "answer") return delivery.next.message;
  const { attempt, arrivedAt, exclude } = delivery.next;
  const client = stored.client ?? undefined;
  const grant = yield* ask({ kind: "admit", jobId, arrivedAt, client, exclude });
  const step = admitted(yield* load(), attempt, grant, yield* lock(), yield* now(), cfg);
  yield* perform(jobId, step.effects);
  if (step.next.kind === "answer") return step.next.message;
  const { request } = step.next;
  // The lock lives as long as this submission: dropped with its saved answer (an effect of
  // `submitted`), or here when there is nothing to submit or anything threw on the way.
  try {
    const tape = yield* ask({ kind: "readTape", sha256: stored.tape.sha256 });
    // Cancelled (or replaced) while the tape was read: nothing to submit, the slot is released.
    const current = yield* load();
    if (current?.status !== "queued" || current.attempt !== attempt) {
      yield* perform(jobId, UNLOCK);
      return ACK;
    }
    const outcome = yield* ask({ kind: "submit", tape, request, grant });
    const at = yield* now();
    const answered = submitted(
      yield* load(),
      attempt,
      request.proverUrl,
      outcome,
      at,
      cfg,
      request.expectedProofMs,
    );
    yield* perform(jobId, answered.effects);
    return answered.message;
  } catch (e) {
    yield* perform(jobId, UNLOCK);
    throw e;
  }
}
