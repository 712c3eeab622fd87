import { GatewayError } from "./errors.ts";
import { isTerminalStatus, socketUpdate } from "./parse.ts";
import type { GatewayJob, JobUpdate, SocketConstructor, SocketLike, Transport } from "./types.ts";

export interface WatchOptions {
  /** The first wait between polls, ms (default 1000); it doubles while nothing changes. */
  pollMinMs?: number;
  /** The longest wait between polls, ms (default 10000). */
  pollMaxMs?: number;
  /** While polling, how often to try the socket again, ms (default 15000). */
  socketRetryMs?: number;
  /** Called when updates start coming over the socket, or by polling instead. */
  onTransport?: (transport: Transport) => void;
}

export interface Watch {
  /** Stops watching; `done` then rejects with `watch_closed`. */
  close(): void;
  /**
   * The job once it has ended (succeeded, failed or cancelled). Rejects when the gateway says it
   * cannot know (400 invalid_job_id, 404 job_not_found) or after `close()`.
   */
  done: Promise<GatewayJob>;
}

interface WatchDeps {
  get(jobId: string): Promise<JobUpdate>;
  socketUrl: string;
  /** No constructor (an old browser, a test): polling only. */
  WebSocket: SocketConstructor | undefined;
}

/**
 * Follows a job to its end: over the WebSocket while it is open, by polling `get` (1 s doubling
 * to 10 s while nothing changes, back to 1 s when something does) while it is not, trying the
 * socket again every `socketRetryMs`. The server sends the terminal update, then closes with 1000.
 */
export function watchJob(
  deps: WatchDeps,
  jobId: string,
  onUpdate: (update: JobUpdate) => void,
  opts: WatchOptions = {},
): Watch {
  const pollMin = opts.pollMinMs ?? 1_000;
  const pollMax = opts.pollMaxMs ?? 10_000;
  const socketRetry = opts.socketRetryMs ?? 15_000;

  let ended = false;
  let socket: SocketLike | null = null;
  let polling = false;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let delay = pollMin;
  let lastSocketTry = 0;
  let last: string | undefined;
  let transport: Transport | undefined;

  let resolve!: (job: GatewayJob) => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<GatewayJob>((res, rej) => ((resolve = res), (reject = rej)));
  // A caller that never awaits `done` must not get an unhandled rejection from close().
  done.catch(() => {});

  const use = (t: Transport) => {
    if (t === transport) return;
    transport = t;
    opts.onTransport?.(t);
  };

  const dropSocket = () => {
    const s = socket;
    socket = null;
    if (!s) return;
    s.onopen = s.onmessage = s.onerror = s.onclose = null;
    try {
      s.close(1000);
    } catch {
      // already closing
    }
  };

  const end = () => {
    ended = true;
    stopPolling();
    dropSocket();
  };

  /** Passes an update on; returns whether the player sees a change (status, place in line). */
  const deliver = (u: JobUpdate): boolean => {
    const key = `${u.job.attempt}|${u.job.status}|${u.job.prover?.status}|${u.queue?.ahead}`;
    const changed = key !== last;
    last = key;
    try {
      onUpdate(u);
    } catch (e) {
      // The caller's bug must not stop the watch; report it as an uncaught error.
      queueMicrotask(() => {
        throw e;
      });
    }
    if (isTerminalStatus(u.job.status)) {
      end();
      resolve(u.job);
    }
    return changed;
  };

  const openSocket = () => {
    if (ended || socket || !deps.WebSocket) return;
    lastSocketTry = Date.now();
    let s: SocketLike;
    try {
      s = new deps.WebSocket(deps.socketUrl);
    } catch {
      startPolling();
      return;
    }
    socket = s;
    s.onopen = () => {
      stopPolling();
      use("socket");
    };
    s.onmessage = (ev) => {
      const u = socketUpdate(ev.data);
      if (u) deliver(u);
    };
    // Dropped before the job ended (or never opened): poll until the socket works again.
    s.onerror = s.onclose = () => {
      dropSocket();
      startPolling();
    };
  };

  const startPolling = () => {
    if (ended || polling) return;
    polling = true;
    delay = pollMin;
    use("polling");
    pollTimer = setTimeout(poll, 0);
  };

  function stopPolling() {
    polling = false;
    clearTimeout(pollTimer);
    pollTimer = undefined;
  }

  async function poll() {
    pollTimer = undefined;
    let wait: number;
    try {
      const u = await deps.get(jobId);
      // The socket took over (or the watch ended) while the answer was on its way: it is older.
      if (ended || !polling) return;
      const changed = deliver(u);
      if (ended) return;
      delay = changed ? pollMin : Math.min(pollMax, delay * 2);
      wait = delay;
    } catch (e) {
      if (ended || !polling) return;
      if (e instanceof GatewayError && (e.status === 400 || e.status === 404)) {
        end();
        reject(e);
        return;
      }
      // No answer, a 5xx or a 429: back off, at least as long as Retry-After asks.
      delay = Math.min(pollMax, delay * 2);
      wait = Math.max(delay, ((e instanceof GatewayError && e.retryAfterSeconds) || 0) * 1000);
    }
    if (Date.now() - lastSocketTry >= socketRetry) openSocket();
    if (polling) pollTimer = setTimeout(poll, wait);
  }

  if (deps.WebSocket) openSocket();
  else startPolling();

  return {
    close() {
      if (ended) return;
      end();
      reject(new GatewayError(0, "watch_closed", "the watch was closed before the job ended"));
    },
    done,
  };
}
