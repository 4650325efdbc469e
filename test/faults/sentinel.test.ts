// Sentinel mode on real redis-server and redis-sentinel processes: a master failover loses no stream, and
// cross-replica cancel works before and after it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startSentinels, type SentinelSet } from '../helpers/topologies.ts';
import { startReplica, metric, type Replica } from '../helpers/stopline.ts';
import { postJson, stream } from '../helpers/client.ts';
import { until } from '../helpers/net.ts';
import { crossReplicaStop } from '../helpers/scenarios.ts';

let up: Upstream;
let set: SentinelSet;
let a: Replica;
let b: Replica;
before(async () => {
  up = await startUpstream();
  set = await startSentinels();
  const env = { STOPLINE_UPSTREAM: up.url, STOPLINE_REDIS_SENTINELS: set.sentinels, STOPLINE_REDIS_SENTINEL_NAME: set.name, STOPLINE_POLL_INTERVAL_MS: '200', STOPLINE_REDIS_TIMEOUT_MS: '500' };
  a = await startReplica({ ...env, STOPLINE_NODE_ID: 'sa' });
  b = await startReplica({ ...env, STOPLINE_NODE_ID: 'sb' });
});
after(async () => {
  await a.close();
  await b.close();
  await set.stop();
  await up.close();
});

const ready = async () => {
  for (const r of [a, b]) await until(`${r.app.config.nodeId} ready`, async () => {
    const m = await r.metrics();
    return metric(m, 'stopline_redis_up') === 1 && metric(m, 'stopline_redis_subscriber_up') === 1;
  }, 800, 25);
};

// The safety poll runs every 200 ms here (so that a failover is noticed quickly): it may see the cancel flag before
// the Pub/Sub wake-up arrives, and then the owner rightly reports `poll`. The test once demanded `pubsub` and failed
// when the poll won; that Pub/Sub works after the failover is shown by the wait loop below, which retries until it does.
const wakePaths = ['pubsub', 'poll'] as const;

test('cross-replica cancel through Sentinel', async () => {
  await ready();
  await crossReplicaStop(a, b, 'sent1', 'm', wakePaths);
});

test('a master failover loses no stream, and cancel works on the new master', async () => {
  await ready();
  const streams = [1, 2, 3].map((i) => stream(`${a.url}/api/chat/stream?chunks=300&interval=5`, { body: JSON.stringify({ session_id: `fo${i}`, message_id: 'm' }) }));
  for (const s of streams) await s.waitFor((t) => t.includes('word1 '));
  const oldMaster = await set.masterPort();
  const newMaster = await set.failover();
  assert.notEqual(newMaster, oldMaster);
  for (const [i, s] of streams.entries()) {
    const r = await s.result;
    assert.equal(r.complete, true);
    assert.equal(r.text, up.records.find((x) => x.headers['x-session-id'] === `fo${i + 1}`)!.sent, 'byte for byte through the failover');
  }
  // The replicas find the new master (READONLY → reconnect, or the sentinels' +switch-master) and cancel works.
  await until('both replicas on the new master', async () => {
    await ready();
    const s = stream(`${a.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'probe', message_id: `p${Date.now()}` }) });
    await s.waitFor((t) => t.includes('word0 '));
    const id = String(s.headers['x-message-id']);
    const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'probe', message_id: id });
    s.destroy();
    return r.json.outcome === 'stopped' && r.json.path === 'pubsub';
  }, 100, 100);
  await crossReplicaStop(a, b, 'sent2', 'm', wakePaths);
});
