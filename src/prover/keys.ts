import type { Config } from "../core/config.ts";
import { configuredProvers } from "../core/fleet.ts";
import type { Admission } from "../core/lifecycle.ts";

/**
 * Which API key a prover gets. Keys are per prover, so a box an operator adds from a
 * marketplace never sees another box's key:
 *
 * - `own`: the key the operator gave with the prover (`POST /api/admin/provers`
 *   `{"url", "apiKey"}`), kept by the dispatcher in its own table, never shown or logged;
 * - `config`: a prover named in config (PROVER_BASE_URL / PROVER_BASE_URLS) gets its entry of
 *   PROVER_API_KEYS, else the shared PROVER_API_KEY;
 * - `none`: a prover added at runtime without a key gets no key.
 *
 * `/health` is open (the contract) and never gets a key, whoever the prover is.
 */
export type ProverAuth = { kind: "own"; key: string } | { kind: "config" } | { kind: "none" };

/** A grant as the dispatcher answers it: with how the job must authenticate to that prover. */
export type KeyedAdmission = Admission & { auth?: ProverAuth };

/** A prover's auth from where it came from and the key it was added with (if any). */
export function authOf(source: "config" | "runtime", ownKey: string | null): ProverAuth {
  if (ownKey) return { kind: "own", key: ownKey };
  return source === "config" ? { kind: "config" } : { kind: "none" };
}

/** The config a key is chosen from. */
export type KeyConfig = Pick<
  Config,
  "proverApiKey" | "proverApiKeys" | "proverBaseUrl" | "proverBaseUrls"
>;

/**
 * The key to send to the prover at `url` (undefined: send none). The configured keys go only to
 * a prover the config names *now*: one dropped from it gets none, even mid-proof.
 */
export function keyFor(auth: ProverAuth, cfg: KeyConfig, url: string): string | undefined {
  switch (auth.kind) {
    case "own":
      return auth.key;
    case "config":
      return configuredProvers(cfg).includes(url)
        ? (cfg.proverApiKeys[url] ?? cfg.proverApiKey)
        : undefined;
    case "none":
      return undefined;
  }
}

/** The few SQL calls the dispatcher's key table needs (Durable Object SQLite storage). */
interface Sql {
  exec(query: string, ...bindings: (string | null)[]): { toArray(): Record<string, unknown>[] };
}

/**
 * The dispatcher's table of runtime provers' own keys (url → key), apart from the prover rows
 * so that no view, summary or log line built from a row can carry a key.
 */
export class ProverKeyring {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS prover_keys (url TEXT PRIMARY KEY, key TEXT)`);
  }

  /** The prover on `url` was added (again): its key is this one, or none. */
  set(url: string, key: string | null): void {
    this.#sql.exec(
      `INSERT INTO prover_keys (url, key) VALUES (?, ?) ON CONFLICT (url) DO UPDATE SET key = excluded.key`,
      url,
      key,
    );
  }

  /** The prover on `url` was removed: its key goes with it. */
  delete(url: string): void {
    this.#sql.exec(`DELETE FROM prover_keys WHERE url = ?`, url);
  }

  get(url: string): string | null {
    const row = this.#sql.exec(`SELECT key FROM prover_keys WHERE url = ?`, url).toArray()[0];
    return typeof row?.key === "string" ? row.key : null;
  }

  /** How a job granted the prover on `url` (from `source`) authenticates to it. */
  authFor(prover: { url: string; source: "config" | "runtime" }): ProverAuth {
    return authOf(prover.source, this.get(prover.url));
  }
}

/** The few storage calls a job object's key record needs (Durable Object synchronous KV). */
interface Kv {
  get<T>(key: string): T | undefined;
  put<T>(key: string, value: T): void;
}

/**
 * Where a job object keeps how to authenticate to each prover it used (url → auth): in its own
 * storage, apart from the job document players see; cleared with the rest when the job is.
 */
const JOB_AUTH = "proverAuth";

/**
 * The job was granted a prover: remember how to authenticate to it (for its status reads and
 * the clean-up of its abandoned prover jobs later) and answer the key to submit with.
 */
export function keyFromGrant(
  kv: Kv,
  cfg: KeyConfig,
  admission: KeyedAdmission,
  url: string,
): string | undefined {
  if (admission.kind === "granted" && admission.proverUrl === url && admission.auth) {
    const kept = kv.get<Record<string, ProverAuth>>(JOB_AUTH) ?? {};
    kv.put(JOB_AUTH, { ...kept, [url]: admission.auth });
  }
  return jobKeyFor(kv, cfg, url);
}

/**
 * The key a job sends to the prover on `url`: the one its grant said. A job granted before keys
 * were per prover has none kept: the configured keys, which `keyFor` gives a configured prover
 * only.
 */
export function jobKeyFor(kv: Kv, cfg: KeyConfig, url: string): string | undefined {
  const kept = kv.get<Record<string, ProverAuth>>(JOB_AUTH)?.[url];
  return keyFor(kept ?? { kind: "config" }, cfg, url);
}

const keyrings = new WeakMap<Sql, ProverKeyring>();

/** The dispatcher's keyring on its SQL storage (its table made once per object instance). */
export function keyringOf(sql: Sql): ProverKeyring {
  let ring = keyrings.get(sql);
  if (!ring) keyrings.set(sql, (ring = new ProverKeyring(sql)));
  return ring;
}
