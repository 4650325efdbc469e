// The batched safety poll: once per STOPLINE_POLL_INTERVAL_MS, ONE round trip per replica whatever the number of its
// live streams (poll-3.lua on the replica's own keys: one hash slot, so one round trip in Cluster too). Pub/Sub is
// a hint and the flag is the truth; the poll is what bounds the worst case when a wake-up is lost, and in `poll`
// mode it is the only delivery. Per tick it costs:
//  - Redis: one EVALSHA running SET (heartbeat), GET + SET (state marker), XTRIM + XRANGE (inbox); request and reply
//    are a few hundred bytes, plus ~40 bytes per cancel addressed to this replica since the last tick;
//  - this process: the cancels read, plus the registrations due for a refresh (oldest first, no scan).
// It also finds out that Redis lost this replica's state (the marker is gone, or this replica could not poll for a
// quarter of the TTL, so that registrations may have expired) and then writes every live stream again, paced.
// At most one poll is in flight; with no stream at all it still runs, so the breaker and stopline_redis_up tell
// the truth on an idle replica too, and a Redis that refuses writes (OOM, READONLY) shows as failing.
import type { Config } from '../config.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Registry } from '../streams/registry.ts';
import type { HeldWrites } from './held-writes.ts';
import type { Owner } from './owner.ts';
import { firstCursor, type CancelStore } from './store.ts';

export class SafetyPoll {
  readonly #c: Config;
  readonly #store: CancelStore;
  readonly #owner: Owner;
  readonly #held: HeldWrites;
  readonly #registry: Registry;
  readonly #m: Metrics;
  #timer: NodeJS.Timeout | null = null;
  #polling = false;
  #closed = false;
  #cursor = firstCursor;
  /** When the last poll succeeded (performance.now()); null before the first. */
  #okAt: number | null = null;
  readonly #awayMs: number;
  /** Resolved by the first poll that succeeds: the heartbeat is in the store from then on. */
  #resolveFirst: (() => void) | null = null;
  readonly #first = new Promise<void>((resolve) => { this.#resolveFirst = resolve; });

  constructor(config: Config, store: CancelStore, owner: Owner, held: HeldWrites, registry: Registry, metrics: Metrics) {
    this.#c = config;
    this.#store = store;
    this.#owner = owner;
    this.#held = held;
    this.#registry = registry;
    this.#m = metrics;
    // Registrations are written again at half the TTL: away longer than a quarter, some may have expired.
    this.#awayMs = (config.streamTtlS * 1000) / 4;
  }

  /** Starts the interval; the first tick runs when Redis is ready (recover()), or now with the in-process store. */
  start(now: boolean): void {
    if (now) void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.#c.pollIntervalMs);
    this.#timer.unref();
  }

  /** Whether a poll succeeded (the heartbeat was written) within `boundMs`; waits at most that long. */
  async first(boundMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => { timer = setTimeout(resolve, boundMs, false); });
    try {
      return await Promise.race([this.#first.then(() => true as const), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#closed = true;
    this.#resolveFirst?.();
    if (this.#timer !== null) clearInterval(this.#timer);
  }

  async tick(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      const r = await this.#store.poll(this.#c.nodeId, this.#owner.epoch, this.#cursor);
      const now = performance.now();
      const away = this.#okAt !== null && now - this.#okAt > this.#awayMs;
      this.#okAt = now;
      this.#resolveFirst?.();
      this.#resolveFirst = null;
      this.#cursor = r.cursor;
      let stopped = 0;
      for (const ref of r.cancelled) if (this.#owner.stop(ref, 'poll')) stopped++;
      if (stopped > 0) this.#m.cancelChecks.inc({ source: 'poll', result: 'cancel' }, stopped);
      else this.#m.cancelChecks.inc({ source: 'poll', result: 'clear' });
      if (r.lost || away) this.#owner.registerAgain();
      this.#owner.refreshDue();
      // Held state is written on recovery; a Redis that refused writes without ever looking down (OOM, a
      // READONLY replica) never "recovers", so a tick that finds Redis answering writes it too.
      if (this.#held.size > 0) void this.#held.flush();
    } catch {
      if (this.#registry.size > 0) this.#m.cancelChecks.inc({ source: 'poll', result: 'error' });
    } finally {
      this.#polling = false;
    }
  }
}
