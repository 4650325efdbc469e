// The cancel store in Redis. Every decision that touches several keys is one Lua script (lua/, key count in the
// file name), loaded once with defineCommand (EVALSHA, with the NOSCRIPT fallback ioredis does for us). In push
// mode the scripts also publish: `cancel` wakes the owner on its node channel, `finish` confirms to the waiters.
// A cancel for a stream elsewhere is two steps: the session's script (the flag, the truth) and `deliver` into the
// owner's inbox (its own slot), which is all the owner's poll reads.
import { readFileSync } from 'node:fs';
import { Cluster } from 'ioredis';
import type { Keys, StreamRef } from './keys.ts';
import type { Connection, RedisClient } from './redis-client.ts';
import {
  parseDone, registerResults, type ActiveStream, type CancelDecision, type CancelStore, type DoneMarker, type FinishOutcome,
  type PollResult, type RegisterResult, type Registration,
} from './store.ts';

type Arg = string | number;
interface Scripts {
  slRegister(...args: Arg[]): Promise<number>;
  slCancel(...args: Arg[]): Promise<[string, string?]>;
  slCancelSession(...args: Arg[]): Promise<string[]>;
  slFinish(...args: Arg[]): Promise<number | string[]>;
  slDeliver(...args: Arg[]): Promise<number>;
  slPoll(...args: Arg[]): Promise<[number, string[]]>;
}

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

export function defineScripts(c: Connection): void {
  c.defineCommand('slRegister', { numberOfKeys: 4, lua: lua('register-4') });
  c.defineCommand('slCancel', { numberOfKeys: 3, lua: lua('cancel-3') });
  c.defineCommand('slCancelSession', { numberOfKeys: 1, lua: lua('cancel-session-1') });
  c.defineCommand('slFinish', { numberOfKeys: 4, lua: lua('finish-4') });
  c.defineCommand('slDeliver', { numberOfKeys: 2, lua: lua('deliver-2') });
  c.defineCommand('slPoll', { numberOfKeys: 3, lua: lua('poll-3') });
}

const scripts = (c: Connection) => c as unknown as Scripts;

/** A poll reads at most this many inbox entries; more wait for the next tick (the bytes per tick stay bounded). */
const maxReadPerPoll = 1_000;
/** An inbox holds at most about this many entries (an owner that never polls again leaves no more than this). */
const maxInbox = 10_000;

function parseLive(messageId: string, value: string): ActiveStream {
  const [owner = '', trace = ''] = value.split('\t');
  return { messageId, owner, trace };
}

export class RedisStore implements CancelStore {
  readonly #client: RedisClient;
  readonly #keys: Keys;
  readonly #ttl: number;
  readonly #heartbeatMs: number;
  /** The node channel prefix passed to the scripts; '' when the scripts publish nothing. */
  readonly #publish: string;
  /**
   * Redis Cluster in push mode: sharded Pub/Sub (SPUBLISH, Redis >= 7). A script may only touch its own slot, so
   * the wake-up and the confirmations are published after the script, by this replica, on the node channels.
   */
  readonly #sharded: boolean;

  constructor(client: RedisClient, keys: Keys, ttlS: number, publish: boolean, heartbeatMs: number) {
    this.#client = client;
    this.#keys = keys;
    this.#ttl = ttlS;
    this.#heartbeatMs = heartbeatMs;
    this.#sharded = publish && client.command instanceof Cluster;
    this.#publish = publish && !this.#sharded ? keys.channelPrefix : '';
    defineScripts(client.command);
  }

  /** SPUBLISH of one message on a replica's node channel (sharded mode); losing it is covered by the poll. */
  #spublish(node: string, message: string): Promise<unknown> {
    return this.#client.call('publish', (c) => c.spublish(this.#keys.nodeChannel(node), message)).catch(() => {});
  }

  register(ref: StreamRef, r: Registration): Promise<RegisterResult> {
    const k = this.#keys;
    return this.#client.call('register', async (c) =>
      registerResults[await scripts(c).slRegister(k.live(ref), k.sessionSet(ref.sessionId), k.flag(ref), k.done(ref),
        ref.messageId, `${r.owner}\t${r.trace}\t${Math.round(r.startedAtMs)}`, this.#ttl, r.again ? '1' : '0')] ?? 'registered');
  }

  get(sessionId: string, messageId?: string): Promise<ActiveStream[]> {
    return this.#client.call('get', async (c) => {
      const mids = messageId !== undefined ? [messageId] : await c.smembers(this.#keys.sessionSet(sessionId));
      if (mids.length === 0) return [];
      const values = await c.mget(...mids.map((m) => this.#keys.live({ sessionId, messageId: m })));
      const found = mids.flatMap((m, i) => (values[i] ? [parseLive(m, values[i]!)] : []));
      const alive = new Map<string, boolean>();
      await Promise.all([...new Set(found.map((s) => s.owner))].map(async (o) => alive.set(o, (await c.exists(this.#keys.heartbeat(o))) === 1)));
      return found.filter((s) => alive.get(s.owner) === true);
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

  /** Appends cancels to an owner's inbox; resolves with whether the owner's heartbeat is there. */
  #deliver(c: Connection, owner: string, entries: readonly string[]): Promise<boolean> {
    return scripts(c).slDeliver(this.#keys.inbox(owner), this.#keys.heartbeat(owner), this.#ttl, maxInbox, ...entries).then((n) => n === 1);
  }

  cancel(ref: StreamRef, waiter: string): Promise<CancelDecision> {
    const k = this.#keys;
    return this.#client.call('cancel', async (c) => {
      const [kind, value] = await scripts(c).slCancel(k.live(ref), k.flag(ref), k.done(ref), waiter, this.#ttl, this.#publish, ref.sessionId, ref.messageId);
      if (kind === 'done') return { kind, outcome: parseDone(value ?? 'completed').outcome };
      if (kind !== 'live') return { kind: 'pending' };
      const stream = parseLive(ref.messageId, value ?? '');
      if (this.#sharded) void this.#spublish(stream.owner, `W\t${ref.sessionId}\t${ref.messageId}\t${waiter}`);
      return (await this.#deliver(c, stream.owner, [`${ref.sessionId}\t${ref.messageId}`])) ? { kind, stream } : { kind: 'pending' };
    });
  }

  cancelSession(sessionId: string, waiter: string, beforeMs = 0): Promise<ActiveStream[]> {
    return this.#client.call('cancel', async (c) => {
      const flat = await scripts(c).slCancelSession(this.#keys.sessionSet(sessionId), this.#keys.base(sessionId), waiter, this.#ttl, this.#publish, sessionId, Math.round(beforeMs));
      const byOwner = new Map<string, ActiveStream[]>();
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const s = parseLive(flat[i]!, flat[i + 1]!);
        const list = byOwner.get(s.owner);
        if (list === undefined) byOwner.set(s.owner, [s]); else list.push(s);
        if (this.#sharded) void this.#spublish(s.owner, `W\t${sessionId}\t${s.messageId}\t${waiter}`);
      }
      const out: ActiveStream[] = [];
      await Promise.all([...byOwner].map(async ([owner, list]) => {
        if (await this.#deliver(c, owner, list.map((s) => `${sessionId}\t${s.messageId}`))) out.push(...list);
      }));
      return out;
    });
  }

  check(ref: StreamRef): Promise<boolean> {
    return this.#client.call('check', async (c) => (await c.exists(this.#keys.flag(ref))) === 1);
  }

  async poll(node: string, epoch: string, cursor: string): Promise<PollResult> {
    const k = this.#keys;
    // The poll is off every request path; it may take longer than a request-path call, but never over a second.
    const [lost, flat] = await this.#client.call('poll', (c) =>
      scripts(c).slPoll(k.heartbeat(node), k.epoch(node), k.inbox(node), epoch, this.#heartbeatMs, this.#ttl, cursor, maxReadPerPoll), 1_000);
    const cancelled: StreamRef[] = [];
    let next = lost === 1 ? '0-0' : cursor;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      next = flat[i]!;
      const tab = flat[i + 1]!.indexOf('\t');
      if (tab > 0) cancelled.push({ sessionId: flat[i + 1]!.slice(0, tab), messageId: flat[i + 1]!.slice(tab + 1) });
    }
    return { lost: lost === 1, cancelled, cursor: next };
  }

  outcomes(sessionId: string, messageIds: readonly string[]): Promise<(DoneMarker | null)[]> {
    if (messageIds.length === 0) return Promise.resolve([]);
    return this.#client.call('confirm', async (c) =>
      (await c.mget(...messageIds.map((m) => this.#keys.done({ sessionId, messageId: m })))).map((v) => (v === null ? null : parseDone(v))));
  }
}
