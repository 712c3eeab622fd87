import { configFrom } from "../core/config.ts";
import { isHeld, newProver, type ProverRecord } from "../core/fleet.ts";
import { proverView, type ProverView } from "../core/prover-view.ts";
import { resumeProver } from "../core/quarantine.ts";
import { keyringOf } from "../prover/keys.ts";
import { pump, type Dispatch } from "./pump.ts";

/**
 * What operators do to the fleet (src/http/admin.ts, through the dispatcher's RPCs): list, add,
 * drain, resume and remove provers. Every change that can free a prover moves the line.
 */

export type ProverChange =
  | { kind: "ok"; prover: ProverView }
  | { kind: "not_found" }
  | { kind: "exists"; prover: ProverView }
  | { kind: "proving"; prover: ProverView }
  | { kind: "configured"; prover: ProverView };

const viewOf = (d: Dispatch, p: ProverRecord) => proverView(p, Date.now(), configFrom(d.env));

/** Every prover with its state and why. */
export function listProvers(d: Dispatch): ProverView[] {
  const cfg = configFrom(d.env);
  d.provers.sync(cfg);
  const now = Date.now();
  return d.provers.all().map((p) => proverView(p, now, cfg));
}

/**
 * Adds a prover at runtime (kept in storage; the URL is checked by the caller) with its own
 * `apiKey`, or none: a runtime prover never gets the configured keys. The key is kept apart
 * from the prover's row (src/prover/keys.ts): no view or log line carries it.
 */
export async function addProver(d: Dispatch, url: string, apiKey?: string): Promise<ProverChange> {
  const existing = d.provers.load(url);
  if (existing) return { kind: "exists", prover: viewOf(d, existing) };
  keyringOf(d.storage.sql).set(url, apiKey ?? null);
  const p = newProver(url, "runtime");
  d.provers.save(p);
  await pump(d);
  return { kind: "ok", prover: viewOf(d, d.provers.load(url) ?? p) };
}

/** Drain: the prover finishes the proof it has and gets no new one. `resume` undoes it. */
export async function setDraining(
  d: Dispatch,
  id: string,
  draining: boolean,
): Promise<ProverChange> {
  const p = d.provers.byId(id);
  if (!p) return { kind: "not_found" };
  d.provers.save({ ...p, draining });
  if (!draining) await pump(d);
  return { kind: "ok", prover: viewOf(d, d.provers.load(p.url)!) };
}

/** An operator resumes the prover: no longer drained nor quarantined; it may get work again. */
export async function resume(d: Dispatch, id: string): Promise<ProverChange> {
  const p = d.provers.byId(id);
  if (!p) return { kind: "not_found" };
  d.provers.save(resumeProver(p));
  if (p.quarantine) {
    console.log(JSON.stringify({ event: "prover_resumed", prover: p.url, wasQuarantined: true }));
  }
  await pump(d);
  return { kind: "ok", prover: viewOf(d, d.provers.load(p.url)!) };
}

/** Removes a runtime-added prover once it is idle; configured ones can only be drained. */
export function removeProver(d: Dispatch, id: string): ProverChange {
  const p = d.provers.byId(id);
  if (!p) return { kind: "not_found" };
  const view = viewOf(d, p);
  if (p.source === "config") return { kind: "configured", prover: view };
  if (isHeld(p)) return { kind: "proving", prover: view };
  d.provers.delete(p.url);
  keyringOf(d.storage.sql).delete(p.url);
  return { kind: "ok", prover: view };
}
