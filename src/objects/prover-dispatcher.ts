import { DurableObject } from "cloudflare:workers";
import { configFrom, type Config } from "../core/config.ts";
import type { Admission } from "../core/lifecycle.ts";
import { holderCheckDueAt, lineAlarmAt, moveAlarm, slotCooldownUntil } from "../core/line.ts";
import { sendJob } from "../queue/send.ts";

/**
 * The line in front of the prover(s): one Durable Object (named `DISPATCHER_NAME`) that knows
 * which jobs are waiting, in arrival order, and which prover slot each running job holds.
 *
 * A prover proves one tape at a time, so waiting for it is normal, not an error: a delivered job
 * either gets a free slot at once or waits here (its queue message is acked, so waiting never
 * uses up queue retries). When a job leaves its slot (its proof ended, it was cancelled or it
 * must be rebuilt) the head of the line is granted the slot at once and sent through the queue
 * to be submitted — the GPU idles only for the time it takes the finished job's poll to notice.
 * A slot whose prover said 429 anyway (someone else's proof) cools down for a poll interval.
 *
 * Slots are keyed by prover base URL, so several provers can share the line by listing them
 * (`provers(cfg)`); today there is one.
 */
export const DISPATCHER_NAME = "provers";

/** The provers this gateway sends work to (one today: PROVER_BASE_URL). */
export const provers = (cfg: Config): string[] => [cfg.proverBaseUrl];

interface SlotRow extends Record<string, SqlStorageValue> {
  url: string;
  holder: string | null;
  held_since: number | null;
  checked_at: number | null;
  cooldown_until: number;
}

interface WaitingRow extends Record<string, SqlStorageValue> {
  job_id: string;
  arrived_at: number;
}

export interface DispatcherSnapshot {
  slots: { url: string; holder: string | null; heldSince: number | null; cooldownUntil: number }[];
  waiting: { jobId: string; arrivedAt: number }[];
}

export class ProverDispatcher extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      `CREATE TABLE IF NOT EXISTS waiting (job_id TEXT PRIMARY KEY, arrived_at INTEGER NOT NULL)`,
    );
    ctx.storage.sql.exec(
      `CREATE INDEX IF NOT EXISTS waiting_order ON waiting (arrived_at, job_id)`,
    );
    ctx.storage.sql.exec(
      `CREATE TABLE IF NOT EXISTS slots (url TEXT PRIMARY KEY, holder TEXT, held_since INTEGER, checked_at INTEGER, cooldown_until INTEGER NOT NULL DEFAULT 0)`,
    );
  }

  /**
   * A delivered job asks for a prover. `arrivedAt` (its POST time) fixes its place in line.
   * Granted means: submit now, to that prover.
   */
  async admit(jobId: string, arrivedAt: number): Promise<Admission> {
    const held = this.#slotOf(jobId);
    if (held) return { kind: "granted", proverUrl: held.url };
    this.#enqueue(jobId, arrivedAt);
    const granted = await this.#pump(jobId);
    if (granted) return { kind: "granted", proverUrl: granted };
    return { kind: "waiting", ahead: this.#ahead(jobId) ?? 0 };
  }

  /** The job no longer needs a prover (it ended, or was cancelled): free its slot or place. */
  async release(jobId: string): Promise<void> {
    this.ctx.storage.sql.exec(`DELETE FROM waiting WHERE job_id = ?`, jobId);
    this.ctx.storage.sql.exec(
      `UPDATE slots SET holder = NULL, held_since = NULL, checked_at = NULL WHERE holder = ?`,
      jobId,
    );
    await this.#pump();
  }

  /** The job must be submitted again (rebuild): back in line at its own arrival time. */
  async requeue(jobId: string, arrivedAt: number): Promise<void> {
    this.ctx.storage.sql.exec(
      `UPDATE slots SET holder = NULL, held_since = NULL, checked_at = NULL WHERE holder = ?`,
      jobId,
    );
    this.#enqueue(jobId, arrivedAt);
    await this.#pump();
  }

  /**
   * The prover answered 429 to the job holding a slot: it is busy with work we did not send
   * (or not yet finished with a cancelled proof). The job goes back to the head of the line
   * and the slot is offered again after a poll interval.
   */
  async busy(jobId: string, arrivedAt: number): Promise<void> {
    const cfg = configFrom(this.env);
    const until = slotCooldownUntil(Date.now(), cfg);
    this.ctx.storage.sql.exec(
      `UPDATE slots SET holder = NULL, held_since = NULL, checked_at = NULL, cooldown_until = ? WHERE holder = ?`,
      until,
      jobId,
    );
    this.#enqueue(jobId, arrivedAt);
    await this.#arm(cfg);
  }

  /** For a job's watchdog: is it in line, holding a slot, or unknown here? */
  async whereIs(jobId: string): Promise<"waiting" | "holding" | "absent"> {
    if (this.#slotOf(jobId)) return "holding";
    return this.#ahead(jobId) === null ? "absent" : "waiting";
  }

  /** How many jobs are ahead of this one (0: next), or null when it is not waiting. */
  async position(jobId: string): Promise<number | null> {
    return this.#ahead(jobId);
  }

  /** For `/api/health`: how long the line is and who holds each prover. */
  async summary(): Promise<{ waiting: number; slots: DispatcherSnapshot["slots"] }> {
    const { slots } = await this.snapshot(false);
    return {
      waiting: this.ctx.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM waiting`).one()
        .n,
      slots,
    };
  }

  /** The whole line (tests and debugging). */
  async snapshot(withWaiting = true): Promise<DispatcherSnapshot> {
    this.#syncSlots(configFrom(this.env));
    return {
      slots: this.ctx.storage.sql
        .exec<SlotRow>(`SELECT * FROM slots ORDER BY url`)
        .toArray()
        .map((s) => ({
          url: s.url,
          holder: s.holder,
          heldSince: s.held_since,
          cooldownUntil: s.cooldown_until,
        })),
      waiting: !withWaiting
        ? []
        : this.ctx.storage.sql
            .exec<WaitingRow>(`SELECT * FROM waiting ORDER BY arrived_at, job_id`)
            .toArray()
            .map((w) => ({ jobId: w.job_id, arrivedAt: w.arrived_at })),
    };
  }

  /**
   * Offers cooled-down slots again and, while jobs wait, checks now and then that each slot
   * holder still needs its slot (a holder that ended without telling us must not block the line).
   */
  override async alarm(): Promise<void> {
    const cfg = configFrom(this.env);
    const now = Date.now();
    const stale = this.ctx.storage.sql
      .exec<SlotRow>(
        `SELECT * FROM slots WHERE holder IS NOT NULL AND checked_at <= ?`,
        holderCheckDueAt(now, cfg),
      )
      .toArray();
    for (const slot of stale) {
      const holder = slot.holder!;
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
      if (needed)
        this.ctx.storage.sql.exec(
          `UPDATE slots SET checked_at = ? WHERE url = ? AND holder = ?`,
          Date.now(),
          slot.url,
          holder,
        );
      else
        this.ctx.storage.sql.exec(
          `UPDATE slots SET holder = NULL, held_since = NULL, checked_at = NULL WHERE url = ? AND holder = ?`,
          slot.url,
          holder,
        );
    }
    await this.#pump();
  }

  /**
   * Grants every free, cooled-down slot to the head of the line. Each granted job is sent
   * through the queue to be submitted, except `caller`, which is asking right now and is told
   * by the return value (the prover URL it was granted).
   */
  async #pump(caller?: string): Promise<string | null> {
    const cfg = configFrom(this.env);
    this.#syncSlots(cfg);
    let callerGrant: string | null = null;
    for (;;) {
      const now = Date.now();
      const slot = this.ctx.storage.sql
        .exec<SlotRow>(
          `SELECT * FROM slots WHERE holder IS NULL AND cooldown_until <= ? ORDER BY url LIMIT 1`,
          now,
        )
        .toArray()[0];
      const head = this.ctx.storage.sql
        .exec<WaitingRow>(`SELECT * FROM waiting ORDER BY arrived_at, job_id LIMIT 1`)
        .toArray()[0];
      if (!slot || !head) break;
      this.ctx.storage.sql.exec(`DELETE FROM waiting WHERE job_id = ?`, head.job_id);
      this.ctx.storage.sql.exec(
        `UPDATE slots SET holder = ?, held_since = ?, checked_at = ? WHERE url = ?`,
        head.job_id,
        now,
        now,
        slot.url,
      );
      console.log(
        JSON.stringify({
          event: "prover_slot_granted",
          jobId: head.job_id,
          prover: slot.url,
          waitedMs: now - head.arrived_at,
        }),
      );
      if (head.job_id === caller) {
        callerGrant = slot.url;
        continue;
      }
      try {
        await sendJob(this.env, head.job_id);
      } catch (e) {
        // Could not start it: give the slot back and put it back in line; the alarm tries again.
        console.error(
          JSON.stringify({ event: "dispatcher_send_failed", jobId: head.job_id, error: String(e) }),
        );
        this.ctx.storage.sql.exec(
          `UPDATE slots SET holder = NULL, held_since = NULL, checked_at = NULL, cooldown_until = ? WHERE holder = ?`,
          slotCooldownUntil(now, cfg),
          head.job_id,
        );
        this.#enqueue(head.job_id, head.arrived_at);
        break;
      }
    }
    await this.#arm(cfg);
    return callerGrant;
  }

  /** While jobs wait: wake when a slot cools down, and every poll budget to check holders. */
  async #arm(cfg: Config): Promise<void> {
    const waiting = this.ctx.storage.sql
      .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM waiting`)
      .one().n;
    const now = Date.now();
    const cooling = this.ctx.storage.sql
      .exec<{ t: number | null }>(
        `SELECT MIN(cooldown_until) AS t FROM slots WHERE holder IS NULL AND cooldown_until > ?`,
        now,
      )
      .one().t;
    const at = lineAlarmAt(waiting, cooling, now, cfg);
    if (at === null) await this.ctx.storage.deleteAlarm();
    else if (moveAlarm(await this.ctx.storage.getAlarm(), at, now))
      await this.ctx.storage.setAlarm(at);
  }

  #enqueue(jobId: string, arrivedAt: number): void {
    this.ctx.storage.sql.exec(
      `INSERT OR IGNORE INTO waiting (job_id, arrived_at) VALUES (?, ?)`,
      jobId,
      arrivedAt,
    );
  }

  #slotOf(jobId: string): SlotRow | undefined {
    return this.ctx.storage.sql
      .exec<SlotRow>(`SELECT * FROM slots WHERE holder = ?`, jobId)
      .toArray()[0];
  }

  #ahead(jobId: string): number | null {
    const me = this.ctx.storage.sql
      .exec<WaitingRow>(`SELECT * FROM waiting WHERE job_id = ?`, jobId)
      .toArray()[0];
    if (!me) return null;
    return this.ctx.storage.sql
      .exec<{ n: number }>(
        `SELECT COUNT(*) AS n FROM waiting WHERE arrived_at < ? OR (arrived_at = ? AND job_id < ?)`,
        me.arrived_at,
        me.arrived_at,
        jobId,
      )
      .one().n;
  }

  /**
   * One slot per configured prover; a prover dropped from the config keeps its slot until its job
   * leaves.
   */
  #syncSlots(cfg: Config): void {
    const urls = provers(cfg);
    for (const url of urls)
      this.ctx.storage.sql.exec(`INSERT OR IGNORE INTO slots (url) VALUES (?)`, url);
    const rows = this.ctx.storage.sql.exec<SlotRow>(`SELECT * FROM slots`).toArray();
    for (const r of rows)
      if (!urls.includes(r.url) && r.holder === null)
        this.ctx.storage.sql.exec(`DELETE FROM slots WHERE url = ?`, r.url);
  }
}

export const dispatcherOf = (env: Env) => env.DISPATCHER.getByName(DISPATCHER_NAME);
