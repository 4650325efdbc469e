// Regression: in per-chunk mode (one Redis check before each chunk), an upstream body delimited by the close of its
// connection (no Content-Length, not chunked) lost data. The upstream's end arrives while the upstream is paused
// for a chunk's check; the end was taken at once, so the chunk under check was dropped and the client got an empty
// (or short) body reported as complete, in 20 of 20 runs. The end now follows the chunk under check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startRedis } from '../helpers/redis.ts';
import { metric, startReplica } from '../helpers/stopline.ts';

const events = Array.from({ length: 20 }, (_, i) => `id: ${i}\nevent: token\ndata: {"i":${i},"tok":"é ${'x'.repeat(i * 37)}"}\n\n`);

test('per-chunk mode: a close-delimited stream arrives byte for byte', async () => {
  // A raw upstream: a head without Content-Length or Transfer-Encoding, the events in a few writes, then the close.
  const upstream = createServer((socket: Socket) => {
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n');
      socket.write(events.slice(0, 7).join(''));
      socket.write(events.slice(7, 8).join(''));
      socket.end(events.slice(8).join(''));
    });
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const redis = await startRedis();
  const r = await startReplica({
    STOPLINE_UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    STOPLINE_REDIS_URL: redis.url,
    STOPLINE_CANCEL_MODE: 'per-chunk',
    STOPLINE_REDIS_TIMEOUT_MS: '1000',
  });
  try {
    const want = Buffer.from(events.join(''));
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${r.url}/api/chat/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ session_id: 'pc', message_id: `m${i}` }) });
      const got = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200);
      assert.ok(got.equals(want), `run ${i}: ${got.length} of ${want.length} bytes`);
    }
    const m = await r.metrics();
    assert.equal(metric(m, 'stopline_streams_total', { outcome: 'completed' }), 10);
    assert.ok(metric(m, 'stopline_cancel_checks_total', { source: 'chunk', result: 'clear' }) >= 10, 'each stream was checked per chunk');
  } finally {
    await r.close();
    await redis.stop();
    upstream.close();
  }
});
