// The composition root: builds every part from the configuration and returns { start, drain, close }.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createAdminServer } from './admin.ts';
import { Coordinator } from './cancel/coordinator.ts';
import { createKeys } from './cancel/keys.ts';
import { Listener } from './cancel/listener.ts';
import { MemoryStore } from './cancel/memory-store.ts';
import { PeerClient, peerEndpoint } from './cancel/peers.ts';
import { RedisClient, type Connection } from './cancel/redis-client.ts';
import { RedisStore } from './cancel/redis-store.ts';
import { heartbeatTtlMs, type CancelStore } from './cancel/store.ts';
import type { Config } from './config.ts';
import { CancelAuth, RateLimiter } from './http/cancel-auth.ts';
import { InFlight } from './http/in-flight.ts';
import { createDataServer } from './http/server.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics } from './observability/metrics.ts';
import type { Exchange } from './relay/exchange.ts';
import { Relay } from './relay/relay.ts';
import type { Tunnels } from './relay/tunnel.ts';
import { createUpstream } from './relay/upstream.ts';
import { createResume } from './resume/resume.ts';
import { beforeAbort, deadlines, drained, sizes, type Deadlines, type Drainable } from './shutdown.ts';
import { Registry } from './streams/registry.ts';
import { createTracing } from './tracing/spans.ts';
import { version } from './version.ts';

export interface App {
  readonly config: Config;
  readonly log: Logger;
  /** The open upgraded connections (WebSocket...). */
  readonly tunnels: Tunnels;
  /** The Redis connections (command, then subscriber), for what watches their events; empty without Redis. */
  readonly redisConnections: readonly Connection[];
  /** Listens on both ports; resolves with the ports actually bound (useful with port 0). */
  start(): Promise<{ port: number; adminPort: number }>;
  /**
   * SIGTERM: stop taking new streams, let every in-flight exchange finish up to the drain deadline, then stop the
   * tracked streams with their ending and cut the rest; then close (src/shutdown.ts has the order).
   */
  drain(d?: Deadlines): Promise<void>;
  close(): Promise<void>;
}

/** How long a starting replica waits for Redis and its first safety poll before it listens anyway. */
const firstPollBoundMs = 1_000;

export function createApp(config: Config, log: Logger = createLogger(config.logLevel, { node: config.nodeId })): App {
  const metrics = createMetrics(version);
  const keys = createKeys(config.prefix);
  const registry = new Registry<Exchange>();
  metrics.relayed.live = () => registry.all();
  let redis: RedisClient | null = null;
  let store: CancelStore;
  if (config.redis.mode === 'memory') {
    store = new MemoryStore(config.streamTtlS, heartbeatTtlMs(config.pollIntervalMs));
  } else {
    redis = new RedisClient(config, metrics, log);
    store = new RedisStore(redis, keys, config.streamTtlS, config.cancelMode === 'push', heartbeatTtlMs(config.pollIntervalMs));
  }
  const coordinator = new Coordinator(config, store, registry, metrics, log);
  const peers = new PeerClient(config, log);
  coordinator.peers = peers;
  const listener = redis !== null && config.cancelMode === 'push'
    ? new Listener(redis.subscriber(config), redis, keys, config.nodeId, {
      wake: (ref) => coordinator.onWake(ref),
      confirm: (id, mid, c) => coordinator.onConfirm(id, mid, c),
      subscribed: () => void coordinator.poll(),
    }, metrics, log, config.subscriberPingMs)
    : null;
  if (redis !== null) {
    const r = redis;
    coordinator.redisUp = () => r.ready && r.breaker.closed;
    r.onReady = () => { void coordinator.recover(); listener?.recheck(); };
  }
  const upstream = createUpstream(config);
  const tracing = createTracing(config.nodeId);
  coordinator.tracing = tracing;
  const auth = new CancelAuth(config, upstream);
  const relay = new Relay(config, upstream, registry, coordinator, metrics, log, tracing, auth);
  const resume = createResume(config, store, peers, metrics, tracing, log);
  relay.hub = resume?.hub ?? null;
  relay.resumer = resume?.api ?? null;
  const state = { draining: false };
  const server = createDataServer(config, relay, coordinator, metrics, log, auth, new RateLimiter(config.cancelRatePerS), resume?.api ?? null);
  const peerCancel = peerEndpoint(config, coordinator);
  const admin = createAdminServer(config, metrics, state, log, { handle: async (req, res, path) => resume?.admin(req, res, path) === true || peerCancel(req, res, path) });
  const inFlight = new InFlight(server);
  const streams: Drainable = { name: 'streams', get size() { return registry.size; }, idle: () => registry.idle(), closeAll: () => relay.stopAll() };
  // In this order past the deadline: the streams' endings are written before the rest is cut.
  const drainables: Drainable[] = [streams, inFlight, relay.tunnels];
  let closed = false;

  const listen = async (s: typeof server, host: string, port: number): Promise<number> => {
    s.listen(port, host);
    await once(s, 'listening');
    return (s.address() as AddressInfo).port;
  };

  return {
    config,
    log,
    tunnels: relay.tunnels,
    redisConnections: [...(redis !== null ? [redis.command] : []), ...(listener !== null ? [listener.connection] : [])],
    async start() {
      if (config.redis.mode === 'memory') log.info('no STOPLINE_REDIS_URL: single-node mode, cancel state kept in this process');
      redis?.start();
      listener?.start();
      coordinator.start();
      // Listening only once the heartbeat is written (or Redis has had its chance): another replica takes a stream
      // as live only while its owner's heartbeat is there, so a cancel for a stream started in this replica's first
      // moments would otherwise answer `pending`. Redis unreachable: listen anyway after the bound (fail open).
      if (!await coordinator.firstPoll(firstPollBoundMs)) log.warn('starting before the first safety poll succeeded', { boundMs: firstPollBoundMs });
      const port = await listen(server, config.listen.host, config.listen.port);
      const adminPort = await listen(admin, config.adminListen.host, config.adminListen.port);
      log.info('stopline listening', { port, adminPort, upstream: config.upstream.origin, mode: config.cancelMode, redis: config.redis.mode });
      return { port, adminPort };
    },
    async drain(d = deadlines(config.drainTimeoutS * 1000)) {
      if (state.draining) return;
      state.draining = true;
      relay.draining = true;
      metrics.draining.set(1);
      inFlight.drain();
      log.info('draining', { ...sizes(drainables), timeoutS: config.drainTimeoutS });
      // New connections are refused from here (server.close() also closes the idle kept-alive ones); what is in
      // flight goes on until it ends or the deadline passes.
      server.close();
      server.closeIdleConnections();
      if (!await drained(drainables, d.drain)) {
        log.info('drain deadline reached; ending what is still open', sizes(drainables));
        for (const x of drainables) x.closeAll();
        await drained(drainables, d.cut);
      }
      await beforeAbort(this.close(), d.end);
    },
    async close() {
      if (closed) return;
      closed = true;
      coordinator.close();
      // Upgraded connections are no longer the server's (closeAllConnections does not see them): cut them here.
      relay.tunnels.closeAll();
      resume?.close();
      server.closeAllConnections();
      server.close();
      admin.closeAllConnections();
      admin.close();
      await Promise.allSettled([listener?.close(), redis?.close(), upstream.close()]);
      log.info('stopped');
    },
  };
}
