// SIGTERM on a real process (the built entry point, as the image runs it, with Redis): readiness goes 503, new
// streams are refused, a live stream that outlasts the drain timeout is stopped with the terminal event, and the
// process exits 0 by itself, every connection and timer closed. Untracked exchanges drain too: they used to be cut
// within milliseconds of the signal (the drain waited for tracked streams only, then closed every connection).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { startUpstream } from '../helpers/upstream.ts';
import { startRedis } from '../helpers/redis.ts';
import { until } from '../helpers/net.ts';
import { sseEvents, stream } from '../helpers/client.ts';

/** The built entry point on ports 0; resolves once it logged the ports it bound. */
async function spawnStopline(env: Record<string, string>): Promise<{ p: ChildProcess; port: number; adminPort: number; logs: () => string }> {
  assert.ok(existsSync('dist/main.js'), 'dist/ is missing: run npm run build first');
  // Ports 0: the process binds its own and logs them ("stopline listening"), so no other server can answer for it.
  const p = spawn(process.execPath, ['--import', './dist/tracing/preload.js', 'dist/main.js'], {
    env: { ...process.env, STOPLINE_LISTEN: '127.0.0.1:0', STOPLINE_ADMIN_LISTEN: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  let port = 0;
  let adminPort = 0;
  p.stdout!.on('data', (d: Buffer) => {
    logs += d;
    const m = /"msg":"stopline listening"[^\n]*"port":(\d+),"adminPort":(\d+)/.exec(logs);
    if (m && port === 0) { port = Number(m[1]); adminPort = Number(m[2]); }
  });
  p.stderr!.on('data', (d: Buffer) => { logs += d; });
  await until('stopline listening', () => port !== 0 || p.exitCode !== null);
  assert.notEqual(port, 0, logs);
  return { p, port, adminPort, logs: () => logs };
}

test('drain on SIGTERM: unready, refuse new streams, stop what outlives the deadline, exit 0', async () => {
  const up = await startUpstream();
  const redis = await startRedis();
  const { p, port, adminPort, logs: output } = await spawnStopline({ STOPLINE_REDIS_URL: redis.url, STOPLINE_UPSTREAM: up.url, STOPLINE_DRAIN_TIMEOUT_S: '5', STOPLINE_NODE_ID: 'drainer' });
  try {
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
    const logs = output();
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

test('drain on SIGTERM: untracked requests and streams in flight complete before the process exits', async () => {
  const up = await startUpstream();
  const { p, port, logs } = await spawnStopline({ STOPLINE_UPSTREAM: up.url, STOPLINE_DRAIN_TIMEOUT_S: '30', STOPLINE_NODE_ID: 'drainer' });
  try {
    // No session id: neither is a tracked stream. One streams for a while, the other has not answered yet.
    const untracked = stream(`http://127.0.0.1:${port}/api/other/stream?chunks=40&interval=25`, { body: '{}' });
    const slow = stream(`http://127.0.0.1:${port}/api/slow?format=plain&chunks=1&firstByteDelay=500`, { method: 'GET' });
    await untracked.waitFor((t) => t.includes('word1 '));
    await until('both requests upstream', () => up.records.length === 2);
    p.kill('SIGTERM');
    const [u, s] = await Promise.all([untracked.result, slow.result]);
    assert.equal(u.complete, true);
    assert.equal(sseEvents(u.text).filter((e) => e.event === 'token').length, 40);
    assert.equal(s.status, 200);
    assert.equal(s.text, 'word0 ');
    // Its head left during the drain: the connection is not kept alive for another request.
    assert.equal(s.headers.connection, 'close');
    const [code] = await once(p, 'exit');
    assert.equal(code, 0, logs());
    assert.match(logs(), /"msg":"draining"[^\n]*"streams":0,"requests":2/);
    assert.doesNotMatch(logs(), /drain deadline reached|still open after shutdown/);
    assert.equal(up.records.some((r) => r.aborted), false);
  } finally {
    if (p.exitCode === null) p.kill('SIGKILL');
    await up.close();
  }
});

test('drain on SIGTERM: a second signal exits at once', async () => {
  const up = await startUpstream();
  const { p, port, logs } = await spawnStopline({ STOPLINE_UPSTREAM: up.url, STOPLINE_DRAIN_TIMEOUT_S: '60', STOPLINE_NODE_ID: 'drainer' });
  try {
    const long = stream(`http://127.0.0.1:${port}/api/chat/stream?chunks=100000&interval=10`, { body: JSON.stringify({ session_id: 'd', message_id: 'long' }) });
    await long.waitFor((t) => t.includes('word1 '));
    p.kill('SIGTERM');
    await until('draining', () => /"msg":"draining"/.test(logs()));
    p.kill('SIGINT');
    const [code] = await once(p, 'exit');
    assert.equal(code, 1, logs());
    assert.match(logs(), /second signal: exiting at once/);
    assert.equal((await long.result).complete, false);
  } finally {
    if (p.exitCode === null) p.kill('SIGKILL');
    await up.close();
  }
});
