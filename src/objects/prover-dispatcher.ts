import { DurableObject } from "cloudflare:workers";
import { configFrom } from "../core/config.ts";
import { fleetSummary, type ProverState } from "../core/fleet.ts";
import { free, onProofTimed } from "../core/prover-work.ts";
import { onRelease } from "../core/grants.ts";
import type { ObservedProof } from "../core/effects.ts";
import { outlookOf, type Outlook } from "../core/estimate.ts";
import { slotOf, type ProverView, type SlotView } from "../core/prover-view.ts";
import { speedFor, timeoutMargins, type TimeoutMargins } from "../core/speed.ts";
import * as admin from "../dispatch/fleet-admin.ts";
import * as reports from "../dispatch/prover-reports.ts";
import { checkHolders, pump, type Dispatch } from "../dispatch/pump.ts";
import { keyringOf, type KeyedAdmission } from "../prover/keys.ts";
import { createLineTables } from "../storage/line-schema.ts";
import { Line, NO_CLIENT } from "../storage/line-table.ts";
import { createProverTable, ProverTable } from "../storage/prover-table.ts";

/**
 * The line in front of the provers: one Durable Object (named `DISPATCHER_NAME`) that knows
 * which jobs are waiting, in arrival order, and every prover of the fleet: which job it proves,
 * whether it is healthy, cooling down, drained or has its circuit open (src/core/fleet.ts).
 *
 * A prover proves one tape at a time, so waiting for one is normal, not an error: a delivered
 * job either gets a free, healthy prover at once or waits here (its queue message is acked, so
 * waiting never uses up queue retries). When a job leaves its prover (its proof ended, it was
 * cancelled, it must be rebuilt, or the prover failed its submission) the head of the line gets
 * the next available prover at once and is sent through the queue to be submitted. A free
 * prover's `/health` is read (when the last reading is older than PROVER_HEALTH_INTERVAL_MS)
 * before it gets work. A job's faults on a prover are the prover's: the job goes back to the
 * head of the line and the prover's circuit is charged. A prover whose verdicts against tapes are
 * found false is charged contradictions and quarantined (src/core/quarantine.ts); a job with
 * verdicts against its tape goes to another prover while one can be had (src/core/grants.ts).
 * Every rule is in the core; this object loads its rows, asks the rules, and performs them:
 * its tables are src/storage/line-table.ts and src/storage/prover-table.ts, moving the line
 * (grants, `/health` reads, holder checks, the alarm) is src/dispatch/pump.ts, what jobs report
 * of their provers src/dispatch/prover-reports.ts, operators' changes src/dispatch/fleet-admin.ts. Tests inspect it through a subclass (test/integration/test-worker.ts).
 */
export const DISPATCHER_NAME = "provers";

/** What `/api/health` shows of the line and the fleet. */
export interface LineSummary {
  waiting: number;
  slots: SlotView[];
  provers: Partial<Record<ProverState, number>>;
  /** Observed proof times across the fleet against the poll timeout and the wall-time cap. */
  timeouts: TimeoutMargins;
  /**
   * Calls to this object since it last started (kept in memory: an eviction or a restart starts
   * them again at zero), by method (jobs', `summary` and its own alarm; not the admin's), and
   * their total.
   */
  calls: Record<string, number>;
}

export type { ProverChange } from "../dispatch/fleet-admin.ts";

export class ProverDispatcher extends DurableObject<Env> {
  readonly #line: Line;
  readonly #provers: ProverTable;
  /** Calls by method since this object started (what the bench counts per job). */
  readonly #calls = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    createLineTables(sql);
    createProverTable(sql);
    // The call counters were a table once: an upsert on every call, reads included.
    sql.exec(`DROP TABLE IF EXISTS calls`);
    this.#line = new Line(sql);
    this.#provers = new ProverTable(sql);
  }

  /**
   * A delivered job asks for a prover. `arrivedAt` (its POST time) fixes its place in line;
   * `exclude`: the provers that gave a verdict against its tape (it waits at the head for
   * another). Granted means: submit now, to that prover.
   */
  async admit(
    jobId: string,
    arrivedAt: number,
    client?: string,
    exclude: string[] = [],
  ): Promise<KeyedAdmission> {
    this.#count("admit");
    // The line learns of the job and its client here, off the intake's path (what its client
    // may have waiting is counted by the client's own ClientQuota, src/objects/client-quota.ts).
    if (client !== undefined && this.#line.clientOf(jobId) === NO_CLIENT) {
      this.#line.register(jobId, client, Date.now());
    }
    let held = this.#provers.heldBy(jobId);
    if (!held) {
      this.#line.enqueue(jobId, arrivedAt, null, false, exclude, Date.now());
      const granted = await pump(this.#dispatch(), jobId);
      held = granted ? this.#provers.load(granted) : null;
    }
    if (!held) return { kind: "waiting", ahead: this.#line.ahead(jobId) ?? 0 };
    const fleet = this.#provers.all().flatMap((p) => p.speed ?? []);
    const speed = speedFor(held.speed ?? [], fleet);
    // A guess is no schedule: only a measured speed sets the proof's expected end.
    const msPer1000Frames = speed.basis === "default" ? null : speed.msPer1000Frames;
    // How the job authenticates to that prover (its own key, the configured ones, or none):
    // kept by the job apart from its document (src/prover/keys.ts).
    const auth = keyringOf(this.ctx.storage.sql).authFor(held);
    return { kind: "granted", proverUrl: held.url, msPer1000Frames, auth };
  }

  /**
   * The job no longer needs a prover (it ended, or was cancelled): free its prover or place.
   * `observed`: its proof succeeded, timed by the prover: a sample of that prover's speed.
   * `ending`: its proof may still run on that prover, which stays held until `proofEnded`.
   */
  async release(jobId: string, observed?: ObservedProof, ending?: { url: string }): Promise<void> {
    this.#count("release");
    this.#line.dequeue(jobId);
    this.#line.unregister(jobId);
    const held = this.#provers.heldBy(jobId);
    if (held) this.#provers.save(onRelease(held, jobId, ending?.url ?? null, Date.now()));
    const timed = observed && this.#provers.load(observed.url);
    if (timed)
      this.#provers.save(onProofTimed(timed, observed.frames, observed.elapsedMs, Date.now()));
    await pump(this.#dispatch());
  }

  /**
   * The job must be submitted again (rebuild): back in line at its own arrival time, preferably
   * for another prover than `avoidUrl` (the one that lost or spoiled its proof), and for none of
   * `exclude` (the provers that gave a verdict against its tape) while another can be had.
   */
  async requeue(
    jobId: string,
    arrivedAt: number,
    avoidUrl: string | null = null,
    exclude: string[] = [],
  ): Promise<void> {
    this.#count("requeue");
    await reports.backInLine(this.#dispatch(), jobId, arrivedAt, free, avoidUrl, exclude);
  }

  // --- What a job reports about its prover (src/dispatch/prover-reports.ts) --------------------

  async accepted(jobId: string, expectedEndAt: number | null = null): Promise<void> {
    this.#count("accepted");
    reports.accepted(this.#dispatch(), jobId, expectedEndAt);
  }

  /** A 429: the job back at the head of the line; `exclude` as for `requeue`. */
  async busy(jobId: string, arrivedAt: number, exclude: string[] = []): Promise<void> {
    this.#count("busy");
    await reports.busy(this.#dispatch(), jobId, arrivedAt, exclude);
  }

  /** A transport failure on submit: the prover charged, the job back at the head. */
  async submitFailed(
    jobId: string,
    arrivedAt: number,
    error: string,
    exclude: string[] = [],
  ): Promise<void> {
    this.#count("submitFailed");
    await reports.submitFailed(this.#dispatch(), jobId, arrivedAt, error, exclude);
  }

  async openCircuit(url: string, error: string): Promise<void> {
    this.#count("openCircuit");
    reports.openCircuit(this.#dispatch(), url, error);
  }

  async contradicted(url: string, jobId: string, reason: string, atOnce: boolean): Promise<void> {
    this.#count("contradicted");
    await reports.contradicted(this.#dispatch(), url, jobId, reason, atOnce);
  }

  async proofEnded(
    jobId: string,
    url: string,
    outcome: "ended" | "alive" | "unreachable",
  ): Promise<void> {
    this.#count("proofEnded");
    await reports.proofEnded(this.#dispatch(), jobId, url, outcome);
  }

  // --- Reading the line ------------------------------------------------------------------------

  /**
   * What the line looks like from a waiting job (for its ETA, src/core/estimate.ts): its place,
   * how many wait, when each working prover should be free, and the fleet's measured times.
   */
  async outlook(jobId: string): Promise<Outlook> {
    this.#count("outlook");
    const cfg = configFrom(this.env);
    this.#provers.sync(cfg);
    const line = {
      ahead: this.#line.ahead(jobId),
      inLine: this.#line.count(),
      live: this.#line.liveCount(jobId),
    };
    return outlookOf(jobId, line, this.#provers.all(), Date.now(), cfg);
  }

  /** For a job's watchdog: is it in line, holding a prover, or unknown here? */
  async whereIs(jobId: string): Promise<"waiting" | "holding" | "absent"> {
    this.#count("whereIs");
    if (this.#provers.heldBy(jobId)) return "holding";
    return this.#line.get(jobId) === null ? "absent" : "waiting";
  }

  /** For `/api/health`: the line, who holds each prover, and how many provers are in each state. */
  async summary(): Promise<LineSummary> {
    this.#count("summary");
    const cfg = configFrom(this.env);
    this.#provers.sync(cfg);
    const provers = this.#provers.all();
    return {
      waiting: this.#line.count(),
      slots: provers.map(slotOf),
      provers: fleetSummary(provers, Date.now(), cfg),
      timeouts: timeoutMargins(
        provers.flatMap((p) => p.speed ?? []),
        cfg,
      ),
      calls: this.#callCounts(),
    };
  }

  // --- The fleet, for operators (src/dispatch/fleet-admin.ts) ---------------------------------

  async listProvers(): Promise<ProverView[]> {
    return admin.listProvers(this.#dispatch());
  }

  async addProver(url: string, apiKey?: string): Promise<admin.ProverChange> {
    return admin.addProver(this.#dispatch(), url, apiKey);
  }

  async setDraining(id: string, draining: boolean): Promise<admin.ProverChange> {
    return admin.setDraining(this.#dispatch(), id, draining);
  }

  async resume(id: string): Promise<admin.ProverChange> {
    return admin.resume(this.#dispatch(), id);
  }

  async removeProver(id: string): Promise<admin.ProverChange> {
    return admin.removeProver(this.#dispatch(), id);
  }

  /**
   * Offers cooled-down provers again and, while jobs wait, checks now and then that each
   * prover's holder still needs it (a holder that ended without telling us must not block the
   * line), and reads the health of provers that are out, to bring them back.
   */
  override async alarm(): Promise<void> {
    this.#count("alarm");
    await checkHolders(this.#dispatch(), configFrom(this.env));
    await pump(this.#dispatch());
  }

  /** What moving the line touches (src/dispatch/pump.ts). */
  #dispatch(): Dispatch {
    return { env: this.env, storage: this.ctx.storage, line: this.#line, provers: this.#provers };
  }

  /** One more call of `method` (what the bench counts per job). */
  #count(method: string): void {
    this.#calls.set(method, (this.#calls.get(method) ?? 0) + 1);
  }

  #callCounts(): Record<string, number> {
    const byMethod = [...this.#calls].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const out: Record<string, number> = Object.fromEntries(byMethod);
    out.total = byMethod.reduce((sum, [, n]) => sum + n, 0);
    return out;
  }
}

export const dispatcherOf = (env: Env) => env.DISPATCHER.getByName(DISPATCHER_NAME);
