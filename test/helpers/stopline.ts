// stopline replicas for tests: in-process (createApp on port 0) or as a real process (the built entry point).
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before } from 'node:test';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { freePort, until } from './net.ts';

export interface Replica {
  readonly app: App;
  readonly url: string;
  readonly adminUrl: string;
  readonly port: number;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/** An in-process replica on ports 0; `write` receives its log lines (STOPLINE_LOG_LEVEL decides which). */
export async function startReplica(env: Record<string, string>, write?: (line: string) => void): Promise<Replica> {
  const config = loadConfig({ STOPLINE_LISTEN: '127.0.0.1:0', STOPLINE_ADMIN_LISTEN: '127.0.0.1:0', STOPLINE_LOG_LEVEL: 'silent', ...env });
  const level = process.env.STOPLINE_TEST_LOG === '1' ? 'debug' : config.logLevel;
  const app = createApp(config, createLogger(level, { node: config.nodeId }, write));
  const { port, adminPort } = await app.start();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    adminUrl,
    port,
    metrics: async () => (await fetch(`${adminUrl}/metrics`)).text(),
    close: () => app.close(),
  };
}

/** The settings of `n` replicas joined by the peers path (each its own admin port, all of them as peers). */
export async function peersEnv(n: number): Promise<Record<string, string>[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const peers = ports.map((p) => `127.0.0.1:${p}`).join(',');
  return ports.map((p) => ({ STOPLINE_ADMIN_LISTEN: `127.0.0.1:${p}`, STOPLINE_PEERS: peers, STOPLINE_PEER_SECRET: 'a-peer-secret-of-some-length' }));
}

/** Resolves once every replica's Pub/Sub subscription is verified (its own probe came back): a cross-replica wake-up
 * can reach it from then on. */
export async function subscribed(replicas: readonly Replica[], what = 'subscriber verified'): Promise<void> {
  for (const r of replicas) await until(what, async () => metric(await r.metrics(), 'stopline_redis_subscriber_up') === 1);
}

/** Resolves once every replica's Redis command connection is ready and its circuit closed (stopline_redis_up 1):
 * from then on a cancel it receives reaches Redis instead of being answered degraded. */
export async function redisReady(replicas: readonly Replica[]): Promise<void> {
  for (const r of replicas) await until('redis up', async () => metric(await r.metrics(), 'stopline_redis_up') === 1);
}

/**
 * The sum of the samples in Prometheus text that have these labels (others may vary), e.g.
 * metric(text, 'stopline_streams_total', {outcome: 'cancelled'}) counts the cancelled streams of every dialect.
 */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

/**
 * For one test file: a replica in front of a small upstream made of `handler` (started before the file's tests,
 * both closed after). Read `.sl` inside tests.
 */
export function replicaBefore(handler: RequestListener, env: Record<string, string> = {}): { readonly sl: Replica } {
  const f = {} as { sl: Replica; http: Server };
  before(async () => {
    f.http = createServer(handler);
    f.http.listen(0, '127.0.0.1');
    await once(f.http, 'listening');
    f.sl = await startReplica({ STOPLINE_UPSTREAM: `http://127.0.0.1:${(f.http.address() as AddressInfo).port}`, ...env });
  });
  after(async () => {
    await f.sl.close();
    f.http.closeAllConnections();
    f.http.close();
  });
  return f;
}
