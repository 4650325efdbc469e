// A replica listens only once its first safety poll has written its heartbeat: another replica takes a stream as
// live only while its owner's heartbeat is there, so a cancel for a stream started in a replica's first moments
// used to answer `pending`. With Redis unreachable it starts anyway, after a bound (fail open).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKeys } from '../../src/cancel/keys.ts';
import { freePort } from '../helpers/net.ts';
import { upstreamAndRedis } from '../helpers/scenarios.ts';
import { startReplica, redisReady } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';

const fx = upstreamAndRedis();
const prefix = 'firsthb:';
const env = () => ({ STOPLINE_UPSTREAM: fx.up.url, STOPLINE_REDIS_URL: fx.redis.url, STOPLINE_REDIS_PREFIX: prefix, STOPLINE_REDIS_TIMEOUT_MS: '1000' });

test('the heartbeat is in Redis by the time start() resolves, on every start', async () => {
  const r = fx.redis.client();
  for (let i = 0; i < 5; i++) {
    const node = `first-${i}`;
    const replica = await startReplica({ ...env(), STOPLINE_NODE_ID: node });
    try {
      assert.equal(await r.exists(createKeys(prefix).heartbeat(node)), 1, `start ${i}: no heartbeat yet`);
    } finally {
      await replica.close();
    }
  }
});

test('a stream started at once on a new replica is stopped by a cancel from another', async () => {
  const b = await startReplica({ ...env(), STOPLINE_NODE_ID: 'first-b' });
  await redisReady([b]);
  const a = await startReplica({ ...env(), STOPLINE_NODE_ID: 'first-a' });
  try {
    const s = stream(`${a.url}/api/chat/stream?chunks=2000&interval=5`, { body: JSON.stringify({ session_id: 'fh', message_id: 'fh1' }) });
    await s.waitFor((t) => t.includes('word1 '));
    const c = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'fh', message_id: 'fh1' });
    assert.equal(c.json.outcome, 'stopped', JSON.stringify(c.json));
    assert.equal(c.json.owner, 'first-a');
    assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
  } finally {
    await a.close();
    await b.close();
  }
});

test('with Redis unreachable a replica still starts, and serves', async () => {
  const port = await freePort();
  const replica = await startReplica({ ...env(), STOPLINE_REDIS_URL: `redis://127.0.0.1:${port}`, STOPLINE_NODE_ID: 'first-down' });
  try {
    const res = await fetch(`${replica.url}/json`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  } finally {
    await replica.close();
  }
});
