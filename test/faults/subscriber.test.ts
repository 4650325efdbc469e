// A subscriber connection that is silently dead (no FIN, no RST: a black-holed TCP path) receives nothing and
// reports nothing. stopline's PING on it finds out, replaces the connection, verifies the new subscription with a
// probe, and cross-replica cancel works over Pub/Sub again. Also: the peers path through a dns: name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { startReplica, metric, subscribed } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';
import { freePort, until } from '../helpers/net.ts';
import { crossReplicaStop, upstreamAndRedis } from '../helpers/scenarios.ts';

const fx = upstreamAndRedis();

test('a black-holed subscriber is detected by PING, replaced and verified; Pub/Sub works again', async () => {
  const proxy = await startTcpProxy(fx.redis.port);
  const env = { STOPLINE_UPSTREAM: fx.up.url, STOPLINE_REDIS_PREFIX: 'bh:', STOPLINE_SUBSCRIBER_PING_MS: '300', STOPLINE_POLL_INTERVAL_MS: '60000', STOPLINE_STREAM_TTL_S: '600' };
  // The owner talks to Redis through the proxy; the canceller directly.
  const a = await startReplica({ ...env, STOPLINE_NODE_ID: 'bha', STOPLINE_REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
  const b = await startReplica({ ...env, STOPLINE_NODE_ID: 'bhb', STOPLINE_REDIS_URL: fx.redis.url });
  try {
    await subscribed([a, b]);
    const before = metric(await a.metrics(), 'stopline_pubsub_resubscribes_total');
    assert.equal(proxy.freeze((c) => c.sawSubscribe), 1, 'the subscriber connection is black-holed');
    await until('a new subscription, verified', async () => metric(await a.metrics(), 'stopline_pubsub_resubscribes_total') > before, 400, 25);
    assert.equal(metric(await a.metrics(), 'stopline_redis_subscriber_up'), 1);
    // With the poll a minute away, only Pub/Sub can deliver this cancel.
    await crossReplicaStop(a, b, 'bh', 'm', 'pubsub');
  } finally {
    await a.close();
    await b.close();
    await proxy.close();
  }
});

test('peers found through a dns: name stop a stream while Redis is down', async () => {
  const secret = 'dns-peer-secret-0123456789';
  const dead = `redis://127.0.0.1:${await freePort()}`; // nothing listens: Redis down from the start
  const env = { STOPLINE_UPSTREAM: fx.up.url, STOPLINE_REDIS_URL: dead, STOPLINE_PEER_SECRET: secret };
  const a = await startReplica({ ...env, STOPLINE_NODE_ID: 'dnsa' }); // binds its own admin port; b is told it
  const b = await startReplica({ ...env, STOPLINE_NODE_ID: 'dnsb', STOPLINE_PEERS: `dns:localhost:${new URL(a.adminUrl).port}` });
  try {
    const s = stream(`${a.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'dns', message_id: 'm' }) });
    await s.waitFor((t) => t.includes('word1 '));
    const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'dns', message_id: 'm' });
    assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
    assert.equal(r.json.path, 'peer');
    assert.equal(r.json.owner, 'dnsa');
    assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
    assert.ok(metric(await b.metrics(), 'stopline_fallback_activations_total', { reason: 'peer_cancel' }) >= 1);
    assert.ok(metric(await a.metrics(), 'stopline_fallback_activations_total', { reason: 'local_registration' }) >= 1);
  } finally {
    await a.close();
    await b.close();
  }
});
