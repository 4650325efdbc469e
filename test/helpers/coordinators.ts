// Coordinators on a real Redis without sockets: each "replica" is a Coordinator with its own RedisClient, a
// registry the test fills with light streams, and the list of streams it was asked to stop. For tests at a scale
// or in a state that real HTTP streams would make slow or racy (tens of thousands of streams, an outage mid-write).
import { Coordinator } from '../../src/cancel/coordinator.ts';
import { createKeys, type StreamRef } from '../../src/cancel/keys.ts';
import { RedisClient } from '../../src/cancel/redis-client.ts';
import { RedisStore } from '../../src/cancel/redis-store.ts';
import { heartbeatTtlMs } from '../../src/cancel/store.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { Registry, type LiveStream } from '../../src/streams/registry.ts';
import { until } from './net.ts';

export type TestStream = LiveStream & { readonly ref: StreamRef; readonly stopped: Promise<void> };

export interface TestReplica {
  readonly config: Config;
  readonly client: RedisClient;
  readonly store: RedisStore;
  readonly registry: Registry;
  readonly coordinator: Coordinator;
  readonly stopped: StreamRef[];
  /** A stream live on this replica, in its registry; `register`: also started through the coordinator. */
  open(ref: StreamRef, register?: boolean): TestStream;
  /** The stream ends with `outcome` (the relay's end of a stream). */
  end(s: TestStream, outcome: 'completed' | 'cancelled'): void;
  close(): Promise<void>;
}

export async function testReplica(env: Record<string, string>, makeStore?: (c: RedisClient, config: Config) => RedisStore): Promise<TestReplica> {
  const config = loadConfig({ STOPLINE_CANCEL_MODE: 'poll', STOPLINE_REDIS_TIMEOUT_MS: '5000', STOPLINE_CANCEL_WAIT_MS: '10000', ...env });
  const metrics = createMetrics('test');
  const log = createLogger('silent', {});
  const client = new RedisClient(config, metrics, log);
  const store = makeStore?.(client, config) ?? new RedisStore(client, createKeys(config.prefix), config.streamTtlS, config.cancelMode === 'push', heartbeatTtlMs(config.pollIntervalMs));
  const registry = new Registry();
  const coordinator = new Coordinator(config, store, registry, metrics, log);
  client.start();
  await until('redis ready', () => client.ready);
  // As the app wires it, from here on (the first tick is this one, awaited, so no tick is in flight on return).
  client.onReady = () => void coordinator.recover();
  await coordinator.poll();
  const stopped: StreamRef[] = [];
  const r: TestReplica = {
    config, client, store, registry, coordinator, stopped,
    open(ref, register = false) {
      const { promise, resolve } = Promise.withResolvers<void>();
      const s: TestStream = {
        ref, trace: '', startedAt: performance.now(), stopVia: '', stopped: promise,
        stop: async () => { stopped.push(ref); r.end(s, 'cancelled'); resolve(); return 'stopped'; },
      };
      registry.add(s);
      if (register) void coordinator.streamStarted(s);
      return s;
    },
    end(s, outcome) {
      if (registry.remove(s)) coordinator.streamEnded(s, outcome);
    },
    async close() {
      coordinator.close();
      await client.close();
    },
  };
  return r;
}
