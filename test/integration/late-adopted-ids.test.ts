// A request with a session id that does not ask for a stream is proxied as it came, but for the id headers: if its
// response turns out to be a stream, it is tracked from then on, under the ids its response reports.
//
// The bug this guards against: such a request went upstream without `x-session-id`/`x-message-id`, so a stream
// adopted late had been generated without the message id stopline made for it, and the ids the client was given
// (and cancels by) were never seen by the service.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startReplica, type Replica } from '../helpers/stopline.ts';

let up: Upstream;
let sl: Replica;
before(async () => {
  up = await startUpstream();
  sl = await startReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_NODE_ID: 'late-ids' });
});
after(async () => {
  await sl.close();
  await up.close();
});

async function send(base: string, path: string, headers: Record<string, string>, body: string): Promise<{ res: IncomingMessage; text: string }> {
  const req = request(`${base}${path}`, { method: 'POST', headers });
  req.end(body);
  const [res] = await once(req, 'response') as [IncomingMessage];
  let text = '';
  for await (const c of res) text += c;
  return { res, text };
}

test('a stream adopted from its response was generated under the ids its response reports', async () => {
  // No Accept for a stream, no "stream": true, no message id: not a stream start, so stopline makes the message id.
  const body = JSON.stringify({ session_id: 'late-s1', prompt: 'hi' });
  const { res, text } = await send(sl.url, '/v1/generate?format=sse&chunks=3&interval=0', { 'content-type': 'application/json', accept: '*/*', 'accept-encoding': 'gzip, br' }, body);
  assert.equal(res.statusCode, 200);
  assert.match(text, /data: /);
  const messageId = res.headers['x-message-id'];
  assert.equal(res.headers['x-session-id'], 'late-s1', 'tracked: the response carries the ids');
  assert.match(String(messageId), /^[0-9a-f-]{36}$/);
  const rec = up.records.find((r) => r.body === body)!;
  assert.equal(rec.headers['x-session-id'], 'late-s1');
  assert.equal(rec.headers['x-message-id'], messageId, 'the upstream saw the message id the client was given');
  assert.equal(rec.headers['accept-encoding'], 'gzip, br', 'not a stream start: its Accept-Encoding is the client\'s');
});

test('a plain JSON request with ids reaches the service byte for byte, apart from the id headers', async () => {
  const body = '{"session_id":"late-s2","message_id":"late-m2","rating":1,  "note":"caf\\u00e9 ☕"}';
  const headers = { 'content-type': 'application/json', accept: 'application/json', 'accept-encoding': 'gzip', 'x-custom': 'v', host: 'chat.example.com', 'user-agent': 'test/1' };
  const direct = await send(up.url, '/json?x=1', headers, body);
  const proxied = await send(sl.url, '/json?x=1', headers, body);
  assert.equal(proxied.res.statusCode, 200);
  assert.equal(proxied.text, direct.text, 'the service answered the same');
  assert.equal(proxied.res.headers['x-message-id'], undefined, 'a plain answer gets no stream headers');
  const [a, b] = up.records.slice(-2);
  assert.equal(b!.body, a!.body);
  assert.equal(b!.headers['x-session-id'], 'late-s2');
  assert.equal(b!.headers['x-message-id'], 'late-m2');
  const strip = (h: IncomingHttpHeaders) => Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith('x-forwarded-') && k !== 'x-session-id' && k !== 'x-message-id'));
  assert.deepEqual(strip(b!.headers), strip(a!.headers));
});
