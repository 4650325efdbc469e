// Cancel coordination: decides how a cancel reaches the replica that owns the stream, and answers honestly.
//  - the owner itself: the local registry, no Redis (path `local`);
//  - another replica: one atomic Lua step sets the flag and wakes the owner on its Pub/Sub channel (path `pubsub`);
//    the owner stops the stream and its `finish` script confirms on the canceller's channel;
//  - a lost message: the batched safety poll (one round trip per replica per interval) finds the flag (path `poll`);
//  - Redis unusable: the peers over the admin port (path `peer`), else `accepted` with `degraded: true`, the
//    cancel held locally and written to Redis on recovery.
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import { RedisUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CancelPath, FallbackReason, Metrics, StreamOutcome } from '../observability/metrics.ts';
import type { LiveStream, Registry } from '../streams/registry.ts';
import type { StreamRef } from './keys.ts';
import type { CancelStore, FinishOutcome, RegisterResult } from './store.ts';
import { tracingOff, type CancelTrace, type Tracing } from '../tracing/spans.ts';

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

/** One confirmation, from the owner's finish step. */
interface Confirmation { readonly outcome: string; readonly owner: string; readonly via: string }

interface Waiter {
  readonly pending: Set<string>; // message ids not yet confirmed
  readonly results: Map<string, Confirmation>;
  readonly done: Promise<void>;
  readonly resolve: () => void;
}

/** Reaches peers over the admin port when Redis cannot (peers.ts). */
export interface PeerCancel {
  readonly enabled: boolean;
  cancel(sessionId: string, messageId: string | undefined): Promise<{ owner: string; messageIds: string[] } | null>;
}

type HeldFinish = { ref: StreamRef; outcome: FinishOutcome; via: string };
// What is held locally while Redis is unusable is bounded: past this, the oldest state is left to its TTL.
const maxHeld = 10_000;

export class Coordinator {
  readonly #c: Config;
  readonly #store: CancelStore;
  readonly #registry: Registry;
  readonly #m: Metrics;
  readonly #log: Logger;
  readonly #waiters = new Map<string, Waiter>();
  readonly #redis: boolean;
  peers: PeerCancel | null = null;
  tracing: Tracing = tracingOff;
  /** Whether Redis is usable right now (connected, circuit closed); always false in single-node mode. */
  redisUp: () => boolean = () => false;
  /** Streams whose registration did not reach Redis; registered on recovery. */
  readonly #unregistered = new Set<LiveStream>();
  /** Finishes that did not reach Redis; written on recovery (bounded). */
  readonly #heldFinishes: HeldFinish[] = [];
  /** Cancels for streams elsewhere that nothing could deliver; written to Redis on recovery (bounded). */
  readonly #heldCancels = new Map<string, { ref: StreamRef; waiter: string }>();
  #pollTimer: NodeJS.Timeout | null = null;
  #polling = false;
  /** Polls until the next TTL refresh (0: refresh at the next poll). Refreshing 4 times per TTL keeps keys alive. */
  #untilRefresh = 0;
  readonly #refreshEvery: number;
  #closed = false;

  constructor(config: Config, store: CancelStore, registry: Registry, metrics: Metrics, log: Logger) {
    this.#c = config;
    this.#store = store;
    this.#registry = registry;
    this.#m = metrics;
    this.#log = log;
    this.#redis = config.redis.mode !== 'memory';
    this.#refreshEvery = Math.max(1, Math.floor((config.streamTtlS * 1000) / config.pollIntervalMs / 4));
  }

  start(): void {
    this.#pollTimer = setInterval(() => void this.poll(), this.#c.pollIntervalMs);
    this.#pollTimer.unref();
  }

  close(): void {
    this.#closed = true;
    if (this.#pollTimer !== null) clearInterval(this.#pollTimer);
    for (const w of this.#waiters.values()) w.resolve();
    this.#waiters.clear();
  }

  // ---- the owner's side: streams start and end ----

  /**
   * A stream (or a candidate) began on this replica: register it. A cancel already waiting stops it at once, and so
   * does a message that was stopped before. Resolves with the store's answer ('registered' when Redis could not be
   * reached: the stream is held for registration on recovery, and streaming goes on).
   */
  streamStarted(s: LiveStream & { ref: StreamRef }, refusesStopped = false): Promise<RegisterResult> {
    return this.#store.register(s.ref, this.#c.nodeId, s.trace).then(
      (result) => {
        // A caller that refuses stopped messages itself (EventSource reconnects: 204) stops nothing here.
        if (result === 'cancel_waiting' || (result === 'already_stopped' && !refusesStopped)) { s.stopVia = 'pending'; void s.stop('cancelled'); }
        return result;
      },
      (err: unknown) => {
        this.#unregistered.add(s);
        this.#fallback('local_registration', err);
        return 'registered';
      },
    );
  }

  /** A stream ended on this replica: clear its registration, mark it done, confirm to any waiting canceller. */
  streamEnded(s: LiveStream & { ref: StreamRef }, outcome: StreamOutcome): void {
    this.#unregistered.delete(s);
    this.#finish({ ref: s.ref, outcome, via: s.stopVia });
  }

  /** The finish step; when Redis cannot take it, it is held (bounded) and written on recovery. */
  #finish(f: HeldFinish): void {
    this.#store.finish(f.ref, this.#c.nodeId, f.outcome, f.via).catch((err: unknown) => {
      if (this.#heldFinishes.length < maxHeld) this.#heldFinishes.push(f);
      this.#fallback('held_finish', err);
    });
  }

  /** Per-chunk mode: one Redis check per chunk (the old design). Fails open. */
  checkChunk = async (s: LiveStream & { ref: StreamRef | null }): Promise<boolean> => {
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

  /** A wake-up from Pub/Sub: some replica asked this one to stop a stream. */
  onWake(ref: StreamRef): void {
    const s = this.#registry.get(ref);
    this.#m.cancelChecks.inc({ source: 'pubsub', result: s !== undefined ? 'cancel' : 'clear' });
    if (s !== undefined) { s.stopVia = 'pubsub'; void s.stop('cancelled'); }
  }

  /** A confirmation from an owner's finish step, for a cancel this replica is waiting on. */
  onConfirm(cancelId: string, messageId: string, c: Confirmation): void {
    const w = this.#waiters.get(cancelId);
    if (w === undefined) return;
    // Kept even when not (yet) expected: a session-wide cancel learns which streams it flagged from its script's
    // reply, and an owner's confirmation, on the other connection, may be read before that reply.
    w.results.set(messageId, c);
    if (w.pending.delete(messageId) && w.pending.size === 0) w.resolve();
  }

  /** The batched safety poll: one round trip for every live stream of this replica; at most one in flight. */
  async poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      const streams: (LiveStream & { ref: StreamRef })[] = [];
      for (const s of this.#registry.all()) if (s.ref !== null && !this.#unregistered.has(s)) streams.push(s as LiveStream & { ref: StreamRef });
      // With no stream to poll, the same tick checks that Redis still answers, so the breaker and
      // stopline_redis_up tell the truth on an idle replica too.
      if (streams.length === 0) {
        await this.#store.ping();
        // Held state is written on recovery; a Redis that refused writes without ever looking down (OOM, a
        // READONLY replica) never "recovers", so a tick that finds Redis answering writes it too.
        if (this.#holding) this.#writeHeld();
        return;
      }
      const refresh = this.#untilRefresh <= 0;
      const { cancelled, missing } = await this.#store.poll(streams.map((s) => s.ref), refresh);
      this.#untilRefresh = refresh ? this.#refreshEvery : this.#untilRefresh - 1;
      if (this.#holding) this.#writeHeld();
      this.#m.cancelChecks.inc({ source: 'poll', result: 'clear' }, streams.length - cancelled.length);
      if (cancelled.length > 0) this.#m.cancelChecks.inc({ source: 'poll', result: 'cancel' }, cancelled.length);
      for (const i of cancelled) {
        const s = streams[i];
        if (s !== undefined && s.stopVia === '') { s.stopVia = 'poll'; void s.stop('cancelled'); }
      }
      // Registrations Redis lost (restarted empty, evicted): write them again.
      for (const i of missing) { const s = streams[i]; if (s !== undefined && !cancelled.includes(i)) void this.streamStarted(s); }
    } catch {
      if (this.#registry.size > 0) this.#m.cancelChecks.inc({ source: 'poll', result: 'error' });
    } finally {
      this.#polling = false;
    }
  }

  /**
   * Redis is back (the command connection is ready again): write what was held locally, then poll at once so a
   * cancel missed while disconnected takes effect now rather than at the next interval.
   */
  async recover(): Promise<void> {
    if (this.#closed) return;
    this.#writeHeld();
    this.#untilRefresh = 0; // Redis may have come back empty: refresh now, and register again what it lost
    await this.poll();
  }

  get #holding(): boolean {
    return this.#unregistered.size + this.#heldFinishes.length + this.#heldCancels.size > 0;
  }

  /** Writes what was held while Redis was unusable; what fails again is held again. */
  #writeHeld(): void {
    const unregistered = [...this.#unregistered];
    this.#unregistered.clear();
    for (const s of unregistered) if (s.ref !== null) void this.streamStarted(s as LiveStream & { ref: StreamRef });
    const finishes = this.#heldFinishes.splice(0);
    for (const f of finishes) this.#finish(f);
    const cancels = [...this.#heldCancels.values()];
    this.#heldCancels.clear();
    for (const h of cancels) {
      this.#store.cancel(h.ref, h.waiter).catch(() => this.#heldCancels.set(`${h.ref.sessionId}\n${h.ref.messageId}`, h));
    }
    if (unregistered.length + finishes.length + cancels.length > 0) {
      this.#log.info('redis usable: held state written', { registrations: unregistered.length, finishes: finishes.length, cancels: cancels.length });
    }
  }

  // ---- the canceller's side ----

  /** A cancel, as its own span linked to the stream(s) it stops (on whichever replica they live). */
  async cancel(sessionId: string, messageId: string | undefined): Promise<CancelAnswer> {
    const span = this.tracing.cancel(sessionId, messageId);
    const answer = await span.run(() => this.#cancel(sessionId, messageId, span));
    span.end(answer.outcome);
    return answer;
  }

  async #cancel(sessionId: string, messageId: string | undefined, span: CancelTrace): Promise<CancelAnswer> {
    const t0 = performance.now();
    const elapsedMs = () => Math.round((performance.now() - t0) * 1000) / 1000;
    if (messageId === undefined) return this.#cancelSession(sessionId, t0, elapsedMs, span);
    const ref = { sessionId, messageId };
    const base = { session_id: sessionId, message_id: messageId };

    // 1. The owner is this replica: no Redis on the way.
    const local = this.#registry.get(ref);
    if (local !== undefined) {
      span.link(local.trace);
      this.#m.cancelChecks.inc({ source: 'local', result: 'cancel' });
      if (this.#redis && !this.redisUp()) this.#fallback('local_cancel', null);
      if (local.stopVia === '') local.stopVia = 'local';
      const did = await this.#bounded(local.stop('cancelled'));
      if (did === 'already_completed') return this.#answer({ ...base, outcome: 'already_completed', owner: this.#c.nodeId, cancel_to_stop_ms: null }, t0);
      return this.#answer({ ...base, outcome: 'stopped', owner: this.#c.nodeId, cancel_to_stop_ms: elapsedMs(), path: 'local' }, t0);
    }

    // 2. Elsewhere: one atomic step in Redis decides live / done / unknown and wakes the owner.
    const cancelId = randomUUID();
    const waiter = this.#wait(cancelId, [messageId]);
    try {
      const d = await this.#store.cancel(ref, `${this.#c.nodeId}\t${cancelId}`);
      if (d.kind === 'done') return this.#answer({ ...base, outcome: 'already_completed', owner: null, cancel_to_stop_ms: null }, t0);
      if (d.kind === 'pending') return this.#answer({ ...base, outcome: 'pending', owner: null, cancel_to_stop_ms: null }, t0);
      span.link(d.stream.trace);
      if (!this.#redis) {
        // Single node: the registry said no live stream here a moment ago, so the store saw it finish just now.
        return this.#answer({ ...base, outcome: 'already_completed', owner: d.stream.owner, cancel_to_stop_ms: null }, t0);
      }
      const confirmed = await this.#confirmation(waiter, ref);
      const c = confirmed?.get(messageId);
      if (c === undefined) return this.#answer({ ...base, outcome: 'accepted', owner: d.stream.owner, cancel_to_stop_ms: null }, t0);
      return this.#answer({
        ...base,
        outcome: c.outcome === 'cancelled' ? 'stopped' : 'already_completed',
        owner: c.owner,
        cancel_to_stop_ms: elapsedMs(),
        path: c.via === 'pubsub' ? 'pubsub' : 'poll',
      }, t0);
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      return this.#degraded(ref, `${this.#c.nodeId}\t${cancelId}`, base, t0, elapsedMs);
    } finally {
      this.#waiters.delete(cancelId);
    }
  }

  async #cancelSession(sessionId: string, t0: number, elapsedMs: () => number, span: CancelTrace): Promise<CancelAnswer> {
    const local = this.#registry.session(sessionId).filter((s) => s.ref !== null);
    for (const s of local) span.link(s.trace);
    const stops = local.map((s) => {
      this.#m.cancelChecks.inc({ source: 'local', result: 'cancel' });
      if (s.stopVia === '') s.stopVia = 'local';
      return s.stop('cancelled').then((did) => { if (did !== 'stopped') localIds.delete(s.ref!.messageId); });
    });
    const localIds = new Set(local.map((s) => s.ref!.messageId));
    let remote: string[] = [];
    let owner: string | null = local.length > 0 ? this.#c.nodeId : null;
    let degraded = false;
    let confirmed = true;
    let path: CancelPath = 'local';
    if (this.#redis) {
      const cancelId = randomUUID();
      try {
        const waiter = this.#wait(cancelId, []);
        const live = await this.#store.cancelSession(sessionId, `${this.#c.nodeId}\t${cancelId}`);
        const others = live.filter((l) => !localIds.has(l.messageId));
        for (const l of others) span.link(l.trace);
        remote = others.map((l) => l.messageId);
        for (const id of remote) waiter.pending.add(id);
        for (const [id] of waiter.results) waiter.pending.delete(id);
        if (others.length > 0) {
          owner ??= others[0]!.owner;
          const results = await this.#confirmation(waiter, null);
          confirmed = results !== null && remote.every((id) => results.has(id));
          path = 'pubsub';
          if (results !== null && [...results.values()].some((c) => c.via !== 'pubsub')) path = 'poll';
        }
      } catch (err) {
        if (!(err instanceof RedisUnavailableError)) throw err;
        degraded = true;
        const viaPeers = await this.#viaPeers(sessionId, undefined);
        if (viaPeers !== null) { remote = viaPeers.messageIds.filter((id) => !localIds.has(id)); owner ??= viaPeers.owner; path = 'peer'; degraded = false; }
      } finally {
        this.#waiters.delete(cancelId);
      }
    }
    await this.#bounded(Promise.all(stops));
    const ids = [...localIds, ...remote];
    const base = { session_id: sessionId, message_id: ids.length === 1 ? ids[0]! : null, message_ids: ids };
    if (ids.length === 0) {
      return this.#answer({ ...base, outcome: degraded ? 'accepted' : 'not_found', owner: null, cancel_to_stop_ms: null, ...(degraded ? { degraded } : {}) }, t0);
    }
    if (!confirmed || degraded) return this.#answer({ ...base, outcome: 'accepted', owner, cancel_to_stop_ms: null, ...(degraded ? { degraded } : {}) }, t0);
    return this.#answer({ ...base, outcome: 'stopped', owner, cancel_to_stop_ms: elapsedMs(), path }, t0);
  }

  /** Redis could not take the cancel: try the peers, else answer accepted/degraded and hold the cancel. */
  async #degraded(ref: StreamRef, waiter: string, base: { session_id: string; message_id: string }, t0: number, elapsedMs: () => number): Promise<CancelAnswer> {
    const viaPeers = await this.#viaPeers(ref.sessionId, ref.messageId);
    if (viaPeers !== null) {
      this.#fallback('peer_cancel', null);
      return this.#answer({ ...base, outcome: 'stopped', owner: viaPeers.owner, cancel_to_stop_ms: elapsedMs(), path: 'peer' }, t0);
    }
    if (this.#heldCancels.size < maxHeld) this.#heldCancels.set(`${ref.sessionId}\n${ref.messageId}`, { ref, waiter });
    this.#fallback('held_cancel', null);
    return this.#answer({ ...base, outcome: 'accepted', owner: null, cancel_to_stop_ms: null, degraded: true }, t0);
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

  #wait(cancelId: string, messageIds: string[]): Waiter {
    const { promise, resolve } = Promise.withResolvers<void>();
    const w: Waiter = { pending: new Set(messageIds), results: new Map(), done: promise, resolve };
    this.#waiters.set(cancelId, w);
    return w;
  }

  /**
   * Waits for the owner's confirmation, at most STOPLINE_CANCEL_WAIT_MS. Push mode hears it on Pub/Sub; the other
   * modes read the done marker with a growing interval (10 ms, 20 ms, ... capped at 200 ms).
   */
  async #confirmation(w: Waiter, ref: StreamRef | null): Promise<Map<string, Confirmation> | null> {
    const done = w.done;
    if (w.pending.size === 0) return w.results;
    const deadline = performance.now() + this.#c.cancelWaitMs;
    if (this.#c.cancelMode === 'push' || ref === null) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        done.then(() => false),
        new Promise<boolean>((r) => { timer = setTimeout(() => r(true), this.#c.cancelWaitMs); }),
      ]);
      clearTimeout(timer);
      return timedOut && w.pending.size > 0 ? (w.results.size > 0 ? w.results : null) : w.results;
    }
    for (let delay = 10; performance.now() < deadline && !this.#closed; delay = Math.min(delay * 2, 200)) {
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - performance.now()))));
      try {
        const outcome = await this.#store.outcome(ref);
        if (outcome !== null) {
          w.results.set(ref.messageId, { outcome, owner: '', via: 'poll' });
          w.pending.delete(ref.messageId);
          return w.results;
        }
      } catch { /* Redis hiccup: keep waiting until the deadline */ }
    }
    return null;
  }

  /** A local stop resolves when the client's response is closed; bounded all the same. */
  async #bounded<T>(p: Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const v = await Promise.race([p, new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), this.#c.cancelWaitMs); })]);
    clearTimeout(timer);
    return v;
  }

  #answer(a: CancelAnswer, t0: number): CancelAnswer {
    this.#m.cancelRequests.inc({ outcome: a.outcome });
    if (a.outcome === 'stopped' && a.path !== undefined) this.#m.cancelToStop.observe({ path: a.path }, (performance.now() - t0) / 1000);
    return a;
  }

  #fallback(reason: FallbackReason, err: unknown): void {
    this.#m.fallbacks.inc({ reason });
    if (err !== null) this.#log.debug('redis unusable; served locally', { reason, err });
  }
}
