/**
 * The line's tables in the dispatcher's SQL storage (src/storage/line-table.ts reads and writes
 * them): created, brought up to date from older storage, and their derived counts recounted.
 *
 * - `waiting`: one row per waiting job (its arrival, the prover it avoids and those it excludes,
 *   its client, whether it is back at the head);
 * - `line_clients`: per client, when it was last served, how many of its jobs wait in turn, when
 *   the oldest of them arrived;
 * - `live`: every job delivered and not yet ended, by client (MAX_WAITING_PER_CLIENT is counted
 *   apart, by the client's ClientQuota, src/objects/client-quota.ts).
 */
export function createLineTables(sql: SqlStorage): void {
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
