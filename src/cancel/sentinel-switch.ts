// Sentinel mode: following the sentinels' +switch-master announcements.
// Each sentinel announces a switch once it has the new configuration (the leader at the end of the failover, the
// others when they learn it from its hello messages, up to seconds later), so one failover is announced once per
// sentinel. ioredis' own failover detector drops its connection at every announcement, also a connection that is
// already on the new master: with three sentinels, up to three reconnects per failover, each a moment in which the
// command connection is down and cancels fall back. Here, one subscribed connection per sentinel for the whole
// replica, and an announcement drops only a connection that is not on the announced master. It then reconnects at
// once and asks the sentinels where the master is. A connection to a master that no longer answers (paused, cut off
// by the network) sees no error of its own; this is what moves it.
import { isIP } from 'node:net';
import { Redis } from 'ioredis';
import type { HostPort } from '../config.ts';
import type { Logger } from '../log.ts';

/** Is this socket connected to host:port? An announced hostname cannot be compared with a socket's address. */
function connectedTo(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }, host: string, port: number): boolean {
  if (s.remotePort !== port || s.remoteAddress === undefined || isIP(host) === 0) return false;
  return s.remoteAddress.replace(/^::ffff:/, '') === host.replace(/^::ffff:/, '');
}

export class SwitchFollower {
  readonly #name: string;
  readonly #watchers: Redis[];
  readonly #followed = new Set<Redis>();
  readonly #log: Logger;
  readonly #closing: (c: Redis) => boolean;
  #closed = false;

  constructor(sentinels: readonly HostPort[], name: string, reconnect: (times: number) => number, log: Logger, closing: (c: Redis) => boolean) {
    this.#name = name;
    this.#log = log;
    this.#closing = closing;
    // Like the sentinel connections ioredis makes to ask for the master: plain, no password. Subscribed connections
    // resubscribe after a reconnect; a sentinel that is away is retried on the same flat back-off as the master.
    this.#watchers = sentinels.map((s) => {
      const w = new Redis({ host: s.host, port: s.port, lazyConnect: true, retryStrategy: reconnect, maxRetriesPerRequest: null, autoResubscribe: true, connectTimeout: 2_000, keepAlive: 10_000 });
      w.on('error', (err: Error) => log.debug('sentinel connection failed', { sentinel: `${s.host}:${s.port}`, err }));
      w.on('message', (channel: string, message: string) => { if (channel === '+switch-master') this.switched(message); });
      return w;
    });
  }

  /** A connection to keep on the master the sentinels announce. */
  follow(c: Redis): void { this.#followed.add(c); }

  start(): void {
    for (const w of this.#watchers) w.subscribe('+switch-master').catch(() => {});
  }

  /** `<name> <old-ip> <old-port> <new-ip> <new-port>`, as a sentinel publishes it. */
  switched(message: string): void {
    const [name, , , host, port] = message.split(' ');
    if (this.#closed || name !== this.#name || host === undefined || port === undefined) return;
    let moved = 0;
    for (const c of this.#followed) {
      if (this.#closing(c)) continue;
      // Still connecting (asking the sentinels, or on its way to an address): the attempt is dropped.
      if (c.status === 'connecting') { c.disconnect(true); moved++; continue; }
      // Waiting for its next attempt (which asks the sentinels), or ended (restarted elsewhere): nothing to drop.
      if (c.status !== 'ready' && c.status !== 'connect') continue;
      if (connectedTo(c.stream, host, Number(port))) continue;
      // Connected elsewhere: the socket is destroyed, not ended (a paused or cut-off master never answers the FIN,
      // and the close would wait for ioredis' connect timeout).
      c.stream.destroy();
      moved++;
    }
    this.#log.info('sentinels switched the master', { master: `${host}:${port}`, reconnecting: moved });
  }

  close(): void {
    this.#closed = true;
    this.#followed.clear();
    for (const w of this.#watchers) w.disconnect();
  }
}
