import { DurableObject } from "cloudflare:workers";
import { configFrom, type Config } from "../core/config.ts";
import {
  canTakeWork,
  configuredProvers,
  fleetSummary,
  free,
  freeAtFor,
  grant,
  healthCheckDue,
  isHeld,
  newProver,
  nextHealthCheckAt,
  onAccepted,
  onHealth,
  onProofTimed,
  onTransportFailure,
  proverState,
  type ProverRecord,
  type ProverState,
} from "../core/fleet.ts";
import {
  earlyProbeAt,
  earlyProbeDue,
  endingHoldOver,
  fallbackWakeAt,
  holderCheckDue,
  nextGrant,
  onHolderChecked,
  onProofEnding,
  onRelease,
} from "../core/grants.ts";
import { onContradicted, quarantineView, resumeProver } from "../core/quarantine.ts";
import type { ObservedProof } from "../core/effects.ts";
import { DEFAULT_TYPICAL_PROOF_MS, type Outlook } from "../core/estimate.ts";
import {
  speedFor,
  speedOf,
  timeoutMargins,
  type Speed,
  type TimeoutMargins,
} from "../core/speed.ts";
import { lineAlarmAt, moveAlarm, slotCooldownUntil } from "../core/line-timing.ts";
import { ProverClient } from "../prover/client.ts";
import { keyringOf, type KeyedAdmission } from "../prover/keys.ts";
import { sendJob } from "../queue/send.ts";
import { Line, NO_CLIENT, waitingOf } from "../storage/line-table.ts";

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
 * Every rule is in the core; this object loads its rows, asks the rules, and performs them.
 */
export const DISPATCHER_NAME = "provers";

export interface DispatcherSnapshot {
  slots: { url: string; holder: string | null; heldSince: number | null; cooldownUntil: number }[];
  waiting: { jobId: string; arrivedAt: number }[];
}

/** A prover as the admin API shows it. */
export interface ProverView {
  id: string;
  url: string;
  state: ProverState;
  why: string;
  source: ProverRecord["source"];
  job: string | null;
  heldSince: number | null;
  health: (ProverRecord["health"] & { checkedAt: number | null }) | null;
  circuit: { failures: number; openUntil: number | null; opens: number; lastError: string | null };
  counts: { granted: number; faults: number; busy: number; contradictions: number };
  /** Quarantined: since when, why, its contradictions since last resumed and their jobs. */
  quarantine: ReturnType<typeof quarantineView>;
  /** Its newest succeeded proofs: how many, time per 1,000 frames, proof time. */
  speed: Speed;
}

/** What `/api/health` shows of the line and the fleet. */
export interface LineSummary {
  waiting: number;
  slots: DispatcherSnapshot["slots"];
  provers: Partial<Record<ProverState, number>>;
  /** Observed proof times across the fleet against the poll timeout and the wall-time cap. */
  timeouts: TimeoutMargins;
  /**
   * Calls to this object since its storage began, by method (jobs', `summary` and its own
   * alarm; not the admin's), and their total.
   */
  calls: Record<string, number>;
}

export type ProverChange =
  | { kind: "ok"; prover: ProverView }
  | { kind: "not_found" }
  | { kind: "exists"; prover: ProverView }
  | { kind: "proving"; prover: ProverView }
  | { kind: "configured"; prover: ProverView };

export class ProverDispatcher extends DurableObject<Env> {
  readonly #line: Line;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    this.#line = new Line(sql);
    sql.exec(`CREATE TABLE IF NOT EXISTS provers (url TEXT PRIMARY KEY, data TEXT NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS calls (method TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
    // Before the fleet (storage v2): one `slots` row per prover URL. Carried over, then dropped.
    const old = sql
      .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'slots'`)
      .one().n;
    if (old) {
      const rows = sql.exec<Record<string, SqlStorageValue>>(`SELECT * FROM slots`).toArray();
      for (const r of rows) {
        const p = {
          ...newProver(String(r.url), "config"),
          holder: (r.holder as string | null) ?? null,
          heldSince: (r.held_since as number | null) ?? null,
          checkedAt: (r.checked_at as number | null) ?? null,
          cooldownUntil: Number(r.cooldown_until ?? 0),
        };
        this.#save(p);
      }
      sql.exec(`DROP TABLE slots`);
    }
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
    let held = this.#heldBy(jobId);
    if (!held) {
      this.#line.enqueue(jobId, arrivedAt, null, false, exclude, Date.now());
      const granted = await this.#pump(jobId);
      held = granted ? this.#load(granted) : null;
    }
    if (!held) return { kind: "waiting", ahead: this.#line.ahead(jobId) ?? 0 };
    const fleet = this.#all().flatMap((p) => p.speed ?? []);
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
    const held = this.#heldBy(jobId);
    if (held) this.#save(onRelease(held, jobId, ending?.url ?? null, Date.now()));
    const timed = observed && this.#load(observed.url);
    if (timed) this.#save(onProofTimed(timed, observed.frames, observed.elapsedMs, Date.now()));
    await this.#pump();
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
    await this.#backInLine(jobId, arrivedAt, (held) => free(held), avoidUrl, exclude);
  }

  /**
   * A verdict of the prover on `url` against the tape of `jobId` was found false: one
   * contradiction; quarantined at PROVER_QUARANTINE_AFTER, or `atOnce` (a receipt that does not
   * verify).
   */
  async contradicted(url: string, jobId: string, reason: string, atOnce: boolean): Promise<void> {
    this.#count("contradicted");
    const cfg = configFrom(this.env);
    const p = this.#load(url);
    if (!p) return;
    const charged = onContradicted(p, { jobId, reason, atOnce }, Date.now(), cfg);
    this.#save(charged.prover);
    (charged.quarantined ? console.error : console.log)(JSON.stringify(charged.line));
    // A quarantine can leave a job waiting for a second opinion with no other prover to have:
    // its fallback may be due now.
    if (charged.quarantined) await this.#pump();
  }

  /**
   * What the prover on `url` said to the deletion of the proof `jobId` left running when it
   * ended: the prover held for that proof is freed once it ended (or is gone).
   */
  async proofEnded(
    jobId: string,
    url: string,
    outcome: "ended" | "alive" | "unreachable",
  ): Promise<void> {
    this.#count("proofEnded");
    const p = this.#load(url);
    if (!p?.ending) return;
    const next = onProofEnding(p, jobId, outcome, Date.now(), configFrom(this.env));
    this.#save(next);
    if (!next.ending) await this.#pump();
  }

  /**
   * The prover answered 429 to the job holding it: it is busy with work we did not send (or not
   * yet finished with a cancelled proof). The job goes back to the head of the line and the
   * prover is offered again after a poll interval. `exclude`: as for `requeue`.
   */
  async busy(jobId: string, arrivedAt: number, exclude: string[] = []): Promise<void> {
    this.#count("busy");
    const cfg = configFrom(this.env);
    const leave = (held: ProverRecord) => {
      const cooled = free(held, slotCooldownUntil(Date.now(), cfg));
      return { ...cooled, counts: { ...cooled.counts, busy: cooled.counts.busy + 1 } };
    };
    await this.#backInLine(jobId, arrivedAt, leave, undefined, exclude);
  }

  /**
   * The prover failed the job's submission in transport (network, timeout, 5xx, 401, unreadable
   * reply): the prover's fault, never the job's. The prover is charged (its circuit may open)
   * and rests a poll interval; the job goes straight back to its place at the head of the line,
   * for another prover if one is available. `exclude`: as for `requeue`.
   */
  async submitFailed(
    jobId: string,
    arrivedAt: number,
    error: string,
    exclude: string[] = [],
  ): Promise<void> {
    this.#count("submitFailed");
    const cfg = configFrom(this.env);
    const now = Date.now();
    const leave = (held: ProverRecord) =>
      free(onTransportFailure(held, error, now, cfg), slotCooldownUntil(now, cfg));
    await this.#backInLine(jobId, arrivedAt, leave, undefined, exclude);
  }

  /**
   * The job leaves the prover it holds (updated by `leave`) and goes back in line at its arrival
   * time, by default for another prover than that one; then the line moves.
   */
  async #backInLine(
    jobId: string,
    arrivedAt: number,
    leave: (held: ProverRecord) => ProverRecord,
    avoidUrl?: string | null,
    exclude: string[] = [],
  ): Promise<void> {
    const held = this.#heldBy(jobId);
    if (held) this.#save(leave(held));
    // It was served once already: back at the very head, not at the end of its client's turn.
    this.#line.enqueue(
      jobId,
      arrivedAt,
      avoidUrl === undefined ? (held?.url ?? null) : avoidUrl,
      true,
      exclude,
      Date.now(),
    );
    await this.#pump();
  }

  /** The prover accepted the job's submission: it works, its run of failures is over. */
  async accepted(jobId: string, expectedEndAt: number | null = null): Promise<void> {
    this.#count("accepted");
    const held = this.#heldBy(jobId);
    if (held) this.#save(onAccepted(held, expectedEndAt));
  }

  /**
   * What the line looks like from a waiting job (for its ETA, src/core/estimate.ts): its place,
   * how many wait, when each working prover should be free, and the fleet's measured times.
   */
  async outlook(jobId: string): Promise<Outlook> {
    this.#count("outlook");
    const cfg = configFrom(this.env);
    this.#sync(cfg);
    const now = Date.now();
    const provers = this.#all();
    const samples = provers.flatMap((p) => p.speed ?? []);
    const typicalProofMs = speedOf(samples).proofMs.median ?? DEFAULT_TYPICAL_PROOF_MS;
    const freeAt = provers
      .map((p) => freeAtFor(p, now, cfg, typicalProofMs))
      .filter((t): t is number => t !== null);
    // A job not in line yet (its message is on the way, e.g. right after its POST) comes after
    // every live job that is not on a prover yet: those in line and those on their way too.
    const holders = provers.filter((p) => p.holder && p.holder !== jobId).length;
    return {
      ahead: this.#line.ahead(jobId),
      waiting: Math.max(this.#line.count(), this.#line.liveCount(jobId) - holders),
      freeAt,
      typicalProofMs,
      msPer1000Frames: speedFor([], samples).msPer1000Frames,
      basis: samples.length ? "measured" : "default",
    };
  }

  /**
   * Opens the circuit of the prover on `url` at once: the job proving there saw
   * PROVER_CIRCUIT_FAILURES status reads in a row fail in transport (a run only that job can
   * see: it is the only one polling that prover).
   */
  async openCircuit(url: string, error: string): Promise<void> {
    this.#count("openCircuit");
    const cfg = configFrom(this.env);
    const p = this.#load(url);
    if (!p) return;
    const run = { ...p, failures: Math.max(p.failures, cfg.circuitFailures - 1) };
    this.#save(onTransportFailure(run, error, Date.now(), cfg));
  }

  /** One transport failure on `url` (what a failed submission or `/health` read counts; tests). */
  async charge(url: string, error: string): Promise<void> {
    const cfg = configFrom(this.env);
    this.#sync(cfg);
    const p = this.#load(url);
    if (p) this.#save(onTransportFailure(p, error, Date.now(), cfg));
  }

  /** For a job's watchdog: is it in line, holding a prover, or unknown here? */
  async whereIs(jobId: string): Promise<"waiting" | "holding" | "absent"> {
    this.#count("whereIs");
    if (this.#heldBy(jobId)) return "holding";
    return this.#line.get(jobId) === null ? "absent" : "waiting";
  }

  /** How many jobs are ahead of this one (0: next), or null when it is not waiting. */
  async position(jobId: string): Promise<number | null> {
    this.#count("position");
    return this.#line.ahead(jobId);
  }

  /** For `/api/health`: the line, who holds each prover, and how many provers are in each state. */
  async summary(): Promise<LineSummary> {
    this.#count("summary");
    const cfg = configFrom(this.env);
    this.#sync(cfg);
    const provers = this.#all();
    return {
      waiting: this.#line.count(),
      slots: provers.map(slotOf),
      provers: fleetSummary(provers, Date.now(), cfg),
      timeouts: timeoutMargins(
        provers.flatMap((p) => p.speed ?? []),
        cfg,
      ),
      calls: this.#calls(),
    };
  }

  /** The whole line (tests and debugging). */
  async snapshot(): Promise<DispatcherSnapshot> {
    this.#sync(configFrom(this.env));
    return {
      slots: this.#all().map(slotOf),
      waiting: this.#line.ordered().map((w) => ({ jobId: w.job_id, arrivedAt: w.arrived_at })),
    };
  }

  // --- The fleet, for operators -----------------------------------------------------------

  /** Every prover with its state and why. */
  async listProvers(): Promise<ProverView[]> {
    this.#sync(configFrom(this.env));
    const now = Date.now();
    return this.#all().map((p) => this.#view(p, now));
  }

  /**
   * Adds a prover at runtime (kept in storage; the URL is checked by the caller) with its own
   * `apiKey`, or none: a runtime prover never gets the configured keys. The key is kept apart
   * from the prover's row (src/prover/keys.ts): no view or log line carries it.
   */
  async addProver(url: string, apiKey?: string): Promise<ProverChange> {
    const existing = this.#load(url);
    if (existing) return { kind: "exists", prover: this.#view(existing, Date.now()) };
    keyringOf(this.ctx.storage.sql).set(url, apiKey ?? null);
    const p = newProver(url, "runtime");
    this.#save(p);
    await this.#pump();
    return { kind: "ok", prover: this.#view(this.#load(url) ?? p, Date.now()) };
  }

  /** Drain: the prover finishes the proof it has and gets no new one. `resume` undoes it. */
  async setDraining(id: string, draining: boolean): Promise<ProverChange> {
    const p = this.#byId(id);
    if (!p) return { kind: "not_found" };
    this.#save({ ...p, draining });
    if (!draining) await this.#pump();
    return { kind: "ok", prover: this.#view(this.#load(p.url)!, Date.now()) };
  }

  /** An operator resumes the prover: no longer drained nor quarantined; it may get work again. */
  async resume(id: string): Promise<ProverChange> {
    const p = this.#byId(id);
    if (!p) return { kind: "not_found" };
    this.#save(resumeProver(p));
    if (p.quarantine) {
      console.log(JSON.stringify({ event: "prover_resumed", prover: p.url, wasQuarantined: true }));
    }
    await this.#pump();
    return { kind: "ok", prover: this.#view(this.#load(p.url)!, Date.now()) };
  }

  /** Removes a runtime-added prover once it is idle; configured ones can only be drained. */
  async removeProver(id: string): Promise<ProverChange> {
    const p = this.#byId(id);
    if (!p) return { kind: "not_found" };
    const view = this.#view(p, Date.now());
    if (p.source === "config") return { kind: "configured", prover: view };
    if (isHeld(p)) return { kind: "proving", prover: view };
    this.ctx.storage.sql.exec(`DELETE FROM provers WHERE url = ?`, p.url);
    keyringOf(this.ctx.storage.sql).delete(p.url);
    return { kind: "ok", prover: view };
  }

  /**
   * Offers cooled-down provers again and, while jobs wait, checks now and then that each
   * prover's holder still needs it (a holder that ended without telling us must not block the
   * line), and reads the health of provers that are out, to bring them back.
   */
  override async alarm(): Promise<void> {
    this.#count("alarm");
    const cfg = configFrom(this.env);
    const started = Date.now();
    for (const p of this.#all().filter((x) => holderCheckDue(x, started, cfg))) {
      const holder = p.holder!;
      let needed = true;
      try {
        needed = await this.env.JOB.getByName(holder).needsProver();
      } catch (e) {
        console.error(
          JSON.stringify({
            event: "dispatcher_holder_check_failed",
            jobId: holder,
            error: String(e),
          }),
        );
      }
      const current = this.#load(p.url);
      if (current) this.#save(onHolderChecked(current, holder, needed, Date.now()));
    }
    await this.#pump();
  }

  /**
   * Gives every available prover to the head of the line, reading `/health` first where a
   * reading is due. Each granted job is sent through the queue to be submitted, except
   * `caller`, which is asking right now and is told by the return value (the prover URL).
   */
  async #pump(caller?: string): Promise<string | null> {
    const cfg = configFrom(this.env);
    this.#sync(cfg);
    // A hold for an ended job's proof that nothing ended is over at the clean-up's own limit.
    const started = Date.now();
    for (const p of this.#all().filter((x) => endingHoldOver(x, started, cfg))) this.#save(free(p));
    let callerGrant: string | null = null;
    let checked = false;
    for (;;) {
      const now = Date.now();
      const candidates = this.#line.candidates();
      if (candidates.length === 0) break;
      const provers = this.#all();
      const next = nextGrant(candidates.map(waitingOf), provers, now, cfg);
      if (!next) {
        // Nobody can take one: read the health of those that are due (once per pump), then
        // retry; an open circuit keeping the only prover that answers idle is probed too.
        const waiting = this.#line.count();
        const due = provers.filter(
          (p) => healthCheckDue(p, now, cfg) || earlyProbeDue(p, provers, waiting, now, cfg),
        );
        if (checked || due.length === 0) break;
        checked = true;
        await Promise.all(due.map((p) => this.#checkHealth(p.url, cfg)));
        continue;
      }
      const head = candidates.find((c) => c.job_id === next.jobId)!;
      const chosen = provers.find((p) => p.url === next.url)!;
      this.#line.dequeue(head.job_id);
      this.#line.served(head.client, now);
      this.#save(grant(chosen, head.job_id, now));
      console.log(
        JSON.stringify({
          event: "prover_slot_granted",
          jobId: head.job_id,
          prover: chosen.url,
          waitedMs: now - head.arrived_at,
          ...(next.fallback ? { fallback: true } : {}),
        }),
      );
      if (head.job_id === caller) {
        callerGrant = chosen.url;
        continue;
      }
      try {
        await sendJob(this.env, head.job_id);
      } catch (e) {
        // Could not start it: give the prover back and put the job back in line; the alarm tries again.
        console.error(
          JSON.stringify({ event: "dispatcher_send_failed", jobId: head.job_id, error: String(e) }),
        );
        const current = this.#load(chosen.url);
        if (current?.holder === head.job_id) {
          this.#save(free(current, slotCooldownUntil(Date.now(), cfg)));
        }
        const w = waitingOf(head);
        this.#line.enqueue(head.job_id, head.arrived_at, head.avoid_url, head.priority === 0);
        if (w.exclude.length) this.#line.enqueue(head.job_id, 0, null, true, w.exclude, w.backAt);
        break;
      }
    }
    await this.#arm(cfg);
    return callerGrant;
  }

  /** Reads one prover's `/health` and records what it means (a failed read is a fault). */
  async #checkHealth(url: string, cfg: Config): Promise<void> {
    const reading = await new ProverClient(cfg, url).health();
    const current = this.#load(url);
    if (!current) return;
    const { busy: _busy, ...health } = reading;
    const next = onHealth(current, health, Date.now(), cfg);
    this.#save(next);
    const before = current.health;
    if (
      !before ||
      before.reachable !== health.reachable ||
      before.compatible !== health.compatible
    ) {
      console.log(
        JSON.stringify({
          event: "prover_health",
          prover: url,
          state: proverState(next, Date.now(), cfg).state,
          problems: health.problems,
        }),
      );
    }
  }

  /**
   * While jobs wait: wake when a prover's cool-down or open circuit ends, and every poll budget
   * to check holders and read the health of provers that are out.
   */
  async #arm(cfg: Config): Promise<void> {
    const now = Date.now();
    const waiting = this.#line.count();
    const provers = this.#all();
    // A free prover that cannot take work yet wakes the line when its cool-down or open circuit
    // ends (or its early probe is due), or when its next /health read is due (soon after a
    // failed one); a job waiting for its fallback, when it may have it.
    const ends = provers
      .filter((p) => !isHeld(p) && !p.quarantine && !canTakeWork(p, now, cfg))
      .flatMap((p) => [
        p.cooldownUntil,
        p.circuitUntil,
        nextHealthCheckAt(p, cfg),
        earlyProbeAt(p, provers, waiting, now, cfg) ?? 0,
      ])
      .concat(fallbackWakeAt(this.#line.excluding().map(waitingOf), cfg, now) ?? 0)
      .filter((t) => t > now);
    const at = lineAlarmAt(waiting, ends.length ? Math.min(...ends) : null, now, cfg);
    if (at === null) await this.ctx.storage.deleteAlarm();
    else if (moveAlarm(await this.ctx.storage.getAlarm(), at, now)) {
      await this.ctx.storage.setAlarm(at);
    }
  }

  #view(p: ProverRecord, now: number): ProverView {
    const cfg = configFrom(this.env);
    const { state, why } = proverState(p, now, cfg);
    return {
      id: p.id,
      url: p.url,
      state,
      why,
      source: p.source,
      job: p.holder ?? p.ending?.jobId ?? null,
      heldSince: p.heldSince ?? p.ending?.since ?? null,
      health: p.health ? { ...p.health, checkedAt: p.healthAt } : null,
      circuit: {
        failures: p.failures,
        openUntil: p.circuitUntil > now ? p.circuitUntil : null,
        opens: p.circuitOpens,
        lastError: p.lastError,
      },
      counts: { ...p.counts, contradictions: p.counts.contradictions ?? 0 },
      quarantine: quarantineView(p),
      speed: speedOf(p.speed ?? []),
    };
  }

  /** One more call of `method` (what the bench counts per job). */
  #count(method: string): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO calls (method, n) VALUES (?, 1) ON CONFLICT (method) DO UPDATE SET n = n + 1`,
      method,
    );
  }

  #calls(): Record<string, number> {
    const rows = this.ctx.storage.sql
      .exec<{ method: string; n: number }>(`SELECT method, n FROM calls ORDER BY method`)
      .toArray();
    const out: Record<string, number> = Object.fromEntries(rows.map((r) => [r.method, r.n]));
    out.total = rows.reduce((sum, r) => sum + r.n, 0);
    return out;
  }

  #all(): ProverRecord[] {
    return this.ctx.storage.sql
      .exec<{ data: string }>(`SELECT data FROM provers ORDER BY url`)
      .toArray()
      .map((r) => JSON.parse(r.data) as ProverRecord);
  }

  #load(url: string): ProverRecord | null {
    const row = this.ctx.storage.sql
      .exec<{ data: string }>(`SELECT data FROM provers WHERE url = ?`, url)
      .toArray()[0];
    return row ? (JSON.parse(row.data) as ProverRecord) : null;
  }

  #byId(id: string): ProverRecord | null {
    return this.#all().find((p) => p.id === id) ?? null;
  }

  #heldBy(jobId: string): ProverRecord | null {
    return this.#all().find((p) => p.holder === jobId) ?? null;
  }

  #save(p: ProverRecord): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO provers (url, data) VALUES (?, ?) ON CONFLICT (url) DO UPDATE SET data = excluded.data`,
      p.url,
      JSON.stringify(p),
    );
  }

  /**
   * One prover per configured URL; a configured prover dropped from the config leaves once it is
   * idle (runtime-added ones stay until an operator deletes them).
   */
  #sync(cfg: Config): void {
    const urls = configuredProvers(cfg);
    const have = new Map(this.#all().map((p) => [p.url, p]));
    for (const url of urls) {
      const p = have.get(url);
      if (!p) this.#save(newProver(url, "config"));
      else if (p.source !== "config") this.#save({ ...p, source: "config" });
    }
    for (const p of have.values()) {
      if (p.source === "config" && !urls.includes(p.url) && !isHeld(p)) {
        this.ctx.storage.sql.exec(`DELETE FROM provers WHERE url = ?`, p.url);
      }
    }
  }
}

/** A prover as the single-prover gateway showed it: who holds it, until when it cools down. */
const slotOf = (p: ProverRecord): DispatcherSnapshot["slots"][number] => ({
  url: p.url,
  holder: p.holder,
  heldSince: p.heldSince,
  cooldownUntil: p.cooldownUntil,
});

export const dispatcherOf = (env: Env) => env.DISPATCHER.getByName(DISPATCHER_NAME);
