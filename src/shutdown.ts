// Shutdown as one ordered drain under deadlines taken at the first signal (the shape of close-with-grace: the timer
// is started before any step runs, so no step can hold the process past it):
//   1. stop taking work: the listener closes, readiness turns 503, idle keep-alive connections close, and every
//      response from here on carries `Connection: close`;
//   2. until STOPLINE_DRAIN_TIMEOUT_S, every drainable finishes by itself: the data server's in-flight exchanges
//      (untracked requests and streams included), the tracked streams, the tunnels;
//   3. then what is still open is ended: tracked streams with their ending, the rest cut;
//   4. `cut` (shutdownTailMs - closeReserveMs later): every connection still open is closed;
//   5. Redis, the upstream pool and the tracing exporter close, all before `end`.
// Waiting costs O(1) per drainable, never a wake-up per stream. A second signal exits at once.
import type { Logger } from './log.ts';

/** Time after the drain window for the endings to reach their clients and for Redis and tracing to close. */
export const shutdownTailMs = 5_000;
/** The part of the tail kept for closing Redis, the upstream pool and the tracing exporter. */
const closeReserveMs = 2_000;

/** Something in flight that the drain waits for: the data server's exchanges, the tracked streams, the tunnels. */
export interface Drainable {
  /** For the log lines: what it holds ("requests", "streams", "tunnels"). */
  readonly name: string;
  readonly size: number;
  /** Resolves once nothing is in flight (at once when nothing is). */
  idle(): Promise<void>;
  /** The drain window is over: end what is still open. */
  closeAll(): void;
}

export interface Deadlines {
  /** The end of the drain window: what is still open is ended. */
  readonly drain: AbortSignal;
  /** Every connection still open is closed. */
  readonly cut: AbortSignal;
  /** The end of the whole shutdown. */
  readonly end: AbortSignal;
}

export function deadlines(drainMs: number): Deadlines {
  return {
    drain: AbortSignal.timeout(drainMs),
    cut: AbortSignal.timeout(drainMs + shutdownTailMs - closeReserveMs),
    end: AbortSignal.timeout(drainMs + shutdownTailMs),
  };
}

/** `p`, or undefined once `signal` aborts, whichever comes first; the abort listener is removed either way. */
export async function beforeAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return undefined;
  const { promise, resolve } = Promise.withResolvers<undefined>();
  const onAbort = () => resolve(undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.race([p, promise]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Waits until every drainable is idle (true) or `until` aborts (false). Wakes once per idle drainable, not per item. */
export async function drained(ds: readonly Drainable[], until: AbortSignal): Promise<boolean> {
  for (;;) {
    const busy = ds.filter((d) => d.size > 0);
    if (busy.length === 0) return true;
    if (until.aborted) return false;
    // A drainable can fill again after it was idle (a request on a kept-alive connection): then this loops.
    await beforeAbort(Promise.all(busy.map((d) => d.idle())), until);
  }
}

export const sizes = (ds: readonly Drainable[]) => Object.fromEntries(ds.map((d) => [d.name, d.size]));

/**
 * Runs `shutdown` on the first SIGTERM or SIGINT with fresh deadlines. A second signal exits at once (1); so does a
 * shutdown still running at `end` (1). A shutdown that finished lets the process end by itself (0); should anything
 * still hold it 5 s later, that is logged and the process exits all the same (0).
 */
export function onSignals(log: Logger, drainMs: number, shutdown: (d: Deadlines) => Promise<void>): void {
  let started = false;
  let finished = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (started) {
      log.warn('second signal: exiting at once', { signal });
      process.exit(1);
    }
    started = true;
    const d = deadlines(drainMs);
    d.end.addEventListener('abort', () => {
      if (finished) return;
      log.error('shutdown deadline passed: exiting', { resources: process.getActiveResourcesInfo() });
      process.exit(1);
    }, { once: true });
    log.info('signal received: draining', { signal });
    shutdown(d).then(
      () => {
        finished = true;
        process.exitCode = 0;
        setTimeout(() => {
          log.warn('still open after shutdown; exiting', { resources: process.getActiveResourcesInfo() });
          process.exit(0);
        }, 5_000).unref();
      },
      (err: unknown) => { log.error('drain failed', { err }); process.exit(1); },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
