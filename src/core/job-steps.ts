/**
 * The steps of a job, by phase (src/core/steps): pure functions of (stored job, what the outside
 * world answered, now, config) → (the job, its effects, what to ask next). The job's flows
 * (src/core/flows) sequence them; the Durable Object only performs what the flows ask.
 */

export { create, createUndone, type CreateStep, type NewAttemptInput } from "./steps/intake.ts";
export {
  cancelStep,
  deadLetter,
  holderCheck,
  holderResent,
  mayCancel,
  needsProver,
  read,
  type Canceller,
  type CancelStep,
} from "./steps/reads.ts";
export {
  admitted,
  deliver,
  submitted,
  type AdmittedStep,
  type DeliveryStep,
  type StepConfig,
  type SubmitRequest,
} from "./steps/dispatch.ts";
export {
  afterWatchdog,
  alarmBegins,
  alarmEnds,
  cleanedUp,
  pollsAgain,
  watchdogFound,
  whereLocked,
  type AlarmStep,
  type WatchdogStep,
} from "./steps/alarm.ts";
export { polled, resultDocument, type PollStep } from "./steps/poll.ts";
export { proofStats, resultSummary, storeTried, type StoreAttempt } from "./steps/result.ts";
