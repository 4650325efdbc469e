// Content-encoded streams, from a real compression middleware (Express' `compression()`, flushing per event), in
// front of two replicas on one Redis.
//
// The bug this guards against: the framer looked for blank lines in gzip/br bytes, so it held every chunk back (up
// to 64 KiB: the answer arrived at its end), and a stop wrote a plaintext terminal event into the compressed body,
// so the client's decoder failed. A stream start now asks the upstream for `identity`; a stream that comes back
// encoded anyway is relayed chunk by chunk, unframed, and a stop ends it after the last whole chunk.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import compression from 'compression';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startReplica, subscribed, type Replica } from '../helpers/stopline.ts';
import { postJson, sseEvents } from '../helpers/client.ts';

let redis: RedisServer;
let http: Server;
let a: Replica;
let b: Replica;
/** 'next' from the test lets the upstream write its next event; it emits 'encoding' with what it answered with. */
const pace = new EventEmitter();
const compress = compression({ threshold: 0 });

before(async () => {
  redis = await startRedis();
  http = createServer((req, res) => {
    // `force=gzip`: an upstream that compresses whatever the request asked for.
    if (req.url?.includes('force=gzip')) req.headers['accept-encoding'] = 'gzip';
    compress(req as never, res as never, () => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      pace.emit('encoding', res.getHeader('content-encoding') ?? 'identity');
      let i = 0;
      const write = () => {
        if (res.destroyed) return;
        res.write(`id: ${i}\ndata: {"i":${i}}\n\n`);
        (res as unknown as { flush(): void }).flush();
        i++;
      };
      pace.on('next', write);
      res.on('close', () => pace.off('next', write));
      write();
    });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const upstream = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const env = { STOPLINE_UPSTREAM: upstream, STOPLINE_REDIS_URL: redis.url, STOPLINE_REDIS_TIMEOUT_MS: '1000' };
  a = await startReplica({ ...env, STOPLINE_NODE_ID: 'enc-a' });
  b = await startReplica({ ...env, STOPLINE_NODE_ID: 'enc-b' });
  await subscribed([a, b]);
});

after(async () => {
  await Promise.allSettled([a.close(), b.close()]);
  http.closeAllConnections();
  http.close();
  await redis.stop();
});

/** A stream through A read with fetch (which decodes gzip and br); each event is read before the next is written. */
async function run(path: string, acceptEncoding: string, sessionId: string): Promise<{ encoding: string; text: string }> {
  const encoding = once(pace, 'encoding') as Promise<[string]>;
  const res = await fetch(`${a.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'accept-encoding': acceptEncoding }, body: JSON.stringify({ session_id: sessionId, message_id: 'm1' }) });
  assert.equal(res.status, 200);
  const [enc] = await encoding;
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (let i = 0; i < 5; i++) {
    // Event i is at the client before the upstream is let to write event i + 1.
    while (!text.includes(`data: {"i":${i}}\n\n`)) {
      const r = await reader.read();
      assert.equal(r.done, false, `the stream ended before event ${i}`);
      text += decoder.decode(r.value, { stream: true });
    }
    assert.equal(text.includes(`"i":${i + 1}`), false);
    if (i < 4) pace.emit('next');
  }
  const c = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: sessionId, message_id: 'm1' });
  assert.equal(c.json.outcome, 'stopped', JSON.stringify(c.json));
  for (;;) {
    const r = await reader.read(); // a decoding error would reject here
    if (r.done) break;
    text += decoder.decode(r.value, { stream: true });
  }
  return { encoding: enc, text: text + decoder.decode() };
}

for (const acceptEncoding of ['gzip', 'br']) {
  test(`a client asking for ${acceptEncoding}: each event arrives before the next is written; stopped from B, it ends with the terminal event`, async () => {
    const { encoding, text } = await run('/events', acceptEncoding, `enc-${acceptEncoding}`);
    assert.equal(encoding, 'identity', 'the stream start asked the upstream for identity');
    const events = sseEvents(text);
    assert.deepEqual(events.slice(0, 5).map((e) => e.data), [0, 1, 2, 3, 4].map((i) => `{"i":${i}}`));
    assert.equal(events.at(-1)!.event, 'stopline.cancelled');
  });
}

test('an upstream that compresses anyway: relayed per flush, and stopped it ends so that the decoder succeeds', async () => {
  const { encoding, text } = await run('/events?force=gzip', 'gzip', 'enc-forced');
  assert.equal(encoding, 'gzip');
  const events = sseEvents(text);
  assert.deepEqual(events.map((e) => e.data), [0, 1, 2, 3, 4].map((i) => `{"i":${i}}`), 'every whole event, no terminal event inside the gzip body');
});
