// Cancel coordination, put together: decides how a cancel reaches the replica that owns the stream, and answers
// honestly. Each rule lives in its own file:
//  - owner.ts          the owner's side: registrations (checked, refreshed without a per-tick write), finishes, stops
//  - canceller.ts      the canceller's side: local, cross-replica and session-wide cancels, the peers, the answers
//  - poll.ts           the batched safety poll: one round trip per replica per interval, whatever it holds
//  - held-writes.ts    what could not reach Redis, written paced once it is back
//  - confirmations.ts  how the canceller learns the owner stopped the stream: Pub/Sub, or the done markers
// This class keeps the one surface the relay, the cancel API, the listener and the peers call.
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics, StreamOutcome } from '../observability/metrics.ts';
import type { LiveStream, Registry } from '../streams/registry.ts';
import type { Tracing } from '../tracing/spans.ts';
import { Canceller, type CancelAnswer, type PeerCancel } from './canceller.ts';
import { DoneMarkerConfirmations, PubSubConfirmations, type Confirmation, type Confirmations } from './confirmations.ts';
import { HeldWrites } from './held-writes.ts';
import type { StreamRef } from './keys.ts';
import { Owner, type OwnedStream } from './owner.ts';
import { SafetyPoll } from './poll.ts';
import type { CancelStore, RegisterResult } from './store.ts';

export type { CancelAnswer, CancelOutcome, PeerCancel } from './canceller.ts';

export class Coordinator {
  readonly #m: Metrics;
  readonly #memory: boolean;
  readonly #held: HeldWrites;
  readonly #confirmations: Confirmations;
  readonly #owner: Owner;
  readonly #poll: SafetyPoll;
  readonly #canceller: Canceller;
  #closed = false;
  /** Per-chunk mode: one Redis check per chunk (the old design). Fails open. */
  readonly checkChunk: (s: LiveStream) => Promise<boolean>;

  constructor(config: Config, store: CancelStore, registry: Registry, metrics: Metrics, log: Logger) {
    this.#m = metrics;
    this.#memory = config.redis.mode === 'memory';
    this.#held = new HeldWrites(log);
    this.#confirmations = config.cancelMode === 'push'
      ? new PubSubConfirmations(store, config.cancelWaitMs, config.pollIntervalMs)
      : new DoneMarkerConfirmations(store, config.cancelWaitMs);
    this.#owner = new Owner(config, store, registry, this.#held, metrics, log);
    this.#poll = new SafetyPoll(config, store, this.#owner, this.#held, registry, metrics);
    this.#canceller = new Canceller(config, store, registry, this.#confirmations, this.#held, metrics, log);
    this.checkChunk = this.#owner.checkChunk;
  }

  get peers(): PeerCancel | null { return this.#canceller.peers; }
  set peers(p: PeerCancel | null) { this.#canceller.peers = p; }
  get tracing(): Tracing { return this.#canceller.tracing; }
  set tracing(t: Tracing) { this.#canceller.tracing = t; }
  /** Whether Redis is usable right now (connected, circuit closed); always false in single-node mode. */
  get redisUp(): () => boolean { return this.#canceller.redisUp; }
  set redisUp(f: () => boolean) { this.#canceller.redisUp = f; }

  /** Writes held until Redis is usable again (registrations, finishes, cancels). */
  get held(): number { return this.#held.size; }

  start(): void {
    this.#poll.start(this.#memory);
  }

  close(): void {
    this.#closed = true;
    this.#poll.close();
    this.#held.close();
    this.#confirmations.close();
  }

  // ---- the owner's side ----

  streamStarted(s: LiveStream & { ref: StreamRef }, refusesStopped = false): Promise<RegisterResult> {
    return this.#owner.streamStarted(s, refusesStopped);
  }

  streamEnded(s: LiveStream & { ref: StreamRef }, outcome: StreamOutcome): void {
    this.#owner.streamEnded(s as OwnedStream, outcome);
  }

  /** A wake-up from Pub/Sub: some replica asked this one to stop a stream. */
  onWake(ref: StreamRef): void {
    const stopped = this.#owner.stop(ref, 'pubsub');
    this.#m.cancelChecks.inc({ source: 'pubsub', result: stopped ? 'cancel' : 'clear' });
  }

  /** A confirmation from an owner's finish step, for a cancel this replica is waiting on. */
  onConfirm(cancelId: string, messageId: string, c: Confirmation): void {
    this.#confirmations.onConfirm(cancelId, messageId, c);
  }

  /** Whether this replica's heartbeat is in the store (its first poll succeeded) within `boundMs`. */
  firstPoll(boundMs: number): Promise<boolean> {
    return this.#poll.first(boundMs);
  }

  /** One tick of the safety poll now (at most one in flight). */
  poll(): Promise<void> {
    return this.#poll.tick();
  }

  /**
   * Redis is back (the command connection is ready again): poll at once, so the heartbeat is back and a cancel
   * missed while disconnected takes effect now rather than at the next interval; the tick writes what was held.
   */
  async recover(): Promise<void> {
    if (this.#closed) return;
    await this.#poll.tick();
    await this.#held.flush();
  }

  // ---- the canceller's side ----

  cancel(sessionId: string, messageId: string | undefined): Promise<CancelAnswer> {
    return this.#canceller.cancel(sessionId, messageId);
  }

  /** Called by a peer's request on the admin port: stop local streams only. */
  stopLocal(sessionId: string, messageId: string | undefined): Promise<string[]> {
    return this.#canceller.stopLocal(sessionId, messageId);
  }
}
