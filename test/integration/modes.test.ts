// The other cancel modes: `poll` (no Pub/Sub at all: the batched poll delivers the cancel and the canceller reads
// the done marker) and `per-chunk` (the old design: one Redis check per chunk), and single-node mode (no Redis).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { commandStats } from '../helpers/redis.ts';
import { upstreamAndRedis } from '../helpers/scenarios.ts';
import { startReplica, metric, redisReady, subscribed, type Replica } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';

const fx = upstreamAndRedis();

const body = (session_id: string, message_id: string) => JSON.stringify({ session_id, message_id });

async function pair(mode: string, prefix: string, pollIntervalMs = 100): Promise<[Replica, Replica]> {
  const env = { STOPLINE_UPSTREAM: fx.up.url, STOPLINE_REDIS_URL: fx.redis.url, STOPLINE_CANCEL_MODE: mode, STOPLINE_POLL_INTERVAL_MS: String(pollIntervalMs), STOPLINE_REDIS_PREFIX: prefix, STOPLINE_REDIS_TIMEOUT_MS: '1000' };
  const replicas: [Replica, Replica] = [await startReplica({ ...env, STOPLINE_NODE_ID: `${mode}-a` }), await startReplica({ ...env, STOPLINE_NODE_ID: `${mode}-b` })];
  // A replica answers a cancel `degraded` until its Redis connection is ready: the tests start once both are.
  await redisReady(replicas);
  return replicas;
}

describe('poll mode', () => {
  test('a cross-replica cancel is delivered by the batched poll, with Pub/Sub unused', async () => {
    const [a, b] = await pair('poll', 'pollmode:');
    try {
      const r0 = fx.redis.client();
      const before = await commandStats(r0);
      const s = stream(`${a.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('pm', 'pm1') });
      await s.waitFor((t) => t.includes('word2 '));
      const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'pm', message_id: 'pm1' });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.outcome, 'stopped');
      assert.equal(r.json.path, 'poll');
      assert.equal(r.json.owner, 'poll-a', 'the done marker names the real owner');
      assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
      const afterStats = await commandStats(r0);
      for (const cmd of ['publish', 'subscribe']) assert.equal((afterStats.get(cmd) ?? 0) - (before.get(cmd) ?? 0), 0, `${cmd} used in poll mode`);
      assert.ok(metric(await a.metrics(), 'stopline_cancel_checks_total', { source: 'poll', result: 'cancel' }) >= 1);
      assert.doesNotMatch(await a.metrics(), /stopline_redis_subscriber_up/);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('per-chunk mode', () => {
  test('every chunk costs a Redis check, and a cross-replica cancel stops the stream', async () => {
    // The safety poll runs in this mode too: at 100 ms it sometimes read the cancel before the next chunk's check
    // did. Its first tick runs when Redis is ready (before the streams start) and the next only 30 s later, so
    // here the chunk check is the only path that can deliver the cancel.
    const [a, b] = await pair('per-chunk', 'chunkmode:', 30_000);
    try {
      const r0 = fx.redis.client();
      const before = await commandStats(r0);
      const done = stream(`${a.url}/api/chat/stream?chunks=50&interval=1`, { body: body('pc', 'pc0') });
      await done.result;
      const mid = await commandStats(r0);
      const checks = (mid.get('exists') ?? 0) - (before.get('exists') ?? 0);
      assert.ok(checks >= 25, `one EXISTS per relayed chunk (chunks may coalesce): ${checks}`);
      const s = stream(`${a.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('pc', 'pc1') });
      await s.waitFor((t) => t.includes('word2 '));
      const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'pc', message_id: 'pc1' });
      assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
      assert.equal(r.json.owner, 'per-chunk-a', 'the done marker names the real owner');
      assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
      const m = await a.metrics();
      assert.ok(metric(m, 'stopline_cancel_checks_total', { source: 'chunk', result: 'cancel' }) >= 1);
      assert.equal(metric(m, 'stopline_cancel_checks_total', { source: 'poll', result: 'cancel' }), 0, 'no poll read the cancel');
    } finally {
      await a.close();
      await b.close();
    }
  });
});

// Regression: in `poll` and `per-chunk` modes a session-wide cancel waited for a Pub/Sub confirmation that never
// comes there, and answered `accepted` after STOPLINE_CANCEL_WAIT_MS although the streams had stopped in ~100 ms.
describe('session-wide cancels in every mode', () => {
  for (const mode of ['push', 'poll', 'per-chunk']) {
    test(`${mode}: a session-wide cancel sent to another replica answers stopped, with the owner`, async () => {
      const [a, b] = await pair(mode, `session-${mode}:`);
      try {
        const streams = ['x', 'y'].map((m) => stream(`${a.url}/api/chat/stream?chunks=2000&interval=5`, { body: body(`sw-${mode}`, m) }));
        for (const s of streams) await s.waitFor((t) => t.includes('word1 '));
        const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: `sw-${mode}` });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.outcome, 'stopped');
        assert.equal(r.json.owner, `${mode}-a`);
        assert.deepEqual([...r.json.message_ids].sort(), ['x', 'y']);
        for (const s of streams) assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
      } finally {
        await a.close();
        await b.close();
      }
    });
  }
});

describe('single-node mode', () => {
  test('no Redis: cancel works locally, session-wide too, and pending cancels stop a later stream', async () => {
    const solo = await startReplica({ STOPLINE_UPSTREAM: fx.up.url, STOPLINE_NODE_ID: 'solo' });
    try {
      const s1 = stream(`${solo.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('sn', 'a') });
      const s2 = stream(`${solo.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('sn', 'b') });
      await s1.waitFor((t) => t.includes('word1 '));
      await s2.waitFor((t) => t.includes('word1 '));
      const r = await postJson(`${solo.url}/stopline/v1/cancel`, { session_id: 'sn' });
      assert.equal(r.json.outcome, 'stopped');
      assert.deepEqual([...r.json.message_ids].sort(), ['a', 'b']);
      for (const s of [s1, s2]) assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
      assert.equal((await postJson(`${solo.url}/stopline/v1/cancel`, { session_id: 'sn', message_id: 'a' })).json.outcome, 'already_completed');
      const p = await postJson(`${solo.url}/stopline/v1/cancel`, { session_id: 'sn', message_id: 'c' });
      assert.equal(p.status, 202);
      assert.equal(p.json.outcome, 'pending');
      const s3 = stream(`${solo.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('sn', 'c') });
      assert.equal(sseEvents((await s3.result).text).at(-1)!.event, 'stopline.cancelled');
      const m = await solo.metrics();
      assert.doesNotMatch(m, /^stopline_redis_up/m, 'no Redis, no Redis gauge');
    } finally {
      await solo.close();
    }
  });
});

describe('upstream cancel path', () => {
  test('the owner calls the AI service\'s own cancel path after aborting', async () => {
    const [a, b] = await pair('push', 'cancelpath:');
    await a.close();
    const owner = await startReplica({ STOPLINE_UPSTREAM: fx.up.url, STOPLINE_REDIS_URL: fx.redis.url, STOPLINE_REDIS_PREFIX: 'cancelpath:', STOPLINE_NODE_ID: 'owner', STOPLINE_UPSTREAM_CANCEL_PATH: '/api/chat/cancel', STOPLINE_REDIS_TIMEOUT_MS: '1000' });
    try {
      // The owner answers for its streams in Redis once it is connected: its verified subscription comes after its
      // first poll on the same connection, so its heartbeat is there (before it, a cancel elsewhere is `pending`).
      await subscribed([owner]);
      const s = stream(`${owner.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('cp', 'cp1') });
      await s.waitFor((t) => t.includes('word1 '));
      const calls = fx.up.cancelCalls.length;
      const called = new Promise<void>((r) => fx.up.events.once('cancel-call', () => r()));
      const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'cp', message_id: 'cp1' });
      assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
      await called;
      const call = fx.up.cancelCalls[calls]!;
      assert.deepEqual(JSON.parse(call.body), { session_id: 'cp', message_id: 'cp1' });
      assert.equal(call.headers['x-session-id'], 'cp');
    } finally {
      await owner.close();
      await b.close();
    }
  });
});
