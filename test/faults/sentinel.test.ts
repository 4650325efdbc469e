// Sentinel mode on real redis-server and redis-sentinel processes: a master failover loses no stream, and
// cross-replica cancel works before and after it; after a SIGKILLed master, every connection follows the sentinels'
// switch at its first attempt, and one already on the new master stays there; a paused master's connections move at
// the switch.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startSentinels, type SentinelSet } from '../helpers/topologies.ts';
import { startReplica, metric, type Replica } from '../helpers/stopline.ts';
import { postJson, stream } from '../helpers/client.ts';
import { until } from '../helpers/net.ts';
import { crossReplicaStop } from '../helpers/scenarios.ts';
import { SwitchFollower } from '../../src/cancel/sentinel-switch.ts';
import { createLogger } from '../../src/log.ts';

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

test('an announcement drops only the connections that are not on the announced master', async () => {
  const port = await set.masterPort();
  const lines: Record<string, unknown>[] = [];
  const follower = new SwitchFollower([], set.name, () => 20, createLogger('info', {}, (l) => { lines.push(JSON.parse(l)); }), () => false);
  const conns = [0, 1].map(() => new Redis({ host: '127.0.0.1', port, lazyConnect: true }));
  const reconnects = conns.map(() => 0);
  conns.forEach((c, i) => { c.on('error', () => {}); c.on('reconnecting', () => reconnects[i]!++); follower.follow(c); });
  try {
    await Promise.all(conns.map((c) => c.connect()));
    // A connection's id on the server changes when it reconnects; a dropped one cannot answer on its old socket.
    const ids = () => Promise.all(conns.map((c) => c.client('ID')));
    const reconnected = (n: number) => until(`reconnect ${n}`, () => reconnects.every((r) => r === n) && conns.every((c) => c.status === 'ready'), 200, 25);
    const start = await ids();
    // The same switch announced again (by another sentinel): both are on it already.
    follower.switched(`${set.name} 127.0.0.1 1 127.0.0.1 ${port}`);
    assert.equal(lines.at(-1)!.reconnecting, 0);
    // Another master set's switch: not ours.
    follower.switched(`othermaster 127.0.0.1 ${port} 127.0.0.1 1`);
    assert.deepEqual(await ids(), start);
    assert.deepEqual(reconnects, [0, 0]);
    // A switch elsewhere: both are dropped, and reconnect.
    follower.switched(`${set.name} 127.0.0.1 ${port} 127.0.0.1 1`);
    assert.equal(lines.at(-1)!.reconnecting, 2);
    await reconnected(1);
    const moved = await ids();
    for (const [i, id] of moved.entries()) assert.notEqual(id, start[i]);
    // A hostname cannot be compared with the socket's address: dropped (they then ask the sentinels).
    follower.switched(`${set.name} 127.0.0.1 1 localhost ${port}`);
    await reconnected(2);
    for (const [i, id] of (await ids()).entries()) assert.notEqual(id, moved[i]);
  } finally {
    follower.close();
    for (const c of conns) c.disconnect();
  }
});

// What each of the four connections (command and subscriber, on both replicas) does from here, in order, and when
// each sentinel announces the switch (each does once it has the new configuration: the leader at the end of the
// failover, the other when it learns it, possibly seconds later).
type Seen = { at: number; what: 'reconnecting'; delay: number } | { at: number; what: 'ready'; port: number };
async function watch() {
  const conns = [a, b].flatMap((r) => r.app.redisConnections.map((c, i) => ({ name: `${r.app.config.nodeId}/${i === 0 ? 'command' : 'subscriber'}`, c, seen: [] as Seen[] })));
  assert.equal(conns.length, 4);
  for (const x of conns) {
    x.c.on('reconnecting', (delay: number) => x.seen.push({ at: performance.now(), what: 'reconnecting', delay }));
    x.c.on('ready', () => x.seen.push({ at: performance.now(), what: 'ready', port: (x.c as unknown as { stream: { remotePort: number } }).stream.remotePort }));
  }
  const switches = set.sentinels.split(',').map(() => [] as number[]);
  const watchers = set.sentinels.split(',').map((hp, i) => {
    const w = new Redis({ host: hp.split(':')[0], port: Number(hp.split(':')[1]) });
    w.on('error', () => {});
    w.on('message', (channel: string) => { if (channel === '+switch-master') switches[i]!.push(performance.now()); });
    return w;
  });
  await Promise.all(watchers.map((w) => w.subscribe('+switch-master')));
  return {
    conns,
    /** Every announcement so far, in order. */
    switches: () => switches.flat().sort((x, y) => x - y),
    /** Each sentinel has announced the switch. */
    allAnnounced: () => switches.every((x) => x.length > 0),
    diagnostics: (from: number) => JSON.stringify({ switches: switches.map((x) => x.map((t) => Math.round(t - from))), conns: conns.map((x) => ({ name: x.name, seen: x.seen.map((e) => ({ ...e, at: Math.round(e.at - from) })) })) }),
    close: () => { for (const w of watchers) w.disconnect(); },
  };
}

test('a paused master (its connections open and silent): every connection moves to the new master at the switch', async (t) => {
  await ready();
  const w = await watch();
  const pausedAt = performance.now();
  const { port: newMaster, resume } = await set.pauseMaster();
  try {
    // Nothing fails on a connection to a paused server: only the announcement can move it.
    await until('every connection ready on the new master', () => w.allAnnounced() && w.conns.every((x) => x.seen.some((e) => e.what === 'ready' && e.port === newMaster)), 600, 100)
      .catch((err: Error) => { throw new Error(`${err.message}; ${w.diagnostics(pausedAt)}`); });
    await ready();
    for (const x of w.conns) for (const e of x.seen) if (e.what === 'ready') assert.equal(e.port, newMaster, `${x.name} ready on ${e.port}; ${w.diagnostics(pausedAt)}`);
    await crossReplicaStop(a, b, 'sent-paused', 'm', wakePaths);
    t.diagnostic(`times from the pause, in ms: ${w.diagnostics(pausedAt)}`);
  } finally {
    resume();
    w.close();
  }
});

test('after a SIGKILLed master, every connection is on the new master at the first attempt after the switch, and stays', async (t) => {
  await ready();
  const w = await watch();
  const { port: newMaster, killedAt } = await set.killMaster();
  try {
    // A connection may get there a moment before the announcement reaches the test (a sentinel answers with the
    // new master as soon as it has switched).
    await until('every sentinel announced, every connection ready on the new master', () => w.allAnnounced() && w.conns.every((x) => x.seen.some((e) => e.what === 'ready' && e.port === newMaster)), 600, 100)
      .catch((err: Error) => { throw new Error(`${err.message}; ${w.diagnostics(killedAt)}`); });
    await ready();
    const diagnostics = () => w.diagnostics(killedAt);
    const [first, last] = [w.switches()[0]!, w.switches().at(-1)!];
    for (const x of w.conns) {
      // Every wait between two attempts is the flat Sentinel back-off (at most 200 + 50 ms), never a long one that
      // would outlast the switch.
      for (const e of x.seen) if (e.what === 'reconnecting') assert.ok(e.delay < 250, `${x.name} waited ${e.delay} ms before an attempt; ${diagnostics()}`);
      // The connection never lands anywhere but on the new master. Once every sentinel has the switch, it gets there
      // at the first attempt or the one after (an attempt already under way to the old address may fail); before,
      // a sentinel that does not know yet may still name the old master.
      for (const e of x.seen) if (e.what === 'ready') assert.equal(e.port, newMaster, `${x.name} ready on ${e.port}; ${diagnostics()}`);
      const arrived = x.seen.findIndex((e) => e.what === 'ready');
      const failedAfterLast = x.seen.slice(0, arrived).filter((e) => e.what === 'reconnecting' && e.at > last).length;
      assert.ok(failedAfterLast <= 1, `${x.name}: ${failedAfterLast} failed attempts after the last announcement; ${diagnostics()}`);
      // On the new master, it stays: a later sentinel's announcement of the same switch does not drop it again.
      assert.equal(x.seen.slice(arrived + 1).length, 0, `${x.name} reconnected once on the new master; ${diagnostics()}`);
    }
    // Settled: a cross-replica stop works, and no connection had to reconnect again for it.
    const before = w.conns.map((x) => x.seen.length);
    await crossReplicaStop(a, b, 'sent3', 'm', wakePaths);
    assert.deepEqual(w.conns.map((x) => x.seen.length), before, diagnostics());
    t.diagnostic(`times from the kill, in ms: ${JSON.stringify({ killToSwitchMs: Math.round(first - killedAt) })} ${diagnostics()}`);
  } finally {
    w.close();
  }
});
