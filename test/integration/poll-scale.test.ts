// The safety poll at the largest STOPLINE_MAX_STREAMS: 50,000 live streams on one replica, and 5 replicas x 10,000
// on one Redis, with registrations made by the test (no sockets). The bug this guards against: the poll passed three
// keys per live stream to one script; between 40,000 and 50,000 streams it threw RangeError on every tick, and at
// 10,000 it sent megabytes per tick and kept Redis busy longer than other replicas' call bounds. The property
// asserted is structural, not a timing: what one tick sends and receives, and the commands Redis runs for it, are
// the same at 1,000 and at 50,000 streams, and one script in Redis Cluster too (it was one per hash slot in use).
// Redis' own busy time per tick is recorded beside them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { commandStats, startRedis, type RedisServer } from '../helpers/redis.ts';
import { startCluster } from '../helpers/topologies.ts';
import { testReplica, type TestReplica } from '../helpers/coordinators.ts';
import { until } from '../helpers/net.ts';

let redis: RedisServer;
let admin: Redis;
const closers: (() => Promise<void>)[] = [];
before(async () => {
  redis = await startRedis();
  admin = redis.client();
});
after(async () => {
  for (const c of closers) await c();
  await redis.stop();
});

async function replica(nodeId: string): Promise<TestReplica> {
  const r = await testReplica({ STOPLINE_REDIS_URL: redis.url, STOPLINE_NODE_ID: nodeId });
  closers.push(() => r.close());
  return r;
}

/** Adds streams [from, to) to a replica: in its registry, and registered in Redis as the replica would. */
async function addStreams(r: TestReplica, from: number, to: number): Promise<void> {
  const node = r.config.nodeId;
  for (let start = from; start < to; start += 5_000) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(to, start + 5_000); i++) {
      const ref = r.open({ sessionId: `${node}-s${i}`, messageId: `m${i}` }).ref;
      batch.push(r.store.register(ref, { owner: node, trace: '', startedAtMs: Date.now(), again: false }));
    }
    await Promise.all(batch);
  }
}

interface Tick { readonly commands: Map<string, number>; readonly sent: number; readonly received: number; readonly redisUsec: number }

async function stats(): Promise<{ calls: Map<string, number>; usec: number }> {
  const info = await admin.info('commandstats');
  const calls = new Map<string, number>();
  let usec = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    calls.set(m[1]!, Number(m[2]));
    if (m[1] !== 'info') usec += Number(m[3]);
  }
  return { calls, usec };
}

/** One poll tick of `r`, measured: commands Redis ran for it (scripts' inner commands too), bytes on its connection. */
async function tick(r: TestReplica): Promise<Tick> {
  const socket = (r.client.command as Redis).stream;
  const before = await stats();
  const [w0, r0] = [socket.bytesWritten, socket.bytesRead];
  await r.coordinator.poll();
  const [w1, r1] = [socket.bytesWritten, socket.bytesRead];
  const afterStats = await stats();
  const commands = new Map<string, number>();
  for (const [cmd, calls] of afterStats.calls) {
    const d = calls - (before.calls.get(cmd) ?? 0) - (cmd === 'info' ? 1 : 0);
    if (d > 0) commands.set(cmd, d);
  }
  return { commands, sent: w1 - w0, received: r1 - r0, redisUsec: afterStats.usec - before.usec };
}

const describeTick = (t: Tick) => `${[...t.commands].map(([c, n]) => `${c}=${n}`).join(' ')}; sent ${t.sent} B, received ${t.received} B; Redis busy ${t.redisUsec} us`;

test('one replica, 1,000 then 50,000 live streams: the same commands and bytes per tick, and the poll still delivers', async (t) => {
  const r = await replica('big');
  await addStreams(r, 0, 1_000);
  const small = await tick(r);
  await addStreams(r, 1_000, 50_000);
  assert.equal(r.registry.size, 50_000);
  const large = await tick(r);
  t.diagnostic(`1,000 streams: ${describeTick(small)}`);
  t.diagnostic(`50,000 streams: ${describeTick(large)}`);
  assert.deepEqual(large.commands, small.commands, 'the commands of one tick do not depend on the streams held');
  assert.equal(large.commands.get('evalsha'), 1, 'one round trip');
  assert.equal(large.sent, small.sent, 'bytes sent per tick');
  assert.equal(large.received, small.received, 'bytes received per tick');
  assert.ok(large.sent + large.received < 1_000, `a tick stays small: ${large.sent + large.received} B`);

  // A cancel made elsewhere reaches the 50,000th stream through this poll, and is confirmed with its real owner.
  const canceller = await replica('canceller');
  const answer = canceller.coordinator.cancel('big-s49999', 'm49999');
  await until('the owner\'s poll stops the stream', async () => { await r.coordinator.poll(); return r.stopped.length > 0; });
  assert.deepEqual(r.stopped, [{ sessionId: 'big-s49999', messageId: 'm49999' }]);
  const a = await answer;
  assert.equal(a.outcome, 'stopped', JSON.stringify(a));
  assert.equal(a.owner, 'big');
  assert.equal(a.path, 'poll');
});

test('five replicas x 10,000 live streams on one Redis: each tick is the same small step', async (t) => {
  const replicas = await Promise.all(['r1', 'r2', 'r3', 'r4', 'r5'].map((id) => replica(id)));
  const first = await tick(replicas[0]!);
  for (const r of replicas) await addStreams(r, 0, 10_000);
  for (const r of replicas) {
    const x = await tick(r);
    t.diagnostic(`${r.config.nodeId}, 10,000 streams: ${describeTick(x)}`);
    assert.deepEqual(x.commands, first.commands);
    assert.equal(x.sent, first.sent);
    assert.equal(x.received, first.received);
  }
  // A session-wide cancel across the replicas: one stream of a session on r2, one on r4 (same session).
  const session = 'shared';
  for (const [i, r] of [[0, replicas[1]!], [1, replicas[3]!]] as const) await r.coordinator.streamStarted(r.open({ sessionId: session, messageId: `x${i}` }));
  const answer = replicas[0]!.coordinator.cancel(session, undefined);
  await until('both owners stop their stream', async () => {
    await Promise.all([replicas[1]!.coordinator.poll(), replicas[3]!.coordinator.poll()]);
    return replicas[1]!.stopped.length + replicas[3]!.stopped.length === 2;
  });
  const a = await answer;
  assert.equal(a.outcome, 'stopped', JSON.stringify(a));
  assert.deepEqual([...a.message_ids!].sort(), ['x0', 'x1']);
});

test('Redis Cluster: a tick is one script on the replica\'s own slot, however many slots its streams use', async (t) => {
  const cluster = await startCluster();
  closers.push(() => cluster.stop());
  const r = await testReplica({ STOPLINE_REDIS_CLUSTER_NODES: cluster.nodes, STOPLINE_NODE_ID: 'clustered' });
  closers.push(() => r.close());
  const registered: Promise<unknown>[] = [];
  for (let i = 0; i < 2_000; i++) {
    const ref = r.open({ sessionId: `c${i}`, messageId: 'm' }).ref; // 2,000 sessions: slots on every node
    registered.push(r.store.register(ref, { owner: 'clustered', trace: '', startedAtMs: Date.now(), again: false }));
  }
  await Promise.all(registered);
  const all = async () => {
    const sum = new Map<string, number>();
    for (const port of cluster.ports) for (const [cmd, n] of await commandStats(cluster.client(port))) sum.set(cmd, (sum.get(cmd) ?? 0) + n);
    return sum;
  };
  const before = await all();
  await r.coordinator.poll();
  const afterStats = await all();
  const commands = new Map<string, number>();
  for (const [cmd, n] of afterStats) {
    // ioredis refreshes its slot map on its own schedule, and names each connection it opens for that (CLIENT
    // SETNAME): neither is the poll's.
    if (cmd.startsWith('cluster|') || cmd.startsWith('client|')) continue;
    const d = n - (before.get(cmd) ?? 0) - (cmd === 'info' ? cluster.ports.length : 0);
    if (d > 0) commands.set(cmd, d);
  }
  t.diagnostic(`2,000 streams over ${cluster.ports.length} nodes: ${[...commands].map(([c, n]) => `${c}=${n}`).join(' ')}`);
  assert.equal(commands.get('evalsha'), 1, 'one round trip, not one per slot in use');
  assert.deepEqual(commands, new Map([['evalsha', 1], ['set', 2], ['get', 1], ['xrange', 1]]));
});
