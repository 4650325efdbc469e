// OpenAI-compatible streams (POST /v1/chat/completions with `stream: true`) from the FastAPI fixture, behind two
// stopline replicas on one real Redis. Out of the box (every route a stream route, the session id in a header) they
// are tracked streams; with STOPLINE_SESSION_ID_FROM the ids are read from where OpenAI clients put them (`user`,
// `metadata`). A cancel sent to the other replica ends the stream as the service ends one (the openai-chat dialect:
// a closing chunk with the service's own id and `finish_reason: "stop"`, stopline's record, then `data: [DONE]`);
// an uncancelled stream reaches the client byte for byte, `data: [DONE]` included.
// Needs the fixture's virtualenv: sh test/fixtures/fastapi_app/setup.sh
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFastApi, type FastApiApp } from '../fixtures/fastapi_app/launch.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startReplica, type Replica, subscribed } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream, type StreamClient } from '../helpers/client.ts';

let redis: RedisServer | undefined;
let service: FastApiApp | undefined;
const replicas: Replica[] = [];
const pair: Record<'plain' | 'user' | 'metadata', [Replica, Replica]> = {} as never;

before(async () => {
  redis = await startRedis();
  service = await startFastApi();
  const base = { STOPLINE_REDIS_URL: redis.url, STOPLINE_REDIS_TIMEOUT_MS: '1000', STOPLINE_UPSTREAM: service.url };
  const configs = {
    // Out of the box: no stream routes, no id sources configured.
    plain: { STOPLINE_REDIS_PREFIX: 'plain:' },
    user: { STOPLINE_REDIS_PREFIX: 'user:', STOPLINE_SESSION_ID_FROM: 'json:user' },
    metadata: {
      STOPLINE_REDIS_PREFIX: 'metadata:',
      STOPLINE_STREAM_ROUTES: 'POST /v1/chat/completions',
      STOPLINE_SESSION_ID_FROM: 'json:metadata.session_id',
      STOPLINE_MESSAGE_ID_FROM: 'json:metadata.message_id',
    },
  };
  for (const [name, env] of Object.entries(configs) as [keyof typeof pair, Record<string, string>][]) {
    const x = await startReplica({ ...base, ...env, STOPLINE_NODE_ID: `${name}-a` });
    replicas.push(x);
    const y = await startReplica({ ...base, ...env, STOPLINE_NODE_ID: `${name}-b` });
    replicas.push(y);
    pair[name] = [x, y];
  }
  await subscribed(replicas);
});

after(async () => {
  await Promise.allSettled(replicas.map((r) => r.close()));
  await service?.stop();
  await redis?.stop();
});

function completions(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): StreamClient {
  return stream(`${url}/v1/chat/completions`, {
    headers: { accept: 'text/event-stream', authorization: 'Bearer sk-test', ...headers },
    body: JSON.stringify({ model: 'fixture-1', messages: [{ role: 'user', content: 'Write a long poem' }], stream: true, ...body }),
  });
}

/** The text of the `content` deltas in the OpenAI chunks of a stream. */
function content(text: string): string {
  return sseEvents(text).filter((e) => e.event === 'message' && e.data !== '[DONE]')
    .map((e) => JSON.parse(e.data).choices[0].delta.content ?? '').join('');
}

async function assertCancelled(s: StreamClient, sessionId: string, messageId: string): Promise<void> {
  const res = await s.result;
  assert.equal(res.complete, true, 'the response ends cleanly');
  const events = sseEvents(res.text);
  assert.equal(events.at(-1)!.data, '[DONE]', '[DONE] last, as the service ends a stream');
  assert.equal(events.filter((e) => e.data === '[DONE]').length, 1);
  const closing = JSON.parse(events.at(-2)!.data);
  const first = JSON.parse(events[0]!.data);
  assert.deepEqual(closing.stopline, { reason: 'cancelled', session_id: sessionId, message_id: messageId });
  assert.deepEqual([closing.id, closing.model, closing.created], [first.id, first.model, first.created], "the service's own id, model and created");
  assert.deepEqual(closing.choices, [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
  for (const e of events.slice(0, -1)) assert.equal(JSON.parse(e.data).object, 'chat.completion.chunk', 'whole chunks, then the closing one');
  assert.match(res.text, /\n\ndata: \{[^\n]+\}\n\ndata: \[DONE\]\n\n$/);
  const st = await service!.waitStats(messageId, 'the generation ended', (x) => x.ended);
  assert.equal(st.completed, false);
  assert.ok(st.saw_cancelled_error || st.saw_generator_exit || st.saw_disconnect, 'the generator saw its client go away');
}

test('out of the box, the session id in a header: a tracked stream; a session cancel sent to the other replica stops it', async () => {
  const [a, b] = pair.plain;
  const s = completions(a.url, { max_tokens: 5000, interval_ms: 20 }, { 'x-session-id': 'oa-s1' });
  await s.waitFor((t) => content(t).includes('tok3 '));
  assert.equal(s.headers['x-session-id'], 'oa-s1');
  const messageId = s.headers['x-message-id'] as string;
  assert.match(messageId, /^[0-9a-f-]{36}$/, 'stopline made the message id');
  assert.ok((await service!.stats(messageId)) !== null, 'the service got the message id stopline made');

  const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'oa-s1' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outcome, 'stopped');
  assert.equal(r.json.owner, 'plain-a');
  assert.deepEqual(r.json.message_ids, [messageId]);
  await assertCancelled(s, 'oa-s1', messageId);
});

test('out of the box, uncancelled: the stream ends with data: [DONE], byte for byte what the service sent', async () => {
  const [a] = pair.plain;
  const res = await completions(a.url, { max_tokens: 40, interval_ms: 1 }, { 'x-session-id': 'oa-s2', 'x-message-id': 'oa-m2' }).result;
  assert.equal(res.status, 200);
  assert.equal(res.complete, true);
  assert.equal(res.headers['x-session-id'], 'oa-s2', 'a tracked stream');
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  const st = await service!.waitStats('oa-m2', 'the generation ended', (x) => x.ended);
  assert.equal(st.completed, true);
  assert.equal(res.text, st.sent, 'byte for byte');
  assert.ok(res.text.endsWith('\n\ndata: [DONE]\n\n'));
  assert.equal(content(res.text), Array.from({ length: 40 }, (_, i) => `tok${i} `).join(''));
});

test('no session id anywhere: proxied untouched, not tracked, still byte for byte', async () => {
  const [a] = pair.plain;
  const res = await completions(a.url, { max_tokens: 10, interval_ms: 1 }).result;
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-session-id'], undefined, 'not a tracked stream');
  assert.equal(res.headers['x-message-id'], undefined);
  assert.ok(res.text.endsWith('\n\ndata: [DONE]\n\n'));
  const id = /"id": "chatcmpl-([^"]+)"/.exec(res.text)![1]!;
  const st = await service!.waitStats(id, 'the generation ended', (x) => x.ended);
  assert.equal(res.text, st.sent);
  assert.equal(st.headers['x-session-id'], undefined);
});

test('STOPLINE_SESSION_ID_FROM=json:user: the OpenAI `user` field is the session; a cancel sent to the other replica stops it', async () => {
  const [a, b] = pair.user;
  const s = completions(a.url, { user: 'oa-user-7', max_tokens: 5000, interval_ms: 20 });
  await s.waitFor((t) => content(t).includes('tok2 '));
  assert.equal(s.headers['x-session-id'], 'oa-user-7');
  const messageId = s.headers['x-message-id'] as string;
  const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'oa-user-7', message_id: messageId });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outcome, 'stopped');
  assert.equal(r.json.owner, 'user-a');
  await assertCancelled(s, 'oa-user-7', messageId);
});

test('STOPLINE_SESSION_ID_FROM=json:metadata.session_id (and the message id from metadata): cancel on the other replica', async () => {
  const [a, b] = pair.metadata;
  const s = completions(a.url, { metadata: { session_id: 'oa-conv-9', message_id: 'oa-turn-3' }, max_tokens: 5000, interval_ms: 20 });
  await s.waitFor((t) => content(t).includes('tok2 '));
  assert.equal(s.headers['x-session-id'], 'oa-conv-9');
  assert.equal(s.headers['x-message-id'], 'oa-turn-3');
  const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'oa-conv-9', message_id: 'oa-turn-3' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outcome, 'stopped');
  assert.equal(r.json.owner, 'metadata-a');
  await assertCancelled(s, 'oa-conv-9', 'oa-turn-3');

  // Uncancelled, the same configuration: byte for byte, [DONE] last.
  const res = await completions(a.url, { metadata: { session_id: 'oa-conv-9', message_id: 'oa-turn-4' }, max_tokens: 20, interval_ms: 1 }).result;
  const st = await service!.waitStats('oa-turn-4', 'the generation ended', (x) => x.ended);
  assert.equal(res.text, st.sent);
  assert.ok(res.text.endsWith('\n\ndata: [DONE]\n\n'));
});
