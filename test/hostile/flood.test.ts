// A flood of bad requests (malformed HTTP, oversized bodies, invalid cancels) at the same time as good streams
// through one replica: every good stream arrives byte for byte as the upstream sent it, stopline keeps serving, and
// the memory it holds after the flood stays within a bound of what it held before.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { postJson, stream, type StreamResult } from '../helpers/client.ts';
import { metric } from '../helpers/stopline.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { closeAll, corpus, startLoggedReplica, type LoggedReplica } from './harness.ts';
import { rawExchange } from '../helpers/raw-http.ts';

const goodStreams = 20;
const minBadRequests = 1500;
const floodWorkers = 16;
const heapBoundMiB = 32;
const rssBoundMiB = 256;

let up: Upstream;
let sl: LoggedReplica;

before(async () => {
  up = await startUpstream();
  // The per-client cancel rate limit would answer most invalid cancels with an early 429: off, so that every one
  // of them is read and parsed (and a declared body that never comes is refused by size, not left waiting).
  sl = await startLoggedReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_CANCEL_RATE_PER_S: '0' });
});
after(() => closeAll(sl, up));

/** A full garbage collection: global.gc when node runs with --expose-gc, else the same function enabled here. */
function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) { g(); return; }
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

const MiB = 1024 * 1024;
function settledMemory(): { heap: number; rss: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

/** A body sent chunked (no Content-Length), so stopline must count it to refuse it. */
function chunkedBody(url: string, bytes: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false });
    req.on('response', (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); res.on('error', () => resolve(res.statusCode ?? 0)); });
    req.on('error', () => resolve(0)); // refused while still sending: the connection is closed on us
    const piece = Buffer.alloc(64 * 1024, 0x20);
    req.write('{"session_id":"big","pad":"');
    for (let sent = 0; sent < bytes; sent += piece.length) req.write(piece);
    req.end('"}');
  });
}

/** One bad request of kind `n`; resolves with its status (0: the connection was closed without an answer). */
async function badRequest(n: number): Promise<number> {
  const kind = n % 8;
  if (kind < 4) return (await rawExchange(sl.port, corpus[n % corpus.length]!.raw)).status;
  if (kind === 4) return (await rawExchange(sl.port, `POST /api/chat/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${64 * MiB}\r\n\r\n{"session_id":"s"`)).status;
  if (kind === 5 && n % 64 === 5) return chunkedBody(`${sl.url}/api/chat/stream`, 1.25 * MiB);
  const bodies = ['not json', '[]', '{"session_id": 5}', '{"session_id":"a b"}', '{"session_id":"ok","message_id":"{x}"}', `{"session_id":"${'x'.repeat(200)}"}`, '{}', `{"pad":"${'y'.repeat(70 * 1024)}"}`];
  return (await postJson(`${sl.url}/stopline/v1/cancel`, bodies[n % bodies.length]!)).status;
}

const formats = ['sse', 'ndjson', 'openai', 'sse&split=true'];
function goodStream(i: number, tag: string): Promise<{ id: string; result: StreamResult }> {
  const id = `${tag}-${i}`;
  const path = formats[i % formats.length] === 'openai' ? '/v1/chat/completions' : '/api/chat/stream';
  const format = formats[i % formats.length] === 'openai' ? '' : `&format=${formats[i % formats.length]}`;
  const s = stream(`${sl.url}${path}?chunks=300&interval=10${format}`, { body: JSON.stringify({ session_id: id, message_id: id }) });
  return s.result.then((result) => ({ id, result }));
}

/** Runs `streams` good streams while `floodWorkers` workers send bad requests until the streams are done. */
async function round(tag: string, streams: number, minBad: number): Promise<{ statuses: Map<number, number>; good: { id: string; result: StreamResult }[] }> {
  const statuses = new Map<number, number>();
  let sent = 0;
  let streamsDone = false;
  const good = Promise.all(Array.from({ length: streams }, (_, i) => goodStream(i, tag))).finally(() => { streamsDone = true; });
  const worker = async () => {
    while (!streamsDone || sent < minBad) {
      const status = await badRequest(sent++);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: floodWorkers }, worker));
  return { statuses, good: await good };
}

test(`${goodStreams} streams arrive byte for byte during a flood of ${minBadRequests}+ bad requests; heap stays within ${heapBoundMiB} MiB and RSS within ${rssBoundMiB} MiB of the start`, async () => {
  await round('warm-up', 4, 200); // pools, JIT and buffers reach their working size first
  const start = settledMemory();

  const { statuses, good } = await round('flood', goodStreams, minBadRequests);

  for (const { id, result } of good) {
    assert.equal(result.status, 200, id);
    assert.equal(result.complete, true, `${id} ended cleanly`);
    const rec = await up.request(id);
    assert.equal(rec.finished, true, `${id}: the upstream finished it`);
    assert.ok(rec.sent.length > 0);
    assert.equal(result.text, rec.sent, `${id} arrived byte for byte`);
  }
  // What each kind must get is smuggling.test.ts' business; here: never a server error.
  assert.deepEqual([...statuses].filter(([s]) => s >= 500), [], `statuses of the flood: ${JSON.stringify([...statuses])}`);
  assert.ok([...statuses.values()].reduce((x, y) => x + y, 0) >= minBadRequests);

  // Still serving, and nothing of the flood is held: no live stream, the admin port answers.
  assert.equal((await fetch(`${sl.adminUrl}/healthz`)).status, 200);
  const after = await goodStream(0, 'after');
  assert.equal(after.result.text, (await up.request(after.id)).sent);
  assert.equal(metric(await sl.metrics(), 'stopline_streams_active'), 0);

  const end = settledMemory();
  const heapGrowth = (end.heap - start.heap) / MiB;
  const rssGrowth = (end.rss - start.rss) / MiB;
  assert.ok(heapGrowth < heapBoundMiB, `heap grew ${heapGrowth.toFixed(1)} MiB`);
  assert.ok(rssGrowth < rssBoundMiB, `RSS grew ${rssGrowth.toFixed(1)} MiB`);
});
