// A FastAPI (Starlette) service behind stopline with the default STOPLINE_STREAM_ROUTES=*: what is not a stream start
// passes as through any transparent proxy.
//
// Two bugs this guards against. Host was rewritten to the upstream's loopback address, so a redirect the service
// built from it (Starlette's `redirect_slashes`, `url_for`) sent browsers to 127.0.0.1:<port>. And under `*` every
// request carrying a session id was registered as a stream before its response: a feedback POST with a live
// stream's ids got 409, and a plain GET with a stopped message's ids got a synthetic event stream instead of the
// service's answer.
// Needs the fixture's virtualenv: sh test/fixtures/fastapi_app/setup.sh
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startFastApi, type FastApiApp } from '../fixtures/fastapi_app/launch.ts';
import { startReplica, type Replica } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';

let service: FastApiApp | undefined;
let kept: Replica;
let own: Replica;

before(async () => {
  service = await startFastApi();
  kept = await startReplica({ STOPLINE_UPSTREAM: service.url });
  own = await startReplica({ STOPLINE_UPSTREAM: service.url, STOPLINE_PRESERVE_HOST: 'false' });
});

after(async () => {
  await Promise.allSettled([kept?.close(), own?.close()]);
  await service?.stop();
});

/** One GET with a given Host header, not followed: status, Location and body. */
function get(port: number, path: string, host: string): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('redirect_slashes through stopline points at the public host: Host kept by default, mapped back when not', async () => {
  const a = await get(kept.port, '/api/history?x=1', 'chat.example.com');
  assert.equal(a.status, 307);
  assert.equal(a.location, 'http://chat.example.com/api/history/?x=1');
  const followed = await get(kept.port, '/api/history/?x=1', 'chat.example.com');
  assert.equal(JSON.parse(followed.body).host, 'chat.example.com', 'the service saw the client\'s Host');

  const b = await get(own.port, '/api/history?x=1', 'chat.example.com');
  assert.equal(b.status, 307);
  assert.equal(b.location, 'http://chat.example.com/api/history/?x=1', 'the loopback Location is mapped back');
  const seen = JSON.parse((await get(own.port, '/api/history/?x=1', 'chat.example.com')).body);
  assert.equal(seen.host, new URL(service!.url).host, 'the service saw its own Host');
});

test('requests that do not start a stream reach the service whatever ids they carry', async () => {
  const ids = { session_id: 'fp-s1', message_id: 'fp-m1' };
  const s = stream(`${kept.url}/api/chat/stream`, { headers: { accept: 'text/event-stream' }, body: JSON.stringify({ ...ids, message: 'hi', tokens: 5000, interval_ms: 20 }) });
  await s.waitFor((t) => t.includes('"tok2 "'));

  const fb = await postJson(`${kept.url}/api/feedback`, { ...ids, rating: 1 });
  assert.equal(fb.status, 200, JSON.stringify(fb.json));
  assert.deepEqual(fb.json.received, { ...ids, rating: 1 });
  assert.equal(fb.headers['x-message-id'], undefined, 'a plain answer gets no stream headers');

  const c = await postJson(`${kept.url}/stopline/v1/cancel`, ids);
  assert.equal(c.json.outcome, 'stopped');
  assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');

  const h = await fetch(`${kept.url}/api/history/?session_id=fp-s1&message_id=fp-m1`);
  assert.equal(h.status, 200);
  assert.match(h.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(((await h.json()) as { query: unknown }).query, ids);

  // A real EventSource reconnect to the stopped message is still refused with 204 (it ends the EventSource).
  const again = await fetch(`${kept.url}/api/chat/stream?session_id=fp-s1&message_id=fp-m1`, { headers: { accept: 'text/event-stream' } });
  assert.equal(again.status, 204);
});

test('a request with ids whose response is a stream is tracked from its response: it can be stopped', async () => {
  // No Accept and no "stream": true (a client such as the AI SDK's useChat): not a stream start, but its answer is.
  const s = stream(`${kept.url}/api/chat/stream`, { headers: { accept: '*/*' }, body: JSON.stringify({ session_id: 'fp-s2', message_id: 'fp-m2', message: 'hi', tokens: 5000, interval_ms: 20 }) });
  await s.waitFor((t) => t.includes('"tok2 "'));
  assert.equal(s.headers['x-message-id'], 'fp-m2');
  const c = await postJson(`${kept.url}/stopline/v1/cancel`, { session_id: 'fp-s2', message_id: 'fp-m2' });
  assert.equal(c.json.outcome, 'stopped');
  assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
});
