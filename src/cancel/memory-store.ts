// The in-process cancel store for single-node mode (no STOPLINE_REDIS_URL). Same semantics as the Redis store,
// TTLs, heartbeats and inboxes included: entries expire lazily on read and are swept by the safety poll, so
// nothing grows without bound.
import type { StreamRef } from './keys.ts';
import {
  firstCursor, type ActiveStream, type CancelDecision, type CancelStore, type DoneMarker, type FinishOutcome, type PollResult,
  type RegisterResult, type Registration,
} from './store.ts';

type Timed<T> = { value: T; expiresAt: number };
type Live = { owner: string; trace: string; startedAtMs: number };
type Inbox = { seq: number; entries: { id: number; ref: StreamRef }[] };
const maxWaiters = 16;
const maxInbox = 10_000;
const maxReadPerPoll = 1_000;

export class MemoryStore implements CancelStore {
  readonly #ttlMs: number;
  readonly #heartbeatMs: number;
  readonly #now: () => number;
  readonly #live = new Map<string, Timed<Live>>();
  readonly #sessions = new Map<string, Set<string>>();
  readonly #flags = new Map<string, Timed<string[]>>();
  readonly #done = new Map<string, Timed<DoneMarker>>();
  readonly #heartbeats = new Map<string, Timed<string>>();
  readonly #epochs = new Map<string, Timed<string>>();
  readonly #inboxes = new Map<string, Timed<Inbox>>();
  #sweptAt = 0;

  constructor(ttlS: number, heartbeatMs = 5_000, now: () => number = Date.now) {
    this.#ttlMs = ttlS * 1000;
    this.#heartbeatMs = heartbeatMs;
    this.#now = now;
  }

  #get<T>(map: Map<string, Timed<T>>, key: string): T | undefined {
    const e = map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#now()) { map.delete(key); return undefined; }
    return e.value;
  }
  #set<T>(map: Map<string, Timed<T>>, key: string, value: T, ttlMs = this.#ttlMs): void {
    map.set(key, { value, expiresAt: this.#now() + ttlMs });
  }
  #alive(owner: string): boolean {
    return this.#get(this.#heartbeats, owner) !== undefined;
  }

  async register(ref: StreamRef, r: Registration): Promise<RegisterResult> {
    const k = key(ref);
    const done = this.#get(this.#done, k);
    if (done !== undefined) {
      if (r.again) return 'ended';
      if (done.outcome === 'cancelled') return 'already_stopped';
    }
    this.#set(this.#live, k, { owner: r.owner, trace: r.trace, startedAtMs: r.startedAtMs });
    let set = this.#sessions.get(ref.sessionId);
    if (set === undefined) this.#sessions.set(ref.sessionId, (set = new Set()));
    set.add(ref.messageId);
    this.#done.delete(k);
    return this.#get(this.#flags, k) !== undefined ? 'cancel_waiting' : 'registered';
  }

  async get(sessionId: string, messageId?: string): Promise<ActiveStream[]> {
    return this.#registered(sessionId, messageId).filter((s) => this.#alive(s.owner)).map(({ messageId: m, owner, trace }) => ({ messageId: m, owner, trace }));
  }

  #registered(sessionId: string, messageId?: string): (ActiveStream & { startedAtMs: number })[] {
    const mids = messageId !== undefined ? [messageId] : [...(this.#sessions.get(sessionId) ?? [])];
    const out: (ActiveStream & { startedAtMs: number })[] = [];
    for (const mid of mids) {
      const live = this.#get(this.#live, key({ sessionId, messageId: mid }));
      if (live !== undefined) out.push({ messageId: mid, ...live });
      else this.#sessions.get(sessionId)?.delete(mid);
    }
    return out;
  }

  async finish(ref: StreamRef, owner: string, outcome: FinishOutcome, via: string): Promise<void> {
    const k = key(ref);
    const live = this.#get(this.#live, k);
    if (live === undefined || live.owner === owner) {
      this.#live.delete(k);
      const set = this.#sessions.get(ref.sessionId);
      set?.delete(ref.messageId);
      if (set?.size === 0) this.#sessions.delete(ref.sessionId);
    }
    if (outcome === 'cancelled' || this.#get(this.#done, k)?.outcome !== 'cancelled') this.#set(this.#done, k, { outcome, owner, via });
    this.#flags.delete(k);
  }

  #flag(ref: StreamRef, waiter: string): void {
    const k = key(ref);
    const waiters = this.#get(this.#flags, k) ?? [];
    waiters.push(waiter);
    if (waiters.length > maxWaiters) waiters.shift();
    this.#set(this.#flags, k, waiters);
  }

  /** Appends to the owner's inbox; says whether the owner's heartbeat is there. */
  #deliver(owner: string, refs: readonly StreamRef[]): boolean {
    let inbox = this.#get(this.#inboxes, owner);
    if (inbox === undefined) inbox = { seq: 0, entries: [] };
    for (const ref of refs) inbox.entries.push({ id: ++inbox.seq, ref });
    if (inbox.entries.length > maxInbox) inbox.entries.splice(0, inbox.entries.length - maxInbox);
    this.#set(this.#inboxes, owner, inbox);
    return this.#alive(owner);
  }

  async cancel(ref: StreamRef, waiter: string): Promise<CancelDecision> {
    const k = key(ref);
    const live = this.#get(this.#live, k);
    const done = live === undefined ? this.#get(this.#done, k) : undefined;
    if (done !== undefined) return { kind: 'done', outcome: done.outcome };
    this.#flag(ref, waiter);
    if (live === undefined || !this.#deliver(live.owner, [ref])) return { kind: 'pending' };
    return { kind: 'live', stream: { messageId: ref.messageId, owner: live.owner, trace: live.trace } };
  }

  async cancelSession(sessionId: string, waiter: string, beforeMs = 0): Promise<ActiveStream[]> {
    const byOwner = new Map<string, ActiveStream[]>();
    for (const s of this.#registered(sessionId)) {
      if (beforeMs !== 0 && s.startedAtMs > beforeMs) continue;
      this.#flag({ sessionId, messageId: s.messageId }, waiter);
      const list = byOwner.get(s.owner) ?? [];
      list.push({ messageId: s.messageId, owner: s.owner, trace: s.trace });
      byOwner.set(s.owner, list);
    }
    const out: ActiveStream[] = [];
    for (const [owner, list] of byOwner) if (this.#deliver(owner, list.map((s) => ({ sessionId, messageId: s.messageId })))) out.push(...list);
    return out;
  }

  async check(ref: StreamRef): Promise<boolean> {
    return this.#get(this.#flags, key(ref)) !== undefined;
  }

  async poll(node: string, epoch: string, cursor: string): Promise<PollResult> {
    // A sweep walks every entry: four times per TTL, not on every tick.
    if (this.#now() - this.#sweptAt >= this.#ttlMs / 4) this.#sweep();
    this.#set(this.#heartbeats, node, epoch, this.#heartbeatMs);
    const lost = this.#get(this.#epochs, node) !== epoch;
    this.#set(this.#epochs, node, epoch);
    const inbox = this.#get(this.#inboxes, node);
    const after = lost || cursor === firstCursor ? 0 : Number(cursor);
    if (inbox === undefined) return { lost, cancelled: [], cursor: lost ? firstCursor : cursor };
    if (after > 0) { const i = inbox.entries.findIndex((e) => e.id >= after); inbox.entries.splice(0, i < 0 ? inbox.entries.length : i); }
    const read = inbox.entries.filter((e) => e.id > after).slice(0, maxReadPerPoll);
    return { lost, cancelled: read.map((e) => e.ref), cursor: read.length > 0 ? String(read.at(-1)!.id) : lost ? firstCursor : cursor };
  }

  async outcomes(sessionId: string, messageIds: readonly string[]): Promise<(DoneMarker | null)[]> {
    return messageIds.map((m) => this.#get(this.#done, key({ sessionId, messageId: m })) ?? null);
  }

  /** Drops every expired entry; called by the safety poll. */
  #sweep(): void {
    const now = this.#now();
    this.#sweptAt = now;
    for (const map of [this.#live, this.#flags, this.#done, this.#heartbeats, this.#epochs, this.#inboxes] as Map<string, Timed<unknown>>[]) {
      for (const [k, e] of map) if (e.expiresAt <= now) map.delete(k);
    }
    for (const [sid, set] of this.#sessions) {
      for (const mid of set) if (!this.#live.has(key({ sessionId: sid, messageId: mid }))) set.delete(mid);
      if (set.size === 0) this.#sessions.delete(sid);
    }
  }
}

const key = (ref: StreamRef) => `${ref.sessionId}\n${ref.messageId}`;
