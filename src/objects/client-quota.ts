import { DurableObject } from "cloudflare:workers";
import type { Reservation } from "../core/intake.ts";
import { isTerminal, type Job } from "../core/job.ts";

/**
 * What MAX_WAITING_PER_CLIENT counts: each client's attempts not yet ended, kept by one of
 * `CLIENT_QUOTA_SHARDS` Durable Objects (the client's by its key, src/http/client.ts), never by
 * the one dispatcher. A job's own object takes the place while it accepts a new attempt
 * (src/core/flows/intake.ts) and gives it back when the attempt ends or was not accepted after
 * all. All of a client's places are in one shard, and every count and change there is synchronous
 * SQL: concurrent intakes of one client see each other's places. Shards rather than one object per
 * client: no object is created per client (nor left behind by one), and none is a bottleneck.
 */
export class ClientQuota extends DurableObject<Env> {
  #ready = false;

  /**
   * A new attempt of `jobId` from `client` is about to be accepted: it counts against the client
   * from now until it ends. Refused when the client already has `cap` attempts not ended (null:
   * never refused, an operator's redrive); before refusing, the counted jobs are looked up and
   * those that ended without giving their place back (a lost release), or are gone, no longer
   * count.
   */
  async reserve(client: string, jobId: string, cap: number | null): Promise<Reservation> {
    let live = this.#live(client, jobId);
    if (cap !== null && live.length >= cap) {
      for (const id of live) {
        let job: Job | null | undefined;
        try {
          job = await this.env.JOB.getByName(id).get();
        } catch {
          job = undefined; // cannot tell: it still counts
        }
        if (job === null || (job && isTerminal(job.status))) this.#drop(id);
      }
      live = this.#live(client, jobId);
      if (live.length >= cap) return { ok: false, live: live.length };
    }
    this.#sql().exec(
      `INSERT INTO live (job_id, client, since) VALUES (?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE SET client = excluded.client`,
      jobId,
      client,
      Date.now(),
    );
    return { ok: true };
  }

  /** The attempt ended, or was not accepted after all: it no longer counts. */
  async release(jobId: string): Promise<void> {
    this.#drop(jobId);
  }

  /** The client's counted jobs other than `except`. */
  #live(client: string, except: string): string[] {
    return this.#sql()
      .exec<{ job_id: string }>(
        `SELECT job_id FROM live WHERE client = ? AND job_id != ? ORDER BY since, job_id`,
        client,
        except,
      )
      .toArray()
      .map((r) => r.job_id);
  }

  #drop(jobId: string): void {
    this.#sql().exec(`DELETE FROM live WHERE job_id = ?`, jobId);
  }

  #sql(): SqlStorage {
    const sql = this.ctx.storage.sql;
    if (!this.#ready) {
      sql.exec(
        `CREATE TABLE IF NOT EXISTS live (job_id TEXT PRIMARY KEY, client TEXT NOT NULL, since INTEGER NOT NULL)`,
      );
      sql.exec(`CREATE INDEX IF NOT EXISTS live_client ON live (client)`);
      this.#ready = true;
    }
    return sql;
  }
}

/** How many ClientQuota objects share the clients. */
export const CLIENT_QUOTA_SHARDS = 32;

/** The ClientQuota that counts `client`'s attempts (FNV-1a of its key: any string will do). */
export function clientQuotaOf(env: Env, client: string) {
  let h = 0x811c9dc5;
  for (let i = 0; i < client.length; i++) h = Math.imul(h ^ client.charCodeAt(i), 0x01000193);
  return env.CLIENT_QUOTA.getByName(`clients-${(h >>> 0) % CLIENT_QUOTA_SHARDS}`);
}

/**
 * Gives the attempt's place back (best effort, logged: a place kept by mistake is dropped when its
 * client next reaches the cap and the job is found ended).
 */
export async function releaseClientPlace(
  env: Env,
  client: string | null | undefined,
  jobId: string,
): Promise<void> {
  if (!client) return;
  try {
    await clientQuotaOf(env, client).release(jobId);
  } catch (e) {
    console.error(JSON.stringify({ event: "client_release_failed", jobId, error: String(e) }));
  }
}
