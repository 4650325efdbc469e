// One contract suite for every cancel store: the in-process store of single-node mode and the Redis store (on a
// real redis-server), so both keep the same semantics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/cancel/memory-store.ts';
import { RedisStore } from '../../src/cancel/redis-store.ts';
import { RedisClient } from '../../src/cancel/redis-client.ts';
import { createKeys } from '../../src/cancel/keys.ts';
import type { CancelStore } from '../../src/cancel/store.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { until } from '../helpers/net.ts';

let n = 0;
const ids = () => ({ sessionId: `s${++n}`, messageId: `m${n}` });

function contract(name: string, make: () => CancelStore) {
  describe(name, () => {
    test('register, get and finish a stream', async () => {
      const s = make();
      const ref = ids();
      assert.equal(await s.register(ref, 'a', 'tp'), 'registered');
      assert.deepEqual(await s.get(ref.sessionId), [{ messageId: ref.messageId, owner: 'a', trace: 'tp' }]);
      assert.deepEqual(await s.get(ref.sessionId, ref.messageId), [{ messageId: ref.messageId, owner: 'a', trace: 'tp' }]);
      await s.finish(ref, 'a', 'completed', '');
      assert.deepEqual(await s.get(ref.sessionId), []);
      assert.equal(await s.outcome(ref), 'completed');
    });

    test('cancel of a live stream sets the flag and names its owner', async () => {
      const s = make();
      const ref = ids();
      await s.register(ref, 'a', '');
      const d = await s.cancel(ref, 'b\tc1');
      assert.equal(d.kind, 'live');
      assert.equal(d.kind === 'live' && d.stream.owner, 'a');
      assert.equal(await s.check(ref), true);
      await s.finish(ref, 'a', 'cancelled', 'pubsub');
      assert.equal(await s.check(ref), false, 'finish clears the flag');
      assert.deepEqual(await s.cancel(ref, 'b\tc2'), { kind: 'done', outcome: 'cancelled' });
    });

    test('cancel after the stream finished: done, with its outcome', async () => {
      const s = make();
      const ref = ids();
      await s.register(ref, 'a', '');
      await s.finish(ref, 'a', 'completed', '');
      assert.deepEqual(await s.cancel(ref, 'b\tc1'), { kind: 'done', outcome: 'completed' });
    });

    test('cancel before the stream starts is pending, and the stream sees it when it registers', async () => {
      const s = make();
      const ref = ids();
      assert.deepEqual(await s.cancel(ref, 'b\tc1'), { kind: 'pending' });
      assert.equal(await s.register(ref, 'a', ''), 'cancel_waiting');
    });

    test('a message that was cancelled is not registered again (a reconnect with its ids)', async () => {
      const s = make();
      const ref = ids();
      await s.register(ref, 'a', '');
      await s.cancel(ref, 'b\tc1');
      await s.finish(ref, 'a', 'cancelled', 'pubsub');
      assert.equal(await s.register(ref, 'a', ''), 'already_stopped');
      assert.deepEqual(await s.get(ref.sessionId), []);
      const done = ids();
      await s.register(done, 'a', '');
      await s.finish(done, 'a', 'completed', '');
      assert.equal(await s.register(done, 'a', ''), 'registered', 'a completed message may be asked again');
    });

    test('a cancel for one message never touches another message of the session', async () => {
      const s = make();
      const old = ids();
      const cur = { sessionId: old.sessionId, messageId: `${old.messageId}-new` };
      await s.register(old, 'a', '');
      await s.finish(old, 'a', 'completed', '');
      await s.register(cur, 'a', '');
      assert.deepEqual(await s.cancel(old, 'b\tc1'), { kind: 'done', outcome: 'completed' });
      assert.equal(await s.check(cur), false);
    });

    test('session-wide cancel flags every live stream of the session', async () => {
      const s = make();
      const a = ids();
      const b = { sessionId: a.sessionId, messageId: `${a.messageId}-2` };
      await s.register(a, 'x', '');
      await s.register(b, 'y', '');
      const flagged = await s.cancelSession(a.sessionId, 'z\tc1');
      assert.deepEqual(flagged.map((f) => `${f.messageId}@${f.owner}`).sort(), [`${a.messageId}@x`, `${b.messageId}@y`].sort());
      assert.equal(await s.check(a), true);
      assert.equal(await s.check(b), true);
      assert.deepEqual(await s.cancelSession('nobody', 'z\tc2'), []);
    });

    test('the batched poll reports cancelled and missing streams in one call', async () => {
      const s = make();
      const a = ids();
      const b = ids();
      const c = ids();
      await s.register(a, 'x', '');
      await s.register(b, 'x', '');
      await s.cancel(b, 'y\tc1');
      const r = await s.poll([a, b, c], true);
      assert.deepEqual(r.cancelled, [1]);
      assert.deepEqual(r.missing, [2]);
      assert.deepEqual(await s.poll([], true), { cancelled: [], missing: [] });
      assert.deepEqual(await s.poll([a, b, c], false), { cancelled: [1], missing: [] }, 'no refresh: flags only');
    });

    test('finish by another owner does not remove the live registration', async () => {
      const s = make();
      const ref = ids();
      await s.register(ref, 'a', '');
      await s.finish(ref, 'b', 'completed', '');
      assert.equal((await s.get(ref.sessionId, ref.messageId)).length, 1);
    });
  });
}

contract('MemoryStore', () => new MemoryStore(300));

test('MemoryStore: entries expire after the TTL', async () => {
  let now = 0;
  const s = new MemoryStore(10, () => now);
  const ref = { sessionId: 'ttl', messageId: 'm' };
  await s.cancel(ref, 'b\tc');
  await s.register({ sessionId: 'ttl', messageId: 'live' }, 'a', '');
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
contract('RedisStore', () => new RedisStore(client, createKeys('stopline:'), 300, true));

test('RedisStore: every key it writes carries a TTL', async () => {
  const s = new RedisStore(client, createKeys('ttlcheck:'), 300, true);
  const a = { sessionId: 'k', messageId: 'a' };
  const b = { sessionId: 'k', messageId: 'b' };
  await s.register(a, 'x', '');
  await s.cancel(b, 'y\tc');
  await s.cancel(a, 'y\tc');
  await s.register({ sessionId: 'k2', messageId: 'c' }, 'x', '');
  await s.finish({ sessionId: 'k2', messageId: 'c' }, 'x', 'completed', '');
  const c = redis.client();
  const keys = await c.keys('ttlcheck:*');
  assert.ok(keys.length >= 4, `keys: ${keys}`);
  for (const k of keys) {
    const ttl = await c.ttl(k);
    assert.ok(ttl > 0 && ttl <= 300, `${k} has TTL ${ttl}`);
  }
});

test('RedisStore: keys of one session share a hash tag, whatever the ids', () => {
  const k = createKeys('p:');
  const ref = { sessionId: 'a:b.c', messageId: 'x-y' };
  for (const key of [k.live(ref), k.flag(ref), k.done(ref), k.sessionSet(ref.sessionId)]) assert.ok(key.startsWith('p:{a:b.c}:'), key);
});
