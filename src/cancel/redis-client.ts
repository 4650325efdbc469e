// The Redis connections and the one wrapper every call goes through: a bound on its time, the circuit breaker, and
// the metrics. No request path ever waits on Redis longer than STOPLINE_REDIS_TIMEOUT_MS: there is no offline
// queue on the command connection (a call while disconnected fails at once), and each call races its own timer
// (ioredis' commandTimeout would leave the command queued; ours simply stops waiting).
// The breaker counts what says Redis is unusable: a timeout, a connection error, an error reply from a server that
// cannot serve (OOM, READONLY, LOADING, ...), and a call that succeeded but took longer than the bound (a call
// allowed longer, like the poll, still says Redis is too slow for the request path). A client-side error (a bad
// argument, a RangeError) is the caller's bug, not Redis' health. Once open, only a probe closes it: a SET with a
// short TTL of this replica's own key, so a Redis that answers reads but refuses writes does not look healthy.
import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Config, HostPort, RedisConfig } from '../config.ts';
import { RedisUnavailableError, redisErrorReason } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../observability/metrics.ts';
import { Breaker } from './breaker.ts';
import { SwitchFollower } from './sentinel-switch.ts';

export type Connection = Redis | Cluster;

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000) + Math.floor(Math.random() * 100);
// Sentinel mode: the master's address is asked from the sentinels at each attempt, so a short, flat back-off lets
// the reconnect follow a +switch-master within a few hundred milliseconds instead of waiting out a long delay.
const sentinelReconnect = (times: number) => Math.min(50 * times, 200) + Math.floor(Math.random() * 50);

/** Error replies that mean the server cannot serve now (as opposed to a wrong command or argument). */
const unusableReply = /^(OOM|READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|MISCONF|NOREPLICAS|NOAUTH|WRONGPASS|NOPERM)\b/;

/** Does this failure say Redis is unusable (count it against the breaker), or is it the caller's own error? */
export function isRedisFailure(err: unknown): boolean {
  const reason = redisErrorReason(err);
  if (reason === 'timeout' || reason === 'connection' || reason === 'oom') return true;
  const e = err as { name?: string; message?: string };
  return e?.name === 'ReplyError' && unusableReply.test(e.message ?? '');
}

function baseOptions(redis: Exclude<RedisConfig, { mode: 'memory' }>, ca: string | undefined): RedisOptions {
  const tls = redis.mode === 'standalone' ? redis.url.startsWith('rediss:') : redis.tls;
  return {
    lazyConnect: true,
    enableOfflineQueue: false, // a command while disconnected fails at once; the caller falls back
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    keepAlive: 10_000, // TCP keepalive: detect half-open connections in seconds, not hours
    retryStrategy,
    // A demoted primary answers READONLY: reconnect (Sentinel then finds the new one) and resend.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    // TLS verifies the server's certificate against the system's CAs (and STOPLINE_REDIS_CA_FILE): never off.
    ...(tls ? { tls: ca !== undefined ? { ca } : {} } : {}),
    ...(redis.password !== undefined ? { password: redis.password } : {}),
  };
}

function connect(redis: Exclude<RedisConfig, { mode: 'memory' }>, subscriber: boolean, ca: string | undefined): Connection {
  const opts: RedisOptions = { ...baseOptions(redis, ca), ...(subscriber ? { enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true } : {}) };
  switch (redis.mode) {
    case 'standalone':
      return new Redis(redis.url, opts);
    case 'sentinel':
      // The sentinels' +switch-master is followed by the replica's SwitchFollower, not by ioredis' failover
      // detector (which would drop the connection at each sentinel's announcement, also when it is on the new master).
      return restartOnEnd(new Redis({ ...opts, retryStrategy: sentinelReconnect, sentinels: redis.sentinels.map(hp), name: redis.name, sentinelRetryStrategy: sentinelReconnect, enableTLSForSentinelMode: redis.tls, failoverDetector: false }));
    case 'cluster': {
      const { lazyConnect: _l, enableOfflineQueue: _q, retryStrategy: _r, ...nodeOptions } = opts;
      return new Cluster(redis.nodes.map(hp), {
        lazyConnect: true,
        enableOfflineQueue: subscriber,
        // The subscriber uses sharded Pub/Sub: one connection per shard that holds a subscribed channel.
        shardedSubscribers: subscriber,
        clusterRetryStrategy: retryStrategy,
        redisOptions: nodeOptions,
      });
    }
  }
}

const hp = (a: HostPort) => ({ host: a.host, port: a.port });

/** Connections being closed on purpose (by quit below): they stay closed. */
const closing = new WeakSet<Connection>();

/**
 * Sentinel mode: ioredis gives a connection up for good (status `end`, no retry) when a connection attempt fails
 * outright, which is what happens when a +switch-master (sentinel-switch.ts) drops an attempt to the old master
 * while it is under way. A sidecar has no one to call connect() again, so it does so itself, after the same short
 * delay as a retry; only quit() ends a connection for good.
 */
function restartOnEnd(c: Redis): Redis {
  c.on('end', () => {
    if (closing.has(c)) return;
    const t = setTimeout(() => { if (!closing.has(c) && c.status === 'end') c.connect().catch(() => {}); }, sentinelReconnect(1));
    t.unref();
  });
  return c;
}

export class RedisClient {
  readonly command: Connection;
  readonly #timeoutMs: number;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly breaker: Breaker;
  #closed = false;
  #where = '';
  #lastError: Error | undefined;
  readonly #ca: string | undefined;
  readonly #probeKey: string;
  #probeTimer: NodeJS.Timeout | null = null;
  readonly #switches: SwitchFollower | null;
  onReady: () => void = () => {};

  constructor(config: Config, metrics: Metrics, log: Logger) {
    if (config.redis.mode === 'memory') throw new Error('RedisClient needs a Redis configuration');
    this.#timeoutMs = config.redisTimeoutMs;
    this.#metrics = metrics;
    this.#log = log;
    // The replica's own key (hash-tagged by node id, so one slot in Cluster), rewritten by each probe with a TTL.
    this.#probeKey = `${config.prefix}probe:{${config.nodeId}}`;
    this.breaker = new Breaker({
      failureThreshold: 3,
      minBackoffMs: 500,
      maxBackoffMs: 5_000,
      onChange: (closed) => {
        // Each entry into fallback is counted once, with the reason that matters to an operator.
        if (!closed && !this.#closed) { metrics.fallbacks.inc({ reason: 'redis_unavailable' }); log.warn('redis unusable: streaming goes on, cancels fall back'); }
        this.#updateUp();
        if (!closed) this.#scheduleProbe();
        // Closed again (a probe succeeded): write what was held meanwhile.
        if (closed && !this.#closed) { log.info('redis usable again'); this.onReady(); }
      },
    });
    // Read once at start; a missing file is an error there, not at the first connection.
    this.#ca = config.redisCaFile === undefined ? undefined : readFileSync(config.redisCaFile, 'utf8');
    this.command = connect(config.redis, false, this.#ca);
    this.#switches = config.redis.mode === 'sentinel'
      ? new SwitchFollower(config.redis.sentinels, config.redis.name, sentinelReconnect, log, (c) => closing.has(c))
      : null;
    this.#switches?.follow(this.command as Redis);
    this.command.on('ready', () => {
      this.#log.info('redis connected', { mode: config.redis.mode });
      this.#updateUp();
      // A fresh connection is worth a probe at once; only its success closes the breaker (and runs the recovery).
      if (this.breaker.closed) this.onReady();
      else void this.probe(true);
    });
    this.command.on('close', () => { this.breaker.trip(); this.#updateUp(); });
    // The first connection error of an outage is logged at warn with where Redis was sought and the real cause
    // (ECONNREFUSED, ENOTFOUND, WRONGPASS...); the retries that follow at debug, until Redis is ready again.
    this.#where = redisTarget(config.redis);
    this.command.on('ready', () => { this.#lastError = undefined; });
    this.command.on('error', (err: Error) => {
      const first = this.#lastError === undefined;
      this.#lastError = err;
      (first ? this.#log.warn : this.#log.debug)('redis connection failed', { redis: this.#where, err });
    });
    metrics.enableRedisMetrics();
    metrics.redisUp.set(0);
  }

  /** A second connection for Pub/Sub only (a subscribed connection should do nothing else). */
  subscriber(config: Config): Connection {
    if (config.redis.mode === 'memory') throw new Error('unreachable');
    const c = connect(config.redis, true, this.#ca);
    this.#switches?.follow(c as Redis);
    return c;
  }

  get ready(): boolean { return this.command.status === 'ready'; }

  start(): void {
    this.#switches?.start();
    this.command.connect().catch((err: unknown) => this.#log.warn('redis not reachable at start; streaming goes on, cancel falls back', { redis: this.#where, err: this.#lastError ?? err }));
  }

  #updateUp(): void {
    this.#metrics.redisUp.set(this.ready && this.breaker.closed ? 1 : 0);
  }

  /** Runs one Redis call within the bound, through the breaker, and records it. */
  async call<T>(command: string, fn: (c: Connection) => Promise<T>, timeoutMs: number = this.#timeoutMs): Promise<T> {
    if (this.#closed || !this.breaker.allow()) {
      this.#metrics.redisErrors.inc({ command, reason: 'circuit_open' });
      throw new RedisUnavailableError('circuit_open', `Redis ${command} not sent: circuit open`);
    }
    return this.#send(command, fn, timeoutMs);
  }

  /**
   * The health probe: a write that fails when Redis refuses writes (OOM, READONLY), within the request-path bound.
   * Closed: an ordinary call. Open: sent only when the breaker lets its probe out (`early`: before the back-off
   * ends, on a fresh connection); its outcome closes the breaker or opens it again.
   */
  async probe(early = false): Promise<void> {
    if (this.#closed) throw new RedisUnavailableError('circuit_open', 'Redis probe not sent: client closed');
    const write = (c: Connection) => c.set(this.#probeKey, '1', 'PX', Math.max(1_000, 4 * this.#timeoutMs));
    if (this.breaker.closed) { await this.#send('ping', write, this.#timeoutMs); return; }
    if (!this.breaker.probe(early)) {
      this.#metrics.redisErrors.inc({ command: 'ping', reason: 'circuit_open' });
      throw new RedisUnavailableError('circuit_open', 'Redis probe not sent: circuit open');
    }
    await this.#send('ping', write, this.#timeoutMs);
  }

  /** While open, the probe goes out when the back-off ends; a failed probe reschedules itself (open again). */
  #scheduleProbe(): void {
    if (this.#closed || this.#probeTimer !== null) return;
    const inMs = this.breaker.probeInMs;
    if (inMs === undefined) return;
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = null;
      this.probe().catch(() => {}).finally(() => this.#scheduleProbe());
    }, inMs);
    this.#probeTimer.unref();
  }

  async #send<T>(command: string, fn: (c: Connection) => Promise<T>, timeoutMs: number): Promise<T> {
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        fn(this.command),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new RedisUnavailableError('timeout', `Redis ${command} timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      const ms = performance.now() - start;
      this.#metrics.redisDuration.observe({ command }, ms / 1000);
      // Slower than the request path's bound: an answer, but from a Redis too slow to rely on.
      if (ms > this.#timeoutMs) this.breaker.failure();
      else this.breaker.success();
      this.#updateUp();
      return result;
    } catch (err) {
      const reason = redisErrorReason(err);
      this.#metrics.redisErrors.inc({ command, reason });
      if (isRedisFailure(err)) this.breaker.failure();
      this.#updateUp();
      if (err instanceof RedisUnavailableError) throw err;
      throw new RedisUnavailableError(reason, `Redis ${command} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#probeTimer !== null) { clearTimeout(this.#probeTimer); this.#probeTimer = null; }
    this.#metrics.redisUp.set(0);
    this.#switches?.close();
    await quit(this.command);
  }
}

/** QUIT with a bound: a hung server must not hold up shutdown. */
export async function quit(c: Connection): Promise<void> {
  closing.add(c);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    c.quit().catch(() => {}),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, 1_000); }),
  ]);
  clearTimeout(timer);
  c.disconnect();
}

/** Where Redis is sought, for logs: host:port (never the URL's user or password). */
function redisTarget(r: Exclude<Config['redis'], { mode: 'memory' }>): string {
  if (r.mode === 'standalone') {
    try { const u = new URL(r.url); return `${u.protocol}//${u.host}`; } catch { return 'redis'; }
  }
  const list = (r.mode === 'sentinel' ? r.sentinels : r.nodes).map((h) => `${h.host}:${h.port}`).join(',');
  return r.mode === 'sentinel' ? `sentinel ${list} (${r.name})` : `cluster ${list}`;
}
