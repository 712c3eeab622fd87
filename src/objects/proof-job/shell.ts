import type { Flow } from "../../core/flows/io.ts";
import type { Job } from "../../core/job.ts";

/** What the job object's request and effect performers use of the object. */
export interface JobShell {
  readonly env: Env;
  readonly storage: DurableObjectStorage;
  /** Runs a flow (here: a step's effects, `performEffects`) to its end. */
  drive<T>(flow: Flow<T>): Promise<T>;
  /** Sends the job's view to its live-status sockets. */
  broadcast(): Promise<void>;
  /** The job rebuilt from its stored result (null: none). */
  archived(): Promise<Job | null>;
}

/** The job object's storage keys. */
export const JOB = "job";
export const SUBMIT_LOCK = "submitLock";
export const PLACE = "outlook";
export const CLAIM = "claim";

export const storedJob = (storage: DurableObjectStorage): Job | null =>
  storage.kv.get<Job>(JOB) ?? null;
