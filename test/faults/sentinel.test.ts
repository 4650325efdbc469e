// Sentinel mode on real redis-server and redis-sentinel processes: a master failover loses no stream, and
// cross-replica cancel works before and after it; after a SIGKILLed master, every connection follows the sentinels'
// switch at its first attempt.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
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
  // The subscriber's periodic health check is kept out of the way (10 minutes): after a reconnect, the subscription
  // must be verified again by what the reconnect itself sets off, not by a timer that would hide a missed one.
  const env = { STOPLINE_UPSTREAM: up.url, STOPLINE_REDIS_SENTINELS: set.sentinels, STOPLINE_REDIS_SENTINEL_NAME: set.name, STOPLINE_POLL_INTERVAL_MS: '200', STOPLINE_REDIS_TIMEOUT_MS: '500', STOPLINE_SUBSCRIBER_PING_MS: '600000' };
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

test('after a SIGKILLed master, every connection is on the new master at the first attempt after the switch', async (t) => {
  await ready();
  // What each of the four connections (command and subscriber, on both replicas) does from here, in order.
  type Seen = { at: number; what: 'reconnecting'; delay: number } | { at: number; what: 'ready'; port: number };
  const conns = [a, b].flatMap((r) => r.app.redisConnections.map((c, i) => ({ name: `${r.app.config.nodeId}/${i === 0 ? 'command' : 'subscriber'}`, c, seen: [] as Seen[] })));
  assert.equal(conns.length, 4);
  for (const x of conns) {
    x.c.on('reconnecting', (delay: number) => x.seen.push({ at: performance.now(), what: 'reconnecting', delay }));
    x.c.on('ready', () => x.seen.push({ at: performance.now(), what: 'ready', port: (x.c as unknown as { stream: { remotePort: number } }).stream.remotePort }));
  }
  // Each sentinel announces the switch once it has the new configuration; ioredis follows either announcement.
  const switches: number[] = [];
  const watchers = set.sentinels.split(',').map((hp) => {
    const w = new Redis({ host: hp.split(':')[0], port: Number(hp.split(':')[1]) });
    w.on('error', () => {});
    w.on('message', (channel: string) => { if (channel === '+switch-master') switches.push(performance.now()); });
    return w;
  });
  await Promise.all(watchers.map((w) => w.subscribe('+switch-master')));
  const { port: newMaster, killedAt } = await set.killMaster();
  try {
    await until('every connection ready after the last switch', () => switches.length > 0 && conns.every((x) => x.seen.some((e) => e.what === 'ready' && e.at > switches.at(-1)!)), 600, 100);
    await ready();
    const diagnostics = () => JSON.stringify({ killToSwitchMs: Math.round(switches[0]! - killedAt), switches: switches.map((t) => Math.round(t - killedAt)), conns: conns.map((x) => ({ name: x.name, seen: x.seen.map((e) => ({ ...e, at: Math.round(e.at - killedAt) })) })) });
    for (const x of conns) {
      // Every wait between two attempts is the flat Sentinel back-off (at most 200 + 50 ms), never a long one that
      // would outlast the switch.
      for (const e of x.seen) if (e.what === 'reconnecting') assert.ok(e.delay < 250, `${x.name} waited ${e.delay} ms before an attempt; ${diagnostics()}`);
      // The connection never lands anywhere but on the new master, and once the switch is announced it gets there
      // at the first attempt or the one after (an attempt already under way to the old address may fail).
      for (const e of x.seen) if (e.what === 'ready') assert.equal(e.port, newMaster, `${x.name} ready on ${e.port}; ${diagnostics()}`);
      const last = switches.at(-1)!;
      const firstReady = x.seen.findIndex((e) => e.what === 'ready' && e.at > last);
      const failedAfterSwitch = x.seen.slice(0, firstReady).filter((e) => e.what === 'reconnecting' && e.at > last).length;
      assert.ok(failedAfterSwitch <= 1, `${x.name}: ${failedAfterSwitch} failed attempts after the switch; ${diagnostics()}`);
    }
    // Settled: a cross-replica stop works, and no connection had to reconnect again for it.
    const before = conns.map((x) => x.seen.length);
    await crossReplicaStop(a, b, 'sent3', 'm', wakePaths);
    assert.deepEqual(conns.map((x) => x.seen.length), before, diagnostics());
    t.diagnostic(`times from the kill, in ms: ${diagnostics()}`);
  } finally {
    for (const w of watchers) w.disconnect();
  }
});
