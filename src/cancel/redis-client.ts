// The Redis connections and the one wrapper every call goes through: a bound on its time, the circuit breaker, and
// the metrics. No request path ever waits on Redis longer than STOPLINE_REDIS_TIMEOUT_MS: there is no offline
// queue on the command connection (a call while disconnected fails at once), and each call races its own timer
// (ioredis' commandTimeout would leave the command queued; ours simply stops waiting).
import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Config, HostPort, RedisConfig } from '../config.ts';
import { RedisUnavailableError, redisErrorReason } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../observability/metrics.ts';
import { Breaker } from './breaker.ts';

export type Connection = Redis | Cluster;

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000) + Math.floor(Math.random() * 100);

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
      // failoverDetector: follow +switch-master from the sentinels at once, not at the next failed command.
      return new Redis({ ...opts, sentinels: redis.sentinels.map(hp), name: redis.name, sentinelRetryStrategy: retryStrategy, enableTLSForSentinelMode: redis.tls, failoverDetector: true });
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
  onReady: () => void = () => {};

  constructor(config: Config, metrics: Metrics, log: Logger) {
    if (config.redis.mode === 'memory') throw new Error('RedisClient needs a Redis configuration');
    this.#timeoutMs = config.redisTimeoutMs;
    this.#metrics = metrics;
    this.#log = log;
    this.breaker = new Breaker({
      failureThreshold: 3,
      minBackoffMs: 500,
      maxBackoffMs: 5_000,
      onChange: (closed) => {
        // Each entry into fallback is counted once, with the reason that matters to an operator.
        if (!closed && !this.#closed) { metrics.fallbacks.inc({ reason: 'redis_unavailable' }); log.warn('redis unusable: streaming goes on, cancels fall back'); }
        this.#updateUp();
        // Closed again (a probe succeeded, or the connection is back): write what was held meanwhile.
        if (closed && !this.#closed) { log.info('redis usable again'); this.onReady(); }
      },
    });
    // Read once at start; a missing file is an error there, not at the first connection.
    this.#ca = config.redisCaFile === undefined ? undefined : readFileSync(config.redisCaFile, 'utf8');
    this.command = connect(config.redis, false, this.#ca);
    this.command.on('ready', () => {
      this.#log.info('redis connected', { mode: config.redis.mode });
      const wasClosed = this.breaker.closed;
      this.breaker.success(); // from open: onChange runs the recovery
      this.#updateUp();
      if (wasClosed) this.onReady();
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
    return connect(config.redis, true, this.#ca);
  }

  get ready(): boolean { return this.command.status === 'ready'; }

  start(): void {
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
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        fn(this.command),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new RedisUnavailableError('timeout', `Redis ${command} timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      this.#metrics.redisDuration.observe({ command }, (performance.now() - start) / 1000);
      this.breaker.success();
      this.#updateUp();
      return result;
    } catch (err) {
      const reason = redisErrorReason(err);
      this.#metrics.redisErrors.inc({ command, reason });
      this.breaker.failure();
      this.#updateUp();
      if (err instanceof RedisUnavailableError) throw err;
      throw new RedisUnavailableError(reason, `Redis ${command} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#metrics.redisUp.set(0);
    await quit(this.command);
  }
}

/** QUIT with a bound: a hung server must not hold up shutdown. */
export async function quit(c: Connection): Promise<void> {
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
