// A tracked stream the upstream encoded anyway is decoded inside its Exchange (src/relay/decoding.ts). The
// decompressor is asynchronous and sits between the upstream and the client, so these check what that could break:
// order and backpressure across it (a slow client pauses the decompressor, whose full input pauses the upstream,
// so a highly compressed body never piles up decoded in memory), and that every way a stream ends — completed,
// stopped (also inside an event over the held bound), client gone, upstream error, corrupt body — closes the
// decompressor, never writes after the end, and reports what happened.
//
// A real Exchange answers a real HTTP client through a real node:http server; the upstream side is driven the way
// undici drives a dispatch handler (chunks only while not paused, then the end, or the error after an abort).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { EventEmitter, once } from 'node:events';
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { Exchange, type ExchangeHooks } from '../../src/relay/exchange.ts';
import type { StreamOutcome } from '../../src/observability/metrics.ts';
import { untracedStream } from '../../src/tracing/spans.ts';
import { ending, exchangeServer, ref, Upstream } from '../helpers/exchange-harness.ts';

/** Every gzip decompressor that was given input (seen by its _transform), so each can be watched and awaited closed. */
const made = new Set<Transform>();
const makes = new EventEmitter();
const gunzip = zlib.Gunzip.prototype as unknown as { _transform: (this: Transform, ...a: unknown[]) => void };
const transform = gunzip._transform;
gunzip._transform = function (this: Transform, ...a: unknown[]) {
  if (!made.has(this)) { made.add(this); makes.emit('made', this); }
  transform.apply(this, a);
};
after(() => { delete (gunzip as { _transform?: unknown })._transform; });

const srv = await exchangeServer();
const port = srv.port;

interface Plan {
  /** The encoded body, in the chunks the upstream delivers. */
  chunks: Buffer[];
  /** Before feeding chunk i: stop the stream, cut the upstream (an error), or the client leaves. */
  stopAt?: number;
  errorAt?: number;
  leaveAt?: number;
  /**
   * The client reads nothing until the upstream and the decompressor's output are paused at once (the relay pauses
   * the decompressor when the client's socket is full; its full input pauses the upstream), or everything is fed.
   */
  slowClient?: boolean;
  /** Stop the stream at that moment (the decompressor then holds output for the client). */
  stopWhenPaused?: boolean;
  /** Feed up to chunk `feed`, then stop once the client has `bytes`, then feed the rest. */
  stopInside?: { feed: number; bytes: number };
}

interface Result { body: Buffer; broken: boolean; outcomes: StreamOutcome[]; up: Upstream; fedWhenPaused: number | null }

async function relay(plan: Plan): Promise<Result> {
  const outcomes: StreamOutcome[] = [];
  const up = new Upstream();
  let fedWhenPaused: number | null = null;
  const fed = new EventEmitter();
  const blocked = once(fed, 'blocked');
  let fedCount = 0;
  let exchangeRef: Exchange | null = null;
  const check = () => {
    if (fedWhenPaused !== null || !up.paused || ![...made].some((z) => z.isPaused())) return;
    fedWhenPaused = fedCount;
    if (plan.stopWhenPaused) void exchangeRef?.stop('cancelled');
    fed.emit('blocked');
  };
  const watch = (z: Transform) => z.on('pause', check);
  makes.on('made', watch);
  up.on('paused', check);
  const client = Promise.withResolvers<IncomingMessage>();
  let exchange: Exchange | null = null;
  const stopped = Promise.withResolvers<void>();
  srv.handler = (req, res) => {
    const hooks: ExchangeHooks = { adopt: () => true, streamStarted() {}, notAStream() {}, streamEnded: (_x, o) => { outcomes.push(o); }, firstByte() {} };
    const x = exchange = exchangeRef = new Exchange(req, res, hooks, ref, untracedStream, {});
    x.onRequestStart(up);
    x.onResponseStart(up, 200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' });
    void (async () => {
      for (let i = 0; i <= plan.chunks.length && !up.aborted; i++) {
        if (i === plan.stopAt) void x.stop('cancelled');
        if (i === plan.errorAt) { x.onResponseError(up, Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })); up.abort(up.reason ?? new Error('cut')); break; }
        if (i === plan.leaveAt) { (await client.promise).destroy(); await once(res, 'close'); }
        if (i === plan.stopInside?.feed) await stopped.promise;
        if (i === plan.chunks.length) break;
        await up.ready();
        if (up.aborted) break;
        x.onResponseData(up, plan.chunks[i]!);
        fedCount = i + 1;
      }
      fed.emit('blocked');
      if (up.aborted) { if (plan.errorAt === undefined) x.onResponseError(up, up.reason!); } else x.onResponseEnd();
    })();
  };
  const res = await new Promise<IncomingMessage>((resolve) => {
    get({ port, host: '127.0.0.1', path: '/', agent: false }, resolve).on('error', () => {});
  });
  client.resolve(res);
  if (plan.slowClient) {
    res.pause();
    await blocked;
  }
  const parts: Buffer[] = [];
  let broken = false;
  try {
    let got = 0;
    for await (const c of res) {
      parts.push(c as Buffer);
      got += (c as Buffer).length;
      if (plan.stopInside !== undefined && got >= plan.stopInside.bytes && exchange !== null) {
        void (exchange as Exchange).stop('cancelled');
        stopped.resolve();
        exchange = null;
      }
    }
  } catch {
    broken = true;
  }
  // Every decompressor closes (a leaked one would hang here, and the test time out).
  await Promise.all([...made].map((z) => z.closed ? null : once(z, 'close')));
  const decoders = made.size;
  made.clear();
  assert.equal(decoders, 1, 'one decompressor, and it is closed');
  makes.off('made', watch);
  return { body: Buffer.concat(parts), broken, outcomes, up, fedWhenPaused };
}

/**
 * `n` SSE events of `size` bytes each, gzip-compressed and cut into `piece`-byte chunks; `noisy` fills them with
 * letters that compress only some 25% (else dots, which compress a thousandfold).
 */
function encoded(n: number, size: number, piece: number, noisy = false): { plain: Buffer; chunks: Buffer[] } {
  const events: Buffer[] = [];
  let seed = 1;
  const letter = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/'[seed >>> 26]; };
  for (let i = 0; i < n; i++) {
    const head = `id: ${i}\ndata: ${i} `;
    const fill = noisy ? Array.from({ length: size - head.length - 2 }, letter).join('') : '.'.repeat(size - head.length - 2);
    events.push(Buffer.from(`${head}${fill}\n\n`));
  }
  const plain = Buffer.concat(events);
  const all = zlib.gzipSync(plain);
  const chunks: Buffer[] = [];
  for (let o = 0; o < all.length; o += piece) chunks.push(all.subarray(o, o + piece));
  return { plain, chunks };
}

test('a slow client pauses the decompressor, and its full input pauses the upstream: nothing piles up decoded', async () => {
  // 64 MiB of events compress to some 200 KiB: without backpressure across the decompressor the upstream would be
  // read to its end at once while the client reads nothing.
  const { plain, chunks } = encoded(64 * 1024, 1024, 1024);
  const r = await relay({ chunks, slowClient: true });
  assert.notEqual(r.fedWhenPaused, null, 'the upstream and the decompressor were paused while the client read nothing');
  assert.ok(r.fedWhenPaused! < chunks.length, `paused after ${r.fedWhenPaused} of ${chunks.length} chunks`);
  assert.equal(r.broken, false);
  assert.ok(r.body.equals(plain), 'every byte, in order');
  assert.deepEqual(r.outcomes, ['completed']);
});

test('stopped while the decompressor holds output for a slow client: whole events, then the ending; decompressor closed', async () => {
  const { plain, chunks } = encoded(64 * 1024, 1024, 1024);
  const r = await relay({ chunks, slowClient: true, stopWhenPaused: true });
  assert.equal(r.broken, false);
  assert.ok(r.body.subarray(-ending.length).equals(ending), 'ends with the terminal event');
  const before = r.body.subarray(0, -ending.length);
  assert.ok(before.length > 0 && plain.subarray(0, before.length).equals(before), 'what the client had before the stop, in order');
  assert.ok(before.toString('latin1').endsWith('\n\n'), 'then the ending, at an event boundary');
  assert.equal(r.up.aborted, true);
  assert.deepEqual(r.outcomes, ['cancelled']);
});

test('stopped inside a decoded event over the held bound: the event is relayed to its end, then the ending', async () => {
  // One 512 KiB event in small encoded chunks: the client is inside it when the stop comes, so the decompressor
  // must keep going until the event's end.
  const { plain, chunks } = encoded(3, 512 * 1024, 512, true);
  const r = await relay({ chunks, stopInside: { feed: Math.floor(chunks.length / 6), bytes: 100 * 1024 } });
  assert.equal(r.broken, false);
  assert.ok(r.body.subarray(-ending.length).equals(ending), 'ends with the terminal event');
  const events = r.body.subarray(0, -ending.length);
  assert.ok(plain.subarray(0, events.length).equals(events) && events.toString().endsWith('\n\n'), 'whole events before it');
  assert.equal(events.length, 512 * 1024, 'the first event, whole, and nothing after it');
  assert.deepEqual(r.outcomes, ['cancelled']);
});

test('the client leaves mid-stream: the upstream is aborted and the decompressor closed', async () => {
  const { chunks } = encoded(1024, 1024, 256);
  const r = await relay({ chunks, leaveAt: 10 });
  assert.equal(r.up.aborted, true);
  assert.deepEqual(r.outcomes, ['client_disconnected']);
});

test('the upstream fails mid-stream: the client sees a broken body, and the decompressor is closed', async () => {
  const { chunks } = encoded(1024, 1024, 256);
  const r = await relay({ chunks, errorAt: 10 });
  assert.equal(r.broken, true);
  assert.deepEqual(r.outcomes, ['upstream_error']);
});

test('a corrupt gzip body is an upstream error: broken body for the client, the upstream aborted, no crash', async () => {
  const { chunks } = encoded(64, 1024, 256);
  const bad = [...chunks.slice(0, 2), Buffer.from('this is not gzip at all'), ...chunks.slice(2)];
  const r = await relay({ chunks: bad });
  assert.equal(r.broken, true);
  assert.equal(r.up.aborted, true);
  assert.deepEqual(r.outcomes, ['upstream_error']);
});

test('a gzip body cut short (the upstream ends before the gzip trailer) is an upstream error, not a clean end', async () => {
  const { chunks } = encoded(64, 1024, 256);
  const r = await relay({ chunks: chunks.slice(0, -1) });
  assert.equal(r.broken, true);
  assert.deepEqual(r.outcomes, ['upstream_error']);
});
