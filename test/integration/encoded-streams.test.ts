// Content-encoded streams, from real compressors flushing per event (Express' `compression()` for gzip, br and
// deflate; Node's zlib for raw deflate and zstd), in front of two replicas on one Redis, read by strict decoders:
// Node's streaming zlib with its default end check, and Python's gzip/zlib modules.
//
// The bug this guards against: a stream whose upstream compressed it despite the `identity` asked for was relayed
// encoded and unframed, and a stop ended it after its last whole upstream chunk, with no terminal event and no
// end of the compressed body: lenient decoders (fetch, browsers) took it, strict ones (zlib.gunzipSync, a
// createGunzip() pipeline, Python's gzip, httpx) failed with "unexpected end of file". Such a stream is now decoded
// at stopline and relayed unencoded, so it is framed and ended like any other: every whole event, then the
// dialect's ending. A coding stopline cannot decode, or a client that refuses identity, gets the encoded body as it
// came, and a stop cuts the connection so that no client takes the cut body for a whole one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { PassThrough, pipeline, type Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import compression from 'compression';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { metric, startReplica, subscribed, type Replica } from '../helpers/stopline.ts';
import { postJson, sseEvents } from '../helpers/client.ts';

let redis: RedisServer;
let http: Server;
let a: Replica;
let b: Replica;
/** `pace.emit(messageId)` lets the upstream write that stream's next event; `pace.emit(`${messageId}:end`)` ends it. */
const pace = new EventEmitter();
/** The upstream request's headers, and the coding the upstream answered with, by message id. */
const seen = new Map<string, IncomingHttpHeaders>();
const answered = new Map<string, string>();
const compress = compression({ threshold: 0 });
const python = fileURLToPath(new URL('../fixtures/strict_client/client.py', import.meta.url));

const chunk = (i: number) => `data: ${JSON.stringify({ id: 'chatcmpl-enc', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: `tok${i} ` } }] })}\n\n`;

/** An encoder the upstream writes its events through, flushing each (as `compression()` does on `res.flush()`). */
function encoder(coding: string): { header: string; z: Transform } {
  switch (coding) {
    case 'deflate-raw': return { header: 'deflate', z: zlib.createDeflateRaw() };
    case 'zstd': return { header: 'zstd', z: zlib.createZstdCompress() };
    case 'corrupt': return { header: 'gzip', z: zlib.createGzip() };
    default: return { header: coding, z: new PassThrough() }; // a coding nobody decodes: the bytes as they are
  }
}

before(async () => {
  redis = await startRedis();
  http = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (s: string) => { body += s; });
    req.on('end', () => {
      const id = String(JSON.parse(body).message_id);
      seen.set(id, { ...req.headers });
      const coding = new URL(req.url ?? '/', 'http://x').searchParams.get('coding') ?? 'identity';
      const start = (write: (i: number) => void, end: () => void) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        answered.set(id, String(res.getHeader('content-encoding') ?? 'identity'));
        let i = 0;
        const next = () => { if (!res.destroyed) write(i++); };
        pace.on(id, next);
        pace.once(`${id}:end`, end);
        res.on('close', () => { pace.off(id, next); pace.off(`${id}:end`, end); });
        next();
      };
      if (coding === 'identity' || coding === 'gzip' || coding === 'br' || coding === 'deflate') {
        // Express' compression middleware, compressing whatever the request asked for.
        if (coding !== 'identity') req.headers['accept-encoding'] = coding;
        compress(req as never, res as never, () => start((i) => {
          res.write(chunk(i));
          (res as unknown as { flush(): void }).flush();
        }, () => res.end()));
        return;
      }
      const { header, z } = encoder(coding);
      res.setHeader('content-encoding', header);
      z.on('data', (c: Buffer) => res.write(c));
      z.on('end', () => res.end());
      start((i) => {
        // `corrupt`: a valid gzip start, then bytes that are not gzip at all.
        if (coding === 'corrupt' && i > 0) { res.write('this is not gzip'); return; }
        z.write(chunk(i));
        (z as unknown as { flush?: () => void }).flush?.();
      }, () => z.end());
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

/** What a client reports: its response head, each decoded piece as it arrives, then the strictly decoded whole body. */
type Record = { head: { status: number; content_encoding: string | null } } | { text: string } | { end: { body: string | null; error: string | null } };
type Client = (url: string, body: string, acceptEncoding: string) => AsyncIterator<Record>;

/** Node's streaming zlib for the response's Content-Encoding, with its default end check (a cut body fails). */
const nodeClient: Client = (url, body, acceptEncoding) => {
  const out = new EventEmitter();
  const records: Record[] = [];
  const push = (r: Record) => { records.push(r); out.emit('record'); };
  const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'accept-encoding': acceptEncoding } }, (res) => {
    const ce = res.headers['content-encoding'];
    push({ head: { status: res.statusCode!, content_encoding: ce ?? null } });
    const decoder: Transform = ce === 'gzip' ? zlib.createGunzip() : ce === 'br' ? zlib.createBrotliDecompress() : ce === 'deflate' ? zlib.createInflate() : ce === 'zstd' ? zlib.createZstdDecompress() : new PassThrough();
    let text = '';
    decoder.setEncoding('utf8');
    decoder.on('data', (s: string) => { text += s; push({ text: s }); });
    pipeline(res, decoder, (err) => push({ end: { body: err ? null : text, error: err ? String(err) : null } }));
  });
  req.on('error', (err) => push({ end: { body: null, error: String(err) } }));
  req.end(body);
  return (async function* () {
    for (;;) {
      if (records.length === 0) await once(out, 'record');
      const r = records.shift()!;
      yield r;
      if ('end' in r) return;
    }
  })();
};

/** Python's http.client, gzip and zlib (test/fixtures/strict_client/client.py). */
const pythonClient: Client = (url, body, acceptEncoding) => {
  const p = spawn('python3', [python, url, body, acceptEncoding], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: p.stdout })[Symbol.asyncIterator]();
  return (async function* () {
    for (;;) {
      const l = await lines.next();
      assert.equal(l.done, false, 'the Python client ended without its end record');
      const r = JSON.parse(l.value as string) as Record;
      yield r;
      if ('end' in r) { if (p.exitCode === null) await once(p, 'exit'); return; }
    }
  })();
};

interface Run { contentEncoding: string | null; body: string | null; error: string | null; upstreamAsked: string | undefined; upstreamAnswered: string | undefined }

/**
 * A stream through A read by `client`: each event is at the client before the upstream is let to write the next
 * (arrival order, not timing); after five events it is stopped from B (or, `stop: false`, the upstream ends it).
 */
async function run(client: Client, coding: string, messageId: string, opts: { acceptEncoding?: string; stop?: boolean } = {}): Promise<Run> {
  const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }], session_id: 's-enc', message_id: messageId });
  const records = client(`${a.url}/v1/chat/completions?coding=${coding}`, body, opts.acceptEncoding ?? 'gzip, deflate, br, zstd');
  const head = (await records.next()).value as Record;
  assert.ok('head' in head, JSON.stringify(head));
  assert.equal(head.head.status, 200);
  let text = '';
  let end = null as { body: string | null; error: string | null } | null; // set by upTo
  const upTo = async (done: () => boolean) => {
    while (!done() && end === null) {
      const r = (await records.next()).value as Record;
      if ('text' in r) text += r.text;
      else if ('end' in r) end = r.end;
    }
  };
  for (let i = 0; i < 5; i++) {
    await upTo(() => text.includes(`tok${i} `));
    assert.ok(text.includes(`tok${i} `), `event ${i} reached the client before the upstream wrote event ${i + 1} (${end?.error})`);
    assert.equal(text.includes(`tok${i + 1} `), false);
    if (i < 4) pace.emit(messageId);
  }
  if (opts.stop === false) {
    pace.emit(`${messageId}:end`);
  } else {
    const c = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 's-enc', message_id: messageId });
    assert.equal(c.json.outcome, 'stopped', JSON.stringify(c.json));
  }
  await upTo(() => false);
  return { contentEncoding: head.head.content_encoding, ...end!, upstreamAsked: seen.get(messageId)?.['accept-encoding'], upstreamAnswered: answered.get(messageId) };
}

/** Five whole token chunks, then exactly one OpenAI ending: the `finish_reason: "stop"` chunk, then `[DONE]`. */
function assertEndsInDialect(body: string | null): void {
  assert.notEqual(body, null);
  const events = sseEvents(body!);
  assert.deepEqual(events.slice(0, 5).map((e) => JSON.parse(e.data).choices[0].delta.content), ['tok0 ', 'tok1 ', 'tok2 ', 'tok3 ', 'tok4 ']);
  assert.equal(events.length, 7, body!);
  const finish = JSON.parse(events[5]!.data);
  assert.equal(finish.choices[0].finish_reason, 'stop');
  assert.equal(finish.id, 'chatcmpl-enc', 'the ending carries the upstream\'s own id');
  assert.equal(finish.stopline.reason, 'cancelled');
  assert.equal(events[6]!.data, '[DONE]');
}

test('a stream start asks the upstream for identity: relayed per event, stopped it ends in its dialect', { timeout: 30_000 }, async () => {
  const r = await run(nodeClient, 'identity', 'm-identity');
  assert.equal(r.upstreamAsked, 'identity');
  assert.equal(r.contentEncoding, null);
  assert.equal(r.error, null);
  assertEndsInDialect(r.body);
});

for (const [coding, clients] of [['gzip', ['node', 'python']], ['br', ['node', 'python']], ['deflate', ['node']], ['deflate-raw', ['node']], ['zstd', ['node']]] as const) {
  for (const name of clients) {
    test(`an upstream that sends ${coding} anyway: decoded, relayed per event, stopped from B it ends validly for ${name}'s strict decoder`, { timeout: 30_000 }, async () => {
      const r = await run(name === 'node' ? nodeClient : pythonClient, coding, `m-${coding}-${name}`);
      assert.equal(r.upstreamAsked, 'identity', 'the upstream was asked for identity');
      assert.equal(r.upstreamAnswered, coding === 'deflate-raw' ? 'deflate' : coding, 'and ignored it');
      assert.equal(r.error, null, 'the strict decoder accepted the body');
      assert.equal(r.contentEncoding, null, 'relayed unencoded');
      assertEndsInDialect(r.body);
    });
  }
}

test('a decoded stream that is not stopped completes with every event and no ending of stopline\'s', { timeout: 30_000 }, async () => {
  const before = metric(await a.metrics(), 'stopline_streams_total', { outcome: 'completed' });
  const r = await run(nodeClient, 'br', 'm-complete', { stop: false });
  assert.equal(r.contentEncoding, null);
  assert.equal(r.error, null);
  assert.deepEqual(sseEvents(r.body!).map((e) => JSON.parse(e.data).choices[0].delta.content), ['tok0 ', 'tok1 ', 'tok2 ', 'tok3 ', 'tok4 ']);
  assert.equal(metric(await a.metrics(), 'stopline_streams_total', { outcome: 'completed' }), before + 1);
});

test('a client that refuses identity gets the encoded body as it came; a stop cuts the connection', { timeout: 30_000 }, async () => {
  const before = metric(await a.metrics(), 'stopline_streams_total', { outcome: 'cancelled' });
  const r = await run(nodeClient, 'gzip', 'm-no-identity', { acceptEncoding: 'gzip, identity;q=0' });
  assert.equal(r.contentEncoding, 'gzip');
  assert.notEqual(r.error, null, 'the client sees a cut body, not a whole one');
  assert.equal(metric(await a.metrics(), 'stopline_streams_total', { outcome: 'cancelled' }), before + 1);
});

test('a coding stopline cannot decode passes as it came; a stop cuts the connection', { timeout: 30_000 }, async () => {
  const r = await run(nodeClient, 'x-unknown', 'm-unknown');
  assert.equal(r.contentEncoding, 'x-unknown');
  assert.notEqual(r.error, null, 'the client sees a cut body, not a whole one');
});

test('a corrupt gzip body: the client sees a broken body, the outcome is upstream_error, and the replica serves on', { timeout: 30_000 }, async () => {
  const before = metric(await a.metrics(), 'stopline_streams_total', { outcome: 'upstream_error' });
  const records = nodeClient(`${a.url}/v1/chat/completions?coding=corrupt`, JSON.stringify({ stream: true, session_id: 's-enc', message_id: 'm-corrupt' }), 'gzip');
  const head = (await records.next()).value as Record;
  assert.ok('head' in head && head.head.content_encoding === null);
  let text = '';
  let end: { body: string | null; error: string | null } | undefined;
  while (!text.includes('tok0 ')) {
    const r = (await records.next()).value as Record;
    assert.ok(!('end' in r), JSON.stringify(r));
    if ('text' in r) text += r.text;
  }
  pace.emit('m-corrupt'); // the garbage
  for (;;) {
    const r = (await records.next()).value as Record;
    if ('end' in r) { end = r.end; break; }
    if ('text' in r) text += r.text;
  }
  assert.notEqual(end!.error, null, 'a broken body, not a clean end');
  assert.equal(metric(await a.metrics(), 'stopline_streams_total', { outcome: 'upstream_error' }), before + 1);
  // The replica is alive and relays the next stream whole.
  const r = await run(nodeClient, 'gzip', 'm-after-corrupt');
  assert.equal(r.error, null);
  assertEndsInDialect(r.body);
});
