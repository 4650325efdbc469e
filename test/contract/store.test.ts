// One contract suite for every cancel store: the in-process store of single-node mode and the Redis store (on a
// real redis-server), so both keep the same semantics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/cancel/memory-store.ts';
import { RedisStore } from '../../src/cancel/redis-store.ts';
import { RedisClient } from '../../src/cancel/redis-client.ts';
import { createKeys, type StreamRef } from '../../src/cancel/keys.ts';
import { firstCursor, type CancelStore, type Registration } from '../../src/cancel/store.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { until } from '../helpers/net.ts';

let n = 0;
const ids = () => ({ sessionId: `s${++n}`, messageId: `m${n}` });
const reg = (owner: string, extra: Partial<Registration> = {}): Registration => ({ owner, trace: '', startedAtMs: Date.now(), again: false, ...extra });
/** A replica that polls: its heartbeat is there, so its registrations are live. */
const beat = (s: CancelStore, ...owners: string[]) => Promise.all(owners.map((o) => s.poll(o, `epoch-${o}`, firstCursor)));
let owner = 0;
/** Owner names of one test (the Redis store's keys outlive a test: each test has its own replicas). */
const owners = () => { owner++; return { a: `a${owner}`, b: `b${owner}`, x: `x${owner}`, y: `y${owner}`, ghost: `ghost${owner}` }; };
/** A stream registered by a live owner `o.a`. */
async function liveStream(s: CancelStore) {
  const o = owners();
  const ref = ids();
  await beat(s, o.a);
  await s.register(ref, reg(o.a));
  return { o, ref };
}
/** A message that was stopped: cancelled, finished as cancelled, and refused when asked again. */
async function stoppedMessage(s: CancelStore) {
  const { o, ref } = await liveStream(s);
  await s.cancel(ref, 'b\tc1');
  await s.finish(ref, o.a, 'cancelled', 'pubsub');
  assert.equal(await s.register(ref, reg(o.a)), 'already_stopped');
  return { o, ref };
}
const refs = (list: readonly StreamRef[]) => list.map((r) => `${r.sessionId}/${r.messageId}`);

function contract(name: string, make: () => CancelStore) {
  describe(name, () => {
    test('register, get and finish a stream', async () => {
      const s = make();
      const o = owners();
      const ref = ids();
      await beat(s, o.a);
      assert.equal(await s.register(ref, reg(o.a, { trace: 'tp' })), 'registered');
      assert.deepEqual(await s.get(ref.sessionId), [{ messageId: ref.messageId, owner: o.a, trace: 'tp' }]);
      assert.deepEqual(await s.get(ref.sessionId, ref.messageId), [{ messageId: ref.messageId, owner: o.a, trace: 'tp' }]);
      await s.finish(ref, o.a, 'completed', '');
      assert.deepEqual(await s.get(ref.sessionId), []);
      assert.deepEqual(await s.outcomes(ref.sessionId, [ref.messageId, 'other']), [{ outcome: 'completed', owner: o.a, via: '' }, null]);
    });

    test('cancel of a live stream sets the flag, names its owner and lands in the owner\'s inbox', async () => {
      const s = make();
      const { o, ref } = await liveStream(s);
      const d = await s.cancel(ref, 'b\tc1');
      assert.equal(d.kind, 'live');
      assert.equal(d.kind === 'live' && d.stream.owner, o.a);
      assert.equal(await s.check(ref), true);
      assert.deepEqual(refs((await s.poll(o.a, `epoch-${o.a}`, firstCursor)).cancelled), refs([ref]));
      await s.finish(ref, o.a, 'cancelled', 'pubsub');
      assert.equal(await s.check(ref), false, 'finish clears the flag');
      assert.deepEqual(await s.cancel(ref, 'b\tc2'), { kind: 'done', outcome: 'cancelled' });
      assert.deepEqual(await s.outcomes(ref.sessionId, [ref.messageId]), [{ outcome: 'cancelled', owner: o.a, via: 'pubsub' }], 'the done marker confirms with the real owner');
    });

    test('cancel after the stream finished: done, with its outcome', async () => {
      const s = make();
      const { o, ref } = await liveStream(s);
      await s.finish(ref, o.a, 'completed', '');
      assert.deepEqual(await s.cancel(ref, 'b\tc1'), { kind: 'done', outcome: 'completed' });
    });

    test('cancel before the stream starts is pending, and the stream sees it when it registers', async () => {
      const s = make();
      const o = owners();
      const ref = ids();
      assert.deepEqual(await s.cancel(ref, 'b\tc1'), { kind: 'pending' });
      assert.equal(await s.register(ref, reg(o.a)), 'cancel_waiting');
    });

    test('a message that was cancelled is not registered again (a reconnect with its ids)', async () => {
      const s = make();
      const { o, ref } = await stoppedMessage(s);
      assert.deepEqual(await s.get(ref.sessionId), []);
      const done = ids();
      await s.register(done, reg(o.a));
      await s.finish(done, o.a, 'completed', '');
      assert.equal(await s.register(done, reg(o.a)), 'registered', 'a completed message may be asked again');
    });

    // Regression: a reconnect refused as already stopped, whose client then left, finished as
    // `client_disconnected` and overwrote the `cancelled` done marker; the next reconnect was generated again.
    test('a later finish under the ids of a cancelled message leaves its cancelled marker', async () => {
      const s = make();
      const { o, ref } = await stoppedMessage(s);
      await s.finish(ref, o.a, 'client_disconnected', '');
      assert.equal((await s.outcomes(ref.sessionId, [ref.messageId]))[0]?.outcome, 'cancelled');
      assert.equal(await s.register(ref, reg(o.a)), 'already_stopped', 'the next reconnect is refused too');
    });

    // Regression: a registration that timed out after its short stream had finished was written on the next poll,
    // which deleted the done marker: a later cancel answered `accepted` instead of `already_completed`.
    test('a registration written again never brings back a stream that ended', async () => {
      const s = make();
      const { o, ref } = await liveStream(s);
      await s.finish(ref, o.a, 'completed', '');
      assert.equal(await s.register(ref, reg(o.a, { again: true })), 'ended');
      assert.deepEqual(await s.get(ref.sessionId), []);
      assert.deepEqual(await s.cancel(ref, 'b\tc1'), { kind: 'done', outcome: 'completed' });
      const lost = ids();
      assert.equal(await s.register(lost, reg(o.a, { again: true })), 'registered', 'a registration Redis lost is written again');
    });

    test('a cancel for one message never touches another message of the session', async () => {
      const s = make();
      const o = owners();
      const old = ids();
      const cur = { sessionId: old.sessionId, messageId: `${old.messageId}-new` };
      await s.register(old, reg(o.a));
      await s.finish(old, o.a, 'completed', '');
      await s.register(cur, reg(o.a));
      assert.deepEqual(await s.cancel(old, 'b\tc1'), { kind: 'done', outcome: 'completed' });
      assert.equal(await s.check(cur), false);
    });

    test('session-wide cancel flags every live stream of the session and hands each to its owner', async () => {
      const s = make();
      const o = owners();
      const a = ids();
      const b = { sessionId: a.sessionId, messageId: `${a.messageId}-2` };
      await beat(s, o.x, o.y);
      await s.register(a, reg(o.x));
      await s.register(b, reg(o.y));
      const flagged = await s.cancelSession(a.sessionId, 'z\tc1');
      assert.deepEqual(flagged.map((f) => `${f.messageId}@${f.owner}`).sort(), [`${a.messageId}@${o.x}`, `${b.messageId}@${o.y}`].sort());
      assert.equal(await s.check(a), true);
      assert.equal(await s.check(b), true);
      assert.deepEqual(refs((await s.poll(o.x, `epoch-${o.x}`, firstCursor)).cancelled), refs([a]));
      assert.deepEqual(refs((await s.poll(o.y, `epoch-${o.y}`, firstCursor)).cancelled), refs([b]));
      assert.deepEqual(await s.cancelSession('nobody', 'z\tc2'), []);
    });

    test('a session-wide cancel bounded in time leaves the streams that started after it', async () => {
      const s = make();
      const o = owners();
      const early = ids();
      const late = { sessionId: early.sessionId, messageId: `${early.messageId}-late` };
      await beat(s, o.x);
      await s.register(early, reg(o.x, { startedAtMs: 1_000_000 }));
      await s.register(late, reg(o.x, { startedAtMs: 3_000_000 }));
      const flagged = await s.cancelSession(early.sessionId, 'z\tc1', 2_000_000);
      assert.deepEqual(flagged.map((f) => f.messageId), [early.messageId]);
      assert.equal(await s.check(late), false);
    });

    test('the poll reads only the cancels addressed to its replica, each once, and again after a lost reply', async () => {
      const s = make();
      const o = owners();
      const [a, b, c] = [ids(), ids(), ids()];
      await beat(s, o.x, o.y);
      await s.register(a, reg(o.x));
      await s.register(b, reg(o.x));
      await s.register(c, reg(o.y));
      await s.cancel(b, 'z\tc1');
      const first = await s.poll(o.x, `epoch-${o.x}`, firstCursor);
      assert.equal(first.lost, false);
      assert.deepEqual(refs(first.cancelled), refs([b]));
      assert.deepEqual((await s.poll(o.y, `epoch-${o.y}`, firstCursor)).cancelled, []);
      const second = await s.poll(o.x, `epoch-${o.x}`, first.cursor);
      assert.deepEqual(second.cancelled, [], 'read once');
      await s.cancel(a, 'z\tc2');
      const third = await s.poll(o.x, `epoch-${o.x}`, second.cursor);
      assert.deepEqual(refs(third.cancelled), refs([a]));
      assert.deepEqual(refs((await s.poll(o.x, `epoch-${o.x}`, second.cursor)).cancelled), refs([a]), 'a reply that was lost is read again');
    });

    test('the poll says when the replica\'s state is lost: first poll of an epoch, or another epoch', async () => {
      const s = make();
      const o = owners();
      assert.equal((await s.poll(o.a, 'e1', firstCursor)).lost, true);
      assert.equal((await s.poll(o.a, 'e1', firstCursor)).lost, false);
      assert.equal((await s.poll(o.a, 'e2', firstCursor)).lost, true);
    });

    test('a registration whose owner\'s heartbeat is gone is not live, and the cancel still reaches its inbox', async () => {
      const s = make();
      const o = owners();
      const ref = ids();
      await s.register(ref, reg(o.ghost));
      assert.deepEqual(await s.get(ref.sessionId), []);
      assert.deepEqual(await s.cancel(ref, 'b\tc1'), { kind: 'pending' });
      assert.deepEqual(await s.cancelSession(ref.sessionId, 'b\tc2'), []);
      assert.deepEqual(refs((await s.poll(o.ghost, 'e', firstCursor)).cancelled), refs([ref, ref]), 'an owner that was only cut off finds them');
    });

    test('finish by another owner does not remove the live registration', async () => {
      const s = make();
      const { o, ref } = await liveStream(s);
      await s.finish(ref, o.b, 'completed', '');
      assert.equal((await s.get(ref.sessionId, ref.messageId)).length, 1);
    });
  });
}

contract('MemoryStore', () => new MemoryStore(300));

test('MemoryStore: entries expire after the TTL, heartbeats after theirs', async () => {
  let now = 0;
  const s = new MemoryStore(10, 3_000, () => now);
  const ref = { sessionId: 'ttl', messageId: 'm' };
  await s.poll('a', 'e', firstCursor);
  await s.cancel(ref, 'b\tc');
  await s.register({ sessionId: 'ttl', messageId: 'live' }, reg('a'));
  assert.equal((await s.get('ttl')).length, 1);
  now = 3_001;
  assert.deepEqual(await s.get('ttl'), [], 'the owner stopped polling: not live');
  await s.poll('a', 'e', firstCursor);
  assert.equal((await s.get('ttl')).length, 1, 'polling again: live again');
  now = 10_001;
  assert.equal(await s.check(ref), false);
  assert.deepEqual(await s.get('ttl'), []);
});

let redis: RedisServer;
let client: RedisClient;
const config = () => loadConfig({ STOPLINE_REDIS_URL: redis.url, STOPLINE_REDIS_TIMEOUT_MS: '1000' });
before(async () => {
  redis = await startRedis();
  client = new RedisClient(config(), createMetrics('test'), createLogger('silent', {}));
  client.start();
  await until('redis ready', () => client.ready);
});
after(async () => {
  await client.close();
  await redis.stop();
});
contract('RedisStore', () => new RedisStore(client, createKeys('stopline:'), 300, true, 5_000));

test('RedisStore: every key it writes carries a TTL', async () => {
  const s = new RedisStore(client, createKeys('ttlcheck:'), 300, true, 5_000);
  const a = { sessionId: 'k', messageId: 'a' };
  const b = { sessionId: 'k', messageId: 'b' };
  await s.poll('x', 'e', firstCursor);
  await s.register(a, reg('x'));
  await s.cancel(b, 'y\tc');
  await s.cancel(a, 'y\tc');
  await s.cancelSession('k', 'y\tc2');
  await s.register({ sessionId: 'k2', messageId: 'c' }, reg('x'));
  await s.finish({ sessionId: 'k2', messageId: 'c' }, 'x', 'completed', '');
  const c = redis.client();
  const keys = await c.keys('ttlcheck:*');
  for (const k of ['ttlcheck:{@x}:hb', 'ttlcheck:{@x}:epoch', 'ttlcheck:{@x}:inbox', 'ttlcheck:{k}:m:a', 'ttlcheck:{k}:c:b', 'ttlcheck:{k2}:d:c']) assert.ok(keys.includes(k), `${k} in ${keys}`);
  for (const k of keys) {
    const ttl = await c.pttl(k);
    assert.ok(ttl > 0 && ttl <= 300_000, `${k} has TTL ${ttl} ms`);
  }
});

test('RedisStore: keys of one session share a hash tag, whatever the ids; a replica\'s keys have their own', () => {
  const k = createKeys('p:');
  const ref = { sessionId: 'a:b.c', messageId: 'x-y' };
  for (const key of [k.live(ref), k.flag(ref), k.done(ref), k.sessionSet(ref.sessionId)]) assert.ok(key.startsWith('p:{a:b.c}:'), key);
  for (const key of [k.heartbeat('pod-1'), k.epoch('pod-1'), k.inbox('pod-1')]) assert.ok(key.startsWith('p:{@pod-1}:'), key);
});
