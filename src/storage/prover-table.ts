import type { Config } from "../core/config.ts";
import { configuredProvers, isHeld, newProver, type ProverRecord } from "../core/fleet.ts";

/**
 * The fleet in the dispatcher's SQL storage: one `provers` row per prover URL, its record
 * (src/core/fleet.ts) as JSON. The rules never see this table; the dispatcher loads records,
 * asks the rules, and saves what they return.
 */

/** Creates the table; carries over the rows of the single-prover gateway (storage v2). */
export function createProverTable(sql: SqlStorage): void {
  sql.exec(`CREATE TABLE IF NOT EXISTS provers (url TEXT PRIMARY KEY, data TEXT NOT NULL)`);
  // Before the fleet (storage v2): one `slots` row per prover URL. Carried over, then dropped.
  const old = sql
    .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'slots'`)
    .one().n;
  if (!old) return;
  const table = new ProverTable(sql);
  for (const r of sql.exec<Record<string, SqlStorageValue>>(`SELECT * FROM slots`).toArray()) {
    table.save({
      ...newProver(String(r.url), "config"),
      holder: (r.holder as string | null) ?? null,
      heldSince: (r.held_since as number | null) ?? null,
      checkedAt: (r.checked_at as number | null) ?? null,
      cooldownUntil: Number(r.cooldown_until ?? 0),
    });
  }
  sql.exec(`DROP TABLE slots`);
}

/** The `provers` rows (the table exists: `createProverTable`). */
export class ProverTable {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Every prover, by URL. */
  all(): ProverRecord[] {
    return this.#sql
      .exec<{ data: string }>(`SELECT data FROM provers ORDER BY url`)
      .toArray()
      .map((r) => JSON.parse(r.data) as ProverRecord);
  }

  load(url: string): ProverRecord | null {
    const row = this.#sql
      .exec<{ data: string }>(`SELECT data FROM provers WHERE url = ?`, url)
      .toArray()[0];
    return row ? (JSON.parse(row.data) as ProverRecord) : null;
  }

  byId(id: string): ProverRecord | null {
    return this.all().find((p) => p.id === id) ?? null;
  }

  /** The prover `jobId` holds, if any. */
  heldBy(jobId: string): ProverRecord | null {
    return this.all().find((p) => p.holder === jobId) ?? null;
  }

  save(p: ProverRecord): void {
    this.#sql.exec(
      `INSERT INTO provers (url, data) VALUES (?, ?) ON CONFLICT (url) DO UPDATE SET data = excluded.data`,
      p.url,
      JSON.stringify(p),
    );
  }

  delete(url: string): void {
    this.#sql.exec(`DELETE FROM provers WHERE url = ?`, url);
  }

  /**
   * One prover per configured URL; a configured prover dropped from the config leaves once it is
   * idle (runtime-added ones stay until an operator deletes them).
   */
  sync(cfg: Pick<Config, "proverBaseUrl" | "proverBaseUrls">): void {
    const urls = configuredProvers(cfg);
    const have = new Map(this.all().map((p) => [p.url, p]));
    for (const url of urls) {
      const p = have.get(url);
      if (!p) this.save(newProver(url, "config"));
      else if (p.source !== "config") this.save({ ...p, source: "config" });
    }
    for (const p of have.values()) {
      if (p.source === "config" && !urls.includes(p.url) && !isHeld(p)) this.delete(p.url);
    }
  }
}
