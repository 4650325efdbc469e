// An unmodified Python AI service (FastAPI, an async generator behind StreamingResponse, run by uvicorn) behind two
// stopline replicas on one real Redis, as two pods would run it: pod A = stopline A + service A, pod B = stopline B
// + service B. A stream on A is stopped by a cancel sent to B: the generator on A sees its client go away and
// produces nothing more; with STOPLINE_CANCEL_ROUTES the clients' existing cancel call (to the service's own route)
// does the same, and the service's own cancel handler still runs, on the owner pod.
// Needs the fixture's virtualenv: sh test/fixtures/fastapi_app/setup.sh
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFastApi, type FastApiApp, type MessageStats } from '../fixtures/fastapi_app/launch.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startReplica, type Replica, subscribed } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';
import { until } from '../helpers/net.ts';

let redis: RedisServer | undefined;
let serviceA: FastApiApp | undefined;
let serviceB: FastApiApp | undefined;
const replicas: Replica[] = [];
// Pods as they are deployed out of the box: the generic cancel API only.
let a: Replica;
let b: Replica;
// Pods whose clients keep calling the service's own cancel route.
let a2: Replica;
let b2: Replica;

before(async () => {
  redis = await startRedis();
  serviceA = await startFastApi();
  serviceB = await startFastApi();
  const env = { STOPLINE_REDIS_URL: redis.url, STOPLINE_REDIS_TIMEOUT_MS: '1000', STOPLINE_STREAM_ROUTES: 'POST /api/chat/stream,GET /api/chat/stream' };
  const routes = { STOPLINE_CANCEL_ROUTES: 'POST /api/chat/cancel', STOPLINE_UPSTREAM_CANCEL_PATH: '/api/chat/cancel', STOPLINE_REDIS_PREFIX: 'routes:' };
  const start = async (e: Record<string, string>) => { const r = await startReplica(e); replicas.push(r); return r; };
  a = await start({ ...env, STOPLINE_UPSTREAM: serviceA.url, STOPLINE_NODE_ID: 'pod-a' });
  b = await start({ ...env, STOPLINE_UPSTREAM: serviceB.url, STOPLINE_NODE_ID: 'pod-b' });
  a2 = await start({ ...env, ...routes, STOPLINE_UPSTREAM: serviceA.url, STOPLINE_NODE_ID: 'pod-a2' });
  b2 = await start({ ...env, ...routes, STOPLINE_UPSTREAM: serviceB.url, STOPLINE_NODE_ID: 'pod-b2' });
  await subscribed(replicas);
});

after(async () => {
  await Promise.allSettled(replicas.map((r) => r.close()));
  await Promise.allSettled([serviceA?.stop(), serviceB?.stop()]);
  await redis?.stop();
});

const chat = (session_id: string, message_id: string) =>
  JSON.stringify({ session_id, message_id, message: 'Tell me a very long story', tokens: 5000, interval_ms: 20 });

/** The client's text minus the terminal event: asserts the terminal event is last and alone, and returns the rest. */
function beforeTerminal(text: string, session_id: string, message_id: string): string {
  const events = sseEvents(text);
  assert.equal(events.filter((e) => e.event === 'stopline.cancelled').length, 1, 'one terminal event');
  assert.equal(events.at(-1)!.event, 'stopline.cancelled', 'the terminal event is the last');
  assert.deepEqual(JSON.parse(events.at(-1)!.data), { session_id, message_id, reason: 'cancelled' });
  const m = /event: stopline\.cancelled\ndata: [^\n]+\n\n$/.exec(text);
  assert.ok(m, 'the stream ends with the terminal event');
  return text.slice(0, m.index);
}

/**
 * The generator stopped before its end because its client went away (asyncio.CancelledError, GeneratorExit or
 * request.is_disconnected()); where stopline also calls the service's cancel route, the service's own cancel flag
 * may be what the generator sees first (the abort and the call reach the service at about the same time).
 */
/**
 * After the stop is confirmed the service's socket is closed; its generator notices at its next await. A token
 * whose generation step was already under way (it was sleeping, or yielding) at that moment may still be counted:
 * that one is "in flight". Nothing beyond it may be produced.
 */
function assertNothingAfter(final: MessageStats, atConfirmation: MessageStats): void {
  const extra = final.produced - atConfirmation.produced;
  assert.ok(extra >= 0 && extra <= 1, `tokens produced after the stop was confirmed: ${extra} (at most the one in flight)`);
}

function assertStopped(st: MessageStats, ownCancelToo = false): void {
  assert.equal(st.ended, true);
  assert.equal(st.completed, false, 'the generator did not run to its end');
  const how = { cancelled_error: st.saw_cancelled_error, generator_exit: st.saw_generator_exit, disconnect: st.saw_disconnect, cancel_flag: st.saw_cancel_flag };
  assert.ok(how.cancelled_error || how.generator_exit || how.disconnect || (ownCancelToo && how.cancel_flag), `how the generator stopped: ${JSON.stringify(how)}`);
}

test('FastAPI stream on replica A, cancel sent to replica B: stopped, the generator is cancelled and produces nothing more', async () => {
  const s = stream(`${a.url}/api/chat/stream`, { body: chat('py-s1', 'py-m1') });
  await s.waitFor((t) => t.includes('"tok5 "'));
  assert.equal(s.status, 200);
  assert.equal(s.headers['x-session-id'], 'py-s1');
  assert.equal(s.headers['x-message-id'], 'py-m1');
  const live = await serviceA!.stats('py-m1');
  assert.ok(live !== null && live.produced >= 6 && !live.ended, 'the generator is running on pod A');
  assert.equal(live.headers['x-session-id'], 'py-s1', 'the service received the ids in headers too');
  assert.equal(live.headers['x-message-id'], 'py-m1');

  const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'py-s1', message_id: 'py-m1' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outcome, 'stopped');
  assert.equal(r.json.owner, 'pod-a');
  // Read at once after the confirmation, then again once the generator reports that it ended.
  const atConfirmation = (await serviceA!.stats('py-m1'))!;
  const final = await serviceA!.waitStats('py-m1', 'the generator ended', (st) => st.ended);
  assertStopped(final);
  assertNothingAfter(final, atConfirmation);
  assert.equal(final.saw_cancel_flag, false, 'stopped by the disconnect alone: nothing called the service\'s cancel route');
  assert.ok(final.produced < 5000);

  const res = await s.result;
  assert.equal(res.complete, true, 'the client\'s response ends cleanly');
  const relayed = beforeTerminal(res.text, 'py-s1', 'py-m1');
  assert.ok(final.sent.startsWith(relayed), 'the client got exactly what the generator yielded, in whole events, then the terminal event');
  for (const e of sseEvents(relayed)) assert.equal(JSON.parse(e.data).type, 'token');
  assert.equal(await serviceB!.stats('py-m1'), null, 'the generation ran on pod A only');
});

test('a generator that polls request.is_disconnected(), ids in the query of a GET: a cancel sent to B stops it just the same', async () => {
  const s = stream(`${a.url}/api/chat/stream?session_id=py-s5&message_id=py-m5&tokens=5000&interval_ms=20&check_disconnect=true`, { method: 'GET', headers: { accept: 'text/event-stream' } });
  await s.waitFor((t) => t.includes('"tok3 "'));
  assert.equal(s.headers['x-message-id'], 'py-m5');
  const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'py-s5', message_id: 'py-m5' });
  assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
  const atConfirmation = (await serviceA!.stats('py-m5'))!;
  const final = await serviceA!.waitStats('py-m5', 'the generator ended', (st) => st.ended);
  assertStopped(final);
  assertNothingAfter(final, atConfirmation);
  assert.equal(final.method, 'GET');
  assert.ok(final.sent.startsWith(beforeTerminal((await s.result).text, 'py-s5', 'py-m5')));
});

test('the clients\' existing cancel call (POST /api/chat/cancel) sent to replica B stops the stream on A; the service\'s own cancel handler runs on pod A', async () => {
  const s = stream(`${a2.url}/api/chat/stream`, { body: chat('py-s2', 'py-m2') });
  await s.waitFor((t) => t.includes('"tok3 "'));
  const callsOnBBefore = (await serviceB!.cancelCalls()).length;

  // Exactly what the front end always sent to its service's cancel route.
  const r = await postJson(`${b2.url}/api/chat/cancel`, { session_id: 'py-s2', message_id: 'py-m2' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outcome, 'stopped', 'answered by stopline, cross-replica');
  assert.equal(r.json.owner, 'pod-a2');
  const atConfirmation = (await serviceA!.stats('py-m2'))!;

  const res = await s.result;
  assert.equal(res.complete, true);
  beforeTerminal(res.text, 'py-s2', 'py-m2');

  // The owner called its own service's cancel route with the ids, after aborting the stream.
  const final = await serviceA!.waitStats('py-m2', 'the service\'s cancel handler ran', (st) => st.ended && st.cancel_calls.length > 0);
  assertStopped(final, true);
  assertNothingAfter(final, atConfirmation);
  assert.equal(final.cancel_calls.length, 1);
  const call = final.cancel_calls[0]!;
  assert.equal(call.session_id, 'py-s2');
  assert.equal(call.message_id, 'py-m2');
  assert.equal(call.headers['x-session-id'], 'py-s2');
  assert.equal(call.headers['x-message-id'], 'py-m2');
  assert.equal(call.headers['x-forwarded-for'], undefined, 'made by stopline on the owner, not a proxied client request');
  // Pod B's service never saw the call: stopline B answered it.
  assert.equal((await serviceB!.cancelCalls()).length, callsOnBBefore);
  assert.equal(await serviceB!.stats('py-m2'), null);
});

test('the service\'s cancel route sent to the owner replica itself: stopped locally, the service\'s handler runs once', async () => {
  const s = stream(`${a2.url}/api/chat/stream`, { body: chat('py-s3', 'py-m3') });
  await s.waitFor((t) => t.includes('"tok2 "'));
  const r = await postJson(`${a2.url}/api/chat/cancel`, { session_id: 'py-s3', message_id: 'py-m3' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outcome, 'stopped');
  assert.equal(r.json.path, 'local');
  beforeTerminal((await s.result).text, 'py-s3', 'py-m3');
  const final = await serviceA!.waitStats('py-m3', 'the service\'s cancel handler ran', (st) => st.ended && st.cancel_calls.length > 0);
  assertStopped(final, true);
  assert.equal(final.cancel_calls.length, 1);
  assert.deepEqual([final.cancel_calls[0]!.session_id, final.cancel_calls[0]!.message_id], ['py-s3', 'py-m3']);
});

test('an uncancelled FastAPI stream goes through byte for byte and the generator completes', async () => {
  const body = JSON.stringify({ session_id: 'py-s4', message_id: 'py-m4', message: 'Say hi', tokens: 30, interval_ms: 1 });
  const res = await stream(`${b.url}/api/chat/stream`, { body }).result;
  assert.equal(res.status, 200);
  assert.equal(res.complete, true);
  const st = await serviceB!.waitStats('py-m4', 'the generator ended', (x) => x.ended);
  assert.equal(st.completed, true);
  assert.equal(st.saw_cancelled_error || st.saw_generator_exit || st.saw_disconnect, false);
  assert.equal(res.text, st.sent);
  assert.equal(JSON.parse(sseEvents(res.text).at(-1)!.data).type, 'done');
  const check = redis!.client();
  await until('the finish recorded', async () => (await check.exists('stopline:{py-s4}:d:py-m4')) === 1);
  const r = await postJson(`${a.url}/stopline/v1/cancel`, { session_id: 'py-s4', message_id: 'py-m4' });
  assert.equal(r.json.outcome, 'already_completed');
});
