// Property tests with fast-check, each bounded in runs and in time: SSE/NDJSON framing on random bytes in random
// chunkings, id extraction and Redis key building on arbitrary input, and random cancels against running replicas.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { createKeys, isValidId, type StreamRef } from '../../src/cancel/keys.ts';
import { loadConfig, type IdSource } from '../../src/config.ts';
import { readId } from '../../src/http/ids.ts';
import { Framer, type FramingKind } from '../../src/relay/framing.ts';
import { stream, type StreamClient } from '../helpers/client.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { subscribed } from '../helpers/stopline.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { closeAll, internalErrors, startLoggedReplica, type LoggedReplica } from './harness.ts';

const bounded = (numRuns: number, seconds: number) => ({ numRuns, interruptAfterTimeLimit: seconds * 1000 });

// ---- framing ----

const LF = 0x0a;
const CR = 0x0d;

/**
 * The reference reading of a whole byte stream: every offset at which an event boundary lies (0 included). SSE
 * (WHATWG HTML, server-sent events): lines end in CRLF, LF or CR, an LF right after a CR belongs to it, and an empty
 * line ends an event. NDJSON: every LF ends a record. Without framing every offset is a boundary.
 */
function referenceBoundaries(kind: FramingKind, bytes: Uint8Array): Set<number> {
  const out = new Set<number>([0]);
  if (kind === 'none') { for (let i = 1; i <= bytes.length; i++) out.add(i); return out; }
  if (kind === 'ndjson') { bytes.forEach((c, i) => { if (c === LF) out.add(i + 1); }); return out; }
  let lineHasContent = false;
  let afterCr = false;
  let atBoundary = true;
  bytes.forEach((c, i) => {
    if (c === LF && afterCr) {
      afterCr = false; // the LF of a CRLF: nothing changes
    } else if (c === LF || c === CR) {
      atBoundary = !lineHasContent; // an empty line ends the event
      lineHasContent = false;
      afterCr = c === CR;
    } else {
      lineHasContent = true;
      atBoundary = false;
      afterCr = false;
    }
    if (atBoundary) out.add(i + 1);
  });
  return out;
}

// Bytes that make framing interesting (line ends, field syntax) mixed with anything at all.
const streamBytes = fc.oneof(
  fc.uint8Array({ maxLength: 400 }),
  fc.array(fc.constantFrom(LF, CR, 0x3a, 0x20, 0x64, 0x61, 0x7b, 0x7d), { maxLength: 400 }).map((a) => Uint8Array.from(a)),
  fc.array(fc.constantFrom('data: x\n\n', 'data: y\r\n\r\n', '\r', '\n', '\r\n', 'event: e\n', '{"a":1}\n', 'id: 1\r', ': c\n'), { maxLength: 40 })
    .map((parts) => new TextEncoder().encode(parts.join(''))),
);
const cutsFor = fc.array(fc.nat({ max: 420 }), { maxLength: 24 });

function chunk(bytes: Uint8Array, cuts: number[]): [number, Uint8Array][] {
  const points = [...cuts.map((c) => Math.min(c, bytes.length)), bytes.length].sort((x, y) => x - y);
  const out: [number, Uint8Array][] = [];
  let at = 0;
  for (const p of points) { out.push([at, bytes.subarray(at, p)]); at = p; }
  return out;
}

describe('framing: random bytes in random chunkings', () => {
  for (const kind of ['sse', 'ndjson', 'none'] as const) {
    test(`${kind}: never throws; each boundary is in range, monotone and the reference's last one in its chunk`, () => {
      fc.assert(fc.property(streamBytes, cutsFor, (bytes, cuts) => {
        const ref = referenceBoundaries(kind, bytes);
        const framer = new Framer(kind);
        let lastAbsolute = 0;
        for (const [start, part] of chunk(bytes, cuts)) {
          const b = framer.boundary(part);
          const end = start + part.length;
          const expected = [...ref].filter((x) => x > start && x <= end);
          if (part.length === 0) {
            assert.equal(b, framer.atBoundary ? 0 : -1);
            continue;
          }
          assert.ok(b === -1 || (b >= 1 && b <= part.length), `boundary ${b} out of range 1..${part.length}`);
          if (b === -1) {
            assert.deepEqual(expected, [], `no boundary reported in [${start}, ${end}); the reference has some`);
          } else {
            assert.equal(start + b, Math.max(...expected), `chunk [${start}, ${end})`);
            assert.ok(start + b > lastAbsolute || lastAbsolute === 0, 'boundaries move forward');
            lastAbsolute = start + b;
          }
          assert.equal(framer.atBoundary, ref.has(end), `atBoundary after ${end} bytes`);
        }
      }), bounded(3000, 15));
    });
  }
});

// ---- ids and keys ----

const sourceName = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.-]{1,24}$/),
  fc.constantFrom('session_id', 'message_id', 'x-session-id', '__proto__', 'constructor', 'prototype', 'toString', 'metadata.session_id', 'a..b', '.', '__proto__.polluted', 'length', '0'),
);
const sources = fc.array(fc.tuple(fc.constantFrom('header', 'json', 'query'), sourceName), { minLength: 1, maxLength: 4 })
  .map((list): readonly IdSource[] => loadConfig({ STOPLINE_SESSION_ID_FROM: list.map(([k, n]) => `${k}:${n}`).join(',') }).sessionIdFrom);
const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.stringMatching(/^[A-Za-z0-9._:-]{1,130}$/));
const headerValue = fc.oneof(anyText, fc.array(anyText, { maxLength: 3 }));
const headers = fc.dictionary(fc.oneof(sourceName.map((n) => n.toLowerCase()), fc.string({ maxLength: 12 })), headerValue, { maxKeys: 6 })
  .map((d) => d as IncomingHttpHeaders);
const query = fc.oneof(
  fc.constant(null),
  fc.string({ unit: 'binary', maxLength: 80 }).map((s) => new URLSearchParams(s)),
  fc.array(fc.tuple(sourceName, anyText), { maxLength: 5 }).map((e) => new URLSearchParams(e)),
);
const leaf = fc.oneof(fc.jsonValue({ maxDepth: 2 }), anyText, fc.double(), fc.integer());
const json = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 3 }),
  // Objects whose keys are the configured field names, own "__proto__" keys included (JSON.parse makes them own).
  fc.array(fc.tuple(sourceName, leaf), { maxLength: 5 }).map((e) => JSON.parse(JSON.stringify(Object.fromEntries(e))) as unknown),
  fc.array(fc.tuple(sourceName, fc.array(fc.tuple(sourceName, leaf), { maxLength: 3 })), { maxLength: 3 })
    .map((e) => JSON.parse(JSON.stringify(Object.fromEntries(e.map(([k, inner]) => [k, Object.fromEntries(inner)])))) as unknown),
);

/** The Redis Cluster hash tag of a key: what is between the first "{" and the next "}", when that is not empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close < 0 || close === open + 1 ? key : key.slice(open + 1, close);
}

const prefix = fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/);
const validId = fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/), fc.constantFrom('__proto__', 'constructor', ':', '-', '.', 'a:live', 'm:x', 'x'.repeat(128)));

function keysOf(k: ReturnType<typeof createKeys>, ref: StreamRef): Record<string, string> {
  return { base: k.base(ref.sessionId), live: k.live(ref), sessionSet: k.sessionSet(ref.sessionId), flag: k.flag(ref), done: k.done(ref) };
}

describe('ids and keys: arbitrary headers, queries and JSON bodies', () => {
  test('readId never throws and gives a non-empty string or nothing', () => {
    fc.assert(fc.property(sources, headers, query, json, (src, h, q, j) => {
      const id = readId(src, h, q, j);
      assert.ok(id === undefined || (typeof id === 'string' && id !== ''));
    }), bounded(5000, 15));
  });

  test('isValidId never throws, whatever it is given', () => {
    fc.assert(fc.property(fc.anything({ withBigInt: true, withMap: true, withSet: true, withTypedArray: true }), (v) => {
      const ok = isValidId(v);
      if (ok) assert.match(v, /^[A-Za-z0-9._:-]{1,128}$/);
    }), bounded(3000, 10));
  });

  test('an id read from a request and accepted keeps every key inside <prefix>{<session id>}: with its hash tag', () => {
    fc.assert(fc.property(prefix, sources, headers, query, json, validId, (p, src, h, q, j, mid) => {
      const sid = readId(src, h, q, j);
      if (sid === undefined || !isValidId(sid)) return;
      for (const [name, key] of Object.entries(keysOf(createKeys(p), { sessionId: sid, messageId: mid }))) {
        assert.ok(key.startsWith(`${p}{${sid}}:`), `${name} key ${key}`);
        assert.equal(hashTag(key), sid, `${name} key ${key} hashes on the session id`);
      }
    }), bounded(5000, 15));
  });

  test('every valid id keeps its keys inside its hash tag, and no two streams or kinds share a key', () => {
    fc.assert(fc.property(prefix, validId, validId, validId, validId, (p, s1, m1, s2, m2) => {
      const k = createKeys(p);
      const a = keysOf(k, { sessionId: s1, messageId: m1 });
      const b = keysOf(k, { sessionId: s2, messageId: m2 });
      for (const [name, key] of Object.entries(a)) {
        assert.ok(key.startsWith(`${p}{${s1}}:`), `${name} key ${key}`);
        assert.equal(hashTag(key), s1);
      }
      for (const [na, ka] of Object.entries(a)) {
        for (const [nb, kb] of Object.entries(b)) {
          if (ka !== kb) continue;
          const sameSession = s1 === s2;
          const sameStream = sameSession && m1 === m2;
          assert.ok(na === nb && ((na === 'base' || na === 'sessionSet') ? sameSession : sameStream), `${na}(${s1}, ${m1}) = ${nb}(${s2}, ${m2}) = ${ka}`);
        }
      }
      assert.equal(k.nodeChannel(s1).startsWith(`${p}node:`), true);
    }), bounded(5000, 15));
  });
});

// ---- end to end: random cancels against running replicas ----

describe('random cancels against two replicas on one Redis: always a JSON answer, never a 500', () => {
  let up: Upstream;
  let redis: RedisServer;
  let a: LoggedReplica;
  let b: LoggedReplica;
  const live: StreamClient[] = [];
  const liveIds = ['fz-1', 'fz-2', 'fz-3', 'fz-4'];

  before(async () => {
    up = await startUpstream();
    redis = await startRedis();
    const env = {
      STOPLINE_UPSTREAM: up.url,
      STOPLINE_REDIS_URL: redis.url,
      STOPLINE_REDIS_TIMEOUT_MS: '1000',
      STOPLINE_CANCEL_ROUTES: 'POST /api/chat/cancel',
      STOPLINE_MAX_BODY_BYTES: '16384',
      // The per-client cancel rate limit (429) is not what this property is about: off.
      STOPLINE_CANCEL_RATE_PER_S: '0',
    };
    a = await startLoggedReplica({ ...env, STOPLINE_NODE_ID: 'fuzz-a' });
    b = await startLoggedReplica({ ...env, STOPLINE_NODE_ID: 'fuzz-b' });
    await subscribed([a, b]);
    // Live streams whose ids the generator knows, so that some random cancels stop something (on either replica).
    for (const [i, id] of liveIds.entries()) {
      const s = stream(`${(i % 2 === 0 ? a : b).url}/api/chat/stream?chunks=100000&interval=20`, { body: JSON.stringify({ session_id: id, message_id: id }) });
      live.push(s);
      await s.waitFor((t) => t.includes('word0 '));
    }
  });
  after(async () => {
    for (const s of live) s.destroy();
    await closeAll(a, b);
    await closeAll(redis, up);
  });

  const id = fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/),
    fc.constantFrom(...liveIds, '__proto__', 'constructor', 'a}b', '{x}', 'a\tb', 'a\nb', 'é', '', ' ', 'x'.repeat(129)),
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
  );
  const idValue = fc.oneof(id, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(id, { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 5 }), id, { maxKeys: 2 }));
  const body = fc.oneof(
    fc.record({ session_id: idValue, message_id: idValue }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.record({ session_id: id, message_id: id }, { requiredKeys: ['session_id'] }).map((o) => JSON.stringify(o)),
    fc.json({ maxDepth: 3 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.constant(''),
    fc.nat({ max: 200_000 }).map((n) => JSON.stringify({ session_id: 'big', pad: 'x'.repeat(65_536 + n) })),
  );
  const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
  const request = fc.record({
    replica: fc.constantFrom(0, 1),
    own: fc.boolean(),
    body,
    contentType: fc.constantFrom(undefined, 'application/json', 'application/merge-patch+json', 'text/plain', 'application/x-www-form-urlencoded'),
    sessionHeader: fc.option(fc.oneof(printable, fc.constantFrom(...liveIds)), { nil: undefined }),
    messageHeader: fc.option(fc.oneof(printable, fc.constantFrom(...liveIds)), { nil: undefined }),
    query: fc.array(fc.tuple(fc.constantFrom('session_id', 'message_id', 'other'), id), { maxLength: 3 }),
  });
  const statusOutcomes: Record<number, string[]> = {
    200: ['stopped', 'already_completed'],
    202: ['pending', 'accepted'],
    404: ['not_found'],
  };

  test('status in {200, 202, 400, 404, 413}, a JSON body that says the same, and both replicas stay up', async () => {
    await fc.assert(fc.asyncProperty(request, async (r) => {
      const target = [a, b][r.replica]!;
      const qs = new URLSearchParams(r.query).toString();
      const url = r.own ? `${target.url}/stopline/v1/cancel` : `${target.url}/api/chat/cancel${qs ? `?${qs}` : ''}`;
      const h: Record<string, string> = {};
      if (r.contentType !== undefined) h['content-type'] = r.contentType;
      if (r.sessionHeader !== undefined) h['x-session-id'] = r.sessionHeader;
      if (r.messageHeader !== undefined) h['x-message-id'] = r.messageHeader;
      const res = await fetch(url, { method: 'POST', headers: h, body: r.body });
      const text = await res.text();
      assert.ok([200, 202, 400, 404, 413].includes(res.status), `status ${res.status}: ${text.slice(0, 200)}`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const answer = JSON.parse(text) as { outcome?: string; error?: string };
      if (res.status === 400) assert.equal(answer.error, 'bad_request');
      else if (res.status === 413) assert.equal(answer.error, 'payload_too_large');
      else assert.ok(statusOutcomes[res.status]!.includes(answer.outcome ?? ''), `${res.status} with ${text}`);
    }), bounded(1500, 40));
    for (const r of [a, b]) assert.equal((await fetch(`${r.adminUrl}/healthz`)).status, 200);
    assert.deepEqual([...internalErrors(a), ...internalErrors(b)], []);
  });
});
