// Scenarios several test files share.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startRedis, type RedisServer } from './redis.ts';
import { startUpstream, type Upstream } from './upstream.ts';
import type { Replica } from './stopline.ts';
import { postJson, sseEvents, stream } from './client.ts';

/**
 * A long stream on `owner`, stopped by a cancel sent to `canceller`: the answer is `stopped` by `path` (or by one of
 * several, where either may legitimately come first), and the client's stream ends with the terminal event. Returns
 * the cancel's answer.
 */
export async function crossReplicaStop(owner: Replica, canceller: Replica, sessionId: string, messageId: string, path: string | readonly string[]): Promise<Record<string, unknown>> {
  const s = stream(`${owner.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: sessionId, message_id: messageId }) });
  await s.waitFor((t) => t.includes('word1 '));
  const r = await postJson(`${canceller.url}/stopline/v1/cancel`, { session_id: sessionId, message_id: messageId });
  assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
  if (typeof path === 'string') assert.equal(r.json.path, path);
  else assert.ok(path.includes(String(r.json.path)), `path ${String(r.json.path)}, expected one of ${path.join(', ')}`);
  assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
  return r.json;
}

/** A streaming upstream and a redis-server for the whole test file, started before its tests and stopped after. */
export function upstreamAndRedis(redisArgs: string[] = []): { readonly up: Upstream; readonly redis: RedisServer } {
  const f = {} as { up: Upstream; redis: RedisServer };
  before(async () => {
    f.up = await startUpstream();
    f.redis = await startRedis(redisArgs);
  });
  after(async () => {
    await f.redis.stop();
    await f.up.close();
  });
  return f;
}
