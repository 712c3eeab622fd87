import { configFrom, type Config } from "../core/config.ts";
import { proverState } from "../core/fleet.ts";
import { healthCheckDue, onHealth } from "../core/prover-health.ts";
import { free, grant } from "../core/prover-work.ts";
import {
  earlyProbeDue,
  endingHoldOver,
  holderCheckDue,
  lineWakeAt,
  nextGrant,
  onHolderChecked,
} from "../core/grants.ts";
import { moveAlarm, slotCooldownUntil } from "../core/line-timing.ts";
import { ProverClient } from "../prover/client.ts";
import { sendJob } from "../queue/send.ts";
import type { Line } from "../storage/line-table.ts";
import { waitingOf } from "../storage/waiting-row.ts";
import type { ProverTable } from "../storage/prover-table.ts";

/**
 * How the line moves: the dispatcher's (src/objects/prover-dispatcher.ts) I/O around the grant
 * rules of src/core/grants.ts: grants sent through the queue, `/health` reads, holder checks,
 * and its single alarm armed from what the line wants next.
 */

/** What moving the line touches: the dispatcher's env, storage (its alarm), line and provers. */
export interface Dispatch {
  env: Env;
  storage: DurableObjectStorage;
  line: Line;
  provers: ProverTable;
}

/**
 * Gives every available prover to the head of the line, reading `/health` first where a
 * reading is due. Each granted job is sent through the queue to be submitted, except
 * `caller`, which is asking right now and is told by the return value (the prover URL).
 */
export async function pump(d: Dispatch, caller?: string): Promise<string | null> {
  const cfg = configFrom(d.env);
  d.provers.sync(cfg);
  // A hold for an ended job's proof that nothing ended is over at the clean-up's own limit.
  const started = Date.now();
  for (const p of d.provers.all().filter((x) => endingHoldOver(x, started, cfg))) {
    d.provers.save(free(p));
  }
  let callerGrant: string | null = null;
  let checked = false;
  for (;;) {
    const now = Date.now();
    const candidates = d.line.candidates();
    if (candidates.length === 0) break;
    const provers = d.provers.all();
    const next = nextGrant(candidates.map(waitingOf), provers, now, cfg);
    if (!next) {
      // Nobody can take one: read the health of those that are due (once per pump), then
      // retry; an open circuit keeping the only prover that answers idle is probed too.
      const waiting = d.line.count();
      const due = provers.filter(
        (p) => healthCheckDue(p, now, cfg) || earlyProbeDue(p, provers, waiting, now, cfg),
      );
      if (checked || due.length === 0) break;
      checked = true;
      await Promise.all(due.map((p) => checkHealth(d, p.url, cfg)));
      continue;
    }
    const head = candidates.find((c) => c.job_id === next.jobId)!;
    const chosen = provers.find((p) => p.url === next.url)!;
    d.line.dequeue(head.job_id);
    d.line.served(head.client, now);
    d.provers.save(grant(chosen, head.job_id, now));
    console.log(
      JSON.stringify({
        event: "prover_slot_granted",
        jobId: head.job_id,
        prover: chosen.url,
        waitedMs: now - head.arrived_at,
        ...(next.fallback ? { fallback: true } : {}),
      }),
    );
    if (head.job_id === caller) {
      callerGrant = chosen.url;
      continue;
    }
    try {
      await sendJob(d.env, head.job_id);
    } catch (e) {
      // Could not start it: give the prover back and put the job back in line; the alarm tries again.
      console.error(
        JSON.stringify({ event: "dispatcher_send_failed", jobId: head.job_id, error: String(e) }),
      );
      const current = d.provers.load(chosen.url);
      if (current?.holder === head.job_id) {
        d.provers.save(free(current, slotCooldownUntil(Date.now(), cfg)));
      }
      const w = waitingOf(head);
      d.line.enqueue(head.job_id, head.arrived_at, head.avoid_url, head.priority === 0);
      if (w.exclude.length) d.line.enqueue(head.job_id, 0, null, true, w.exclude, w.backAt);
      break;
    }
  }
  await arm(d, cfg);
  return callerGrant;
}

/**
 * Asks each holder not checked for a poll budget whether it still needs its prover (a holder
 * that ended without telling us must not block the line); one that does not frees it.
 */
export async function checkHolders(d: Dispatch, cfg: Config): Promise<void> {
  const started = Date.now();
  for (const p of d.provers.all().filter((x) => holderCheckDue(x, started, cfg))) {
    const holder = p.holder!;
    let needed = true;
    try {
      needed = await d.env.JOB.getByName(holder).needsProver();
    } catch (e) {
      console.error(
        JSON.stringify({
          event: "dispatcher_holder_check_failed",
          jobId: holder,
          error: String(e),
        }),
      );
    }
    const current = d.provers.load(p.url);
    if (current) d.provers.save(onHolderChecked(current, holder, needed, Date.now()));
  }
}

/** Reads one prover's `/health` and records what it means (a failed read is a fault). */
async function checkHealth(d: Dispatch, url: string, cfg: Config): Promise<void> {
  const reading = await new ProverClient(cfg, url).health();
  const current = d.provers.load(url);
  if (!current) return;
  const { busy: _busy, ...health } = reading;
  const next = onHealth(current, health, Date.now(), cfg);
  d.provers.save(next);
  const before = current.health;
  if (!before || before.reachable !== health.reachable || before.compatible !== health.compatible) {
    console.log(
      JSON.stringify({
        event: "prover_health",
        prover: url,
        state: proverState(next, Date.now(), cfg).state,
        problems: health.problems,
      }),
    );
  }
}

/** Sets (or deletes) the alarm for when the line wants to move next (src/core/grants.ts). */
async function arm(d: Dispatch, cfg: Config): Promise<void> {
  const now = Date.now();
  const excluding = d.line.excluding().map(waitingOf);
  const at = lineWakeAt(d.provers.all(), excluding, d.line.count(), now, cfg);
  if (at === null) await d.storage.deleteAlarm();
  else if (moveAlarm(await d.storage.getAlarm(), at, now)) await d.storage.setAlarm(at);
}
