import type { Claim } from "../../core/claim.ts";
import type { Config } from "../../core/config.ts";
import type { Answers, CachedOutlook, JobRequest } from "../../core/flows/io.ts";
import { performEffects } from "../../core/flows/perform.ts";
import type { ResultDocument } from "../../core/job.ts";
import { claimKey, resultKey, tapeKey } from "../../core/r2-keys.ts";
import type { StoreAttempt } from "../../core/steps/result.ts";
import { ProverClient } from "../../prover/client.ts";
import { jobKeyFor, keyFromGrant } from "../../prover/keys.ts";
import { sendJob } from "../../queue/send.ts";
import { verifyProverReceipt } from "../../verify/receipt.ts";
import { clientQuotaOf, releaseClientPlace } from "../client-quota.ts";
import { dispatcherOf } from "../prover-dispatcher.ts";
import { performEffect } from "./effects.ts";
import { CLAIM, PLACE, SUBMIT_LOCK, storedJob, type JobShell } from "./shell.ts";

/**
 * Performs one request of a job's flow against the bindings and answers it (src/core/flows/io.ts
 * says what each asks). Storage reads answer at once, not as a promise, so that nothing runs
 * between a flow's read and the decision it makes on it. A failure is thrown (into the flow).
 */
export function answer(shell: JobShell, r: JobRequest, cfg: Config): unknown {
  const { env, storage } = shell;
  const kv = storage.kv;
  switch (r.kind) {
    case "now":
      return Date.now();
    case "load":
      return storedJob(storage);
    case "lock":
      return kv.get<number>(SUBMIT_LOCK) ?? null;
    case "perform":
      return shell.drive(performEffects(r.jobId, r.effects));
    case "effect":
      return performEffect(shell, r.jobId, r.effect);
    case "broadcast":
      return shell.broadcast();
    case "enqueue":
      return sendJob(env, r.jobId, r.attempt);
    case "admit":
      return dispatcherOf(env).admit(r.jobId, r.arrivedAt, r.client, r.exclude);
    case "whereIs":
      return dispatcherOf(env).whereIs(r.jobId);
    case "outlook":
      return dispatcherOf(env).outlook(r.jobId);
    case "readTape":
      return readTape(env, r.sha256);
    case "submit": {
      // The prover's key comes with the grant and is kept apart from the job (src/prover/keys.ts).
      const url = r.request.proverUrl;
      const key = keyFromGrant(kv, cfg, r.grant, url);
      return new ProverClient(cfg, url, key).submit(r.tape, r.request);
    }
    case "status":
      return new ProverClient(cfg, r.url, jobKeyFor(kv, cfg, r.url)).status(r.proverJobId);
    case "verify":
      return verifyProverReceipt(r.document, r.imageId);
    case "deleteProverJob":
      return new ProverClient(cfg, r.url, jobKeyFor(kv, cfg, r.url)).delete(r.proverJobId);
    case "writeResult":
      return writeResult(env, r.jobId, r.document);
    case "deleteResult":
      return env.TAPES.delete(resultKey(r.jobId));
    case "archived":
      return shell.archived();
    case "keptClaim":
      return kv.get<Claim>(CLAIM) ?? null;
    case "storedClaim":
      return storedClaim(env, r.jobId);
    case "writeClaim":
      return env.TAPES.put(claimKey(r.jobId), JSON.stringify(r.claim), {
        httpMetadata: { contentType: "application/json" },
      });
    case "keepClaim":
      return kv.put(CLAIM, r.claim);
    case "cachedOutlook":
      return kv.get<CachedOutlook>(PLACE) ?? null;
    case "cacheOutlook":
      return kv.put(PLACE, r.cached);
    case "reservePlace":
      return clientQuotaOf(env, r.client).reserve(r.client, r.jobId, r.cap);
    case "releasePlace":
      return releaseClientPlace(env, r.client, r.jobId);
    case "sleep":
      return scheduler.wait(r.ms);
  }
}

async function readTape(env: Env, sha256: string): Promise<Answers["readTape"]> {
  const object = await env.TAPES.get(tapeKey(sha256));
  if (!object) throw new Error(`tape ${sha256} is missing from R2`);
  return new Uint8Array(await object.arrayBuffer());
}

/** The conditional write of the result, and what came of it (src/core/steps/result.ts). */
async function writeResult(
  env: Env,
  jobId: string,
  document: ResultDocument,
): Promise<StoreAttempt> {
  const key = resultKey(jobId);
  try {
    const written = await env.TAPES.put(key, JSON.stringify(document), {
      onlyIf: { etagDoesNotMatch: "*" },
      httpMetadata: { contentType: "application/json" },
    });
    if (written !== null) return { kind: "written" };
    const earlier = await env.TAPES.get(key);
    return { kind: "exists", earlier: earlier ? await earlier.json<ResultDocument>() : null };
  } catch (e) {
    return { kind: "error", message: e instanceof Error ? e.message : String(e) };
  }
}

async function storedClaim(env: Env, jobId: string): Promise<Claim | null> {
  const object = await env.TAPES.get(claimKey(jobId));
  if (!object) return null;
  try {
    return await object.json<Claim>();
  } catch {
    return null;
  }
}
