// The in-process cancel store for single-node mode (no STOPLINE_REDIS_URL). Same semantics as the Redis store,
// TTLs included: entries expire lazily on read and are swept by the safety poll, so nothing grows without bound.
import type { StreamRef } from './keys.ts';
import type { ActiveStream, CancelDecision, CancelStore, FinishOutcome, RegisterResult } from './store.ts';

type Timed<T> = { value: T; expiresAt: number };
const maxWaiters = 16;

export class MemoryStore implements CancelStore {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #live = new Map<string, Timed<{ owner: string; trace: string }>>();
  readonly #sessions = new Map<string, Set<string>>();
  readonly #flags = new Map<string, Timed<string[]>>();
  readonly #done = new Map<string, Timed<string>>();

  constructor(ttlS: number, now: () => number = Date.now) {
    this.#ttlMs = ttlS * 1000;
    this.#now = now;
  }

  #get<T>(map: Map<string, Timed<T>>, key: string): T | undefined {
    const e = map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#now()) { map.delete(key); return undefined; }
    return e.value;
  }
  #set<T>(map: Map<string, Timed<T>>, key: string, value: T): void {
    map.set(key, { value, expiresAt: this.#now() + this.#ttlMs });
  }

  async register(ref: StreamRef, owner: string, trace: string): Promise<RegisterResult> {
    const k = key(ref);
    if (this.#get(this.#done, k) === 'cancelled') return 'already_stopped';
    this.#set(this.#live, k, { owner, trace });
    let set = this.#sessions.get(ref.sessionId);
    if (set === undefined) this.#sessions.set(ref.sessionId, (set = new Set()));
    set.add(ref.messageId);
    this.#done.delete(k);
    return this.#get(this.#flags, k) !== undefined ? 'cancel_waiting' : 'registered';
  }

  async get(sessionId: string, messageId?: string): Promise<ActiveStream[]> {
    const mids = messageId !== undefined ? [messageId] : [...(this.#sessions.get(sessionId) ?? [])];
    const out: ActiveStream[] = [];
    for (const mid of mids) {
      const live = this.#get(this.#live, key({ sessionId, messageId: mid }));
      if (live !== undefined) out.push({ messageId: mid, owner: live.owner, trace: live.trace });
      else this.#sessions.get(sessionId)?.delete(mid);
    }
    return out;
  }

  async finish(ref: StreamRef, owner: string, outcome: FinishOutcome, _via: string): Promise<void> {
    const k = key(ref);
    const live = this.#get(this.#live, k);
    if (live === undefined || live.owner === owner) {
      this.#live.delete(k);
      const set = this.#sessions.get(ref.sessionId);
      set?.delete(ref.messageId);
      if (set?.size === 0) this.#sessions.delete(ref.sessionId);
    }
    this.#set(this.#done, k, outcome);
    this.#flags.delete(k);
  }

  async cancel(ref: StreamRef, waiter: string): Promise<CancelDecision> {
    const k = key(ref);
    const live = this.#get(this.#live, k);
    const done = live === undefined ? this.#get(this.#done, k) : undefined;
    if (done !== undefined) return { kind: 'done', outcome: done };
    const waiters = this.#get(this.#flags, k) ?? [];
    waiters.push(waiter);
    if (waiters.length > maxWaiters) waiters.shift();
    this.#set(this.#flags, k, waiters);
    if (live === undefined) return { kind: 'pending' };
    return { kind: 'live', stream: { messageId: ref.messageId, owner: live.owner, trace: live.trace } };
  }

  async cancelSession(sessionId: string, waiter: string): Promise<ActiveStream[]> {
    const live = await this.get(sessionId);
    for (const s of live) await this.cancel({ sessionId, messageId: s.messageId }, waiter);
    return live;
  }

  async check(ref: StreamRef): Promise<boolean> {
    return this.#get(this.#flags, key(ref)) !== undefined;
  }

  async poll(refs: readonly StreamRef[], refresh: boolean): Promise<{ cancelled: number[]; missing: number[] }> {
    if (refresh) this.#sweep();
    const cancelled: number[] = [];
    const missing: number[] = [];
    refs.forEach((ref, i) => {
      const k = key(ref);
      const live = this.#live.get(k);
      if (refresh) {
        if (live === undefined) missing.push(i);
        else live.expiresAt = this.#now() + this.#ttlMs;
      }
      if (this.#get(this.#flags, k) !== undefined) cancelled.push(i);
    });
    return { cancelled, missing };
  }

  async ping(): Promise<void> {
    this.#sweep();
  }

  async outcome(ref: StreamRef): Promise<string | null> {
    return this.#get(this.#done, key(ref)) ?? null;
  }

  /** Drops every expired entry; called by the safety poll. */
  #sweep(): void {
    const now = this.#now();
    for (const map of [this.#live, this.#flags, this.#done] as Map<string, Timed<unknown>>[]) {
      for (const [k, e] of map) if (e.expiresAt <= now) map.delete(k);
    }
    for (const [sid, set] of this.#sessions) {
      for (const mid of set) if (!this.#live.has(key({ sessionId: sid, messageId: mid }))) set.delete(mid);
      if (set.size === 0) this.#sessions.delete(sid);
    }
  }
}

const key = (ref: StreamRef) => `${ref.sessionId}\n${ref.messageId}`;
