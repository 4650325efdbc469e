// The canceller's side: a cancel that reached this replica, answered honestly.
//  - the owner is this replica: the local registry, no Redis (path `local`);
//  - another replica: the session's Lua step sets the flag (the truth), wakes the owner (push mode) and hands the
//    cancel to the owner's inbox (read by its poll); the owner's confirmation comes by the mode's strategy
//    (confirmations.ts): path `pubsub` or `poll`;
//  - Redis unusable: the peers over the admin port (path `peer`), else `accepted` with `degraded: true`. Either way
//    the cancel is held (held-writes.ts) and written once Redis is back, single and session-wide alike; a held
//    session-wide cancel only stops streams that started before it was made.
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import { RedisUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CancelPath, Metrics } from '../observability/metrics.ts';
import type { LiveStream, Registry, StopResult } from '../streams/registry.ts';
import { tracingOff, type CancelTrace, type Tracing } from '../tracing/spans.ts';
import type { Confirmations } from './confirmations.ts';
import type { HeldWrites } from './held-writes.ts';
import { countFallback } from './owner.ts';
import type { CancelStore } from './store.ts';

export type CancelOutcome = 'stopped' | 'already_completed' | 'pending' | 'accepted' | 'not_found';

export interface CancelAnswer {
  readonly outcome: CancelOutcome;
  readonly session_id: string;
  readonly message_id: string | null;
  readonly message_ids?: readonly string[];
  readonly owner: string | null;
  readonly cancel_to_stop_ms: number | null;
  readonly path?: CancelPath;
  readonly degraded?: boolean;
}

/** Reaches peers over the admin port when Redis cannot (peers.ts). */
export interface PeerCancel {
  readonly enabled: boolean;
  cancel(sessionId: string, messageId: string | undefined): Promise<{ owner: string; messageIds: string[] } | null>;
}

/** A cancel being answered: when it came, and how long ago. */
class Clock {
  readonly t0 = performance.now();
  readonly atMs = Date.now();
  elapsedMs(): number { return Math.round((performance.now() - this.t0) * 1000) / 1000; }
}

export class Canceller {
  readonly #c: Config;
  readonly #store: CancelStore;
  readonly #registry: Registry;
  readonly #confirmations: Confirmations;
  readonly #held: HeldWrites;
  readonly #m: Metrics;
  readonly #log: Logger;
  readonly #redis: boolean;
  peers: PeerCancel | null = null;
  tracing: Tracing = tracingOff;
  /** Whether Redis is usable right now (connected, circuit closed); always false in single-node mode. */
  redisUp: () => boolean = () => false;

  constructor(config: Config, store: CancelStore, registry: Registry, confirmations: Confirmations, held: HeldWrites, metrics: Metrics, log: Logger) {
    this.#c = config;
    this.#store = store;
    this.#registry = registry;
    this.#confirmations = confirmations;
    this.#held = held;
    this.#m = metrics;
    this.#log = log;
    this.#redis = config.redis.mode !== 'memory';
  }

  /** A cancel, as its own span linked to the stream(s) it stops (on whichever replica they live). */
  async cancel(sessionId: string, messageId: string | undefined): Promise<CancelAnswer> {
    const span = this.tracing.cancel(sessionId, messageId);
    const clock = new Clock();
    const answer = await span.run(() => (messageId === undefined ? this.#session(sessionId, clock, span) : this.#one(sessionId, messageId, clock, span)));
    span.end(answer.outcome);
    return answer;
  }

  #stopHere(s: LiveStream): Promise<StopResult> {
    this.#m.cancelChecks.inc({ source: 'local', result: 'cancel' });
    if (s.stopVia === '') s.stopVia = 'local';
    return s.stop('cancelled');
  }

  async #one(sessionId: string, messageId: string, clock: Clock, span: CancelTrace): Promise<CancelAnswer> {
    const ref = { sessionId, messageId };
    const base = { session_id: sessionId, message_id: messageId };

    // 1. The owner is this replica: no Redis on the way.
    const local = this.#registry.get(ref);
    if (local !== undefined) {
      span.link(local.trace);
      if (this.#redis && !this.redisUp()) this.#fallback('local_cancel', null);
      const did = await this.#bounded(this.#stopHere(local));
      if (did === 'already_completed') return this.#answer({ ...base, outcome: 'already_completed', owner: this.#c.nodeId, cancel_to_stop_ms: null }, clock);
      return this.#answer({ ...base, outcome: 'stopped', owner: this.#c.nodeId, cancel_to_stop_ms: clock.elapsedMs(), path: 'local' }, clock);
    }

    // 2. Elsewhere: one atomic step in Redis decides live / done / unknown and hands the cancel to the owner.
    const cancelId = randomUUID();
    const waiter = `${this.#c.nodeId}\t${cancelId}`;
    const wait = this.#confirmations.open(cancelId);
    try {
      const d = await this.#store.cancel(ref, waiter);
      if (d.kind === 'done') return this.#answer({ ...base, outcome: 'already_completed', owner: null, cancel_to_stop_ms: null }, clock);
      if (d.kind === 'pending') return this.#answer({ ...base, outcome: 'pending', owner: null, cancel_to_stop_ms: null }, clock);
      span.link(d.stream.trace);
      if (!this.#redis) {
        // Single node: the registry said no live stream here a moment ago, so the store saw it finish just now.
        return this.#answer({ ...base, outcome: 'already_completed', owner: d.stream.owner, cancel_to_stop_ms: null }, clock);
      }
      const c = (await wait.for(sessionId, [messageId])).get(messageId);
      if (c === undefined) return this.#answer({ ...base, outcome: 'accepted', owner: d.stream.owner, cancel_to_stop_ms: null }, clock);
      return this.#answer({
        ...base,
        outcome: c.outcome === 'cancelled' ? 'stopped' : 'already_completed',
        owner: c.owner || d.stream.owner,
        cancel_to_stop_ms: clock.elapsedMs(),
        path: c.via === 'pubsub' ? 'pubsub' : 'poll',
      }, clock);
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      return this.#degraded(ref, waiter, base, clock);
    } finally {
      wait.end();
    }
  }

  async #session(sessionId: string, clock: Clock, span: CancelTrace): Promise<CancelAnswer> {
    const local = this.#registry.session(sessionId).filter((s) => s.ref !== null);
    for (const s of local) span.link(s.trace);
    // A local stream that turns out to have ended first is not reported as stopped.
    const stops = local.map((s) => this.#stopHere(s).then((did) => { if (did !== 'stopped') localIds.delete(s.ref!.messageId); }));
    const localIds = new Set(local.map((s) => s.ref!.messageId));
    let remote: string[] = [];
    let owner: string | null = local.length > 0 ? this.#c.nodeId : null;
    let degraded = false;
    let confirmed = true;
    let path: CancelPath = 'local';
    if (this.#redis) {
      const cancelId = randomUUID();
      const waiter = `${this.#c.nodeId}\t${cancelId}`;
      const wait = this.#confirmations.open(cancelId);
      // The streams this cancel is for: those that started before it was received. A step that runs late (past
      // its bound, or held through an outage) must not stop a message the client started after this cancel.
      const startedBefore = clock.atMs;
      try {
        const others = (await this.#store.cancelSession(sessionId, waiter, startedBefore)).filter((l) => !localIds.has(l.messageId));
        for (const l of others) span.link(l.trace);
        remote = others.map((l) => l.messageId);
        if (others.length > 0) {
          owner ??= others[0]!.owner;
          const results = await wait.for(sessionId, remote);
          confirmed = remote.every((id) => results.has(id));
          path = [...results.values()].some((c) => c.via !== 'pubsub') ? 'poll' : 'pubsub';
        }
      } catch (err) {
        if (!(err instanceof RedisUnavailableError)) throw err;
        degraded = true;
        // Held like a single cancel, with the same bound in time.
        this.#hold(`s\n${sessionId}`, () => this.#store.cancelSession(sessionId, waiter, startedBefore));
        const viaPeers = await this.#viaPeers(sessionId, undefined);
        if (viaPeers !== null) { remote = viaPeers.messageIds.filter((id) => !localIds.has(id)); owner ??= viaPeers.owner; path = 'peer'; degraded = false; }
      } finally {
        wait.end();
      }
    }
    await this.#bounded(Promise.all(stops));
    const ids = [...localIds, ...remote];
    const base = { session_id: sessionId, message_id: ids.length === 1 ? ids[0]! : null, message_ids: ids };
    if (ids.length === 0) {
      return this.#answer({ ...base, outcome: degraded ? 'accepted' : 'not_found', owner: null, cancel_to_stop_ms: null, ...(degraded ? { degraded } : {}) }, clock);
    }
    if (!confirmed || degraded) return this.#answer({ ...base, outcome: 'accepted', owner, cancel_to_stop_ms: null, ...(degraded ? { degraded } : {}) }, clock);
    return this.#answer({ ...base, outcome: 'stopped', owner, cancel_to_stop_ms: clock.elapsedMs(), path }, clock);
  }

  /** Redis could not take the cancel: try the peers, else answer accepted/degraded and hold the cancel. */
  async #degraded(ref: { sessionId: string; messageId: string }, waiter: string, base: { session_id: string; message_id: string }, clock: Clock): Promise<CancelAnswer> {
    const viaPeers = await this.#viaPeers(ref.sessionId, ref.messageId);
    if (viaPeers !== null) {
      this.#fallback('peer_cancel', null);
      return this.#answer({ ...base, outcome: 'stopped', owner: viaPeers.owner, cancel_to_stop_ms: clock.elapsedMs(), path: 'peer' }, clock);
    }
    this.#hold(`c\n${ref.sessionId}\n${ref.messageId}`, () => this.#store.cancel(ref, waiter));
    return this.#answer({ ...base, outcome: 'accepted', owner: null, cancel_to_stop_ms: null, degraded: true }, clock);
  }

  #hold(key: string, write: () => Promise<unknown>): void {
    this.#held.hold(key, 'cancel', write);
    this.#fallback('held_cancel', null);
  }

  async #viaPeers(sessionId: string, messageId: string | undefined): Promise<{ owner: string; messageIds: string[] } | null> {
    if (this.peers === null || !this.peers.enabled) return null;
    try {
      const r = await this.peers.cancel(sessionId, messageId);
      this.#m.cancelChecks.inc({ source: 'peer', result: r !== null ? 'cancel' : 'clear' });
      return r;
    } catch {
      this.#m.cancelChecks.inc({ source: 'peer', result: 'error' });
      return null;
    }
  }

  /** Called by a peer's request on the admin port: stop local streams only. */
  async stopLocal(sessionId: string, messageId: string | undefined): Promise<string[]> {
    const targets = messageId !== undefined
      ? [this.#registry.get({ sessionId, messageId })].filter((s) => s !== undefined)
      : this.#registry.session(sessionId).filter((s) => s.ref !== null);
    for (const s of targets) if (s.stopVia === '') s.stopVia = 'peer';
    const ended = new Set<LiveStream>();
    await this.#bounded(Promise.all(targets.map((s) => s.stop('cancelled').then((did) => { if (did !== 'stopped') ended.add(s); }))));
    return targets.filter((s) => !ended.has(s)).map((s) => s.ref!.messageId);
  }

  /** A local stop resolves when the client's response is closed; bounded all the same. */
  async #bounded<T>(p: Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const v = await Promise.race([p, new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), this.#c.cancelWaitMs); })]);
    clearTimeout(timer);
    return v;
  }

  #answer(a: CancelAnswer, clock: Clock): CancelAnswer {
    this.#m.cancelRequests.inc({ outcome: a.outcome });
    if (a.outcome === 'stopped' && a.path !== undefined) this.#m.cancelToStop.observe({ path: a.path }, (performance.now() - clock.t0) / 1000);
    return a;
  }

  #fallback(reason: Parameters<typeof countFallback>[2], err: unknown): void {
    countFallback(this.#m, this.#log, reason, err);
  }
}
