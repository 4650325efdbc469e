// Request smuggling and malformed HTTP/1.1, over raw sockets to the data port: every message of the corpus gets its
// 4xx, the connection is closed (a request pipelined after it is never answered), nothing of it reaches the
// upstream, and stopline keeps serving. Hop-by-hop fields never cross stopline, in either direction.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { postJson, stream } from '../helpers/client.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { closeAll, corpus, internalErrors, startLoggedReplica, startTap, type LoggedReplica, type Tap } from './harness.ts';
import { rawExchange } from '../helpers/raw-http.ts';

let up: Upstream;
let tap: Tap;
let sl: LoggedReplica;

before(async () => {
  up = await startUpstream();
  tap = await startTap(up.port);
  sl = await startLoggedReplica({ STOPLINE_UPSTREAM: tap.url });
});
after(() => closeAll(sl, tap, up));

/** The case's request target gets a `corpus=<n>` query, so that a request of it that reached the upstream is found. */
const marked = (raw: string, n: number) => raw.replace(/^([A-Z]+ \/[^ ?\r\n]*)/, `$1?corpus=${n}`);

describe('the corpus: each message is refused, its connection closed, nothing reaches the upstream', () => {
  let recordsBefore = 0;
  before(() => { recordsBefore = up.records.length; });
  corpus.forEach((c, n) => {
    test(c.name, async () => {
      const bytes = tap.bytes;
      const r = await rawExchange(sl.port, marked(c.raw, n));
      assert.ok(c.status.includes(r.status), `status ${r.status}, expected ${c.status.join(' or ')}; got:\n${r.text.slice(0, 300)}`);
      assert.equal(r.responses, 1, 'the request pipelined after it was not answered');
      assert.equal(r.closedByServer, true, 'stopline closed the connection');
      assert.match(r.text, /\r\nconnection: close\r\n/i);
      assert.deepEqual(up.records.filter((x) => x.path.includes(`corpus=${n}`)).map((x) => x.path.slice(0, 80)), [], 'the upstream received no request');
      // A broken head never reaches the handler, so not one byte goes upstream. A broken chunked body is found
      // while it is relayed: the upstream may have seen the start of a request that is then aborted (never a
      // complete one: no record).
      if (c.stage === 'head') assert.equal(tap.bytes, bytes, 'not one byte went to the upstream');
    });
  });
  test('the upstream fixture recorded no request during the whole corpus', () => {
    assert.deepEqual(up.records.slice(recordsBefore).map((x) => `${x.method} ${x.path.slice(0, 80)}`), []);
  });
});

// Regression: a malformed request pipelined behind a good one on the same connection. Node's parser fails on the
// second request while the first one's response is on its way, and the 'clientError' handler of the data server
// (src/http/server.ts) wrote "HTTP/1.1 400 Bad Request" on the socket whatever was in flight: in the middle of the
// first response's chunked body once the stream had started (the client's stream is corrupted: a status line
// where a chunk size belongs), or as the only answer to the first request before its response had started (the
// client is told 400 for a request the upstream is executing). Node's own default handler never writes into a
// connection that has a response in flight; stopline must not either.
describe('a malformed request pipelined behind a stream', () => {
  const streamRequest = (mid: string) => {
    const body = JSON.stringify({ session_id: mid, message_id: mid });
    return `POST /api/chat/stream?chunks=20&interval=10 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  };
  const malformed = 'GET /json HTTP/1.1\r\nHost : x\r\n\r\n';
  /** A connection that collects every byte it receives (latin1), and the moment it closes. */
  const open = () => {
    const s = connect(sl.port, '127.0.0.1');
    const got = { text: '' };
    s.setEncoding('latin1');
    s.on('data', (d: string) => { got.text += d; });
    s.on('error', () => {});
    return { s, got, closed: once(s, 'close') };
  };

  test('never writes into the stream\'s response once it has started', async () => {
    const { s, got, closed } = open();
    s.write(streamRequest('pipelined-1'));
    while (!got.text.includes('word1 ')) await once(s, 'data');
    s.write(malformed);
    await closed;
    assert.equal([...got.text.matchAll(/HTTP\/1\.1 \d{3} /g)].length, 1, `one status line only:\n${got.text.slice(-300)}`);
    assert.ok(got.text.startsWith('HTTP/1.1 200 OK\r\n'));
  });

  test('never answers 400 for a request the upstream is already executing', async () => {
    const { s, got, closed } = open();
    s.write(streamRequest('pipelined-2').replace('interval=10', 'interval=10&firstByteDelay=3000'));
    const rec = await up.request('pipelined-2');
    s.write(malformed);
    await closed;
    assert.doesNotMatch(got.text, /^HTTP\/1\.1 400 /, 'the client was told 400 for a stream that started upstream');
    await rec.done;
    assert.equal(rec.aborted, true, 'the upstream saw its client go away');
  });
});

test('after the corpus stopline still relays a stream and answers its probes', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=5&interval=0`, { body: JSON.stringify({ session_id: 'after', message_id: 'after-1' }) });
  const r = await s.result;
  assert.equal(r.status, 200);
  assert.equal(r.text, (await up.request('after-1')).sent);
  assert.equal((await fetch(`${sl.adminUrl}/healthz`)).status, 200);
  assert.equal((await fetch(`${sl.adminUrl}/readyz`)).status, 200);
});

test('a well-formed request pipelined on one connection still works (the follow-up check can pass)', async () => {
  const r = await rawExchange(sl.port, 'GET /stopline/v1/first HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(r.status, 404);
  assert.equal(r.responses, 2, 'both pipelined requests answered on one connection');
});

// Regression: a chunked JSON body that turns out malformed on a stream route. The relay reads such a body whole to
// find the ids (readBody in src/http/body.ts); the parser error makes Node answer 400 and close, and the request
// stream fails with "aborted". readBody let that error through as it was, so it reached sendError as a foreign
// error: stopline logged "unexpected error" at level error and tried to send a 500 for what is a client's fault.
// Anyone could fill the error log (and any alert on it) with one malformed request each. A client that goes away
// in the middle of its JSON body takes the same path.
test('a malformed or aborted JSON body is a client error, never logged as an internal error', async () => {
  const before = internalErrors(sl).length;
  const bad = corpus.filter((c) => c.stage === 'body' && /application\/json/.test(c.raw));
  assert.ok(bad.length > 0);
  for (const c of bad) assert.equal((await rawExchange(sl.port, c.raw)).status, 400, c.name);
  await abortedJsonBody(sl.port);
  // The replica answers a request after them all, so every handler above has run to its end.
  assert.equal((await postJson(`${sl.url}/stopline/v1/cancel`, { session_id: 'probe-after' })).status, 404);
  assert.deepEqual(internalErrors(sl).slice(before), []);
});

/** A JSON body cut off by the client half way: the connection is closed after its first bytes. */
async function abortedJsonBody(port: number): Promise<void> {
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.write('POST /api/chat/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"session_id":');
  s.destroy();
  await once(s, 'close');
}

test('ids in the query with CR/LF do not inject response fields', async () => {
  const res = await fetch(`${sl.url}/api/chat/stream?chunks=2&interval=0&session_id=s%0D%0AX-Injected:%20yes&message_id=m%0D%0AX-Injected:%20yes`, { method: 'POST' });
  await res.text();
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-injected'), null);
  assert.equal(res.headers.get('x-session-id'), null, 'invalid ids: proxied untouched, not tracked');
});

describe('hop-by-hop fields are never forwarded', () => {
  const hopByHop = ['connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection', 'expect', 'x-hop-a', 'x-hop-b'];
  const leaked = (headers: Record<string, unknown>) => {
    const out: string[] = [];
    for (const name of hopByHop) {
      const v = headers[name];
      if (v === undefined) continue;
      // The upstream hop has its own Connection field (undici's keep-alive): only the client's values must not pass.
      if (name === 'connection' && v === 'keep-alive') continue;
      out.push(`${name}: ${String(v)}`);
    }
    return out;
  };
  const requestFields = [
    'Connection: X-Hop-A, x-hop-b',
    'X-Hop-A: 1',
    'X-Hop-B: 2',
    'Keep-Alive: timeout=5, max=9',
    'TE: trailers',
    'Trailer: X-Checksum',
    'Proxy-Connection: keep-alive',
    'Upgrade: websocket',
    'X-End-To-End: yes',
  ].join('\r\n');

  test('on a proxied request (Connection-nominated, Keep-Alive, TE, Trailer, Proxy-Connection, Upgrade)', async () => {
    const n = up.records.length;
    const r = await rawExchange(sl.port, `GET /json?hop=1 HTTP/1.1\r\nHost: x\r\n${requestFields}\r\n\r\n`);
    assert.equal(r.status, 200);
    const rec = up.records.slice(n).find((x) => x.path === '/json?hop=1');
    assert.ok(rec, 'the request reached the upstream');
    assert.equal(rec.headers['x-end-to-end'], 'yes');
    assert.deepEqual(leaked(rec.headers), []);
  });

  test('on a tracked stream (JSON body with ids)', async () => {
    const body = JSON.stringify({ session_id: 'hop', message_id: 'hop-1' });
    const raw = `POST /api/chat/stream?chunks=2&interval=0 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n${requestFields}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const r = await rawExchange(sl.port, raw);
    assert.equal(r.status, 200);
    const rec = await up.request('hop-1');
    assert.equal(rec.headers['x-end-to-end'], 'yes');
    assert.deepEqual(leaked(rec.headers), []);
  });

  test('an Upgrade request is tunnelled: the upstream sees its own Connection: upgrade, none of the client\'s other hop-by-hop fields, and its non-101 answer comes back', async () => {
    const n = up.records.length;
    // The upstream fixture does not upgrade: it answers the handshake as a plain request, and that answer reaches
    // the client, then the connection closes (nothing more is read after a request that asks for an upgrade).
    const r = await rawExchange(sl.port, `GET /json?hop=2 HTTP/1.1\r\nHost: x\r\n${requestFields.replace('Connection: X-Hop-A, x-hop-b', 'Connection: Upgrade, X-Hop-A, x-hop-b')}\r\nSec-WebSocket-Version: 13\r\n\r\n`, { followUp: false });
    assert.equal(r.status, 200);
    assert.equal(r.closedByServer, true);
    const rec = up.records.slice(n).find((x) => x.path === '/json?hop=2');
    assert.ok(rec);
    assert.equal(rec.headers.upgrade, 'websocket');
    assert.equal(rec.headers.connection, 'upgrade');
    assert.equal(rec.headers['sec-websocket-version'], '13');
    assert.equal(rec.headers['x-end-to-end'], 'yes');
    assert.deepEqual(leaked(rec.headers).filter((f) => f !== 'upgrade: websocket' && f !== 'connection: upgrade'), []);
  });

  test('Expect: 100-continue is answered by stopline and not forwarded', async () => {
    const n = up.records.length;
    const s = connect(sl.port, '127.0.0.1');
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => { text += d; });
    s.write('POST /json?hop=3 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n');
    while (!text.includes('100 Continue\r\n\r\n')) await once(s, 'data');
    s.write('hello');
    while (!/\r\n\r\n[\s\S]*"ok":true/.test(text.split('100 Continue\r\n\r\n')[1] ?? '')) await once(s, 'data');
    s.destroy();
    const rec = up.records.slice(n).find((x) => x.path === '/json?hop=3');
    assert.ok(rec);
    assert.equal(rec.body, 'hello');
    assert.deepEqual(leaked(rec.headers), []);
  });

  describe('on a response', () => {
    let hopUpstream: Server;
    let viaHop: LoggedReplica;
    before(async () => {
      hopUpstream = createServer((_req, res) => {
        res.writeHead(200, [
          ['Content-Type', 'application/json'],
          ['Connection', 'X-Up-Hop, keep-alive'],
          ['X-Up-Hop', 'secret'],
          ['Keep-Alive', 'timeout=9, max=3'],
          ['Proxy-Connection', 'keep-alive'],
          ['Trailer', 'X-Checksum'],
          ['Upgrade', 'h2c'],
          ['X-End-To-End', 'yes'],
        ].flat());
        res.end('{"ok":true}');
      });
      hopUpstream.listen(0, '127.0.0.1');
      await once(hopUpstream, 'listening');
      viaHop = await startLoggedReplica({ STOPLINE_UPSTREAM: `http://127.0.0.1:${(hopUpstream.address() as AddressInfo).port}` });
    });
    after(async () => {
      await viaHop?.close();
      hopUpstream?.closeAllConnections();
      hopUpstream?.close();
    });

    test('the upstream\'s hop-by-hop fields stay on its hop', async () => {
      const r = await rawExchange(viaHop.port, 'GET /any HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(r.status, 200);
      const head = r.text.slice(0, r.text.indexOf('\r\n\r\n')).toLowerCase();
      assert.match(head, /\r\nx-end-to-end: yes/);
      for (const f of ['x-up-hop', 'proxy-connection', 'trailer', 'upgrade', 'keep-alive: timeout=9']) {
        assert.ok(!head.includes(`\r\n${f}`), `${f} leaked:\n${head}`);
      }
      assert.doesNotMatch(head, /\r\nconnection:[^\r]*x-up-hop/);
    });
  });
});
