import { describe, expect, it } from "vitest";
import type { Effect } from "../../src/core/effects.ts";
import type { Outlook } from "../../src/core/estimate.ts";
import { dispatchFlow } from "../../src/core/flows/dispatch.ts";
import { createFlow, intakeFlow } from "../../src/core/flows/intake.ts";
import type { IntakeInput } from "../../src/core/intake.ts";
import type { CachedOutlook, Flow, JobRequest } from "../../src/core/flows/io.ts";
import { performEffects } from "../../src/core/flows/perform.ts";
import { holderFlow } from "../../src/core/flows/reads.ts";
import { claimFlow, viewFlow } from "../../src/core/flows/view.ts";
import type { Job } from "../../src/core/job.ts";
import { newJob } from "../../src/core/lifecycle.ts";
import { cancel } from "../../src/core/ending.ts";
import { PLACE_CACHE_MIN_MS } from "../../src/core/line-timing.ts";
import { configWith, T0, URL_A } from "../support/configs.ts";
import { SAMPLE_TAPE } from "../support/sample-job.ts";
import { TEST_WEBHOOK_SECRET } from "../support/test-vars.ts";

/**
 * The job's flows (src/core/flows) where the model-based test does not reach them: the gate on
 * putting a job back in line, a delivery's lock when it cannot submit, the holder check's re-send,
 * an intake the queue refuses, the view's outlook cache and the claim reports. Each runs under a
 * tiny driver that answers from a script and records what was asked.
 */

const cfg = configWith({
  WEBHOOK_URL: "https://settle.example",
  WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
  PUBLIC_BASE_URL: "https://gateway.example",
  SETTLEMENT_TOKEN: "t".repeat(32),
});
const JOB_ID = SAMPLE_TAPE.sha256;
const job = (): Job => newJob(JOB_ID, SAMPLE_TAPE, T0, cfg, "hash");

type Script = Partial<{
  [K in JobRequest["kind"]]: (r: Extract<JobRequest, { kind: K }>) => unknown;
}>;

/** Runs `flow`, answering each request from `script` (a throw is thrown into the flow). */
function run<T>(flow: Flow<T>, script: Script): { value: T; asked: JobRequest[] } {
  const asked: JobRequest[] = [];
  let step = flow.next();
  while (!step.done) {
    const r = step.value;
    asked.push(r);
    const answer = script[r.kind] as ((r: JobRequest) => unknown) | undefined;
    if (!answer) throw new Error(`unscripted request ${r.kind}`);
    try {
      step = flow.next(answer(r));
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      step = flow.throw(e);
    }
  }
  return { value: step.value, asked };
}

class Refused extends Error {}
const refuse = () => {
  throw new Refused("refused");
};
const kinds = (asked: JobRequest[]) => asked.map((r) => r.kind);
const performed = (asked: JobRequest[]): Effect[] =>
  asked.flatMap((r) => (r.kind === "perform" ? r.effects : r.kind === "effect" ? [r.effect] : []));

describe("performEffects: how the shell performs a step's effects", () => {
  const back: Effect = { kind: "requeue", arrivedAt: T0, avoidUrl: null, exclude: [] };

  it("puts the job back in line while it still waits there (in the saved attempt)", () => {
    const queued = job();
    const { asked } = run(
      performEffects(JOB_ID, [{ kind: "save", job: queued, reason: "x" }, back]),
      {
        load: () => queued,
        effect: () => undefined,
        broadcast: () => undefined,
      },
    );
    expect(performed(asked)).toEqual([{ kind: "save", job: queued, reason: "x" }, back]);
    expect(kinds(asked).at(-1)).toBe("broadcast");
  });

  it("skips it (with a log line) once a cancel landed, or another attempt is stored", () => {
    for (const stored of [cancel(job(), T0 + 1, cfg), { ...job(), attempt: 2 }]) {
      const { asked } = run(
        performEffects(JOB_ID, [{ kind: "save", job: job(), reason: "x" }, back]),
        {
          load: () => stored,
          effect: () => undefined,
          broadcast: () => undefined,
        },
      );
      const effects = performed(asked);
      expect(effects.some((e) => e.kind === "requeue")).toBe(false);
      expect(effects.at(-1)).toMatchObject({
        kind: "log",
        line: { event: "back_in_line_skipped" },
      });
    }
  });

  it("tells the sockets only when the job was saved", () => {
    const { asked } = run(performEffects(JOB_ID, [{ kind: "unlock" }]), {
      effect: () => undefined,
    });
    expect(kinds(asked)).toEqual(["effect"]);
  });
});

describe("dispatchFlow: a granted delivery that cannot submit drops its lock", () => {
  const granted = () => {
    let stored: Job | null = job();
    return {
      get stored() {
        return stored;
      },
      script: {
        now: () => T0 + 10,
        load: () => stored,
        lock: () => null,
        perform: () => undefined,
        admit: () => ({ kind: "granted", proverUrl: URL_A }),
      } as Script,
      cancelNow: () => (stored = cancel(stored!, T0 + 11, cfg)),
    };
  };

  it("the tape is missing: unlocked before the failure retries the delivery", () => {
    const g = granted();
    const asked: JobRequest[] = [];
    const script: Script = { ...g.script, readTape: refuse };
    const spy = Object.fromEntries(
      Object.entries(script).map(([k, f]) => [
        k,
        (r: JobRequest) => (asked.push(r), (f as (r: JobRequest) => unknown)(r)),
      ]),
    ) as Script;
    expect(() => run(dispatchFlow(cfg), spy)).toThrow(Refused);
    expect(performed(asked).at(-1)).toEqual({ kind: "unlock" });
    expect(kinds(asked)).not.toContain("submit");
  });

  it("cancelled while the tape was read: unlocked, acked, nothing submitted", () => {
    const g = granted();
    const { value, asked } = run(dispatchFlow(cfg), {
      ...g.script,
      readTape: () => (g.cancelNow(), new Uint8Array(0)),
    });
    expect(value).toEqual({ ack: true });
    expect(kinds(asked)).not.toContain("submit");
    expect(performed(asked).at(-1)).toEqual({ kind: "unlock" });
    expect(performed(asked).some((e) => e.kind === "lock")).toBe(true);
  });
});

describe("holderFlow: the dispatcher's holder check", () => {
  const script = (stored: () => Job | null, extra: Script = {}): Script => ({
    now: () => T0 + 5,
    load: stored,
    lock: () => null,
    perform: () => undefined,
    ...extra,
  });

  it("a queued holder nothing submits is sent again, and saved as re-sent", () => {
    const queued = job();
    const { value, asked } = run(
      holderFlow(cfg),
      script(() => queued, { enqueue: () => undefined }),
    );
    expect(value).toBe(true);
    expect(asked.find((r) => r.kind === "enqueue")).toEqual({
      kind: "enqueue",
      jobId: JOB_ID,
      attempt: 1,
    });
    const saved = performed(asked).filter((e) => e.kind === "save");
    expect(saved.at(-1)).toMatchObject({
      reason: "holder_check",
      job: { attempts: { redispatches: 1 } },
    });
  });

  it("a refused send is logged and the job looks again later (no re-send counted)", () => {
    const queued = job();
    const { asked } = run(
      holderFlow(cfg),
      script(() => queued, { enqueue: refuse }),
    );
    const effects = performed(asked);
    expect(effects).toContainEqual(expect.objectContaining({ kind: "log", level: "error" }));
    const saved = effects.filter((e) => e.kind === "save").at(-1) as Extract<
      Effect,
      { kind: "save" }
    >;
    expect(saved.job.attempts.redispatches).toBe(0);
    expect(saved.job.watchdogCheckedAt).toBe(T0 + 5);
  });

  it("cancelled while the queue answered: nothing saved over it, the answer is the job's now", () => {
    let stored: Job = job();
    const { value, asked } = run(
      holderFlow(cfg),
      script(() => stored, { enqueue: () => void (stored = cancel(stored, T0 + 6, cfg)) }),
    );
    expect(value).toBe(false);
    expect(performed(asked).some((e) => e.kind === "save")).toBe(false);
  });

  it("held by a submission (the lock): needed, nothing sent", () => {
    const { value, asked } = run(
      holderFlow(cfg),
      script(() => job(), { lock: () => T0 + 1_000 }),
    );
    expect(value).toBe(true);
    expect(kinds(asked)).not.toContain("enqueue");
  });
});

describe("createFlow: the queue refuses a new job", () => {
  const input = { jobId: JOB_ID, tape: SAMPLE_TAPE, cancelTokenHash: "h", why: "post" as const };

  it("the intake is undone (nothing was stored: forgotten) and the answer says why", () => {
    let stored: Job | null = null;
    const { value, asked } = run(createFlow(input, cfg), {
      now: () => T0,
      load: () => stored,
      perform: (r) => {
        for (const e of r.effects) if (e.kind === "save") stored = e.job;
      },
      enqueue: refuse,
    });
    expect(value).toEqual({ kind: "enqueue_failed", message: "refused" });
    expect(performed(asked).at(-1)).toEqual({ kind: "forget" });
  });

  it("changed while the queue answered (an admin's cancel): not undone", () => {
    let stored: Job | null = null;
    const { value, asked } = run(createFlow(input, cfg), {
      now: () => T0,
      load: () => stored,
      perform: (r) => {
        for (const e of r.effects) if (e.kind === "save") stored = e.job;
      },
      enqueue: () => {
        stored = cancel(stored!, T0 + 1, cfg);
        throw new Refused("refused");
      },
    });
    expect(value.kind).toBe("enqueue_failed");
    expect(performed(asked).some((e) => e.kind === "forget")).toBe(false);
  });
});

describe("viewFlow: the place in line is asked at most once per placeFreshUntil", () => {
  const outlook = (ahead: number | null): Outlook => ({
    ahead,
    waiting: 3,
    freeAt: [],
    typicalProofMs: 1_000,
    msPer1000Frames: 100,
    basis: "default",
  });
  const view = (at: number, cached: CachedOutlook | null, dispatcher: () => Outlook) =>
    run(viewFlow(cfg), {
      now: () => at,
      load: () => job(),
      perform: () => undefined,
      cachedOutlook: () => cached,
      outlook: dispatcher,
      cacheOutlook: () => undefined,
    });

  it("just inside the cache's life it is served from storage; at its end the dispatcher is asked", () => {
    const cached = { outlook: outlook(1), at: T0, attempt: 1 };
    const inside = view(T0 + PLACE_CACHE_MIN_MS - 1, cached, () => outlook(0));
    expect(kinds(inside.asked)).not.toContain("outlook");
    expect(inside.value?.queue).toEqual({ ahead: 1 });
    const past = view(T0 + PLACE_CACHE_MIN_MS, cached, () => outlook(0));
    expect(kinds(past.asked)).toContain("outlook");
    expect(past.asked.find((r) => r.kind === "cacheOutlook")).toEqual({
      kind: "cacheOutlook",
      cached: { outlook: outlook(0), at: T0 + PLACE_CACHE_MIN_MS, attempt: 1 },
    });
    expect(past.value?.queue).toEqual({ ahead: 0 });
  });

  it("another attempt's cache is not used; a job not in line yet is not cached; a silent dispatcher gives no place", () => {
    const other = view(T0, { outlook: outlook(1), at: T0, attempt: 2 }, () => outlook(null));
    expect(kinds(other.asked)).toContain("outlook");
    expect(kinds(other.asked)).not.toContain("cacheOutlook");
    expect(other.value?.queue).toBeNull();
    const silent = view(T0, null, refuse);
    expect(silent.value).toMatchObject({ queue: null, settlement: "automatic" });
  });
});

describe("claimFlow: the settlement service's reports", () => {
  const report = { status: "submitting" as const };
  const base = (live: Job | null, archived: Job | null): Script => ({
    now: () => T0 + 100,
    load: () => live,
    perform: () => undefined,
    archived: () => archived,
    keptClaim: () => null,
    storedClaim: () => null,
    writeClaim: () => undefined,
    keepClaim: () => undefined,
    broadcast: () => undefined,
  });
  const succeeded = (): Job => ({ ...job(), status: "succeeded", finishedAt: T0 + 50 });

  it("no job, or no proof: nothing written", () => {
    expect(run(claimFlow(report, cfg), base(null, null)).value).toEqual({ kind: "not_found" });
    const queued = run(claimFlow(report, cfg), base(job(), null));
    expect(queued.value.kind).toBe("no_proof");
    expect(kinds(queued.asked)).not.toContain("writeClaim");
  });

  it("a live proof's claim is written to R2, kept and pushed; a failed write is storage_failed", () => {
    const live = run(claimFlow(report, cfg), base(succeeded(), null));
    expect(live.value.kind).toBe("recorded");
    expect(kinds(live.asked).slice(-4)).toEqual(["writeClaim", "load", "keepClaim", "broadcast"]);
    const failed = run(claimFlow(report, cfg), { ...base(succeeded(), null), writeClaim: refuse });
    expect(failed.value).toEqual({ kind: "storage_failed", message: "refused" });
  });

  it("a cleared record's claim lives in R2 alone: nothing kept, no sockets", () => {
    const archived = run(claimFlow(report, cfg), base(null, succeeded()));
    expect(archived.value.kind).toBe("recorded");
    expect(kinds(archived.asked)).not.toContain("keepClaim");
    expect(kinds(archived.asked)).not.toContain("broadcast");
  });
});

describe("intakeFlow: a tape's whole intake in the job's object", () => {
  const input = (over: Partial<IntakeInput> = {}): IntakeInput => ({
    jobId: JOB_ID,
    tape: SAMPLE_TAPE,
    cancelTokenHash: "hash",
    why: "post",
    client: "client-a",
    claimant: null,
    cap: 2,
    tapeStored: true,
    ...over,
  });
  /** A job's storage as the flow sees it: saves land, loads read them. */
  const storage = (initial: Job | null, over: Script = {}): Script => {
    let stored = initial;
    return {
      now: () => T0,
      load: () => stored,
      archived: () => null,
      perform: (r) => {
        for (const e of r.effects) if (e.kind === "save") stored = e.job;
      },
      cachedOutlook: () => null,
      keptClaim: () => null,
      storedClaim: () => null,
      outlook: refuse,
      whereIs: refuse,
      enqueue: () => undefined,
      reservePlace: () => ({ ok: true }),
      releasePlace: () => undefined,
      ...over,
    };
  };
  const places = (asked: JobRequest[]) =>
    asked.filter((r) => r.kind === "reservePlace" || r.kind === "releasePlace").map((r) => r.kind);

  it("a new tape takes its client's place, then is created and enqueued", () => {
    const { value, asked } = run(intakeFlow(input(), cfg), storage(null));
    expect(value.kind).toBe("created");
    expect(places(asked)).toEqual(["reservePlace"]);
    expect(asked.find((r) => r.kind === "reservePlace")).toEqual({
      kind: "reservePlace",
      client: "client-a",
      jobId: JOB_ID,
      cap: 2,
    });
    expect(kinds(asked)).toContain("enqueue");
  });

  it("a client at its cap is refused before anything is created", () => {
    const { value, asked } = run(
      intakeFlow(input(), cfg),
      storage(null, { reservePlace: () => ({ ok: false, live: 2 }) }),
    );
    expect(value).toEqual({ kind: "too_many_waiting", live: 2 });
    expect(kinds(asked)).not.toContain("enqueue");
    expect(kinds(asked)).not.toContain("perform");
  });

  it("a count that cannot be read lets the tape through, and says so in a log line", () => {
    const { value, asked } = run(intakeFlow(input(), cfg), storage(null, { reservePlace: refuse }));
    expect(value.kind).toBe("created");
    expect(performed(asked)).toContainEqual({
      kind: "log",
      level: "error",
      line: { event: "reserve_failed", jobId: JOB_ID, error: "Error: refused" },
    });
  });

  it("a queue that refuses gives the place back: nothing is counted", () => {
    const { value, asked } = run(intakeFlow(input(), cfg), storage(null, { enqueue: refuse }));
    expect(value.kind).toBe("enqueue_failed");
    expect(places(asked)).toEqual(["reservePlace", "releasePlace"]);
  });

  it("a tape in flight takes no place; an unstored tape starts nothing", () => {
    const inFlight = run(intakeFlow(input(), cfg), storage(job()));
    expect(inFlight.value.kind).toBe("existing");
    expect(places(inFlight.asked)).toEqual([]);
    const unstored = run(intakeFlow(input({ tapeStored: false }), cfg), storage(null));
    expect(unstored.value).toEqual({ kind: "tape_not_stored" });
    expect(places(unstored.asked)).toEqual([]);
  });
});
