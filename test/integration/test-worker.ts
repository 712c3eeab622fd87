import { env } from "cloudflare:workers";
import { configFrom } from "../../src/core/config.ts";
import { onTransportFailure } from "../../src/core/prover-health.ts";
import { slotOf, type SlotView } from "../../src/core/prover-view.ts";
import { dispatcherOf, ProverDispatcher } from "../../src/objects/prover-dispatcher.ts";
import { Line } from "../../src/storage/line-table.ts";
import { ProverTable } from "../../src/storage/prover-table.ts";
import type { WaitingRow } from "../../src/storage/waiting-row.ts";

/**
 * The Worker under test (vitest.config.ts `main`): the production Worker, whose DISPATCHER
 * binding the test config points at TestProverDispatcher, the dispatcher plus the inspection
 * RPCs only tests use. Production code carries none of them.
 */
// Everything the production entry exports (each Durable Object class), so a new class needs no edit here.
export { default } from "../../src/index.ts";
export * from "../../src/index.ts";

export interface DispatcherSnapshot {
  slots: SlotView[];
  waiting: { jobId: string; arrivedAt: number }[];
}

export class TestProverDispatcher extends ProverDispatcher {
  /** One transport failure on `url` (what a failed submission or `/health` read counts). */
  async charge(url: string, error: string): Promise<void> {
    const cfg = configFrom(this.env);
    const provers = new ProverTable(this.ctx.storage.sql);
    provers.sync(cfg);
    const p = provers.load(url);
    if (p) provers.save(onTransportFailure(p, error, Date.now(), cfg));
  }

  /** How many jobs are ahead of this one (0: next), or null when it is not waiting. */
  async position(jobId: string): Promise<number | null> {
    return new Line(this.ctx.storage.sql).ahead(jobId);
  }

  /** The whole line: every prover's holder, and every waiting job in the order it is served. */
  async snapshot(): Promise<DispatcherSnapshot> {
    const provers = new ProverTable(this.ctx.storage.sql);
    provers.sync(configFrom(this.env));
    return {
      slots: provers.all().map(slotOf),
      waiting: ordered(this.ctx.storage.sql).map((w) => ({
        jobId: w.job_id,
        arrivedAt: w.arrived_at,
      })),
    };
  }
}

/** The dispatcher the tests talk to: DISPATCHER is bound to TestProverDispatcher (vitest.config.ts). */
export const testDispatcher = () =>
  dispatcherOf(env) as unknown as DurableObjectStub<TestProverDispatcher>;

/**
 * Every waiting job in the order it will be served, worked out apart from `Line.ahead` (the whole
 * line loaded): those back at the head by arrival, then the clients in turn, one job per round,
 * in the order they were last served (never first), then joined.
 */
function ordered(sql: SqlStorage): WaitingRow[] {
  const rows = sql
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
