// Resume and followers across replicas on one real Redis, the peers path between them: every follower ends with
// the whole answer byte for byte, a cancel from anywhere ends every follower once, a client that goes away does
// not stop the generation within the detach window, and a resume that cannot find the owner says so (503).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startReplica, metric, subscribed, type Replica } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';
import { freePort, until } from '../helpers/net.ts';

let up: Upstream;
let redis: RedisServer;
let a: Replica;
let b: Replica;
let c: Replica;
let solo: Replica;

before(async () => {
  up = await startUpstream();
  redis = await startRedis();
  const ports = [await freePort(), await freePort(), await freePort()];
  const env = {
    STOPLINE_UPSTREAM: up.url,
    STOPLINE_REDIS_URL: redis.url,
    STOPLINE_REDIS_TIMEOUT_MS: '200',
    STOPLINE_RESUME_ROUTES: 'POST /api/chat/stream,GET /api/chat/events',
    STOPLINE_RESUME_ACTIVE_ROUTE: 'GET /api/chat/:id/stream',
    STOPLINE_PEERS: ports.map((p) => `127.0.0.1:${p}`).join(','),
    STOPLINE_PEER_SECRET: 'a-peer-secret-of-some-length',
  };
  const replica = (n: string, i: number) => startReplica({ ...env, STOPLINE_NODE_ID: `pod-${n}`, STOPLINE_ADMIN_LISTEN: `127.0.0.1:${ports[i]}` });
  [a, b, c] = await Promise.all([replica('a', 0), replica('b', 1), replica('c', 2)]);
  // Single node, a short detach window and a small window of output.
  solo = await startReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_RESUME_ROUTES: 'POST /api/chat/stream', STOPLINE_RESUME_DETACH_MS: '50', STOPLINE_RESUME_STREAM_BYTES: '4096' });
  await subscribed([a, b, c]);
});
after(async () => {
  await Promise.all([a.close(), b.close(), c.close(), solo.close()]);
  await redis.stop();
  await up.close();
});

const start = (r: Replica, sid: string, mid: string, query = 'chunks=60&interval=5') =>
  stream(`${r.url}/api/chat/stream?${query}`, { body: JSON.stringify({ session_id: sid, message_id: mid }) });
const follow = (r: Replica, sid: string, mid: string, from = '') =>
  stream(`${r.url}/stopline/v1/streams/${sid}/${mid}${from}`, { method: 'GET' });
const bytes = (s: string) => Buffer.byteLength(s);

test('followers on the owner and on another replica, from the start and from an offset: each gets the whole answer, byte for byte', async () => {
  const s = start(a, 'r1', 'm1');
  await s.waitFor((t) => t.includes('word5 '));
  const offset = bytes(s.text);
  const onOwner = follow(a, 'r1', 'm1');
  const elsewhere = follow(b, 'r1', 'm1', '?offset=0');
  const fromOffset = follow(c, 'r1', 'm1', `?offset=${offset}`);
  const [orig, f1, f2, f3] = await Promise.all([s.result, onOwner.result, elsewhere.result, fromOffset.result]);
  const rec = await up.request('m1');
  assert.equal(rec.finished, true);
  assert.equal(orig.text, rec.sent);
  for (const f of [f1, f2, f3]) { assert.equal(f.status, 200); assert.equal(f.complete, true); assert.equal(f.headers['content-type'], 'text/event-stream'); }
  assert.equal(f1.text, rec.sent);
  assert.equal(f2.text, rec.sent);
  assert.equal(f3.text, Buffer.from(rec.sent).subarray(offset).toString());
  assert.equal(f3.headers['x-stopline-offset'], String(offset));
  // A resume is counted once its response has closed, which can come just after the client read its end.
  await until('resumes counted', async () => metric(await b.metrics(), 'stopline_resumes_total', { outcome: 'whole', path: 'peer' }) === 1 &&
    metric(await a.metrics(), 'stopline_resumes_total', { outcome: 'whole', path: 'local' }) === 1);
});

test('a cancel sent to a third replica stops the generation, and the client and every follower get one ending', async () => {
  const s = start(a, 'r2', 'm2', 'chunks=100000&interval=5');
  await s.waitFor((t) => t.includes('word3 '));
  const onOwner = follow(a, 'r2', 'm2');
  const elsewhere = follow(b, 'r2', 'm2');
  await Promise.all([onOwner.waitFor((t) => t.includes('word4 ')), elsewhere.waitFor((t) => t.includes('word4 '))]);
  const r = await postJson(`${c.url}/stopline/v1/cancel`, { session_id: 'r2', message_id: 'm2' });
  assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
  const results = await Promise.all([s.result, onOwner.result, elsewhere.result]);
  for (const res of results) {
    assert.equal(res.complete, true);
    const events = sseEvents(res.text);
    assert.equal(events.filter((e) => e.event === 'stopline.cancelled').length, 1);
    assert.equal(events.at(-1)!.event, 'stopline.cancelled');
    assert.equal(res.text, results[0]!.text);
  }
  const rec = await up.request('m2');
  await rec.done;
  assert.equal(rec.aborted, true);
});

test('a client that goes away does not stop the generation: a resume on another replica within the window gets the rest', async () => {
  const s = start(a, 'r3', 'm3', 'chunks=40&interval=5');
  await s.waitFor((t) => t.includes('word2 '));
  s.destroy();
  const had = s.text;
  const rec = await up.request('m3');
  const resumed = follow(b, 'r3', 'm3', `?offset=${bytes(had)}`);
  const res = await resumed.result;
  await rec.done;
  assert.equal(rec.aborted, false, 'the upstream was never aborted');
  assert.equal(rec.finished, true);
  assert.equal(res.complete, true);
  assert.equal(had + res.text, rec.sent);
  const ma = await a.metrics();
  assert.equal(metric(ma, 'stopline_detached_streams_total', { end: 'completed' }), 1);
  assert.equal(metric(ma, 'stopline_streams_total', { outcome: 'client_disconnected' }), 0);
});

test('a detached generation nobody resumes is aborted once its window passes, and counted', async () => {
  const s = start(solo, 'r4', 'm4', 'chunks=100000&interval=5');
  await s.waitFor((t) => t.includes('word2 '));
  s.destroy();
  const rec = await up.request('m4');
  await rec.done;
  assert.equal(rec.aborted, true);
  const m = await solo.metrics();
  assert.equal(metric(m, 'stopline_detached_streams_total', { end: 'aborted' }), 1);
  assert.equal(metric(m, 'stopline_streams_total', { outcome: 'client_disconnected' }), 1);
});

test('a resume from before the window is refused with 410, never answered with a gap', async () => {
  const s = start(solo, 'r5', 'm5', 'chunks=300&interval=1');
  await s.result;
  const r = await fetch(`${solo.url}/stopline/v1/streams/r5/m5?offset=0`);
  assert.equal(r.status, 410);
  const json = await r.json() as { error: string; start: number };
  assert.equal(json.error, 'resume_window_passed');
  const tail = await follow(solo, 'r5', 'm5', `?offset=${json.start}`).result;
  assert.equal(tail.text, Buffer.from(s.text).subarray(json.start).toString());
});

test('Redis stopped (SIGSTOP): a resume on the owner works, a resume elsewhere answers 503 with Retry-After', async () => {
  const s = start(a, 'r6', 'm6', 'chunks=40&interval=5');
  await s.waitFor((t) => t.includes('word2 '));
  redis.pause();
  try {
    const onOwner = await follow(a, 'r6', 'm6').result;
    assert.equal(onOwner.complete, true);
    assert.equal(onOwner.text, (await s.result).text);
    const r = await fetch(`${b.url}/stopline/v1/streams/r6/m6`);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(((await r.json()) as { error: string }).error, 'owner_unavailable');
  } finally {
    redis.resume();
  }
});

test('the active-stream route answers the session\'s live stream from its start, from any replica, and 204 when none', async () => {
  const s = start(a, 'r7', 'm7');
  await s.waitFor((t) => t.includes('word2 '));
  const elsewhere = stream(`${b.url}/api/chat/r7/stream`, { method: 'GET' });
  const [orig, res] = await Promise.all([s.result, elsewhere.result]);
  assert.equal(res.text, orig.text);
  const none = await fetch(`${b.url}/api/chat/r7/stream`);
  assert.equal(none.status, 204);
});


test('an EventSource reconnect (the same request with Last-Event-ID) reaching another replica gets the rest, each event once', async () => {
  const url = (r: Replica) => `${r.url}/api/chat/events?session_id=r8&message_id=m8&chunks=40&interval=5`;
  const es = { accept: 'text/event-stream' };
  const first = stream(url(a), { method: 'GET', headers: es });
  await first.waitFor((t) => /word3 [^]*\n\nid: \d+\n\n$/.test(t));
  first.destroy();
  const ids = [...first.text.matchAll(/\n\nid: (\d+)\n\n/g)].map((m) => m[1]!);
  const last = ids.at(-1)!;
  const again = await stream(url(b), { method: 'GET', headers: { ...es, 'last-event-id': last } }).result;
  assert.equal(again.status, 200);
  assert.equal(again.complete, true);
  const rec = await up.request('m8');
  await rec.done;
  assert.equal(rec.aborted, false);
  const ours = /id: \d+\n\n/g; // the id blocks stopline adds after whole events; the upstream's own ids stay as they were
  assert.equal(first.text.replace(ours, '') + again.text.replace(ours, ''), rec.sent);
  assert.equal(Buffer.byteLength(first.text.replace(ours, '')), Number(last), 'an id is the byte offset of the upstream body it follows');
  assert.equal(up.records.filter((r) => r.headers['x-message-id'] === 'm8').length, 1, 'the reconnect generated nothing again');
});
