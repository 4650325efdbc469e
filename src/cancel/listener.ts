// The Pub/Sub side of push mode, on a connection of its own. A replica listens on one channel, its node channel:
//   W\t<sid>\t<mid>\t<waiter>                          wake: stop this stream
//   C\t<cancelId>\t<sid>\t<mid>\t<outcome>\t<owner>\t<via>  confirmation of a stop this replica asked for
//   P\t<probeId>                                       this replica's own probe
// Pub/Sub is a hint, the flag in Redis is the truth: after every (re)connect the subscription is verified by a probe
// published through the command connection, and the coordinator polls at once to catch what was missed. A
// subscriber that is silently dead (no FIN, no RST) is found by a periodic PING with a deadline and replaced. The
// PING goes to the subscriber's own connection(s): in Cluster, each shard subscriber ioredis holds (a PING on the
// Cluster object would go to a regular node connection and say nothing about them). One check runs at a time: a
// verification and a health check racing would steal each other's probe and fail each other.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Keys, StreamRef } from './keys.ts';
import type { Connection, RedisClient } from './redis-client.ts';
import { quit } from './redis-client.ts';
import { Cluster } from 'ioredis';

export interface ListenerHandlers {
  wake(ref: StreamRef): void;
  confirm(cancelId: string, messageId: string, c: { outcome: string; owner: string; via: string }): void;
  /** The subscription is verified after a (re)connect. */
  subscribed(): void;
}

export class Listener {
  readonly #sub: Connection;
  readonly #client: RedisClient;
  readonly #channel: string;
  readonly #h: ListenerHandlers;
  readonly #m: Metrics;
  readonly #log: Logger;
  readonly #pingMs: number;
  #probe: { id: string; resolve: () => void } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #verified = false;
  /** Cluster: sharded Pub/Sub (SSUBSCRIBE / SPUBLISH / 'smessage'). */
  readonly #sharded: boolean;
  #everVerified = false;
  #closed = false;
  #checking: Promise<unknown> | null = null;

  constructor(sub: Connection, client: RedisClient, keys: Keys, nodeId: string, handlers: ListenerHandlers, metrics: Metrics, log: Logger, pingMs: number) {
    this.#sub = sub;
    this.#client = client;
    this.#channel = keys.nodeChannel(nodeId);
    this.#h = handlers;
    this.#m = metrics;
    this.#log = log;
    this.#pingMs = pingMs;
    this.#sharded = sub instanceof Cluster;
    metrics.enableSubscriberMetrics();
    metrics.subscriberUp.set(0);
    sub.on(this.#sharded ? 'smessage' : 'message', this.#onMessage);
    sub.on('ready', () => void this.#serial(() => this.#verify()));
    sub.on('close', () => this.#setVerified(false));
    sub.on('error', (err: Error) => log.debug('redis subscriber error', { err }));
  }

  get verified(): boolean { return this.#verified; }

  get connection(): Connection { return this.#sub; }

  /**
   * The command connection is ready again: the probe that verifies the subscription goes out on it, so a
   * verification that failed while it was down is tried again now rather than at the next health check.
   */
  recheck(): void {
    if (!this.#closed && !this.#verified && this.#sub.status === 'ready') void this.#serial(() => this.#verify());
  }

  #subscribe(): Promise<unknown> {
    return this.#sharded ? this.#sub.ssubscribe(this.#channel) : this.#sub.subscribe(this.#channel);
  }

  start(): void {
    this.#subscribe().catch((err: unknown) => this.#log.warn('redis subscribe failed; the poll covers cancels until it succeeds', { err }));
    this.#timer = setInterval(() => void this.#serial(() => this.#health()), this.#pingMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#m.subscriberUp.set(0);
    await quit(this.#sub);
  }

  #onMessage = (channel: string, message: string): void => {
    if (channel !== this.#channel) return;
    const f = message.split('\t');
    switch (f[0]) {
      case 'W':
        if (f.length >= 3) this.#h.wake({ sessionId: f[1]!, messageId: f[2]! });
        break;
      case 'C':
        if (f.length >= 7) this.#h.confirm(f[1]!, f[3]!, { outcome: f[4]!, owner: f[5]!, via: f[6]! });
        break;
      case 'P':
        { const probe = this.#probe; if (probe !== null && probe.id === f[1]) probe.resolve(); }
        break;
    }
  };

  /** Proves the subscription works end to end: a probe published on the command connection comes back here. */
  async #verify(): Promise<boolean> {
    if (this.#closed) return false;
    const id = randomUUID();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#probe = { id, resolve };
    let timer: NodeJS.Timeout | undefined;
    try {
      // After 'ready' the resubscription may still be in flight: subscribing again is idempotent and tells us when
      // the server has it. Then the probe proves the whole path.
      const subscribed = await Promise.race([
        this.#subscribe().then(() => true, () => false),
        new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 1_000); }),
      ]);
      clearTimeout(timer);
      if (!subscribed) return false;
      await this.#client.call('ping', (c) => (this.#sharded ? c.spublish(this.#channel, `P\t${id}`) : c.publish(this.#channel, `P\t${id}`)));
      const ok = await Promise.race([promise.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 1_000); })]);
      if (!ok) return false; // the next health check tries again
      if (!this.#verified) {
        if (this.#everVerified) this.#m.resubscribes.inc();
        this.#everVerified = true;
        this.#setVerified(true);
        this.#h.subscribed();
      }
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      this.#probe = null;
    }
  }

  /** Runs one check at a time; a check asked for while another runs waits for it, then runs (never two at once). */
  #serial(check: () => Promise<unknown>): Promise<unknown> {
    const run = (this.#checking ?? Promise.resolve()).then(check, check);
    const tail = run.finally(() => { if (this.#checking === tail) this.#checking = null; });
    this.#checking = tail;
    return tail;
  }

  /** The connections the subscription lives on: the subscriber itself, or in Cluster its shard subscribers. */
  #connections(): { ping(): Promise<unknown> }[] {
    if (!this.#sharded) return [this.#sub as { ping(): Promise<unknown> }];
    // ioredis keeps them in the Cluster's ClusterSubscriberGroup, not in its public API.
    const group = (this.#sub as unknown as { shardedSubscribers?: { shardedSubscribers?: Map<string, { getInstance(): { status: string; ping(): Promise<unknown> } | null }> } }).shardedSubscribers;
    const out: { ping(): Promise<unknown> }[] = [];
    for (const s of group?.shardedSubscribers?.values() ?? []) { const i = s.getInstance(); if (i !== null && i.status !== 'end') out.push(i); }
    return out;
  }

  async #health(): Promise<void> {
    if (this.#closed) return;
    if (!this.#verified) { if (this.#sub.status === 'ready') await this.#verify(); return; }
    let timer: NodeJS.Timeout | undefined;
    const conns = this.#connections();
    // No connection at all while verified: the subscription has nowhere to live, as dead as an unanswered PING.
    const alive = conns.length > 0 && await Promise.race([
      Promise.all(conns.map((c) => c.ping())).then(() => true, () => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), Math.max(1_000, this.#pingMs / 2)); }),
    ]);
    clearTimeout(timer);
    if (!alive && !this.#closed) {
      this.#log.warn('redis subscriber did not answer PING; reconnecting it');
      this.#setVerified(false);
      this.#sub.disconnect(true);
    }
  }

  #setVerified(v: boolean): void {
    this.#verified = v;
    this.#m.subscriberUp.set(v ? 1 : 0);
  }
}
