import { describe, expect, it } from "vitest";
import {
  canTakeWork,
  configuredProvers,
  isHeld,
  newProver,
  proverId,
  proverState,
  type HealthReading,
  type ProverRecord,
} from "../../src/core/fleet.ts";
import {
  healthCheckDue,
  MAX_CIRCUIT_DOUBLINGS,
  onAccepted,
  onHealth,
  onTransportFailure,
} from "../../src/core/prover-health.ts";
import { choose, free, freeAtFor, grant } from "../../src/core/prover-work.ts";
import { CONFIGS, configWith, T0, URL_A, URL_B } from "../support/configs.ts";

const GOOD: HealthReading = {
  reachable: true,
  compatible: true,
  problems: [],
  accelerator: "cuda",
  imageId: "ab".repeat(32),
  devMode: false,
};

describe.each(CONFIGS)("one prover's state (%s)", (_name, cfg) => {
  const healthy = (at = T0, url = URL_A): ProverRecord =>
    onHealth(newProver(url, "config"), GOOD, at, cfg);

  it("is unchecked until a /health reading, then available while the reading is fresh", () => {
    expect(proverState(newProver(URL_A, "config"), T0, cfg).state).toBe("unchecked");
    expect(proverState(healthy(), T0, cfg).state).toBe("available");
    // Fresh exactly PROVER_HEALTH_INTERVAL_MS after the read; stale 1 ms later.
    expect(proverState(healthy(), T0 + cfg.healthIntervalMs, cfg).state).toBe("available");
    expect(proverState(healthy(), T0 + cfg.healthIntervalMs + 1, cfg).state).toBe("unchecked");
    expect(healthCheckDue(healthy(), T0 + cfg.healthIntervalMs, cfg)).toBe(false);
    expect(healthCheckDue(healthy(), T0 + cfg.healthIntervalMs + 1, cfg)).toBe(true);
  });

  it("a failed /health read is tried again one poll interval later, not a whole health interval", () => {
    const failed = onHealth(
      newProver(URL_A, "config"),
      { ...GOOD, reachable: false, problems: ["reset"] },
      T0,
      cfg,
    );
    expect(healthCheckDue(failed, T0 + cfg.pollIntervalMs - 1, cfg)).toBe(false);
    expect(healthCheckDue(failed, T0 + cfg.pollIntervalMs, cfg)).toBe(cfg.circuitFailures > 1);
  });

  it("proving, draining, cooling down: no work", () => {
    expect(proverState(grant(healthy(), "job", T0), T0, cfg).state).toBe("proving");
    expect(proverState({ ...healthy(), draining: true }, T0, cfg).state).toBe("draining");
    const cooling = { ...healthy(), cooldownUntil: T0 + 10 };
    expect(proverState(cooling, T0 + 9, cfg).state).toBe("busy");
    expect(proverState(cooling, T0 + 10, cfg).state).toBe("available");
  });

  it("a bad reading keeps it out: unreachable, incompatible, or on the CPU (unless PROVER_ALLOW_CPU=1)", () => {
    const read = (h: Partial<HealthReading>, c = cfg) =>
      proverState(onHealth(newProver(URL_A, "config"), { ...GOOD, ...h }, T0, c), T0, c);
    expect(read({ compatible: false, problems: ["image_id x is not the pinned one"] })).toEqual({
      state: "incompatible",
      why: "image_id x is not the pinned one",
    });
    const cpu = { accelerator: "cpu" };
    expect(read(cpu, configWith({ PROVER_ALLOW_CPU: "0" })).state).toBe("cpu");
    expect(read(cpu, configWith({ PROVER_ALLOW_CPU: "1" })).state).toBe("available");
    // A dev-mode prover's receipts prove nothing: no work while receipts are verified.
    const dev = { devMode: true };
    expect(read(dev, configWith({ VERIFY_RECEIPTS: "groth16" })).state).toBe("dev_mode");
    expect(read(dev, configWith({ VERIFY_RECEIPTS: "off" })).state).toBe("available");
    expect(read({ devMode: false }, configWith({ VERIFY_RECEIPTS: "groth16" })).state).toBe(
      "available",
    );
    const down = onHealth(
      newProver(URL_A, "config"),
      { ...GOOD, reachable: false, problems: ["refused"] },
      T0,
      cfg,
    );
    expect(proverState(down, T0, cfg).state).toBe(
      cfg.circuitFailures === 1 ? "open" : "unreachable",
    );
    expect(down.failures).toBe(1);
  });

  it("the circuit opens at PROVER_CIRCUIT_FAILURES transport failures in a row, not one before", () => {
    let p = healthy();
    for (let i = 1; i < cfg.circuitFailures; i++)
      p = onTransportFailure(p, "prover_unavailable", T0, cfg);
    expect(proverState(p, T0, cfg).state).toBe("available");
    p = onTransportFailure(p, "prover_unavailable", T0, cfg);
    expect(proverState(p, T0, cfg).state).toBe("open");
    expect(p.circuitUntil).toBe(T0 + cfg.circuitCooldownMs);
    expect(proverState(p, T0 + cfg.circuitCooldownMs - 1, cfg).state).toBe("open");
    // At the end of the cool-down its reading is stale or not: a /health read is the probe.
    expect(healthCheckDue(p, T0 + cfg.circuitCooldownMs - 1, cfg)).toBe(false);
    expect(proverState(p, T0 + cfg.circuitCooldownMs, cfg).state).not.toBe("open");
  });

  it("a failed probe reopens it for twice as long, at most ×16; a good one (or an accepted submission) closes it", () => {
    let p = healthy();
    let now = T0;
    for (let i = 0; i < cfg.circuitFailures; i++) p = onTransportFailure(p, "reset", now, cfg);
    // More failures while it is open (a poll of the proof still on it) change nothing.
    expect(onTransportFailure(p, "reset", now + 1, cfg).circuitUntil).toBe(p.circuitUntil);
    const opened = [p.circuitUntil - now];
    for (let round = 0; round < MAX_CIRCUIT_DOUBLINGS + 2; round++) {
      now = p.circuitUntil;
      // The half-open probe fails: reopened, for twice as long.
      p = onTransportFailure(p, "reset", now, cfg);
      opened.push(p.circuitUntil - now);
    }
    const base = cfg.circuitCooldownMs;
    expect(opened.slice(0, 5)).toEqual([base, 2 * base, 4 * base, 8 * base, 16 * base]);
    expect(opened.at(-1)).toBe(16 * base);
    expect(onHealth(p, GOOD, now, cfg)).toMatchObject({
      failures: 0,
      circuitUntil: 0,
      circuitOpens: 0,
    });
    expect(onAccepted(p)).toMatchObject({ failures: 0, circuitUntil: 0, circuitOpens: 0 });
  });

  it("remembers when its circuit last opened (the early probe counts from there), forgets it once closed", () => {
    let p = healthy();
    for (let i = 0; i < cfg.circuitFailures; i++) p = onTransportFailure(p, "reset", T0 + 7, cfg);
    expect(p.circuitOpenedAt).toBe(T0 + 7);
    expect(onHealth(p, GOOD, T0 + 8, cfg).circuitOpenedAt).toBeNull();
    expect(onAccepted(p).circuitOpenedAt).toBeNull();
  });

  it("a prover held for an ended job's proof, or quarantined, is not read for work; free() ends a hold", () => {
    const stale = T0 + cfg.healthIntervalMs + 1;
    const ending = { ...healthy(), ending: { jobId: "j", since: T0, failingSince: null } };
    expect(isHeld(ending)).toBe(true);
    expect(proverState(ending, T0, cfg).state).toBe("proving");
    expect(healthCheckDue(ending, stale, cfg)).toBe(false);
    expect(isHeld(free(ending))).toBe(false);
    const q = { ...healthy(), quarantine: { since: T0, reason: "lies" } };
    expect(proverState(q, T0, cfg).state).toBe("quarantined");
    expect(healthCheckDue(q, stale, cfg)).toBe(false);
    expect(freeAtFor(q, T0, cfg, 1)).toBeNull();
  });
});

describe.each(CONFIGS)("when a prover should be free, for ETAs (%s)", (_name, cfg) => {
  const healthy = () => onHealth(newProver(URL_A, "config"), GOOD, T0, cfg);
  const T = 60_000;
  it("available now; proving until its job's expected end (or a typical proof after it began)", () => {
    expect(freeAtFor(healthy(), T0, cfg, T)).toBe(T0);
    const proving = grant(healthy(), "job", T0);
    expect(freeAtFor(proving, T0 + 5, cfg, T)).toBe(T0 + T);
    expect(freeAtFor(onAccepted(proving, T0 + 9_000), T0 + 5, cfg, T)).toBe(T0 + 9_000);
    // Freed: the expectation goes with the job.
    expect(free(onAccepted(proving, T0 + 9_000)).expectedFreeAt).toBeNull();
  });
  it("cooling or open: when that ends; out of the fleet (drained, incompatible): none", () => {
    expect(freeAtFor({ ...healthy(), cooldownUntil: T0 + 100 }, T0, cfg, T)).toBe(T0 + 100);
    const open = { ...healthy(), circuitUntil: T0 + 700, failures: 3 };
    expect(freeAtFor(open, T0, cfg, T)).toBe(T0 + 700);
    expect(freeAtFor({ ...healthy(), draining: true }, T0, cfg, T)).toBeNull();
    const bad = onHealth(newProver(URL_A, "config"), { ...GOOD, compatible: false }, T0, cfg);
    expect(freeAtFor(bad, T0, cfg, T)).toBeNull();
  });
});

describe.each(CONFIGS)("choosing a prover for the head of the line (%s)", (_name, cfg) => {
  const ready = (url: string, lastGrantedAt: number | null = null) => ({
    ...onHealth(newProver(url, "config"), GOOD, T0, cfg),
    lastGrantedAt,
  });

  it("the least recently used available prover first", () => {
    expect(choose([ready(URL_A, T0 - 1), ready(URL_B, T0 - 5)], null, T0, cfg)?.url).toBe(URL_B);
    expect(choose([ready(URL_A, T0 - 9), ready(URL_B, T0 - 5)], null, T0, cfg)?.url).toBe(URL_A);
  });

  it("not the prover that lost or spoiled the job's last proof while another is available; that one when it is the only one", () => {
    expect(choose([ready(URL_A), ready(URL_B, T0)], URL_A, T0, cfg)?.url).toBe(URL_B);
    expect(choose([ready(URL_A), { ...ready(URL_B), draining: true }], URL_A, T0, cfg)?.url).toBe(
      URL_A,
    );
  });

  it("none when nobody can take work", () => {
    expect(
      choose([grant(ready(URL_A), "j", T0), { ...ready(URL_B), draining: true }], null, T0, cfg),
    ).toBeNull();
    expect(canTakeWork(newProver(URL_A, "config"), T0, cfg)).toBe(false);
  });
});

describe("the configured fleet", () => {
  it("is PROVER_BASE_URL then each of PROVER_BASE_URLS, once", () => {
    const cfg = configWith({ PROVER_BASE_URL: URL_A, PROVER_BASE_URLS: ` ${URL_B}/ , ${URL_A}` });
    expect(configuredProvers(cfg)).toEqual([URL_A, URL_B]);
  });

  it("refuses a plain-http prover that is not on loopback, naming PROVER_BASE_URLS", () => {
    expect(() => configWith({ PROVER_BASE_URLS: "http://203.0.113.9:8790" })).toThrow(
      /PROVER_BASE_URLS must be https/,
    );
  });

  it("refuses a PROVER_API_KEYS that is not an object of origin → key (src/prover/keys.ts uses it)", () => {
    expect(() => configWith({ PROVER_API_KEYS: "[1,2]" })).toThrow(/PROVER_API_KEYS/);
    expect(() => configWith({ PROVER_API_KEYS: "{" })).toThrow(/PROVER_API_KEYS/);
  });

  it("names provers by host and port, URL-safe and stable", () => {
    expect(proverId("https://gpu-1.example")).toBe("gpu-1-example");
    expect(proverId("http://127.0.0.1:8790")).toBe("127-0-0-1-8790");
    expect(proverId("http://[::1]:9000")).toBe("1-9000");
  });
});
