// Regression: an EventSource reconnect to a stopped message waits for its registration before calling the upstream
// (to answer 204 instead of generating the message again). When the client left while that registration was on its
// way, its end was counted (stopline_streams_active down by one), and the refusal counted it a second time when the
// registration came back: the gauge went to -1. Redis is held with CLIENT PAUSE WRITE so that the client's departure
// comes first, deterministically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { postJson, stream } from '../helpers/client.ts';
import { until } from '../helpers/net.ts';
import { upstreamAndRedis } from '../helpers/scenarios.ts';
import { metric, startReplica } from '../helpers/stopline.ts';

const fx = upstreamAndRedis();

test('an EventSource reconnect whose client left before its registration came back is counted once', async () => {
  const r = await startReplica({ STOPLINE_UPSTREAM: fx.up.url, STOPLINE_REDIS_URL: fx.redis.url, STOPLINE_REDIS_TIMEOUT_MS: '10000', STOPLINE_NODE_ID: 'es' });
  const admin = fx.redis.client();
  try {
    // The message is stopped once: a reconnect with its ids is refused from now on.
    const first = stream(`${r.url}/api/chat/stream?chunks=100000&interval=10`, { body: JSON.stringify({ session_id: 'es', message_id: 'm' }) });
    await first.waitFor((t) => t.includes('word1 '));
    assert.equal((await postJson(`${r.url}/stopline/v1/cancel`, { session_id: 'es', message_id: 'm' })).json.outcome, 'stopped');
    await first.result;
    const gauge = async () => metric(await r.metrics(), 'stopline_streams_active');
    await until('the stopped stream counted out', async () => await gauge() === 0);

    await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    const socket = connect(r.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('GET /api/chat/stream HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\nx-session-id: es\r\nx-message-id: m\r\n\r\n');
    await until('the reconnect waiting for its registration', async () => await gauge() === 1);
    socket.destroy();
    await until('the departed client counted out', async () => metric(await r.metrics(), 'stopline_streams_total', { outcome: 'client_disconnected' }) === 1);
    await admin.call('CLIENT', 'UNPAUSE');
    // A cancel through the same Redis connection answers after the registration's reply has been handled.
    assert.equal((await postJson(`${r.url}/stopline/v1/cancel`, { session_id: 'es', message_id: 'other' })).json.outcome, 'pending');
    assert.equal(await gauge(), 0);
    assert.equal(fx.up.records.filter((x) => x.headers['x-message-id'] === 'm').length, 1, 'the upstream was never called again');
  } finally {
    await admin.call('CLIENT', 'UNPAUSE').catch(() => {});
    await r.close();
  }
});
