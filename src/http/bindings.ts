import { DependencyError, type Dependency } from "./errors.ts";

/**
 * The bindings as the routes see them. Every call to R2, a queue or a Durable Object (an RPC
 * method, or `fetch`) that fails — a binding that throws, a storage error, an object that was
 * reset or is overloaded — throws a `DependencyError` naming which, so that `app.onError`
 * answers `503` with `Retry-After` and a stable code (`storage_unavailable`,
 * `queue_unavailable`, `object_unavailable`) instead of a `500`. A route that can do without one
 * (the rate limiter, the line's count) still catches it where it calls it.
 */
const GUARDED: Partial<Record<keyof Env, Dependency>> = {
  TAPES: "storage",
  JOBS_QUEUE: "queue",
  WEBHOOKS_QUEUE: "queue",
  JOB: "object",
  DISPATCHER: "object",
  JOB_INDEX: "object",
};

const guardedEnvs = new WeakMap<Env, Env>();

/**
 * `env` with its R2, queue and Durable Object bindings guarded; the same object for the same
 * `env` (config parsing and caches are kept per env object).
 */
export function guardedEnv(env: Env): Env {
  let guarded = guardedEnvs.get(env);
  if (!guarded) {
    guarded = { ...env };
    for (const [name, dependency] of Object.entries(GUARDED) as [keyof Env, Dependency][]) {
      const binding = env[name] as unknown;
      if (binding && typeof binding === "object") {
        (guarded as unknown as Record<string, unknown>)[name] =
          dependency === "object"
            ? guardNamespace(binding as DurableObjectNamespace, dependency)
            : guardCalls(binding, dependency);
      }
    }
    guardedEnvs.set(env, guarded);
  }
  return guarded;
}

/** Awaits `call`; any failure, thrown or rejected, becomes a `DependencyError`. */
async function guard<T>(dependency: Dependency, call: () => T): Promise<Awaited<T>> {
  try {
    return await call();
  } catch (e) {
    throw e instanceof DependencyError ? e : new DependencyError(dependency, e);
  }
}

/** Every method of `target` guarded (R2 buckets, queues, Durable Object stubs). */
function guardCalls<T extends object>(target: T, dependency: Dependency): T {
  return new Proxy(target, {
    get(t, prop) {
      const value = Reflect.get(t, prop) as unknown;
      if (typeof value !== "function" || prop === "then") return value;
      return (...args: unknown[]) =>
        // Reflect.apply: an RPC method is a proxy whose own `.apply` would be a remote call.
        guard(dependency, () => Reflect.apply(value as (...a: unknown[]) => unknown, t, args));
    },
  });
}

/** A namespace whose stubs (`getByName`, `get`) have every method guarded. */
function guardNamespace(ns: DurableObjectNamespace, dependency: Dependency) {
  return new Proxy(ns, {
    get(t, prop) {
      const value = Reflect.get(t, prop) as unknown;
      if (typeof value !== "function") return value;
      const call = (...args: unknown[]) =>
        Reflect.apply(value as (...a: unknown[]) => unknown, t, args);
      if (prop !== "getByName" && prop !== "get") return call;
      return (...args: unknown[]) => {
        let stub: unknown;
        try {
          stub = call(...args);
        } catch (e) {
          throw new DependencyError(dependency, e);
        }
        return guardCalls(stub as object, dependency);
      };
    },
  });
}
