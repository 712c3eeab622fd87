/**
 * The line in front of the provers, in the dispatcher's SQL storage: who waits, in what order,
 * and which client each job belongs to. Clients are served in turn (round robin over clients
 * with work waiting; arrival order within one client), so one client's backlog cannot hold the
 * GPUs for hours while others wait. A job coming back to the line through no fault of its own (a
 * busy or failing prover, a rebuild the prover caused) goes to the very head instead.
 *
 * A job with verdicts against its tape (src/core/verdicts.ts) comes back to the head with the
 * provers it must not go to while another can be had (`exclude`, src/core/grants.ts).
 *
 * Tables (src/storage/line-schema.ts): `waiting` (one row per waiting job), `line_clients` (per
 * client: when it was last served, how many of its jobs wait in turn, when the oldest of them
 * arrived; a client's row goes once it has nothing queued or proving) and `live` (every job
 * delivered and not yet ended, by client; MAX_WAITING_PER_CLIENT is counted apart, by the
 * client's ClientQuota, src/objects/client-quota.ts). Every query is an index lookup or
 * range, so a pick does not get slower as the line grows; `ahead` is one pass over the clients
 * that wait.
 */

import { excludeOf, type WaitingRow } from "./waiting-row.ts";

/** The client of jobs that have none on record (stored before clients were kept). */
export const NO_CLIENT = "";

export class Line {
  readonly sql: SqlStorage;

  /** The line's tables must exist (`createLineTables`, src/storage/line-schema.ts). */
  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  // --- Clients and their live jobs -------------------------------------------------------------

  /** The client a job was registered for (NO_CLIENT if none). */
  clientOf(jobId: string): string {
    const row = this.sql
      .exec<{ client: string }>(`SELECT client FROM live WHERE job_id = ?`, jobId)
      .toArray()[0];
    return row?.client ?? NO_CLIENT;
  }

  /** Jobs not yet ended, other than `except` (in line, on their way to it, or proving). */
  liveCount(except: string): number {
    return this.sql
      .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM live WHERE job_id != ?`, except)
      .one().n;
  }

  register(jobId: string, client: string, now: number): void {
    this.sql.exec(
      `INSERT INTO live (job_id, client, since) VALUES (?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE SET client = excluded.client`,
      jobId,
      client,
      now,
    );
  }

  /** The job ended (or never started): it no longer counts against its client. */
  unregister(jobId: string): void {
    const client = this.sql
      .exec<{ client: string }>(`DELETE FROM live WHERE job_id = ? RETURNING client`, jobId)
      .toArray()[0]?.client;
    if (client !== undefined) this.#dropClientIfIdle(client);
  }

  /**
   * A client with nothing queued or proving leaves the turn: its row goes (it keeps its place in
   * the rounds while any of its jobs is live, so that posting the next tape while one proves
   * does not make it a client never served).
   */
  #dropClientIfIdle(client: string): void {
    const busy = this.sql
      .exec<{ n: number }>(
        `SELECT (SELECT COUNT(*) FROM live WHERE client = ?) + (SELECT COUNT(*) FROM waiting WHERE priority IN (0, 1) AND client = ?) AS n`,
        client,
        client,
      )
      .one().n;
    if (busy === 0) this.sql.exec(`DELETE FROM line_clients WHERE client = ?`, client);
  }

  // --- The line ---------------------------------------------------------------------------------

  get(jobId: string): WaitingRow | null {
    return (
      this.sql.exec<WaitingRow>(`SELECT * FROM waiting WHERE job_id = ?`, jobId).toArray()[0] ??
      null
    );
  }

  /**
   * Puts the job in line (at `arrivedAt` within its client's turn, or at the very head with
   * `head`), or updates its row: a job already waiting keeps its place, moves to the head if
   * asked, and keeps an `avoidUrl` it had unless given one. `exclude` (the provers that gave a
   * verdict against its tape) puts it at the head too, and adds to those it had; when that adds a
   * prover, `now` is when it came back (the fallback waits from there).
   */
  enqueue(
    jobId: string,
    arrivedAt: number,
    avoidUrl: string | null,
    head: boolean,
    exclude: readonly string[] = [],
    now = 0,
  ): void {
    const existing = this.get(jobId);
    const priority = head || exclude.length > 0 ? 0 : 1;
    if (existing) {
      const p = Math.min(existing.priority, priority);
      const had = excludeOf(existing);
      const merged = [...new Set([...had, ...exclude])];
      const grew = merged.length > had.length;
      this.sql.exec(
        `UPDATE waiting SET avoid_url = COALESCE(?, avoid_url), priority = ?, exclude = ?, back_at = ? WHERE job_id = ?`,
        avoidUrl,
        p,
        merged.length ? JSON.stringify(merged) : null,
        grew ? now : existing.back_at,
        jobId,
      );
      if (existing.priority === 1 && p === 0) this.#count(existing.client, -1, 0);
      return;
    }
    const client = this.clientOf(jobId);
    this.sql.exec(
      `INSERT INTO waiting (job_id, arrived_at, avoid_url, client, priority, exclude, back_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      jobId,
      arrivedAt,
      avoidUrl,
      client,
      priority,
      exclude.length ? JSON.stringify([...new Set(exclude)]) : null,
      exclude.length ? now : 0,
    );
    if (priority === 1) this.#count(client, +1, arrivedAt);
  }

  /** Takes the job out of line (granted, or no longer waiting); false if it was not there. */
  dequeue(jobId: string): boolean {
    const row = this.get(jobId);
    if (!row) return false;
    this.sql.exec(`DELETE FROM waiting WHERE job_id = ?`, jobId);
    if (row.priority === 1) this.#count(row.client, -1, 0);
    this.#dropClientIfIdle(row.client);
    return true;
  }

  /** The job's client was served now: it goes to the back of the turn. */
  served(client: string, now: number): void {
    this.sql.exec(
      `INSERT INTO line_clients (client, served_at) VALUES (?, ?)
       ON CONFLICT (client) DO UPDATE SET served_at = excluded.served_at`,
      client,
      now,
    );
    // A job granted without a client on record (never registered) leaves nothing to keep.
    this.#dropClientIfIdle(client);
  }

  /**
   * The jobs the next grant may go to, in the order they are served: every job back at the head
   * (few: those that came back), then the head of the turn. Jobs waiting their turn never carry
   * exclusions, so if the turn's head cannot have a prover, none behind it can.
   */
  candidates(): WaitingRow[] {
    const back = this.sql
      .exec<WaitingRow>(`SELECT * FROM waiting WHERE priority = 0 ORDER BY arrived_at, job_id`)
      .toArray();
    const turn = this.#turnHead();
    return turn ? [...back, turn] : back;
  }

  /** Every job waiting with exclusions (for the dispatcher's wake-up). */
  excluding(): WaitingRow[] {
    return this.sql
      .exec<WaitingRow>(`SELECT * FROM waiting WHERE priority = 0 AND exclude IS NOT NULL`)
      .toArray();
  }

  /** The oldest job of the client whose turn it is (jobs back at the head aside). */
  #turnHead(): WaitingRow | null {
    const turn = this.sql
      .exec<{ client: string }>(
        `SELECT client FROM line_clients WHERE waiting > 0 ORDER BY served_at, joined_at, client LIMIT 1`,
      )
      .toArray()[0];
    if (!turn) return null;
    return (
      this.sql
        .exec<WaitingRow>(
          `SELECT * FROM waiting WHERE priority = 1 AND client = ? ORDER BY arrived_at, job_id LIMIT 1`,
          turn.client,
        )
        .toArray()[0] ?? null
    );
  }

  count(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM waiting`).one().n;
  }

  /**
   * How many jobs will be served before this one if nothing new arrives (0: next), or null when
   * it is not waiting. Those back at the head go first; then the clients take turns, one job each
   * per round, in the order they were last served: a job that is its client's r-th waits for up
   * to r − 1 jobs of every other client, and an r-th of those that come before its client.
   */
  ahead(jobId: string): number | null {
    const me = this.get(jobId);
    if (!me) return null;
    const headBefore = (where: string, ...args: SqlStorageValue[]) =>
      this.sql
        .exec<{ n: number }>(
          `SELECT COUNT(*) AS n FROM waiting WHERE priority = 0${where}`,
          ...args,
        )
        .one().n;
    if (me.priority === 0) {
      return headBefore(
        ` AND (arrived_at < ? OR (arrived_at = ? AND job_id < ?))`,
        me.arrived_at,
        me.arrived_at,
        jobId,
      );
    }
    const rank =
      this.sql
        .exec<{ n: number }>(
          `SELECT COUNT(*) AS n FROM waiting WHERE priority = 1 AND client = ?
           AND (arrived_at < ? OR (arrived_at = ? AND job_id < ?))`,
          me.client,
          me.arrived_at,
          me.arrived_at,
          jobId,
        )
        .one().n + 1;
    const mine = this.sql
      .exec<{ served_at: number; joined_at: number }>(
        `SELECT served_at, joined_at FROM line_clients WHERE client = ?`,
        me.client,
      )
      .toArray()[0] ?? { served_at: 0, joined_at: me.arrived_at };
    const s = mine.served_at;
    const j = mine.joined_at;
    const others = this.sql
      .exec<{ n: number | null }>(
        `SELECT SUM(MIN(waiting, CASE WHEN served_at < ? OR (served_at = ? AND (joined_at < ? OR (joined_at = ? AND client < ?))) THEN ? ELSE ? END)) AS n
         FROM line_clients WHERE waiting > 0 AND client != ?`,
        s,
        s,
        j,
        j,
        me.client,
        rank,
        rank - 1,
        me.client,
      )
      .one().n;
    return headBefore("") + rank - 1 + (others ?? 0);
  }

  /** `delta` more of the client's jobs wait in turn; one that starts its wait arrived at `at`. */
  #count(client: string, delta: number, at: number): void {
    this.sql.exec(
      `INSERT INTO line_clients (client, waiting, joined_at) VALUES (?, MAX(0, ?), ?)
       ON CONFLICT (client) DO UPDATE SET
         joined_at = CASE WHEN waiting = 0 AND ? > 0 THEN excluded.joined_at ELSE joined_at END,
         waiting = MAX(0, waiting + ?)`,
      client,
      delta,
      at,
      delta,
      delta,
    );
  }
}
