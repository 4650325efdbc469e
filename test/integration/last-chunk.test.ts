// Regression: a stream that had completed stayed in the registry until its client's response was closed. A cancel
// in that window (after the upstream's last chunk, while the response was still on its way) answered `stopped`,
// path `local`, and recorded a cancel-to-stop sample, although the stream's outcome was `completed` and no ending
// was written; the peer endpoint listed the stream as stopped, and a session-wide cancel counted it too.
//
// The window is held open on purpose with HTTP pipelining: on one connection, a first stream the upstream keeps
// open, then a second one that completes at once. Node answers a connection's requests in order, so the second
// stream's whole response waits behind the first (in Node's buffer, not on the socket) until the first ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { peerCancelPath, sign } from '../../src/cancel/peers.ts';
import { postJson } from '../helpers/client.ts';
import { until } from '../helpers/net.ts';
import { responses } from '../helpers/raw-http.ts';
import { upstreamAndRedis } from '../helpers/scenarios.ts';
import { metric, startReplica, subscribed } from '../helpers/stopline.ts';

const secret = 'a-peer-secret-of-some-length';
const fx = upstreamAndRedis();

test('a cancel after a stream completed, before its response left, answers already_completed on every path', async () => {
  const up = fx.up;
  const env = { STOPLINE_UPSTREAM: up.url, STOPLINE_REDIS_URL: fx.redis.url, STOPLINE_PEER_SECRET: secret };
  const r = await startReplica({ ...env, STOPLINE_NODE_ID: 'owner' });
  const other = await startReplica({ ...env, STOPLINE_NODE_ID: 'other' });
  await subscribed([r, other]);
  const socket = connect(r.port, '127.0.0.1');
  try {
    let text = '';
    socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    socket.write(
      'GET /api/chat/stream?chunks=5&stallAfter=1 HTTP/1.1\r\nhost: x\r\nx-session-id: s0\r\nx-message-id: first\r\n\r\n' +
      'GET /api/chat/stream?chunks=3&interval=0 HTTP/1.1\r\nhost: x\r\nx-session-id: s1\r\nx-message-id: done\r\n\r\n',
    );
    const rec = await up.request('done');
    await rec.done;
    assert.equal(rec.finished, true);
    // The stream completed: it is no longer live, although its response has not left stopline yet.
    await until('the completed stream no longer live', async () => metric(await r.metrics(), 'stopline_streams_total', { outcome: 'completed' }) === 1);
    assert.doesNotMatch(text, /x-message-id: done/);

    // On the owner (local) and on another replica (through Redis): the stream is over, its done marker written.
    for (const at of [r, other]) {
      const single = await postJson(`${at.url}/stopline/v1/cancel`, { session_id: 's1', message_id: 'done' });
      assert.equal(single.json.outcome, 'already_completed', JSON.stringify(single.json));
      const session = await postJson(`${at.url}/stopline/v1/cancel`, { session_id: 's1' });
      assert.equal(session.json.outcome, 'not_found', JSON.stringify(session.json));
    }
    const body = JSON.stringify({ session_id: 's1', message_id: 'done', from: 'other' });
    const peer = await fetch(`${r.adminUrl}${peerCancelPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-stopline-signature': sign(secret, Date.now(), 'POST', peerCancelPath, body) },
      body,
    });
    assert.equal(peer.status, 200);
    assert.deepEqual((await peer.json() as { stopped: string[] }).stopped, []);
    assert.equal(metric(await r.metrics(), 'stopline_cancel_to_stop_seconds_count', { path: 'local' }), 0);

    // Now the first stream is stopped: its ending goes out, then the completed stream's response, whole and without one.
    const first = await postJson(`${r.url}/stopline/v1/cancel`, { session_id: 's0', message_id: 'first' });
    assert.equal(first.json.outcome, 'stopped');
    while (responses(text).length < 2) await once(socket, 'data');
    const second = text.slice(text.indexOf('x-message-id: done'));
    assert.match(text.slice(0, text.indexOf('x-message-id: done')), /stopline\.cancelled/);
    for (const i of [0, 1, 2]) assert.match(second, new RegExp(`word${i} `));
    assert.doesNotMatch(second, /stopline\.cancelled/);
    const m = await r.metrics();
    assert.equal(metric(m, 'stopline_streams_total', { outcome: 'completed' }), 1);
    assert.equal(metric(m, 'stopline_streams_total', { outcome: 'cancelled' }), 1);
    assert.equal(metric(m, 'stopline_cancel_to_stop_seconds_count', { path: 'local' }), 1);
  } finally {
    socket.destroy();
    await r.close();
    await other.close();
  }
});
