// SIGTERM on a real process (the built entry point, as the image runs it, with Redis): readiness goes 503, new
// streams are refused, a live stream that outlasts the drain timeout is stopped with the terminal event, and the
// process exits 0 by itself, every connection and timer closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { startUpstream } from '../helpers/upstream.ts';
import { startRedis } from '../helpers/redis.ts';
import { until } from '../helpers/net.ts';
import { sseEvents, stream } from '../helpers/client.ts';

test('drain on SIGTERM: unready, refuse new streams, stop what outlives the deadline, exit 0', async () => {
  assert.ok(existsSync('dist/main.js'), 'dist/ is missing: run npm run build first');
  const up = await startUpstream();
  const redis = await startRedis();
  // Ports 0: the process binds its own and logs them ("stopline listening"), so no other server can answer for it.
  const p = spawn(process.execPath, ['--import', './dist/tracing/preload.js', 'dist/main.js'], {
    env: { ...process.env, STOPLINE_REDIS_URL: redis.url, STOPLINE_LISTEN: '127.0.0.1:0', STOPLINE_ADMIN_LISTEN: '127.0.0.1:0', STOPLINE_UPSTREAM: up.url, STOPLINE_DRAIN_TIMEOUT_S: '5', STOPLINE_NODE_ID: 'drainer' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  let port = 0;
  let adminPort = 0;
  p.stdout.on('data', (d: Buffer) => {
    logs += d;
    const m = /"msg":"stopline listening"[^\n]*"port":(\d+),"adminPort":(\d+)/.exec(logs);
    if (m && port === 0) { port = Number(m[1]); adminPort = Number(m[2]); }
  });
  p.stderr.on('data', (d: Buffer) => { logs += d; });
  try {
    await until('stopline listening', () => port !== 0 || p.exitCode !== null);
    assert.notEqual(port, 0, logs);
    const quick = stream(`http://127.0.0.1:${port}/api/chat/stream?chunks=10&interval=10`, { body: JSON.stringify({ session_id: 'd', message_id: 'quick' }) });
    const long = stream(`http://127.0.0.1:${port}/api/chat/stream?chunks=100000&interval=10`, { body: JSON.stringify({ session_id: 'd', message_id: 'long' }) });
    await quick.waitFor((t) => t.includes('word1 '));
    await long.waitFor((t) => t.includes('word1 '));
    p.kill('SIGTERM');
    await until('unready', async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null))?.status === 503);
    // A new stream now: the listener is closed (connection refused), or a kept-alive connection gets 503.
    const late = await fetch(`http://127.0.0.1:${port}/api/chat/stream?chunks=5`, { method: 'POST', headers: { 'x-session-id': 'd', 'x-message-id': 'late' } }).then((r) => r.status, () => 'refused');
    assert.ok(late === 'refused' || late === 503, `late stream got ${late}`);
    assert.equal(up.records.some((r) => r.headers['x-message-id'] === 'late'), false);
    const q = await quick.result;
    assert.equal(q.complete, true);
    assert.equal(sseEvents(q.text).filter((e) => e.event === 'token').length, 10, 'a stream that ends within the drain time ends normally');
    const l = await long.result;
    const last = sseEvents(l.text).at(-1)!;
    assert.equal(last.event, 'stopline.cancelled');
    assert.equal(JSON.parse(last.data).reason, 'shutdown');
    const rec = await up.request('long');
    await rec.done;
    assert.equal(rec.aborted, true);
    const [code] = await once(p, 'exit');
    assert.equal(code, 0, logs);
    assert.match(logs, /"msg":"draining"/);
    // The process ended by itself: every server, connection and timer was closed (nothing forced the exit).
    assert.doesNotMatch(logs, /still open after shutdown/);
  } finally {
    if (p.exitCode === null) p.kill('SIGKILL');
    await up.close();
    await redis.stop();
  }
});
