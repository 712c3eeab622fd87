import { DurableObject } from "cloudflare:workers";
import type { Job, JobStatus } from "../core/job.ts";

/**
 * The index behind `GET /api/admin/jobs`: one row per job (its current attempt), written by
 * the job's Durable Object on every status change. Best effort: the job's own object stays
 * the source of truth, and a row that missed an update is corrected by the next one.
 */

/** One row, as the admin API lists it. */
export interface IndexedJob {
  jobId: string;
  status: JobStatus;
  attempt: number;
  attemptStartedAt: number;
  updatedAt: number;
  errorCode: string | null;
}

/** Newest first: by attempt start, then job id. A cursor is the last row of the page before. */
export interface JobPage {
  jobs: IndexedJob[];
  nextCursor: string | null;
}

interface Row {
  job_id: string;
  status: JobStatus;
  attempt: number;
  started_at: number;
  updated_at: number;
  error_code: string | null;
  [k: string]: SqlStorageValue;
}

const INDEX_NAME = "jobs";

export const indexRow = (job: Job): IndexedJob => ({
  jobId: job.jobId,
  status: job.status,
  attempt: job.attempt,
  attemptStartedAt: job.attemptStartedAt,
  updatedAt: job.updatedAt,
  errorCode: job.error?.code ?? null,
});

/** `<attemptStartedAt>.<jobId>`: opaque to clients, checked by `parseCursor`. */
export const cursorOf = (j: IndexedJob) => `${j.attemptStartedAt}.${j.jobId}`;

export function parseCursor(cursor: string): { startedAt: number; jobId: string } | null {
  const m = /^(\d{1,16})\.([0-9a-f]{64})$/.exec(cursor);
  return m ? { startedAt: Number(m[1]), jobId: m[2]! } : null;
}

export class JobIndex extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      `CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, status TEXT NOT NULL, attempt INTEGER NOT NULL, started_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, error_code TEXT)`,
    );
    ctx.storage.sql.exec(
      `CREATE INDEX IF NOT EXISTS jobs_newest ON jobs (started_at DESC, job_id DESC)`,
    );
    ctx.storage.sql.exec(
      `CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, started_at DESC, job_id DESC)`,
    );
  }

  /** Records the job's current state; an older update (same attempt, earlier time) never wins. */
  async record(j: IndexedJob): Promise<void> {
    this.ctx.storage.sql.exec(
      `INSERT INTO jobs (job_id, status, attempt, started_at, updated_at, error_code) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, attempt = excluded.attempt, started_at = excluded.started_at,
         updated_at = excluded.updated_at, error_code = excluded.error_code
       WHERE excluded.attempt > jobs.attempt OR (excluded.attempt = jobs.attempt AND excluded.updated_at >= jobs.updated_at)`,
      j.jobId,
      j.status,
      j.attempt,
      j.attemptStartedAt,
      j.updatedAt,
      j.errorCode,
    );
  }

  /** The job's object was cleared after its retention period. */
  async forget(jobId: string): Promise<void> {
    this.ctx.storage.sql.exec(`DELETE FROM jobs WHERE job_id = ?`, jobId);
  }

  async list(opts: {
    status: JobStatus | null;
    limit: number;
    after: { startedAt: number; jobId: string } | null;
  }): Promise<JobPage> {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (opts.status) {
      where.push(`status = ?`);
      args.push(opts.status);
    }
    if (opts.after) {
      where.push(`(started_at < ? OR (started_at = ? AND job_id < ?))`);
      args.push(opts.after.startedAt, opts.after.startedAt, opts.after.jobId);
    }
    const rows = this.ctx.storage.sql
      .exec<Row>(
        `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY started_at DESC, job_id DESC LIMIT ?`,
        ...args,
        opts.limit + 1,
      )
      .toArray();
    const jobs = rows.slice(0, opts.limit).map((r) => ({
      jobId: r.job_id,
      status: r.status,
      attempt: r.attempt,
      attemptStartedAt: r.started_at,
      updatedAt: r.updated_at,
      errorCode: r.error_code,
    }));
    return { jobs, nextCursor: rows.length > opts.limit ? cursorOf(jobs[jobs.length - 1]!) : null };
  }
}

export const jobIndexOf = (env: Env) => env.JOB_INDEX.getByName(INDEX_NAME);
