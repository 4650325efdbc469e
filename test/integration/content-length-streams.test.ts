// An SSE response that declares a Content-Length, stopped.
//
// The bug this guards against: the stopped stream wrote its ending into a body with a declared length (90 of 1000
// bytes sent) and left the keep-alive connection open: the client waited for the rest until its timeout. A tracked
// stream is now relayed chunked, so a stop ends it cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replicaBefore } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';

const f = replicaBefore((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'content-length': 1000 });
  res.write('data: {"tok":"first"}\n\n'); // then nothing: the rest of the declared length never comes
});

test('a stopped SSE stream with a Content-Length ends cleanly with its terminal event', async () => {
  const s = stream(`${f.sl.url}/chat`, { body: JSON.stringify({ session_id: 'cl', message_id: 'cl1' }) });
  await s.waitFor((t) => t.includes('first'));
  assert.equal(s.headers['content-length'], undefined);
  const c = await postJson(`${f.sl.url}/stopline/v1/cancel`, { session_id: 'cl', message_id: 'cl1' });
  assert.equal(c.json.outcome, 'stopped');
  const r = await s.result;
  assert.equal(r.complete, true);
  assert.deepEqual(sseEvents(r.text).map((e) => e.event), ['message', 'stopline.cancelled']);
});
