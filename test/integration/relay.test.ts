// The proxy and the relay: requests pass through intact, streams are relayed chunk by chunk and byte for byte, and
// every way an exchange can go wrong ends the right way. Single-node mode (no Redis): the relay does not need it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startReplica, metric, type Replica } from '../helpers/stopline.ts';
import { postJson, stream } from '../helpers/client.ts';
import { freePort, until } from '../helpers/net.ts';
import { rawExchange } from '../helpers/raw-http.ts';

let up: Upstream;
let sl: Replica;
before(async () => {
  up = await startUpstream();
  sl = await startReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_NODE_ID: 'solo' });
});
after(async () => {
  await sl.close();
  await up.close();
});

test('a plain request is proxied untouched: method, path, query, headers and body, with x-forwarded-* set', async () => {
  // node:http rather than fetch: fetch will not send a Connection header of our choosing.
  const { request } = await import('node:http');
  const req = request(`${sl.url}/json?x=1&y=2`, { method: 'PUT', headers: { 'content-type': 'application/json', 'x-custom': 'v', connection: 'keep-alive, x-hop', 'x-hop': 'drop me' } });
  req.end('{"hello":"world"}');
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
  let text = '';
  for await (const c of res) text += c;
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-upstream'], 'yes');
  const json = JSON.parse(text) as { echo: string; path: string };
  assert.equal(json.echo, '{"hello":"world"}');
  assert.equal(json.path, '/json?x=1&y=2');
  const rec = up.records.at(-1)!;
  assert.equal(rec.method, 'PUT');
  assert.equal(rec.headers['x-custom'], 'v');
  assert.equal(rec.headers['x-hop'], undefined, 'a header named in Connection is hop-by-hop');
  assert.equal(rec.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(rec.headers['x-forwarded-proto'], 'http');
  assert.ok(rec.headers['x-forwarded-host']);
  assert.equal(rec.headers['x-session-id'], undefined, 'no session id: not tracked, nothing added');
});

test('a 2,000-chunk stream that is not cancelled arrives byte for byte as the upstream sent it', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=2000&interval=0`, { body: JSON.stringify({ session_id: 'big', message_id: 'm-big' }) });
  const r = await s.result;
  const rec = await up.request('m-big');
  await rec.done;
  assert.equal(r.complete, true);
  assert.equal(rec.produced, 2000);
  assert.equal(r.text, rec.sent);
  assert.equal(r.headers['x-session-id'], 'big');
  assert.equal(r.headers['x-message-id'], 'm-big');
  assert.equal(rec.headers['x-session-id'], 'big', 'the upstream request carries the ids too');
  assert.equal(metric(await sl.metrics(), 'stopline_streams_total', { outcome: 'completed' }) >= 1, true);
});

test('events split across chunks still arrive whole and in order', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=40&interval=0&split=true`, { headers: { 'x-session-id': 'split' } });
  const r = await s.result;
  const rec = up.records.find((x) => x.headers['x-session-id'] === 'split')!;
  assert.equal(r.text, rec.sent);
});

test('a message id is made when the client sends none, and returned', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=3&interval=0&session_id=q1`);
  const r = await s.result;
  assert.equal(r.headers['x-session-id'], 'q1');
  assert.match(String(r.headers['x-message-id']), /^[0-9a-f-]{36}$/);
});

test('NDJSON and plain chunked streams are tracked and relayed intact', async () => {
  for (const format of ['ndjson', 'plain']) {
    const s = stream(`${sl.url}/api/chat/stream?chunks=30&interval=0&format=${format}`, { body: JSON.stringify({ session_id: `f-${format}` }) });
    const r = await s.result;
    const rec = up.records.find((x) => x.headers['x-session-id'] === `f-${format}`)!;
    assert.equal(r.text, rec.sent, format);
    assert.equal(r.headers['x-session-id'], `f-${format}`);
  }
});

test('cancel on the owner (single node) stops an NDJSON stream with one terminal line', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=1000&interval=5&format=ndjson`, { body: JSON.stringify({ session_id: 'nd', message_id: 'nd1' }) });
  await s.waitFor((t) => t.includes('word2 '));
  const c = await postJson(`${sl.url}/stopline/v1/cancel`, { session_id: 'nd', message_id: 'nd1' });
  assert.equal(c.status, 200);
  assert.equal(c.json.outcome, 'stopped');
  assert.equal(c.json.path, 'local');
  const r = await s.result;
  assert.equal(r.complete, true);
  const lines = r.text.trimEnd().split('\n');
  assert.deepEqual(JSON.parse(lines.at(-1)!), { stopline: 'cancelled', session_id: 'nd', message_id: 'nd1', reason: 'cancelled' });
  for (const l of lines) JSON.parse(l); // every line whole
  const rec = await up.request('nd1');
  await rec.done;
  assert.equal(rec.aborted, true);
});

test('a plain chunked stream that is cancelled simply ends', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=1000&interval=5&format=plain`, { body: JSON.stringify({ session_id: 'pl', message_id: 'pl1' }) });
  await s.waitFor((t) => t.includes('word2 '));
  const c = await postJson(`${sl.url}/stopline/v1/cancel`, { session_id: 'pl', message_id: 'pl1' });
  assert.equal(c.json.outcome, 'stopped');
  const r = await s.result;
  assert.equal(r.complete, true);
  assert.doesNotMatch(r.text, /stopline/);
});

test('a client that goes away mid-stream aborts the upstream at once', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=1000&interval=5`, { body: JSON.stringify({ session_id: 'gone', message_id: 'g1' }) });
  await s.waitFor((t) => t.includes('word2 '));
  const rec = await up.request('g1');
  s.destroy();
  await rec.done;
  assert.equal(rec.aborted, true);
  assert.ok(rec.produced < 1000);
});

test('a client that goes away while waiting for the first byte aborts the upstream', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=5&firstByteDelay=60000`, { body: JSON.stringify({ session_id: 'ttfb', message_id: 't1' }) });
  const rec = await up.request('t1');
  s.destroy();
  await rec.done;
  assert.equal(rec.aborted, true);
  assert.equal(rec.produced, 0);
});

test('upstream down: 502 with a JSON error', async () => {
  const port = await freePort();
  const other = await startReplica({ STOPLINE_UPSTREAM: `http://127.0.0.1:${port}` });
  try {
    const res = await fetch(`${other.url}/anything`);
    assert.equal(res.status, 502);
    assert.deepEqual(await res.json(), { error: 'upstream_unreachable', message: 'Upstream is unreachable' });
    const ready = await fetch(`${other.adminUrl}/readyz`);
    assert.equal(ready.status, 503, 'unready while the upstream is unreachable');
  } finally {
    await other.close();
  }
});

test('upstream too slow to answer: 504', async () => {
  const other = await startReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_UPSTREAM_HEADERS_TIMEOUT_MS: '200' });
  try {
    const res = await fetch(`${other.url}/api/chat/stream?firstByteDelay=5000`, { method: 'POST' });
    assert.equal(res.status, 504);
    assert.equal((await res.json() as { error: string }).error, 'upstream_timeout');
  } finally {
    await other.close();
  }
});

test('upstream reset mid-stream: the client sees a truncated response, not a clean end', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=100&interval=1&resetAfter=10`, { body: JSON.stringify({ session_id: 'rst', message_id: 'r1' }) });
  const r = await s.result;
  assert.equal(r.complete, false);
  assert.ok(metric(await sl.metrics(), 'stopline_streams_total', { outcome: 'upstream_error' }) >= 1);
});

test('stopline paths are never proxied; a wrong method gets 405', async () => {
  const before = up.records.length;
  const res = await fetch(`${sl.url}/stopline/v1/cancel`);
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'POST');
  const res2 = await fetch(`${sl.url}/stopline/other`);
  assert.equal(res2.status, 404);
  assert.equal(up.records.length, before, 'neither request reached the upstream');
});

test('malformed cancels get 400 with a clear message', async () => {
  for (const body of ['not json', '[]', '{"session_id": 5}', '{"session_id": "a b"}', '{"session_id":"ok","message_id":"{x}"}', '{}']) {
    const r = await postJson(`${sl.url}/stopline/v1/cancel`, body);
    assert.equal(r.status, 400, body);
    assert.equal(r.json.error, 'bad_request');
  }
});

test('admin port: healthz, readyz and metrics', async () => {
  assert.equal((await fetch(`${sl.adminUrl}/healthz`)).status, 200);
  assert.equal((await fetch(`${sl.adminUrl}/readyz`)).status, 200);
  const text = await sl.metrics();
  for (const name of ['stopline_streams_active', 'stopline_streams_total', 'stopline_stream_duration_seconds_bucket', 'stopline_stream_chunks_total', 'stopline_stream_bytes_total', 'stopline_upstream_first_byte_seconds_bucket', 'stopline_cancel_requests_total', 'stopline_cancel_to_stop_seconds_bucket', 'nodejs_eventloop_lag_p99_seconds', 'stopline_build_info']) {
    assert.match(text, new RegExp(`^${name}`, 'm'), name);
  }
  assert.ok(metric(text, 'stopline_stream_chunks_total') > 0);
  assert.ok(metric(text, 'stopline_stream_bytes_total') >= up.records.find((r) => r.headers['x-message-id'] === 'm-big')!.sent.length);
});

test('backpressure: a client that stops reading stops the upstream (nothing piles up in stopline)', async () => {
  const { request } = await import('node:http');
  const req = request(`${sl.url}/api/chat/stream?chunks=100000&interval=0&pad=16384`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, agent: false });
  req.end(JSON.stringify({ session_id: 'bp', message_id: 'bp1' }));
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
  res.pause(); // the client reads nothing more
  const rec = await up.request('bp1');
  // The upstream soon finds its socket full: stopline stopped reading from it because the client did.
  if (!rec.blocked) await once(up.events, 'blocked');
  const produced = rec.produced;
  assert.ok(produced < 100000);
  // 100,000 chunks of 16 KiB would be 1.6 GB; what is in flight is bounded by the socket buffers on each side.
  assert.ok(produced * 16384 < 64 * 1024 * 1024, `produced ${produced} chunks before the upstream was held back`);
  req.destroy();
  await rec.done;
  assert.equal(rec.aborted, true);
});

test('a replica at STOPLINE_MAX_STREAMS refuses a new stream with 503 and Retry-After', async () => {
  const small = await startReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_MAX_STREAMS: '1' });
  try {
    const first = stream(`${small.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'cap', message_id: 'c1' }) });
    await first.waitFor((t) => t.includes('word1 '));
    const res = await fetch(`${small.url}/api/chat/stream`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ session_id: 'cap', message_id: 'c2' }) });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(((await res.json()) as { error: string }).error, 'too_many_streams');
    assert.equal(up.records.some((r) => r.headers['x-message-id'] === 'c2'), false);
    first.destroy();
  } finally {
    await small.close();
  }
});

test('an upstream that goes quiet mid-stream is cut at the idle timeout: the client sees a truncated stream', async () => {
  const idle = await startReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_UPSTREAM_IDLE_TIMEOUT_MS: '300' });
  try {
    const s = stream(`${idle.url}/api/chat/stream?chunks=100&interval=1&stallAfter=5`, { body: JSON.stringify({ session_id: 'idle', message_id: 'i1' }) });
    const r = await s.result;
    assert.equal(r.complete, false);
    const rec = await up.request('i1');
    await rec.done;
    assert.equal(rec.aborted, true, 'the quiet upstream request was closed');
    assert.ok(metric(await idle.metrics(), 'stopline_streams_total', { outcome: 'upstream_error' }) >= 1);
  } finally {
    await idle.close();
  }
});

test('a second stream start with the ids of a live stream is refused with 409', async () => {
  const s = stream(`${sl.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'dup', message_id: 'd1' }) });
  await s.waitFor((t) => t.includes('word1 '));
  const res = await fetch(`${sl.url}/api/chat/stream`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ session_id: 'dup', message_id: 'd1' }) });
  assert.equal(res.status, 409);
  await res.text();
  // the live stream is untouched and still cancellable
  const c = await postJson(`${sl.url}/stopline/v1/cancel`, { session_id: 'dup', message_id: 'd1' });
  assert.equal(c.json.outcome, 'stopped');
  await s.result;
});

/** One request on a fresh connection (closed by the server after the answer): the bytes exactly as on the wire. */
async function wireBytes(port: number, head: string, body: string): Promise<Buffer> {
  const r = await rawExchange(port, `${head}\r\naccept: text/event-stream\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, { followUp: false });
  return Buffer.from(r.text, 'latin1');
}

/** Splits a raw response into its head and its chunked body, strictly: every size line, every CRLF, the last chunk. */
function dechunk(wire: Buffer): { head: string; body: string; chunks: number } {
  const end = wire.indexOf('\r\n\r\n');
  assert.ok(end > 0, 'a response head');
  const head = wire.subarray(0, end).toString('latin1');
  const parts: Buffer[] = [];
  let at = end + 4;
  for (;;) {
    const eol = wire.indexOf('\r\n', at);
    assert.ok(eol > at, `a chunk size line at byte ${at}`);
    const sizeText = wire.subarray(at, eol).toString('latin1');
    assert.match(sizeText, /^[0-9a-f]+$/, 'a chunk size in lower-case hex, no extension');
    const size = parseInt(sizeText, 16);
    at = eol + 2;
    if (size === 0) {
      assert.equal(wire.subarray(at).toString('latin1'), '\r\n', 'the last chunk, no trailer, then nothing');
      return { head, body: Buffer.concat(parts).toString('utf8'), chunks: parts.length };
    }
    parts.push(wire.subarray(at, at + size));
    assert.equal(wire.subarray(at + size, at + size + 2).toString('latin1'), '\r\n', `CRLF after the chunk at byte ${at}`);
    at += size + 2;
  }
}

test('on the wire, the relayed chunked body is well framed at every chunk size, small and large', async () => {
  // pad sets the size of each event: small ones, ones near the size where stopline stops copying a chunk into one
  // framed buffer (16 KiB), and larger ones; the upstream writes each event as one chunk, TCP may merge or split them.
  for (const pad of [0, 16_300, 16_384, 40_000]) {
    const id = `wire-${pad}`;
    const wire = await wireBytes(sl.port, `POST /api/chat/stream?chunks=30&interval=0&pad=${pad} HTTP/1.1\r\nhost: x`, JSON.stringify({ session_id: 'wire', message_id: id }));
    const rec = await up.request(id);
    await rec.done;
    const { head, body, chunks } = dechunk(wire);
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.match(head, /\r\ntransfer-encoding: chunked/i);
    assert.ok(chunks >= 1);
    assert.equal(rec.produced, 30);
    assert.equal(body, rec.sent, `pad ${pad}: the body is the upstream's bytes`);
  }
});

test('an HTTP/1.0 client gets the stream unchunked, ended by the close, byte for byte', async () => {
  const wire = await wireBytes(sl.port, 'POST /api/chat/stream?chunks=40&interval=0 HTTP/1.0', JSON.stringify({ session_id: 'old', message_id: 'http10' }));
  const rec = await up.request('http10');
  await rec.done;
  const end = wire.indexOf('\r\n\r\n');
  const head = wire.subarray(0, end).toString('latin1');
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(head, /transfer-encoding/i);
  assert.equal(wire.subarray(end + 4).toString('utf8'), rec.sent);
});

test('a client that stops reading and then reads again gets every byte: the upstream is resumed on drain', async () => {
  // Small chunks (framed into one buffer by stopline) and large ones (written in three parts), enough of them that the
  // socket buffers between the upstream and the paused client fill up.
  for (const [pad, chunks] of [[8_000, 4_000], [40_000, 1_000]] as const) {
    const { request } = await import('node:http');
    const id = `resume-${pad}`;
    const req = request(`${sl.url}/api/chat/stream?chunks=${chunks}&interval=0&pad=${pad}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, agent: false });
    req.end(JSON.stringify({ session_id: 'resume', message_id: id }));
    const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
    res.pause();
    const rec = await up.request(id);
    if (!rec.blocked) await Promise.race([once(up.events, 'blocked'), rec.done]);
    assert.equal(rec.blocked, true, 'the upstream was held back while the client did not read');
    const held = rec.produced;
    const parts: Buffer[] = [];
    for await (const c of res) parts.push(c as Buffer);
    await rec.done;
    assert.ok(held < chunks);
    assert.equal(rec.produced, chunks);
    assert.equal(rec.aborted, false);
    assert.equal(Buffer.concat(parts).toString('utf8'), rec.sent, `pad ${pad}: every byte, in order`);
  }
});

test('the chunk and byte counters count a live stream as it goes, and keep its counts when it ends', async () => {
  const before = await sl.metrics();
  const c0 = metric(before, 'stopline_stream_chunks_total');
  const b0 = metric(before, 'stopline_stream_bytes_total');
  const gone0 = metric(before, 'stopline_streams_total', { outcome: 'client_disconnected' });
  const s = stream(`${sl.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'count', message_id: 'c-live' }) });
  await s.waitFor((t) => t.includes('word3 '));
  const live = await sl.metrics();
  const cLive = metric(live, 'stopline_stream_chunks_total') - c0;
  assert.ok(cLive >= 4, `a live stream's chunks are counted before it ends (${cLive})`);
  assert.ok(metric(live, 'stopline_stream_bytes_total') - b0 >= Buffer.byteLength(s.text.slice(0, s.text.indexOf('word3 '))));
  s.destroy();
  const rec = await up.request('c-live');
  await rec.done;
  await until('the stream ended', async () => metric(await sl.metrics(), 'stopline_streams_total', { outcome: 'client_disconnected' }) > gone0);
  const after = await sl.metrics();
  assert.ok(metric(after, 'stopline_stream_chunks_total') - c0 >= cLive, 'an ended stream keeps its counts');
  assert.ok(metric(after, 'stopline_stream_bytes_total') - b0 >= Buffer.byteLength(s.text), 'every byte the client got is counted');
});
