// Cancel across replicas on one real Redis: a stream on A, the cancel sent to B. And every race the design decides.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startRedis, commandStats, type RedisServer } from '../helpers/redis.ts';
import { startReplica, metric, type Replica, subscribed } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';
import { until } from '../helpers/net.ts';

let up: Upstream;
let redis: RedisServer;
let a: Replica;
let b: Replica;
let c: Replica;

before(async () => {
  up = await startUpstream();
  redis = await startRedis();
  const env = { STOPLINE_UPSTREAM: up.url, STOPLINE_REDIS_URL: redis.url, STOPLINE_REDIS_TIMEOUT_MS: '1000' };
  a = await startReplica({ ...env, STOPLINE_NODE_ID: 'pod-a' });
  b = await startReplica({ ...env, STOPLINE_NODE_ID: 'pod-b' });
  c = await startReplica({ ...env, STOPLINE_NODE_ID: 'pod-c' });
  await subscribed([a, b, c]);
});
after(async () => {
  await Promise.all([a.close(), b.close(), c.close()]);
  await redis.stop();
  await up.close();
});

const body = (session_id: string, message_id?: string) => JSON.stringify({ session_id, ...(message_id ? { message_id } : {}) });
const cancel = (r: Replica, session_id: string, message_id?: string) => postJson(`${r.url}/stopline/v1/cancel`, { session_id, ...(message_id ? { message_id } : {}) });

test('a stream on A, stopped by a cancel sent to B: stopped, upstream aborted, one terminal event after whole events', async () => {
  const s = stream(`${a.url}/api/chat/stream?chunks=2000&interval=5&split=true`, { body: body('x1', 'm1') });
  await s.waitFor((t) => t.includes('word3 '));
  const r = await cancel(b, 'x1', 'm1');
  assert.equal(r.status, 200);
  assert.equal(r.json.outcome, 'stopped');
  assert.equal(r.json.owner, 'pod-a');
  assert.equal(r.json.path, 'pubsub');
  assert.equal(typeof r.json.cancel_to_stop_ms, 'number');
  const res = await s.result;
  assert.equal(res.complete, true, 'the client response ends cleanly');
  const events = sseEvents(res.text);
  assert.equal(events.filter((e) => e.event === 'stopline.cancelled').length, 1);
  assert.equal(events.at(-1)!.event, 'stopline.cancelled');
  assert.deepEqual(JSON.parse(events.at(-1)!.data), { session_id: 'x1', message_id: 'm1', reason: 'cancelled' });
  assert.match(res.text, /\n\nevent: stopline\.cancelled\ndata: [^\n]+\n\n$/, 'the terminal event starts at an event boundary');
  for (const e of events.slice(0, -1)) JSON.parse(e.data); // every token event before it is whole
  const rec = await up.request('m1');
  await rec.done;
  assert.equal(rec.aborted, true, 'the upstream saw its client go away');
  assert.ok(rec.produced < 2000);
  const ma = await a.metrics();
  assert.ok(metric(ma, 'stopline_streams_total', { outcome: 'cancelled' }) >= 1);
  assert.ok(metric(ma, 'stopline_cancel_checks_total', { source: 'pubsub', result: 'cancel' }) >= 1);
  const mb = await b.metrics();
  assert.ok(metric(mb, 'stopline_cancel_requests_total', { outcome: 'stopped' }) >= 1);
  assert.ok(metric(mb, 'stopline_cancel_to_stop_seconds_count', { path: 'pubsub' }) >= 1);
});

test('cancel sent to the owner itself needs no Redis: path local', async () => {
  const s = stream(`${a.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('x2', 'm2') });
  await s.waitFor((t) => t.includes('word1 '));
  const before = await commandStats(redis.client());
  const r = await cancel(a, 'x2', 'm2');
  assert.equal(r.json.outcome, 'stopped');
  assert.equal(r.json.path, 'local');
  const afterStats = await commandStats(redis.client());
  assert.equal((afterStats.get('evalsha') ?? 0) - (before.get('evalsha') ?? 0) <= 1, true, 'at most the finish step, after the answer');
  await s.result;
});

test('cancel after the last chunk: already_completed', async () => {
  const s = stream(`${a.url}/api/chat/stream?chunks=3&interval=0`, { body: body('x3', 'm3') });
  await s.result;
  await until('finish recorded', async () => (await redis.client().exists('stopline:{x3}:d:m3')) === 1);
  const r = await cancel(b, 'x3', 'm3');
  assert.equal(r.status, 200);
  assert.equal(r.json.outcome, 'already_completed');
});

test('cancel before the stream starts: pending, and the stream is stopped as soon as it registers', async () => {
  const r = await cancel(b, 'x4', 'm4');
  assert.equal(r.status, 202);
  assert.equal(r.json.outcome, 'pending');
  const s = stream(`${a.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('x4', 'm4') });
  const res = await s.result;
  assert.equal(sseEvents(res.text).at(-1)!.event, 'stopline.cancelled');
  // Stopped before or just after the upstream request went out: either it never arrived, or it was aborted.
  const rec = up.records.find((r) => r.headers['x-message-id'] === 'm4');
  if (rec !== undefined) { await rec.done; assert.equal(rec.aborted, true); assert.ok(rec.produced < 2000); }
});

test('a cancel for an old message id never stops the session\'s new message', async () => {
  const s1 = stream(`${a.url}/api/chat/stream?chunks=2&interval=0`, { body: body('x5', 'old') });
  await s1.result;
  const s2 = stream(`${a.url}/api/chat/stream?chunks=40&interval=2`, { body: body('x5', 'new') });
  await s2.waitFor((t) => t.includes('word1 '));
  const r = await cancel(b, 'x5', 'old');
  assert.equal(r.json.outcome, 'already_completed');
  const res = await s2.result;
  assert.doesNotMatch(res.text, /stopline\.cancelled/);
  assert.equal(res.text, (await up.request('new')).sent);
});

test('two cancels for one stream: one stop, both answered', async () => {
  const s = stream(`${a.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('x6', 'm6') });
  await s.waitFor((t) => t.includes('word1 '));
  const [r1, r2] = await Promise.all([cancel(b, 'x6', 'm6'), cancel(c, 'x6', 'm6')]);
  for (const r of [r1, r2]) assert.ok(['stopped', 'already_completed'].includes(r.json.outcome), JSON.stringify(r.json));
  assert.ok([r1, r2].some((r) => r.json.outcome === 'stopped'));
  const res = await s.result;
  assert.equal(sseEvents(res.text).filter((e) => e.event === 'stopline.cancelled').length, 1);
});

test('session-only cancel stops every live stream of the session, on every replica', async () => {
  const s1 = stream(`${a.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('x7', 'p1') });
  const s2 = stream(`${b.url}/api/chat/stream?chunks=2000&interval=5`, { body: body('x7', 'p2') });
  await s1.waitFor((t) => t.includes('word1 '));
  await s2.waitFor((t) => t.includes('word1 '));
  const r = await cancel(c, 'x7');
  assert.equal(r.status, 200);
  assert.equal(r.json.outcome, 'stopped');
  assert.deepEqual([...r.json.message_ids].sort(), ['p1', 'p2']);
  for (const s of [s1, s2]) assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
  const none = await cancel(c, 'x7');
  assert.equal(none.status, 404);
  assert.equal(none.json.outcome, 'not_found');
});

test('Redis cost of a stream in push mode does not grow with its chunks', async () => {
  // The test once compared INFO commandstats totals, which other work also moves: the other replicas' safety polls
  // (the EXISTS inside the poll script, EVALSHA per poll) and the test's own wait for the finish. It failed when a
  // poll fell inside one batch and not the other. Now a replica of its own on a Redis of its own, whose poll does
  // not come round during the test (with a TTL long enough for that interval: an interval over an eighth of the TTL is
  // refused at start), and MONITOR: only the commands that replica sends naming the stream's keys.
  const own = await startRedis();
  const solo = await startReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_REDIS_URL: own.url, STOPLINE_NODE_ID: 'pod-cost', STOPLINE_REDIS_TIMEOUT_MS: '1000', STOPLINE_POLL_INTERVAL_MS: '3600000', STOPLINE_STREAM_TTL_S: '28800' });
  // redis-cli's MONITOR: one line per command, `<time> [<db> <client address>|lua] "<command>" "<arg>"...`.
  const monitor = spawn('redis-cli', ['-p', String(own.port), 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const seen: string[] = [];
  let partial = '';
  monitor.stdout.setEncoding('utf8');
  monitor.stdout.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    seen.push(...lines);
  });
  try {
    await subscribed([solo]);
    const checker = own.client();
    const checkerAddr = /addr=(\S+)/.exec(String(await checker.client('INFO')))?.[1];
    await until('MONITOR running', async () => { await checker.ping(); return seen.some((l) => l.includes('"ping"')); });
    const cost = async (chunks: number, id: string) => {
      const s = stream(`${solo.url}/api/chat/stream?chunks=${chunks}&interval=0`, { body: body(`cost-${id}`, id) });
      assert.equal((await s.result).complete, true);
      await until('finish recorded', async () => (await checker.exists(`stopline:{cost-${id}}:d:${id}`)) === 1);
      // MONITOR's lines reach this process some time after Redis ran the commands: a marker sent after the finish
      // was recorded, once seen, says every earlier line has arrived.
      const marker = `marker-${id}`;
      await checker.echo(marker);
      await until('MONITOR caught up', () => seen.some((l) => l.includes(marker)));
      const sent = new Map<string, number>();
      for (const line of seen) {
        const m = /^[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
        if (m === null || m[1] === 'lua' || m[1] === checkerAddr || !line.includes(`{cost-${id}}`)) continue;
        const name = m[2]!.toLowerCase();
        sent.set(name, (sent.get(name) ?? 0) + 1);
      }
      return Object.fromEntries(sent);
    };
    await cost(10, 'warm'); // loads the scripts (the first call of each is an EVAL after a NOSCRIPT)
    const small = await cost(10, 'small');
    const large = await cost(2000, 'large');
    assert.deepEqual(large, small, 'the same round trips for 2,000 chunks as for 10');
    const total = Object.values(small).reduce((x, y) => x + y, 0);
    assert.ok(total >= 1 && total <= 4, `at most 4 round trips for a stream: ${JSON.stringify(small)}`);
  } finally {
    monitor.kill();
    await solo.close();
    await own.stop();
  }
});
