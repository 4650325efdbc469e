// Informational responses from the upstream.
//
// The bug this guards against: a `103 Early Hints` before the response was written as the response's own head, so
// the real head then failed (ERR_HTTP_HEADERS_SENT): the client got a bare reset, and a tracked stream was dropped
// from the registry, so its cancel answered `already_completed`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders } from 'node:http';
import { replicaBefore } from '../helpers/stopline.ts';
import { postJson, sseEvents, stream } from '../helpers/client.ts';

const link = '</style.css>; rel=preload; as=style';
const f = replicaBefore((req, res) => {
  res.writeEarlyHints({ link });
  if (req.url === '/page') { res.writeHead(200, { 'content-type': 'application/json', 'content-length': 11 }).end('{"ok":true}'); return; }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const timer = setInterval(() => res.write('data: {"tok":"x"}\n\n'), 5);
  res.on('close', () => clearInterval(timer));
});

test('103 Early Hints before a plain response: the hints are forwarded, then the response arrives whole', async () => {
  const hints: IncomingHttpHeaders[] = [];
  const req = request(`${f.sl.url}/page`, { agent: false });
  req.on('information', (info) => { if (info.statusCode === 103) hints.push(info.headers); });
  req.end();
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
  let body = '';
  for await (const c of res) body += c;
  assert.equal(res.statusCode, 200);
  assert.equal(body, '{"ok":true}');
  assert.deepEqual(hints.map((h) => h.link), [link]);
});

test('103 Early Hints before a tracked stream: the stream is relayed and stays cancellable', async () => {
  const s = stream(`${f.sl.url}/chat`, { body: JSON.stringify({ session_id: 'eh', message_id: 'eh1' }) });
  await s.waitFor((t) => t.includes('"tok"'));
  assert.equal(s.status, 200);
  const c = await postJson(`${f.sl.url}/stopline/v1/cancel`, { session_id: 'eh', message_id: 'eh1' });
  assert.equal(c.json.outcome, 'stopped');
  assert.equal(sseEvents((await s.result).text).at(-1)!.event, 'stopline.cancelled');
});
