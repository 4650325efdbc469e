// What a replica holds while Redis is unusable, and how it writes it once Redis is back: only what still applies,
// session-wide cancels too, and paced. Coordinators on a real redis-server that the test pauses and kills.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StreamRef } from '../../src/cancel/keys.ts';
import { RedisStore } from '../../src/cancel/redis-store.ts';
import { heartbeatTtlMs, type RegisterResult, type Registration } from '../../src/cancel/store.ts';
import { createKeys } from '../../src/cancel/keys.ts';
import { heldDefaults } from '../../src/cancel/held-writes.ts';
import { RedisUnavailableError } from '../../src/errors.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { testReplica, type TestReplica } from '../helpers/coordinators.ts';
import { until } from '../helpers/net.ts';

let redis: RedisServer;
const open: TestReplica[] = [];
before(async () => { redis = await startRedis(); });
after(async () => {
  redis.resume();
  for (const r of open) await r.close();
  await redis.stop();
});

async function replica(nodeId: string, env: Record<string, string> = {}, makeStore?: Parameters<typeof testReplica>[1]): Promise<TestReplica> {
  const r = await testReplica({ STOPLINE_REDIS_URL: redis.url, STOPLINE_NODE_ID: nodeId, STOPLINE_REDIS_TIMEOUT_MS: '100', STOPLINE_POLL_INTERVAL_MS: '100', ...env }, makeStore);
  open.push(r);
  return r;
}

/** A store whose next registration times out when the test says so (a Redis reply later than the call's bound). */
class LateStore extends RedisStore {
  late: { promise: Promise<void>; resolve: () => void } | null = null;
  override async register(ref: StreamRef, r: Registration): Promise<RegisterResult> {
    const late = this.late;
    if (late === null) return super.register(ref, r);
    this.late = null;
    await late.promise;
    throw new RedisUnavailableError('timeout', 'Redis register timed out after 50 ms');
  }
}

// Regression: a registration that timed out after its (short) stream had already ended, while the stream's finish
// went through, was held and written on the next poll, which deleted the done marker: a later cancel answered
// `accepted` instead of `already_completed`, and session-wide cancels listed a stream that was gone.
test('a registration that times out after its stream ended is never written again', async () => {
  let store: LateStore | undefined;
  const owner = await replica('late-owner', {}, (c, config) => (store = new LateStore(c, createKeys(config.prefix), config.streamTtlS, false, heartbeatTtlMs(config.pollIntervalMs))));
  const ref = { sessionId: 'late', messageId: 'm1' };
  store!.late = Promise.withResolvers<void>();
  const timesOut = store!.late;
  const s = owner.open(ref);
  const registered = owner.coordinator.streamStarted(s);
  owner.end(s, 'completed'); // the stream is over, its finish written, before its registration's bound runs out
  await until('the finish is written', async () => (await owner.store.outcomes(ref.sessionId, [ref.messageId]))[0] !== null);
  timesOut.resolve();
  assert.equal(await registered, 'registered', 'fails open');
  await owner.coordinator.poll(); // a tick writes what is held
  assert.equal(owner.coordinator.held, 0);
  const canceller = await replica('late-canceller');
  const a = await canceller.coordinator.cancel(ref.sessionId, ref.messageId);
  assert.equal(a.outcome, 'already_completed', JSON.stringify(a));
  assert.equal((await canceller.coordinator.cancel(ref.sessionId, undefined)).outcome, 'not_found');
});

// Regression: a session-wide cancel made while Redis was unusable answered `accepted`/`degraded` but was held
// nowhere: the session's streams on other replicas ran to their end.
test('a session-wide cancel held through an outage stops the session\'s streams after it, not the ones started later', async () => {
  const owner = await replica('session-owner');
  const canceller = await replica('session-canceller');
  owner.coordinator.start();
  const early = owner.open({ sessionId: 'held', messageId: 'early' });
  assert.equal(await owner.coordinator.streamStarted(early), 'registered');
  redis.pause();
  const a = await canceller.coordinator.cancel('held', undefined);
  assert.equal(a.outcome, 'accepted', JSON.stringify(a));
  assert.equal(a.degraded, true);
  const late = owner.open({ sessionId: 'held', messageId: 'late' }, true); // a new message, while Redis is still out
  redis.resume();
  await until('the owner wrote its held registration', () => owner.coordinator.held === 0);
  assert.equal(canceller.coordinator.held, 1, 'the canceller holds the session-wide cancel');
  await canceller.coordinator.recover();
  await early.stopped;
  await owner.coordinator.poll();
  assert.deepEqual(owner.stopped, [early.ref]);
  assert.equal(await owner.store.check(late.ref), false, 'the stream started after the cancel is not flagged');
  owner.end(late, 'completed');
});

class CountingStore extends RedisStore {
  inFlight = 0;
  most = 0;
  override async register(ref: StreamRef, r: Registration): Promise<RegisterResult> {
    this.most = Math.max(this.most, ++this.inFlight);
    try { return await super.register(ref, r); } finally { this.inFlight--; }
  }
}

// Regression: a recovery wrote every held command at once, each with its own timer, just as Redis came back.
test('after an outage, held registrations are written paced: a bounded number in flight', async () => {
  let store: CountingStore | undefined;
  const owner = await replica('paced', { STOPLINE_REDIS_TIMEOUT_MS: '1000' }, (c, config) => (store = new CountingStore(c, createKeys(config.prefix), config.streamTtlS, false, heartbeatTtlMs(config.pollIntervalMs))));
  owner.coordinator.start();
  await redis.kill();
  const streams = Array.from({ length: 2_000 }, (_, i) => owner.open({ sessionId: `p${i}`, messageId: 'm' }, true));
  await until('every registration held', () => owner.coordinator.held === streams.length && store!.inFlight === 0);
  store!.most = 0;
  await redis.restart();
  await until('held registrations written', () => owner.coordinator.held === 0 && store!.inFlight === 0, 400);
  assert.ok(store!.most <= heldDefaults.concurrency, `at most ${heldDefaults.concurrency} in flight, saw ${store!.most}`);
  assert.ok(store!.most > 1, 'written concurrently');
  const admin = redis.client();
  assert.equal((await admin.keys('stopline:{p*}:m:m')).length, streams.length, 'every live stream registered again');
  for (const s of streams) owner.end(s, 'completed');
});

test('Redis lost the replica\'s state (emptied): its next poll sees the marker gone and registers every live stream again', async () => {
  const owner = await replica('forgotten');
  const live = owner.open({ sessionId: 'forgotten', messageId: 'live' });
  const ended = owner.open({ sessionId: 'forgotten', messageId: 'ended' });
  for (const s of [live, ended]) assert.equal(await owner.coordinator.streamStarted(s), 'registered');
  owner.end(ended, 'completed');
  const admin = redis.client();
  await admin.flushall();
  await owner.coordinator.poll();
  await until('registrations written again', () => owner.coordinator.held === 0);
  assert.deepEqual((await owner.store.get('forgotten')).map((s) => s.messageId), ['live'], 'the live stream, not the one that ended');
  owner.end(live, 'completed');
});
