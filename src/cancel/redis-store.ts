// The cancel store in Redis. Every decision that touches several keys is one Lua script (lua/, key count in the
// file name), loaded once with defineCommand (EVALSHA, with the NOSCRIPT fallback ioredis does for us). In push
// mode the scripts also publish: `cancel` wakes the owner on its node channel, `finish` confirms to the waiters.
import { readFileSync } from 'node:fs';
import keySlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import type { Keys, StreamRef } from './keys.ts';
import type { Connection, RedisClient } from './redis-client.ts';
import { registerResults, type ActiveStream, type CancelDecision, type CancelStore, type FinishOutcome, type RegisterResult } from './store.ts';

type Arg = string | number;
interface Scripts {
  slRegister(...args: Arg[]): Promise<number>;
  slCancel(...args: Arg[]): Promise<[string, string?]>;
  slCancelSession(...args: Arg[]): Promise<string[]>;
  slFinish(...args: Arg[]): Promise<number | string[]>;
  slPoll(numKeys: number, ...args: Arg[]): Promise<[number[], number[]]>;
}

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

export function defineScripts(c: Connection): void {
  c.defineCommand('slRegister', { numberOfKeys: 4, lua: lua('register-4') });
  c.defineCommand('slCancel', { numberOfKeys: 3, lua: lua('cancel-3') });
  c.defineCommand('slCancelSession', { numberOfKeys: 1, lua: lua('cancel-session-1') });
  c.defineCommand('slFinish', { numberOfKeys: 4, lua: lua('finish-4') });
  c.defineCommand('slPoll', { lua: lua('poll-n') });
}

const scripts = (c: Connection) => c as unknown as Scripts;

/** Indexes of `refs` grouped by the hash slot of their session (the {session id} tag). */
function bySlot(refs: readonly StreamRef[]): number[][] {
  const groups = new Map<number, number[]>();
  refs.forEach((ref, i) => {
    const slot = keySlot(ref.sessionId);
    const g = groups.get(slot);
    if (g === undefined) groups.set(slot, [i]); else g.push(i);
  });
  return [...groups.values()];
}

function parseLive(messageId: string, value: string): ActiveStream {
  const tab = value.indexOf('\t');
  return tab < 0 ? { messageId, owner: value, trace: '' } : { messageId, owner: value.slice(0, tab), trace: value.slice(tab + 1) };
}

export class RedisStore implements CancelStore {
  readonly #client: RedisClient;
  readonly #keys: Keys;
  readonly #ttl: number;
  /** The node channel prefix passed to the scripts; '' when the scripts publish nothing. */
  readonly #publish: string;
  /**
   * Redis Cluster in push mode: sharded Pub/Sub (SPUBLISH, Redis >= 7). A script may only touch its own slot, so
   * the wake-up and the confirmations are published after the script, by this replica, on the node channels.
   */
  readonly #sharded: boolean;

  constructor(client: RedisClient, keys: Keys, ttlS: number, publish: boolean) {
    this.#client = client;
    this.#keys = keys;
    this.#ttl = ttlS;
    this.#sharded = publish && client.command instanceof Cluster;
    this.#publish = publish && !this.#sharded ? keys.channelPrefix : '';
    defineScripts(client.command);
  }

  /** SPUBLISH of one message on a replica's node channel (sharded mode); losing it is covered by the poll. */
  #spublish(node: string, message: string): Promise<unknown> {
    return this.#client.call('publish', (c) => c.spublish(this.#keys.nodeChannel(node), message)).catch(() => {});
  }

  register(ref: StreamRef, owner: string, trace: string): Promise<RegisterResult> {
    const k = this.#keys;
    return this.#client.call('register', async (c) =>
      registerResults[await scripts(c).slRegister(k.live(ref), k.sessionSet(ref.sessionId), k.flag(ref), k.done(ref), ref.messageId, `${owner}\t${trace}`, this.#ttl)] ?? 'registered');
  }

  get(sessionId: string, messageId?: string): Promise<ActiveStream[]> {
    return this.#client.call('get', async (c) => {
      const mids = messageId !== undefined ? [messageId] : await c.smembers(this.#keys.sessionSet(sessionId));
      if (mids.length === 0) return [];
      const values = await c.mget(...mids.map((m) => this.#keys.live({ sessionId, messageId: m })));
      return mids.flatMap((m, i) => (values[i] ? [parseLive(m, values[i]!)] : []));
    });
  }

  async finish(ref: StreamRef, owner: string, outcome: FinishOutcome, via: string): Promise<void> {
    const k = this.#keys;
    const waiters = await this.#client.call('finish', (c) =>
      scripts(c).slFinish(k.live(ref), k.sessionSet(ref.sessionId), k.flag(ref), k.done(ref), ref.messageId, owner, outcome, this.#ttl, this.#publish, ref.sessionId, via));
    if (this.#sharded && Array.isArray(waiters)) {
      await Promise.all(waiters.map((w) => {
        const [node, id] = w.split('\t');
        return this.#spublish(node!, `C\t${id}\t${ref.sessionId}\t${ref.messageId}\t${outcome}\t${owner}\t${via}`);
      }));
    }
  }

  cancel(ref: StreamRef, waiter: string): Promise<CancelDecision> {
    const k = this.#keys;
    return this.#client.call('cancel', async (c) => {
      const [kind, value] = await scripts(c).slCancel(k.live(ref), k.flag(ref), k.done(ref), waiter, this.#ttl, this.#publish, ref.sessionId, ref.messageId);
      if (kind === 'live') {
        const stream = parseLive(ref.messageId, value ?? '');
        if (this.#sharded) void this.#spublish(stream.owner, `W\t${ref.sessionId}\t${ref.messageId}\t${waiter}`);
        return { kind, stream };
      }
      if (kind === 'done') return { kind, outcome: value ?? 'completed' };
      return { kind: 'pending' };
    });
  }

  cancelSession(sessionId: string, waiter: string): Promise<ActiveStream[]> {
    return this.#client.call('cancel', async (c) => {
      const flat = await scripts(c).slCancelSession(this.#keys.sessionSet(sessionId), this.#keys.base(sessionId), waiter, this.#ttl, this.#publish, sessionId);
      const out: ActiveStream[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push(parseLive(flat[i]!, flat[i + 1]!));
      if (this.#sharded) for (const s of out) void this.#spublish(s.owner, `W\t${sessionId}\t${s.messageId}\t${waiter}`);
      return out;
    });
  }

  check(ref: StreamRef): Promise<boolean> {
    return this.#client.call('check', async (c) => (await c.exists(this.#keys.flag(ref))) === 1);
  }

  async poll(refs: readonly StreamRef[], refresh: boolean): Promise<{ cancelled: number[]; missing: number[] }> {
    if (refs.length === 0) return { cancelled: [], missing: [] };
    // Standalone and Sentinel: ONE script call for every live stream of this replica. Cluster: a script may only
    // touch one hash slot, so one call per slot in use (a session's keys share one), all sent at once.
    const groups = this.#client.command instanceof Cluster ? bySlot(refs) : [refs.map((_, i) => i)];
    const out = { cancelled: [] as number[], missing: [] as number[] };
    await Promise.all(groups.map(async (indexes) => {
      const keys: string[] = [];
      for (const i of indexes) { const ref = refs[i]!; keys.push(this.#keys.live(ref), this.#keys.sessionSet(ref.sessionId), this.#keys.flag(ref)); }
      // The poll is off every request path; it may take longer than a request-path call, but never over a second.
      const [cancelled, missing] = await this.#client.call('poll', (c) => scripts(c).slPoll(keys.length, ...keys, this.#ttl, refresh ? '1' : '0'), 1_000);
      for (const j of cancelled) out.cancelled.push(indexes[j]!);
      for (const j of missing) out.missing.push(indexes[j]!);
    }));
    return out;
  }

  async ping(): Promise<void> {
    await this.#client.probe(); // a write with a TTL: fails when Redis refuses writes, unlike PING
  }

  outcome(ref: StreamRef): Promise<string | null> {
    return this.#client.call('confirm', (c) => c.get(this.#keys.done(ref)));
  }
}
