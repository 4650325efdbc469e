// Who may stop what: cancel tokens (scoped to exactly one message, or to a session; expiring; two keys for
// rotation), forwarding the caller's credentials to the AI service's authorization path, and a rate limit per
// client address.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { upstreamAndRedis } from '../helpers/scenarios.ts';
import { startReplica, metric, type Replica } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';
import { loadConfig } from '../../src/config.ts';

const current = 'current-secret-0123456789abcdef';
const previous = 'previous-secret-0123456789abcdef';
const fx = upstreamAndRedis();

const token = (secret: string, scope: 'm' | 's', sid: string, mid: string, exp: number) =>
  `${exp}.${createHmac('sha256', secret).update(`${scope}\n${sid}\n${mid}\n${exp}`).digest('base64url')}`;
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('token mode', () => {
  let a: Replica;
  let b: Replica;
  before(async () => {
    const env = { STOPLINE_UPSTREAM: fx.up.url, STOPLINE_REDIS_URL: fx.redis.url, STOPLINE_REDIS_PREFIX: 'tok:', STOPLINE_CANCEL_AUTH: 'token', STOPLINE_CANCEL_SECRET: `${current},${previous}`, STOPLINE_REDIS_TIMEOUT_MS: '1000' };
    a = await startReplica({ ...env, STOPLINE_NODE_ID: 'ta' });
    b = await startReplica({ ...env, STOPLINE_NODE_ID: 'tb' });
  });
  after(async () => { await a.close(); await b.close(); });

  test('a stream carries its tokens; only a valid token for exactly its ids stops it', async () => {
    const s = stream(`${a.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'ts', message_id: 'tm' }) });
    await s.waitFor((t) => t.includes('word1 '));
    const mine = String(s.headers['x-stopline-cancel-token']);
    const session = String(s.headers['x-stopline-session-cancel-token']);
    assert.match(mine, /^\d+\.[A-Za-z0-9_-]{43}$/);
    const cancel = (body: Record<string, unknown>, headers: Record<string, string> = {}) => postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'ts', message_id: 'tm', ...body }, headers);

    for (const [what, r] of [
      ['no token', await cancel({})],
      ['a token for another session', await cancel({ cancel_token: token(current, 'm', 'other', 'tm', inAnHour()) })],
      ['a token for another message', await cancel({ cancel_token: token(current, 'm', 'ts', 'other', inAnHour()) })],
      ['an expired token', await cancel({ cancel_token: token(current, 'm', 'ts', 'tm', Math.floor(Date.now() / 1000) - 1) })],
      ['a session token for a message cancel', await cancel({ cancel_token: session })],
      ['a token signed with an unknown key', await cancel({ cancel_token: token('unknown-secret-0123456789abcd', 'm', 'ts', 'tm', inAnHour()) })],
      ['garbage', await cancel({ cancel_token: 'x'.repeat(5000) })],
    ] as const) {
      assert.equal(r.status, 403, what);
      assert.equal(r.json.error, 'forbidden', what);
    }
    assert.ok(metric(await b.metrics(), 'stopline_cancel_requests_total', { outcome: 'forbidden' }) >= 7);
    const ok = await cancel({}, { 'x-stopline-cancel-token': mine });
    assert.equal(ok.json.outcome, 'stopped', JSON.stringify(ok.json));
    assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
  });

  test('a token signed with the previous key is accepted during rotation; session cancel needs a session token', async () => {
    const s1 = stream(`${a.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'rot', message_id: 'r1' }) });
    await s1.waitFor((t) => t.includes('word1 '));
    const old = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'rot', message_id: 'r1', cancel_token: token(previous, 'm', 'rot', 'r1', inAnHour()) });
    assert.equal(old.json.outcome, 'stopped');
    const s2 = stream(`${a.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'rot', message_id: 'r2' }) });
    await s2.waitFor((t) => t.includes('word1 '));
    const messageToken = String(s2.headers['x-stopline-cancel-token']);
    assert.equal((await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'rot', cancel_token: messageToken })).status, 403);
    const bySession = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'rot', cancel_token: String(s2.headers['x-stopline-session-cancel-token']) });
    assert.equal(bySession.json.outcome, 'stopped', JSON.stringify(bySession.json));
  });

  test('secrets appear in no metric and in no configuration error', async () => {
    const text = await a.metrics();
    assert.ok(!text.includes(current) && !text.includes(previous));
    assert.throws(() => loadConfig({ STOPLINE_CANCEL_AUTH: 'token', STOPLINE_CANCEL_SECRET: 'short-secret' }), (e: Error) => !e.message.includes('short-secret') && /STOPLINE_CANCEL_SECRET/.test(e.message));
    assert.throws(() => loadConfig({ STOPLINE_CANCEL_AUTH: 'token' }), /STOPLINE_CANCEL_SECRET/);
  });
});

describe('forward mode', () => {
  test('the caller\'s credentials go to the authorization path; its 2xx allows the cancel', async () => {
    const env = { STOPLINE_UPSTREAM: fx.up.url, STOPLINE_CANCEL_AUTH: 'forward', STOPLINE_CANCEL_AUTH_PATH: '/auth/cancel' };
    const solo = await startReplica({ ...env, STOPLINE_NODE_ID: 'fw' });
    try {
      const s = stream(`${solo.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'fs', message_id: 'fm' }) });
      await s.waitFor((t) => t.includes('word1 '));
      const denied = await postJson(`${solo.url}/stopline/v1/cancel`, { session_id: 'fs', message_id: 'fm' }, { authorization: 'Bearer bad', cookie: 'sid=1' });
      assert.equal(denied.status, 403);
      const call = fx.up.cancelCalls.at(-1)!;
      assert.equal(call.headers.authorization, 'Bearer bad');
      assert.equal(call.headers.cookie, 'sid=1');
      assert.deepEqual(JSON.parse(call.body), { session_id: 'fs', message_id: 'fm' });
      const allowed = await postJson(`${solo.url}/stopline/v1/cancel`, { session_id: 'fs', message_id: 'fm' }, { authorization: 'Bearer good' });
      assert.equal(allowed.json.outcome, 'stopped');
      await s.result;
    } finally {
      await solo.close();
    }
    assert.throws(() => loadConfig({ STOPLINE_CANCEL_AUTH: 'forward' }), /STOPLINE_CANCEL_AUTH_PATH/);
  });
});

describe('rate limit', () => {
  test('cancels beyond the rate per client address get 429 with Retry-After', async () => {
    const solo = await startReplica({ STOPLINE_UPSTREAM: fx.up.url, STOPLINE_CANCEL_RATE_PER_S: '2' });
    try {
      const answers = [];
      for (let i = 0; i < 10; i++) answers.push(await postJson(`${solo.url}/stopline/v1/cancel`, { session_id: 'rl', message_id: `m${i}` }));
      const limited = answers.filter((r) => r.status === 429);
      assert.ok(limited.length > 0, `statuses: ${answers.map((r) => r.status)}`);
      assert.equal(limited[0]!.headers['retry-after'], '1');
      assert.equal(limited[0]!.json.error, 'rate_limited');
      assert.ok(metric(await solo.metrics(), 'stopline_cancel_requests_total', { outcome: 'rate_limited' }) >= 1);
    } finally {
      await solo.close();
    }
  });
});
