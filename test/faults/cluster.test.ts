// Redis Cluster mode on three real cluster nodes: a session's keys share one slot (hash tags), so each Lua step is
// atomic; the batched poll splits by slot; Pub/Sub is sharded (SSUBSCRIBE/SPUBLISH); cancel works across replicas,
// and keeps working when a session's slot is moved to another node under a live stream.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import keySlot from 'cluster-key-slot';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startCluster, type RedisCluster } from '../helpers/topologies.ts';
import { commandStats } from '../helpers/redis.ts';
import { startReplica, metric, type Replica } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';
import { until } from '../helpers/net.ts';

let up: Upstream;
let cluster: RedisCluster;
let a: Replica;
let b: Replica;
let pa: Replica;
let pb: Replica;
before(async () => {
  up = await startUpstream();
  cluster = await startCluster();
  const env = { STOPLINE_UPSTREAM: up.url, STOPLINE_REDIS_CLUSTER_NODES: cluster.nodes, STOPLINE_POLL_INTERVAL_MS: '200', STOPLINE_REDIS_TIMEOUT_MS: '1000' };
  a = await startReplica({ ...env, STOPLINE_NODE_ID: 'ca' });
  b = await startReplica({ ...env, STOPLINE_NODE_ID: 'cb' });
  pa = await startReplica({ ...env, STOPLINE_NODE_ID: 'pa', STOPLINE_CANCEL_MODE: 'poll', STOPLINE_REDIS_PREFIX: 'pollc:' });
  pb = await startReplica({ ...env, STOPLINE_NODE_ID: 'pb', STOPLINE_CANCEL_MODE: 'poll', STOPLINE_REDIS_PREFIX: 'pollc:' });
  for (const r of [a, b]) await until('subscribed', async () => metric(await r.metrics(), 'stopline_redis_subscriber_up') === 1, 800, 25);
});
after(async () => {
  await Promise.all([a, b, pa, pb].map((r) => r.close()));
  await cluster.stop();
  await up.close();
});

const open = (r: Replica, session: string, message: string) => stream(`${r.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: session, message_id: message }) });

test('cross-replica cancel, pending and session-wide cancel on a cluster', async () => {
  const s = open(a, 'cl1', 'm1');
  await s.waitFor((t) => t.includes('word1 '));
  const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'cl1', message_id: 'm1' });
  assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
  assert.equal(r.json.path, 'pubsub');
  // Sharded Pub/Sub: SPUBLISH on the shards, no classic PUBLISH broadcast over the cluster bus.
  let spublish = 0;
  let publish = 0;
  for (const port of cluster.ports) {
    const stats = await commandStats(cluster.client(port));
    spublish += stats.get('spublish') ?? 0;
    publish += stats.get('publish') ?? 0;
  }
  assert.ok(spublish > 0, 'SPUBLISH used');
  assert.equal(publish, 0, 'no classic PUBLISH');
  assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');

  assert.equal((await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'cl2', message_id: 'm' })).json.outcome, 'pending');
  const p = open(a, 'cl2', 'm');
  assert.equal(sseEvents((await p.result).text).at(-1)!.event, 'stopline.cancelled');

  const x = open(a, 'cl3', 'x');
  const y = open(b, 'cl3', 'y');
  await x.waitFor((t) => t.includes('word1 '));
  await y.waitFor((t) => t.includes('word1 '));
  const all = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'cl3' });
  assert.equal(all.json.outcome, 'stopped', JSON.stringify(all.json));
  for (const s2 of [x, y]) assert.equal(sseEvents((await s2.result).text).at(-1)!.event, 'stopline.cancelled');
});

test('the batched poll covers streams whose sessions sit on different nodes', async () => {
  // Sessions chosen so that their slots are served by all three nodes.
  const sessions: string[] = [];
  const seen = new Set<number>();
  for (let i = 0; seen.size < 3; i++) {
    const owner = await cluster.owner(keySlot(`poll${i}`));
    if (!seen.has(owner)) { seen.add(owner); sessions.push(`poll${i}`); }
  }
  const streams = sessions.map((s) => open(pa, s, 'm'));
  for (const s of streams) await s.waitFor((t) => t.includes('word1 '));
  for (const session of sessions) {
    const r = await postJson(`${pb.url}/stopline/v1/cancel`, { session_id: session, message_id: 'm' });
    assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
    assert.equal(r.json.path, 'poll');
  }
  for (const s of streams) assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
});

test('a session\'s slot moved to another node under a live stream: the stream goes on and cancel still works', async () => {
  const session = 'moving';
  const slot = keySlot(session);
  const s = open(a, session, 'moved');
  await s.waitFor((t) => t.includes('word1 '));
  const from = await cluster.owner(slot);
  const to = cluster.ports.find((p) => p !== from)!;
  await cluster.moveSlot(slot, to);
  assert.equal(await cluster.owner(slot), to);
  await s.waitFor((t) => t.includes('word40 '));
  const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: session, message_id: 'moved' });
  assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
  const res = await s.result;
  assert.equal(sseEvents(res.text).at(-1)!.event, 'stopline.cancelled');
  const delivered = res.text.slice(0, res.text.lastIndexOf('event: stopline.cancelled'));
  assert.ok((await up.request('moved')).sent.startsWith(delivered), 'what the client got before the stop is what the upstream sent');
});

// A black-holed shard subscriber (no FIN, no RST). The health PING used to go through the Cluster object, i.e. to a
// regular node connection, which answered, so a dead sharded subscription was never found. The listener runs here
// in-process on a real cluster, its subscriber reaching the nodes through TCP proxies (ioredis' natMap), so that
// exactly the subscriber's own connection can be frozen.
test('a black-holed sharded subscriber is found by its own PING, replaced and verified again', async () => {
  const { Cluster } = await import('ioredis');
  const { startTcpProxy } = await import('../helpers/tcp-proxy.ts');
  const { loadConfig } = await import('../../src/config.ts');
  const { createMetrics } = await import('../../src/observability/metrics.ts');
  const { createLogger } = await import('../../src/log.ts');
  const { RedisClient } = await import('../../src/cancel/redis-client.ts');
  const { Listener } = await import('../../src/cancel/listener.ts');
  const { createKeys } = await import('../../src/cancel/keys.ts');
  const proxies = await Promise.all(cluster.ports.map((p) => startTcpProxy(p)));
  const natMap = Object.fromEntries(cluster.ports.map((p, i) => [`127.0.0.1:${p}`, { host: '127.0.0.1', port: proxies[i]!.port }]));
  const config = loadConfig({ STOPLINE_REDIS_CLUSTER_NODES: cluster.nodes, STOPLINE_NODE_ID: 'bhc', STOPLINE_REDIS_TIMEOUT_MS: '1000' });
  const metrics = createMetrics('test');
  const log = createLogger('silent', {});
  const client = new RedisClient(config, metrics, log);
  const sub = new Cluster(cluster.ports.map((p) => ({ host: '127.0.0.1', port: p })), { lazyConnect: true, enableOfflineQueue: true, shardedSubscribers: true, natMap });
  sub.on('error', () => {});
  let subscribedCalls = 0;
  const listener = new Listener(sub, client, createKeys(config.prefix), config.nodeId, { wake() {}, confirm() {}, subscribed: () => { subscribedCalls++; } }, metrics, log, 300);
  const resubscribes = async () => (await metrics.resubscribes.get()).values[0]?.value ?? 0;
  try {
    client.start();
    await sub.connect();
    listener.start();
    await until('verified', async () => listener.verified, 400, 25);
    const frozen = proxies.reduce((n, p) => n + p.freeze((c) => c.sawSubscribe), 0);
    assert.equal(frozen, 1, 'exactly the shard subscriber\'s connection is black-holed');
    await until('replaced and verified again', async () => (await resubscribes()) >= 1 && listener.verified, 400, 25);
    assert.equal(subscribedCalls, 2, 'the coordinator is told of the new subscription (and polls at once)');
  } finally {
    await listener.close();
    await client.close();
    await Promise.all(proxies.map((p) => p.close()));
  }
});
