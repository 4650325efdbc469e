// The owner's side of cancel coordination: the streams of this replica, as Redis knows them. It registers a stream
// when it starts and finishes it when it ends; it stops a stream when a wake-up, the poll or a chunk check says so;
// and it keeps registrations alive without a per-stream write per tick:
//  - liveness is the replica's heartbeat (poll.ts), so a registration's own TTL (STOPLINE_STREAM_TTL_S) only bounds
//    what a replica that died leaves behind; a stream that lives past half of it is written again once per half
//    TTL (the oldest registrations are found at the head of an insertion-ordered map: no scan per tick);
//  - when Redis lost this replica's state, every live stream is written again, paced (held-writes.ts).
// Every write checks that its stream is still live here, and a write made again never overrides a done marker:
// a registration that lands late cannot bring back a stream that ended.
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { FallbackReason, Metrics, StreamOutcome } from '../observability/metrics.ts';
import type { LiveStream, Registry } from '../streams/registry.ts';
import { streamKey } from '../streams/registry.ts';
import type { HeldWrites } from './held-writes.ts';
import type { StreamRef } from './keys.ts';
import type { CancelStore, RegisterResult } from './store.ts';

export type OwnedStream = LiveStream & { readonly ref: StreamRef };

export class Owner {
  /** This process's epoch: the value of its state marker in Redis. */
  readonly epoch = randomUUID();
  readonly #c: Config;
  readonly #store: CancelStore;
  readonly #registry: Registry;
  readonly #held: HeldWrites;
  readonly #m: Metrics;
  readonly #log: Logger;
  /** Streams whose registration Redis took, oldest write first, with when it was written (performance.now()). */
  readonly #written = new Map<OwnedStream, number>();
  readonly #refreshAfterMs: number;

  constructor(config: Config, store: CancelStore, registry: Registry, held: HeldWrites, metrics: Metrics, log: Logger) {
    this.#c = config;
    this.#store = store;
    this.#registry = registry;
    this.#held = held;
    this.#m = metrics;
    this.#log = log;
    this.#refreshAfterMs = (config.streamTtlS * 1000) / 2;
  }

  #live(s: OwnedStream): boolean {
    return this.#registry.get(s.ref) === s;
  }

  /**
   * A stream (or a candidate) began on this replica: register it. A cancel already waiting stops it at once, and so
   * does a message that was stopped before. Resolves with the store's answer ('registered' when Redis could not be
   * reached: the registration is held while the stream lives, and streaming goes on).
   */
  streamStarted(s: OwnedStream, refusesStopped = false): Promise<RegisterResult> {
    return this.#register(s, false).then(
      (result) => {
        // A caller that refuses stopped messages itself (EventSource reconnects: 204) stops nothing here.
        if (result === 'cancel_waiting' || (result === 'already_stopped' && !refusesStopped)) this.stop(s.ref, 'pending');
        return result;
      },
      (err: unknown) => {
        // A registration that failed after its stream ended (a timeout on a short stream) is not held.
        if (this.#live(s)) this.#holdRegistration(s, false);
        this.#fallback('local_registration', err);
        return 'registered';
      },
    );
  }

  async #register(s: OwnedStream, again: boolean): Promise<RegisterResult> {
    const result = await this.#store.register(s.ref, { owner: this.#c.nodeId, trace: s.trace, startedAtMs: Date.now() - (performance.now() - s.startedAt), again });
    if ((result === 'registered' || result === 'cancel_waiting') && this.#live(s)) {
      this.#written.delete(s);
      this.#written.set(s, performance.now());
    }
    return result;
  }

  #holdRegistration(s: OwnedStream, again: boolean): void {
    this.#held.hold(`r\n${streamKey(s.ref)}`, 'registration', async () => {
      if (!this.#live(s)) return; // ended meanwhile: nothing to write
      const result = await this.#register(s, again);
      // A cancel that waited, or a message stopped before (asked again while Redis was out): stop it now.
      if (result === 'cancel_waiting' || result === 'already_stopped') this.stop(s.ref, 'pending');
    });
  }

  /** A stream ended on this replica: clear its registration, mark it done, confirm to any waiting canceller. */
  streamEnded(s: OwnedStream, outcome: StreamOutcome): void {
    this.#written.delete(s);
    this.#held.drop(`r\n${streamKey(s.ref)}`);
    const finish = () => this.#store.finish(s.ref, this.#c.nodeId, outcome, s.stopVia);
    finish().catch((err: unknown) => {
      this.#held.hold(`f\n${streamKey(s.ref)}`, 'finish', finish);
      this.#fallback('held_finish', err);
    });
  }

  /** Stops a live stream of this replica on a cancel that reached it by `via`; false if none, or already stopping. */
  stop(ref: StreamRef, via: string): boolean {
    const s = this.#registry.get(ref);
    if (s === undefined || s.stopVia !== '') return false;
    s.stopVia = via;
    void s.stop('cancelled');
    return true;
  }

  /** Redis lost this replica's state: write every live stream's registration again, paced. */
  registerAgain(): void {
    let n = 0;
    for (const s of this.#registry.all()) {
      if (s.ref === null) continue;
      const o = s as OwnedStream;
      this.#holdRegistration(o, this.#written.has(o));
      n++;
    }
    if (n > 0) this.#log.info('redis lost this replica\'s registrations: writing them again', { streams: n });
  }

  /** Registrations written more than half a TTL ago are written again (held: the flush paces them). */
  refreshDue(): number {
    const cutoff = performance.now() - this.#refreshAfterMs;
    let n = 0;
    for (const [s, at] of this.#written) {
      if (at > cutoff) break;
      this.#written.delete(s);
      this.#holdRegistration(s, true);
      n++;
    }
    return n;
  }

  /** Per-chunk mode: one Redis check per chunk (the old design). Fails open. */
  checkChunk = async (s: LiveStream): Promise<boolean> => {
    if (s.ref === null) return false;
    try {
      const cancelled = await this.#store.check(s.ref);
      this.#m.cancelChecks.inc({ source: 'chunk', result: cancelled ? 'cancel' : 'clear' });
      return cancelled;
    } catch {
      this.#m.cancelChecks.inc({ source: 'chunk', result: 'error' });
      return false;
    }
  };

  #fallback(reason: FallbackReason, err: unknown): void {
    countFallback(this.#m, this.#log, reason, err);
  }
}

/** One operation served without Redis, counted by reason (and the Redis error logged at debug). */
export function countFallback(m: Metrics, log: Logger, reason: FallbackReason, err: unknown): void {
  m.fallbacks.inc({ reason });
  if (err !== null) log.debug('redis unusable; served locally', { reason, err });
}
