import fc from "fast-check";
import { describe, it } from "vitest";
import type { Config } from "../../src/core/config.ts";
import {
  canTakeWork,
  newProver,
  proverState,
  type HealthReading,
  type ProverRecord,
} from "../../src/core/fleet.ts";
import {
  healthCheckDue,
  onAccepted,
  onHealth,
  onTransportFailure,
} from "../../src/core/prover-health.ts";
import { free, grant } from "../../src/core/prover-work.ts";
import {
  earlyProbeDue,
  endingHoldOver,
  nextGrant,
  onProofEnding,
  onRelease,
  type Grant,
  type Waiting,
} from "../../src/core/grants.ts";
import { slotCooldownUntil } from "../../src/core/line-timing.ts";
import { onContradicted, resumeProver } from "../../src/core/quarantine.ts";
import { CONFIGS, T0 } from "../support/configs.ts";

/**
 * A property of the line in front of the provers: random sequences of what happens to it (jobs
 * admitted, granted, accepted, released, requeued with or without a verdict against their tape,
 * provers charged, quarantined, resumed, drained, failing, reporting `/health`, the clock moving)
 * drive the dispatcher's own rules (src/core/grants.ts, fleet.ts, quarantine.ts) in the loop
 * ProverDispatcher runs them in (its `#pump`). The line's order is a plain array here; its fair
 * SQL order is tested in workerd (test/integration/fairness.test.ts).
 *
 * After every event: no job is granted twice, no prover holds two jobs, no quarantined prover is
 * granted, a job with verdicts goes to a prover that gave one only when no other can be had and
 * its cool-down has passed, and no job is left waiting while a prover it may have is free.
 */

const URLS = ["https://p-a.example", "https://p-b.example", "https://p-c.example"] as const;
const JOBS = 6;
const RUNS = Number(process.env.FC_RUNS ?? 300);

const GOOD: HealthReading = {
  reachable: true,
  compatible: true,
  problems: [],
  accelerator: "cuda",
  imageId: "ab".repeat(32),
  devMode: false,
};
type Reading = "good" | "down" | "incompatible";
const reading = (r: Reading): HealthReading =>
  r === "good"
    ? GOOD
    : r === "down"
      ? { ...GOOD, reachable: false, problems: ["refused"] }
      : { ...GOOD, compatible: false, problems: ["image_id is not the pinned one"] };

type Ev =
  | { e: "admit"; job: number }
  | { e: "accepted"; job: number }
  | { e: "release"; job: number; ending: boolean }
  | { e: "requeue"; job: number; verdict: "none" | "refused" | "lied" | "forged" }
  | { e: "busy"; job: number }
  | { e: "contradict"; prover: number; atOnce: boolean }
  | { e: "resume"; prover: number }
  | { e: "drain"; prover: number; on: boolean }
  | { e: "health"; prover: number; reading: Reading }
  | { e: "transport"; prover: number }
  | { e: "proofEnded"; prover: number; said: "ended" | "alive" | "unreachable" }
  | { e: "tick"; ms: number };

function evArb(cfg: Config, provers: number): fc.Arbitrary<Ev> {
  const job = fc.nat({ max: JOBS - 1 });
  const prover = fc.nat({ max: provers - 1 });
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ e: fc.constant("admit" as const), job }) },
    { weight: 3, arbitrary: fc.record({ e: fc.constant("accepted" as const), job }) },
    {
      weight: 4,
      arbitrary: fc.record({ e: fc.constant("release" as const), job, ending: fc.boolean() }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        e: fc.constant("requeue" as const),
        job,
        verdict: fc.constantFrom(
          "none" as const,
          "refused" as const,
          "lied" as const,
          "forged" as const,
        ),
      }),
    },
    { weight: 2, arbitrary: fc.record({ e: fc.constant("busy" as const), job }) },
    {
      weight: 2,
      arbitrary: fc.record({ e: fc.constant("contradict" as const), prover, atOnce: fc.boolean() }),
    },
    { weight: 2, arbitrary: fc.record({ e: fc.constant("resume" as const), prover }) },
    {
      weight: 1,
      arbitrary: fc.record({ e: fc.constant("drain" as const), prover, on: fc.boolean() }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        e: fc.constant("health" as const),
        prover,
        reading: fc.constantFrom<Reading>("good", "good", "down", "incompatible"),
      }),
    },
    { weight: 1, arbitrary: fc.record({ e: fc.constant("transport" as const), prover }) },
    {
      weight: 2,
      arbitrary: fc.record({
        e: fc.constant("proofEnded" as const),
        prover,
        said: fc.constantFrom("ended" as const, "alive" as const, "unreachable" as const),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        e: fc.constant("tick" as const),
        ms: fc.oneof(
          fc.integer({ min: 0, max: 2 * cfg.circuitCooldownMs }),
          fc.integer({ min: 0, max: cfg.stallWindowMs + 1 }),
          fc.integer({ min: 0, max: 2 * cfg.healthIntervalMs }),
        ),
      }),
    },
  );
}

class Broken extends Error {
  override readonly name = "LinePropertyBroken";
}
function inv(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Broken(what);
}

interface Entry extends Waiting {
  arrivedAt: number;
  /** Back at the head (it was served once already). */
  head: boolean;
}

/** States of a prover that can give a second opinion (the README's list, written out again). */
const CAN_BE_HAD = ["available", "proving", "busy", "unchecked"];

class LineModel {
  now = T0;
  provers: ProverRecord[];
  /** What each prover's `/health` would say if read now. */
  actual: Reading[];
  line: Entry[] = [];
  /** Per job: the provers that gave a verdict against its tape in its current attempt. */
  exclude: string[][] = Array.from({ length: JOBS }, () => []);
  arrivals = 0;
  grants = 0;
  fallbacks = 0;
  quarantines = 0;
  readonly cfg: Config;

  constructor(cfg: Config, n: number) {
    this.cfg = cfg;
    this.provers = URLS.slice(0, n).map((u) => onHealth(newProver(u, "config"), GOOD, T0, cfg));
    this.actual = URLS.slice(0, n).map(() => "good");
  }

  ordered(): Entry[] {
    const heads = this.line
      .filter((w) => w.head)
      .sort((a, b) => a.arrivedAt - b.arrivedAt || a.jobId.localeCompare(b.jobId));
    return [...heads, ...this.line.filter((w) => !w.head)];
  }

  heldBy(jobId: string): number {
    return this.provers.findIndex((p) => p.holder === jobId);
  }

  waits(jobId: string): boolean {
    return this.line.some((w) => w.jobId === jobId);
  }

  /** Enqueues as Line.enqueue does: a job with verdicts goes to the head; one waiting is updated. */
  enqueue(job: number, head: boolean): void {
    const jobId = `job-${job}`;
    const exclude = [...this.exclude[job]!];
    const existing = this.line.find((w) => w.jobId === jobId);
    if (existing) {
      const grew = exclude.length > existing.exclude.length;
      Object.assign(existing, {
        exclude,
        head: existing.head || head || exclude.length > 0,
        backAt: grew ? this.now : existing.backAt,
      });
      return;
    }
    this.line.push({
      jobId,
      avoid: null,
      exclude,
      backAt: exclude.length ? this.now : 0,
      arrivedAt: head ? this.now : ++this.arrivals,
      head: head || exclude.length > 0,
    });
  }

  /** What a waiting job may have, stated independently of grants.ts: the spec. */
  mayHave(w: Waiting, p: ProverRecord): boolean {
    if (!canTakeWork(p, this.now, this.cfg)) return false;
    if (!w.exclude.includes(p.url)) return true;
    const other = this.provers.some(
      (q) =>
        !w.exclude.includes(q.url) && CAN_BE_HAD.includes(proverState(q, this.now, this.cfg).state),
    );
    return !other && this.now >= w.backAt + this.cfg.circuitCooldownMs;
  }

  checkGrant(g: Grant): void {
    const i = this.provers.findIndex((p) => p.url === g.url);
    const p = this.provers[i]!;
    const w = this.line.find((x) => x.jobId === g.jobId);
    inv(w, `granted ${g.jobId}, which is not waiting`);
    inv(this.heldBy(g.jobId) === -1, `granted ${g.jobId} twice (it holds a prover already)`);
    inv(
      p.holder === null && !p.ending,
      `gave ${p.url} a second job (${p.holder ?? p.ending?.jobId})`,
    );
    inv(!p.quarantine, `granted quarantined ${p.url}`);
    inv(
      canTakeWork(p, this.now, this.cfg),
      `granted ${p.url} in state ${proverState(p, this.now, this.cfg).state}`,
    );
    inv(this.mayHave(w, p), `granted ${g.jobId} a prover that gave a verdict against it too early`);
    inv(g.fallback === w.exclude.includes(p.url), "a fallback not marked as one");
  }

  pump(): void {
    let checked = false;
    for (;;) {
      const g = nextGrant(this.ordered(), this.provers, this.now, this.cfg);
      if (!g) {
        const waiting = this.line.length;
        const due = this.provers
          .map((p, i) => [p, i] as const)
          .filter(
            ([p]) =>
              healthCheckDue(p, this.now, this.cfg) ||
              earlyProbeDue(p, this.provers, waiting, this.now, this.cfg),
          );
        if (checked || due.length === 0) break;
        checked = true;
        for (const [p, i] of due)
          this.provers[i] = onHealth(p, reading(this.actual[i]!), this.now, this.cfg);
        continue;
      }
      this.checkGrant(g);
      const i = this.provers.findIndex((p) => p.url === g.url);
      this.line = this.line.filter((w) => w.jobId !== g.jobId);
      this.provers[i] = grant(this.provers[i]!, g.jobId, this.now);
      this.grants++;
      if (g.fallback) this.fallbacks++;
    }
    this.checkSettled();
  }

  /** After the line moved: consistent, and nobody waits for a prover it may have right now. */
  checkSettled(): void {
    const holders = this.provers.map((p) => p.holder).filter((h) => h !== null);
    inv(new Set(holders).size === holders.length, "a job holds two provers");
    for (const p of this.provers)
      inv(!(p.holder && p.ending), `${p.url} holds a job and an ended job's proof`);
    for (const w of this.line) {
      inv(this.heldBy(w.jobId) === -1, `${w.jobId} waits in line and holds a prover`);
      const free = this.provers.find((p) => this.mayHave(w, p));
      inv(!free, `${w.jobId} waits while ${free?.url} is free for it`);
    }
    inv(new Set(this.line.map((w) => w.jobId)).size === this.line.length, "a job is in line twice");
  }

  apply(ev: Ev): void {
    const { cfg } = this;
    const jobId = "job" in ev ? `job-${ev.job}` : "";
    const held = "job" in ev ? this.heldBy(jobId) : -1;
    switch (ev.e) {
      case "admit":
        if (held === -1) this.enqueue(ev.job, false);
        break;
      case "accepted":
        if (held !== -1) this.provers[held] = onAccepted(this.provers[held]!, null);
        break;
      case "release":
        this.line = this.line.filter((w) => w.jobId !== jobId);
        if (held !== -1) {
          const p = this.provers[held]!;
          this.provers[held] = onRelease(p, jobId, ev.ending ? p.url : null, this.now);
        }
        this.exclude[ev.job] = []; // its attempt ended: a new one starts clean
        break;
      case "requeue": {
        if (held === -1) return this.checkSettled();
        const p = this.provers[held]!;
        if (ev.verdict !== "none" && !this.exclude[ev.job]!.includes(p.url))
          this.exclude[ev.job]!.push(p.url);
        let next = free(p);
        if (ev.verdict === "lied" || ev.verdict === "forged") {
          const c = { jobId, reason: ev.verdict, atOnce: ev.verdict === "forged" };
          const charged = onContradicted(next, c, this.now, cfg);
          if (charged.quarantined) this.quarantines++;
          next = charged.prover;
        }
        this.provers[held] = next;
        this.enqueue(ev.job, true);
        break;
      }
      case "busy":
        if (held === -1) return this.checkSettled();
        this.provers[held] = free(this.provers[held]!, slotCooldownUntil(this.now, cfg));
        this.enqueue(ev.job, true);
        break;
      case "contradict": {
        const p = this.provers[ev.prover];
        if (!p) return;
        const charged = onContradicted(
          p,
          { jobId: "x", reason: "r", atOnce: ev.atOnce },
          this.now,
          cfg,
        );
        this.provers[ev.prover] = charged.prover;
        if (!charged.quarantined) return this.checkSettled(); // a charge alone moves nothing
        this.quarantines++;
        break;
      }
      case "resume":
        if (this.provers[ev.prover])
          this.provers[ev.prover] = resumeProver(this.provers[ev.prover]!);
        break;
      case "drain":
        if (this.provers[ev.prover])
          this.provers[ev.prover] = { ...this.provers[ev.prover]!, draining: ev.on };
        break;
      case "health":
        if (!this.provers[ev.prover]) return;
        this.actual[ev.prover] = ev.reading;
        this.provers[ev.prover] = onHealth(
          this.provers[ev.prover]!,
          reading(ev.reading),
          this.now,
          cfg,
        );
        break;
      case "transport":
        if (!this.provers[ev.prover]) return;
        this.provers[ev.prover] = onTransportFailure(
          this.provers[ev.prover]!,
          "reset",
          this.now,
          cfg,
        );
        break;
      case "proofEnded": {
        const p = this.provers[ev.prover];
        if (!p?.ending) return;
        this.provers[ev.prover] = onProofEnding(p, p.ending.jobId, ev.said, this.now, cfg);
        break;
      }
      case "tick":
        this.now += ev.ms;
        // The dispatcher's alarm: holds nothing ended are over at their limit, then the line moves.
        this.provers = this.provers.map((p) => (endingHoldOver(p, this.now, cfg) ? free(p) : p));
        break;
    }
    this.pump();
  }
}

function run(cfg: Config, n: number, events: Ev[]): LineModel {
  const m = new LineModel(cfg, n);
  events.forEach((ev, i) => {
    try {
      m.apply(ev);
    } catch (e) {
      if (e instanceof Broken)
        e.message = `step ${i} ${JSON.stringify(ev)} at T0+${m.now - T0}: ${e.message}`;
      throw e;
    }
  });
  return m;
}

const scenario = (cfg: Config) =>
  fc
    .integer({ min: 1, max: URLS.length })
    .chain((n) =>
      fc.tuple(fc.constant(n), fc.array(evArb(cfg, n), { maxLength: 80, size: "max" })),
    );

describe.each(CONFIGS)("the line under random events (%s)", (_name, cfg) => {
  it("never grants a job twice, never gives a prover two jobs, never grants a quarantined prover, and leaves no job waiting while a prover it may have is free", () => {
    fc.assert(
      fc.property(scenario(cfg), ([n, events]) => void run(cfg, n, events)),
      { numRuns: RUNS, seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined },
    );
  });

  it("the model reaches grants, fallbacks to a prover that gave a verdict, and quarantines", () => {
    const totals = { grants: 0, fallbacks: 0, quarantines: 0 };
    fc.assert(
      fc.property(scenario(cfg), ([n, events]) => {
        const m = run(cfg, n, events);
        totals.grants += m.grants;
        totals.fallbacks += m.fallbacks;
        totals.quarantines += m.quarantines;
      }),
      { numRuns: 200 },
    );
    if (Object.values(totals).some((v) => v === 0))
      throw new Error(`the model is too weak: ${JSON.stringify(totals)}`);
  });
});
