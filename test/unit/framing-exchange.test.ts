// An exchange-level property: whatever the chunking of an SSE stream (events over the 64 KiB held bound, CR/LF pairs
// split across chunks) and wherever a stop lands, the client reads whole events, then exactly one ending, never
// inside an event. Regression: an event over 64 KiB was forwarded in part, a chunk without a boundary was then held,
// and a stop counted "something is held" as "at a boundary": the ending was appended mid-line, inside the event.
//
// A real Exchange answers a real HTTP client through a real node:http server; the upstream side is driven the way
// undici drives a dispatch handler (onResponseStart, onResponseData per chunk, honouring pause until resume, then
// onResponseEnd, or onResponseError after an abort), so that each run's chunking is exactly the generated one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { terminalEvent } from '../../src/relay/framing.ts';
import { Exchange, type ExchangeHooks } from '../../src/relay/exchange.ts';
import type { StreamOutcome } from '../../src/observability/metrics.ts';
import { untracedStream } from '../../src/tracing/spans.ts';
import { ending, exchangeServer, ref, Upstream } from '../helpers/exchange-harness.ts';

const srv = await exchangeServer();
const port = srv.port;
const ndjsonEnding = Buffer.from(terminalEvent('ndjson', ref.sessionId, ref.messageId, 'cancelled'));

/** Relays `chunks` through an Exchange to a client; stops before chunk `stopAt` (null: never). */
async function relay(chunks: Buffer[], stopAt: number | null, contentType = 'text/event-stream'): Promise<{ body: Buffer; outcomes: StreamOutcome[]; fedBeforeStop: number }> {
  const outcomes: StreamOutcome[] = [];
  let fedBeforeStop = 0;
  srv.handler = (req, res) => {
    const hooks: ExchangeHooks = { adopt: () => true, streamStarted() {}, notAStream() {}, streamEnded: (_x, o) => { outcomes.push(o); }, firstByte() {} };
    const x = new Exchange(req, res, hooks, ref, untracedStream, {});
    const up = new Upstream();
    x.onRequestStart(up);
    x.onResponseStart(up, 200, { 'content-type': contentType, 'transfer-encoding': 'chunked' });
    void (async () => {
      for (let i = 0; i <= chunks.length && !up.aborted; i++) {
        if (i === stopAt) { fedBeforeStop = chunks.slice(0, i).reduce((n, c) => n + c.length, 0); void x.stop('cancelled'); }
        if (i === chunks.length) break;
        await up.ready();
        if (up.aborted) break;
        x.onResponseData(up, chunks[i]!);
      }
      if (up.aborted) x.onResponseError(up, up.reason!);
      else x.onResponseEnd();
    })();
  };
  const res = await new Promise<IncomingMessage>((resolve) => get({ port, host: '127.0.0.1', path: '/', agent: false }, resolve));
  const parts: Buffer[] = [];
  for await (const c of res) parts.push(c as Buffer);
  return { body: Buffer.concat(parts), outcomes, fedBeforeStop };
}

/** The events of an SSE text as a client's parser dispatches them (WHATWG: lines end in CRLF, LF or CR), and what is left. */
function dispatched(text: string): { events: string[][]; rest: string[] } {
  const events: string[][] = [];
  let current: string[] = [];
  const lines = text.split(/\r\n|\n|\r/);
  const last = lines.pop()!; // after the last line end: an unterminated line
  for (const l of lines) {
    if (l === '') { if (current.length > 0) events.push(current); current = []; } else current.push(l);
  }
  if (last !== '') current.push(last);
  return { events, rest: current };
}

const lineArb = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', ' ', '{', '"', ':', 'é'), maxLength: 30 }).map((v) => `data: ${v}`) },
  { weight: 1, arbitrary: fc.constant(': keep-alive') },
  { weight: 1, arbitrary: fc.nat(99).map((n) => `id: ${n}`) },
  // An event over the held bound: forwarded in parts as it comes.
  { weight: 1, arbitrary: fc.integer({ min: 66_000, max: 160_000 }).map((n) => `data: ${'x'.repeat(n)}`) },
);
// One line ending per event (a CR line ending followed by an LF "empty line" would be one CRLF, not an end).
const eventArb = fc.record({ lines: fc.array(lineArb, { minLength: 1, maxLength: 4 }), eol: fc.constantFrom('\n', '\r\n', '\r') })
  .map(({ lines, eol }) => lines.map((l) => l + eol).join('') + eol);

/** Cuts `bytes` at the given offsets, and after every CR of a CRLF pair when `splitCrLf`. */
function chunked(bytes: Buffer, cuts: number[], splitCrLf: boolean): Buffer[] {
  const at = new Set(cuts.map((c) => 1 + (c % bytes.length)));
  if (splitCrLf) for (let i = 0; i < bytes.length - 1; i++) if (bytes[i] === 13 && bytes[i + 1] === 10) at.add(i + 1);
  at.add(bytes.length);
  const out: Buffer[] = [];
  let from = 0;
  for (const to of [...at].sort((a, b) => a - b)) { out.push(bytes.subarray(from, to)); from = to; }
  return out;
}

test('SSE through an exchange: random chunkings and stop points give whole events, then exactly one ending', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(eventArb, { minLength: 1, maxLength: 8 }),
    fc.array(fc.oneof(fc.nat(40), fc.nat(200_000)), { maxLength: 40 }),
    fc.boolean(),
    fc.option(fc.nat(), { freq: 4 }),
    async (events, cuts, splitCrLf, stop) => {
      const upstream = Buffer.from(events.join(''));
      const chunks = chunked(upstream, cuts, splitCrLf);
      const stopAt = stop === null ? null : stop % (chunks.length + 1);
      const { body, outcomes, fedBeforeStop } = await relay(chunks, stopAt);
      const want = dispatched(events.join('')).events;
      if (stopAt === null) {
        assert.ok(body.equals(upstream), 'a stream that was not stopped arrives byte for byte');
        assert.deepEqual(outcomes, ['completed']);
        return;
      }
      assert.deepEqual(outcomes, ['cancelled'], 'one outcome, decided at the stop');
      // Whole events from the upstream, byte for byte, then the ending appended once.
      assert.ok(body.length >= ending.length && body.subarray(body.length - ending.length).equals(ending), 'the body ends with the ending');
      const relayed = body.subarray(0, body.length - ending.length);
      assert.ok(upstream.subarray(0, relayed.length).equals(relayed), 'what precedes the ending is the upstream, unchanged');
      const got = dispatched(body.toString('utf8'));
      assert.deepEqual(got.rest, [], 'nothing is left inside an event');
      assert.deepEqual(got.events.slice(0, -1), want.slice(0, got.events.length - 1), 'whole upstream events, in order');
      assert.deepEqual(got.events.at(-1), dispatched(ending.toString('utf8')).events[0], 'the ending is an event of its own');
      // Every event whole before the stop was delivered.
      const before = dispatched(upstream.subarray(0, fedBeforeStop).toString('utf8')).events.length;
      assert.ok(got.events.length - 1 >= before, `${got.events.length - 1} events relayed, ${before} were whole before the stop`);
    },
  ), { numRuns: 150 });
});

test('SSE through an exchange: the stop right after an oversized event was forwarded in part waits for its end', async () => {
  const big = `data: ${'x'.repeat(70_000)}\n`;
  const upstream = Buffer.from(`data: first\n\n${big}data: tail\n\ndata: after\n\n`);
  // Forwarded in part (over the bound), then a chunk of the same event without a boundary (held), then the stop.
  const chunks = [upstream.subarray(0, 13 + 69_000), upstream.subarray(13 + 69_000, 13 + 70_003), upstream.subarray(13 + 70_003)];
  const { body } = await relay(chunks, 2);
  assert.equal(body.toString().replace(/x+/, 'x…'), `data: first\n\ndata: x…\ndata: tail\n\ndata: after\n\n${ending.toString()}`);
});

test('NDJSON through an exchange: random chunkings and stop points give whole lines, then exactly one ending', async () => {
  const lineOf = fc.oneof(
    { weight: 6, arbitrary: fc.string({ unit: fc.constantFrom('a', ' ', '{', '"', ':', 'é', '\r'), maxLength: 30 }) },
    { weight: 1, arbitrary: fc.integer({ min: 66_000, max: 160_000 }).map((n) => 'x'.repeat(n)) },
  ).map((l) => `${l}\n`);
  await fc.assert(fc.asyncProperty(
    fc.array(lineOf, { minLength: 1, maxLength: 8 }),
    fc.array(fc.oneof(fc.nat(40), fc.nat(200_000)), { maxLength: 40 }),
    fc.nat(),
    async (lines, cuts, stop) => {
      const upstream = Buffer.from(lines.join(''));
      const chunks = chunked(upstream, cuts, false);
      const stopAt = stop % (chunks.length + 1);
      const { body, fedBeforeStop } = await relay(chunks, stopAt, 'application/x-ndjson');
      assert.ok(body.subarray(body.length - ndjsonEnding.length).equals(ndjsonEnding), 'the body ends with the ending');
      const relayed = body.subarray(0, body.length - ndjsonEnding.length);
      assert.ok(upstream.subarray(0, relayed.length).equals(relayed), 'what precedes the ending is the upstream, unchanged');
      assert.ok(relayed.length === 0 || relayed[relayed.length - 1] === 10, 'the ending starts a line of its own');
      assert.ok(relayed.length >= upstream.subarray(0, fedBeforeStop).lastIndexOf(10) + 1, 'every line whole before the stop was delivered');
    },
  ), { numRuns: 60 });
});
