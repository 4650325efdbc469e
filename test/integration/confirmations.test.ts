// Push mode confirms a stop on Pub/Sub; when the canceller does not hear it (its subscriber reconnecting, or a
// message lost), it reads the done marker after one poll interval instead of answering `accepted` at the end of
// STOPLINE_CANCEL_WAIT_MS for a stream that was stopped. Here the canceller has no subscriber at all, and the owner
// learns of the cancel from its poll.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { testReplica, type TestReplica } from '../helpers/coordinators.ts';
import { until } from '../helpers/net.ts';

let redis: RedisServer;
const open: TestReplica[] = [];
before(async () => { redis = await startRedis(); });
after(async () => {
  for (const r of open) await r.close();
  await redis.stop();
});

test('push mode: a confirmation not heard on Pub/Sub is read from the done marker, with the real owner', async () => {
  const env = { STOPLINE_REDIS_URL: redis.url, STOPLINE_CANCEL_MODE: 'push', STOPLINE_POLL_INTERVAL_MS: '100', STOPLINE_CANCEL_WAIT_MS: '5000' };
  const owner = await testReplica({ ...env, STOPLINE_NODE_ID: 'deaf-owner' });
  const canceller = await testReplica({ ...env, STOPLINE_NODE_ID: 'deaf-canceller' });
  open.push(owner, canceller);
  const s = owner.open({ sessionId: 'deaf', messageId: 'm1' });
  assert.equal(await owner.coordinator.streamStarted(s), 'registered');
  const answer = canceller.coordinator.cancel('deaf', 'm1');
  await until('the owner\'s poll stops the stream', async () => { await owner.coordinator.poll(); return owner.stopped.length > 0; });
  const a = await answer;
  assert.equal(a.outcome, 'stopped', JSON.stringify(a));
  assert.equal(a.owner, 'deaf-owner');
  assert.equal(a.path, 'poll');
});
