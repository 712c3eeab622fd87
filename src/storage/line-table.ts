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
 * Tables: `waiting` (one row per waiting job), `line_clients` (per client: when it was last
 * served, how many of its jobs wait in turn, when the oldest of them arrived; a client's row goes
 * once it has nothing queued or proving) and `live` (every job delivered and not yet ended, by
 * client; MAX_WAITING_PER_CLIENT is counted apart, src/objects/client-quota.ts). Every query is an index lookup or range, so a pick does not get
 * slower as the line grows; `ahead` is one pass over the clients that wait.
 */

import type { Waiting } from "../core/grants.ts";

export interface WaitingRow extends Record<string, SqlStorageValue> {
  job_id: string;
  arrived_at: number;
  avoid_url: string | null;
  /** JSON array of the provers it goes to only when no other can be had; null: none. */
  exclude: string | null;
  /** When it came back to the line with those (0: never). */
  back_at: number;
  client: string;
  /** 0: back at the head (it was already served once); 1: waits its client's turn. */
  priority: number;
}

/** The client of jobs that have none on record (stored before clients were kept). */
export const NO_CLIENT = "";

export class Line {
  readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
    sql.exec(
      `CREATE TABLE IF NOT EXISTS waiting (job_id TEXT PRIMARY KEY, arrived_at INTEGER NOT NULL, avoid_url TEXT)`,
    );
    const columns = sql.exec<{ name: string }>(`PRAGMA table_info(waiting)`).toArray();
    const has = (c: string) => columns.some((x) => x.name === c);
    if (!has("avoid_url")) sql.exec(`ALTER TABLE waiting ADD COLUMN avoid_url TEXT`);
    if (!has("client")) sql.exec(`ALTER TABLE waiting ADD COLUMN client TEXT NOT NULL DEFAULT ''`);
    if (!has("priority"))
      sql.exec(`ALTER TABLE waiting ADD COLUMN priority INTEGER NOT NULL DEFAULT 1`);
    if (!has("exclude")) sql.exec(`ALTER TABLE waiting ADD COLUMN exclude TEXT`);
    if (!has("back_at"))
      sql.exec(`ALTER TABLE waiting ADD COLUMN back_at INTEGER NOT NULL DEFAULT 0`);
    sql.exec(`DROP INDEX IF EXISTS waiting_order`);
    sql.exec(
      `CREATE INDEX IF NOT EXISTS waiting_turn ON waiting (priority, client, arrived_at, job_id)`,
    );
    // served_at: when it was last served (0: never); joined_at: when its oldest waiting job
    // arrived, which orders clients that were served at the same time (never, mostly).
    sql.exec(
      `CREATE TABLE IF NOT EXISTS line_clients (client TEXT PRIMARY KEY, served_at INTEGER NOT NULL DEFAULT 0, waiting INTEGER NOT NULL DEFAULT 0, joined_at INTEGER NOT NULL DEFAULT 0)`,
    );
    sql.exec(
      `CREATE INDEX IF NOT EXISTS line_clients_turn ON line_clients (served_at, joined_at, client) WHERE waiting > 0`,
    );
    sql.exec(
      `CREATE TABLE IF NOT EXISTS live (job_id TEXT PRIMARY KEY, client TEXT NOT NULL, since INTEGER NOT NULL)`,
    );
    sql.exec(`CREATE INDEX IF NOT EXISTS live_client ON live (client)`);
    // The per-client counts are derived: recounted on start, so they cannot drift for long.
    sql.exec(`UPDATE line_clients SET waiting = 0`);
    sql.exec(
      `INSERT INTO line_clients (client, waiting, joined_at)
       SELECT client, COUNT(*), MIN(arrived_at) FROM waiting WHERE priority = 1 GROUP BY client
       ON CONFLICT (client) DO UPDATE SET waiting = excluded.waiting, joined_at = excluded.joined_at`,
    );
    // Rows of clients with nothing left (kept for ever before they were dropped as they idle).
    sql.exec(
      `DELETE FROM line_clients WHERE client NOT IN (SELECT client FROM live) AND client NOT IN (SELECT client FROM waiting)`,
    );
  }

  // --- Clients and their live jobs -------------------------------------------------------------

  /** The client a job was registered for (NO_CLIENT if none). */
  clientOf(jobId: string): string {
    const row = this.sql
      .exec<{ client: string }>(`SELECT client FROM live WHERE job_id = ?`, jobId)
      .toArray()[0];
    return row?.client ?? NO_CLIENT;
  }

  /** The client's jobs that have not ended (queued or proving), other than `except`. */
  liveJobs(client: string, except: string): string[] {
    return this.sql
      .exec<{ job_id: string }>(
        `SELECT job_id FROM live WHERE client = ? AND job_id != ? ORDER BY since`,
        client,
        except,
      )
      .toArray()
      .map((r) => r.job_id);
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

  /**
   * The next job to serve: the oldest of those back at the head, else the oldest job of the
   * client whose turn it is (served longest ago, never served first; then the one waiting
   * longest).
   */
  head(): WaitingRow | null {
    const first = this.sql
      .exec<WaitingRow>(
        `SELECT * FROM waiting WHERE priority = 0 ORDER BY arrived_at, job_id LIMIT 1`,
      )
      .toArray()[0];
    return first ?? this.#turnHead();
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

  /** Every waiting job in the order it will be served (tests, debugging: loads the whole line). */
  ordered(): WaitingRow[] {
    const rows = this.sql
      .exec<WaitingRow & { served_at: number | null; joined_at: number | null }>(
        `SELECT w.*, c.served_at, c.joined_at FROM waiting w LEFT JOIN line_clients c ON c.client = w.client`,
      )
      .toArray();
    type Row = (typeof rows)[number];
    const byArrival = (a: Row, b: Row) =>
      a.arrived_at - b.arrived_at || a.job_id.localeCompare(b.job_id);
    const head = rows.filter((r) => r.priority === 0).sort(byArrival);
    const clients = new Map<string, { servedAt: number; joinedAt: number; jobs: Row[] }>();
    for (const r of rows.filter((x) => x.priority === 1).sort(byArrival)) {
      const c = clients.get(r.client) ?? {
        servedAt: r.served_at ?? 0,
        joinedAt: r.joined_at ?? 0,
        jobs: [],
      };
      c.jobs.push(r);
      clients.set(r.client, c);
    }
    const turns = [...clients.entries()].sort(
      ([a, x], [b, y]) =>
        x.servedAt - y.servedAt || x.joinedAt - y.joinedAt || (a < b ? -1 : a > b ? 1 : 0),
    );
    const out = [...head];
    for (let round = 0; out.length < rows.length; round++) {
      for (const [, c] of turns) if (c.jobs[round]) out.push(c.jobs[round]!);
    }
    return out.map(({ served_at: _s, joined_at: _j, ...w }) => w as WaitingRow);
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

/** The provers a waiting row must not go to while another can be had. */
export function excludeOf(row: WaitingRow): string[] {
  if (!row.exclude) return [];
  try {
    const list: unknown = JSON.parse(row.exclude);
    return Array.isArray(list) ? list.filter((u): u is string => typeof u === "string") : [];
  } catch {
    return [];
  }
}

/** A waiting row as the grant rules see it (src/core/grants.ts). */
export const waitingOf = (row: WaitingRow): Waiting => ({
  jobId: row.job_id,
  avoid: row.avoid_url,
  exclude: excludeOf(row),
  backAt: row.back_at ?? 0,
});
