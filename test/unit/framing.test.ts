import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Framer, framingOf, terminalEvent } from '../../src/relay/framing.ts';

const enc = (s: string) => new TextEncoder().encode(s);

test('content types map to framings', () => {
  assert.equal(framingOf('text/event-stream; charset=utf-8'), 'sse');
  assert.equal(framingOf('application/x-ndjson'), 'ndjson');
  assert.equal(framingOf('application/jsonl'), 'ndjson');
  assert.equal(framingOf('text/plain'), 'none');
  assert.equal(framingOf(undefined), 'none');
});

test('SSE: a chunk ending with a blank line ends at a boundary', () => {
  const f = new Framer('sse');
  assert.equal(f.boundary(enc('data: a\n\n')), 9);
  assert.equal(f.atBoundary, true);
});

test('SSE: a chunk ending inside an event gives the last boundary in it', () => {
  const f = new Framer('sse');
  assert.equal(f.boundary(enc('data: a\n\ndata: b')), 9);
  assert.equal(f.atBoundary, false);
  // the rest of the event arrives: the boundary is at the end of the second chunk
  assert.equal(f.boundary(enc('\n\n')), 2);
  assert.equal(f.atBoundary, true);
});

test('SSE: a boundary split across chunks is found at the start of the next one', () => {
  const f = new Framer('sse');
  assert.equal(f.boundary(enc('data: a\n')), -1);
  assert.equal(f.boundary(enc('\ndata: b\n')), 1);
});

test('SSE: CRLF and CR line endings', () => {
  const f = new Framer('sse');
  assert.equal(f.boundary(enc('data: a\r\n\r\ndata: b\r\n')), 11);
  const g = new Framer('sse');
  assert.equal(g.boundary(enc('data: a\r\rdata: b\r')), 9);
  // a CR then LF split over chunks is one line ending, not an empty line
  const h = new Framer('sse');
  assert.equal(h.boundary(enc('data: a\r')), -1);
  assert.equal(h.boundary(enc('\ndata')), -1);
});

test('NDJSON: boundaries are line ends', () => {
  const f = new Framer('ndjson');
  assert.equal(f.boundary(enc('{"a":1}\n{"b"')), 8);
  assert.equal(f.atBoundary, false);
  assert.equal(f.boundary(enc(':2}\n')), 4);
  assert.equal(f.atBoundary, true);
});

test('terminal events are framed for their kind', () => {
  assert.equal(new TextDecoder().decode(terminalEvent('sse', 's', 'm', 'cancelled')), 'event: stopline.cancelled\ndata: {"session_id":"s","message_id":"m","reason":"cancelled"}\n\n');
  assert.equal(new TextDecoder().decode(terminalEvent('ndjson', 's', 'm', 'cancelled')), '{"stopline":"cancelled","session_id":"s","message_id":"m","reason":"cancelled"}\n');
  assert.equal(terminalEvent('none', 's', 'm', 'cancelled').length, 0);
});

// A reference: every offset at which a whole SSE text is at an event boundary, by a plain forward reading of the
// spec. An empty line ended by CRLF is at a boundary both after its CR and after its LF (cutting between the two is
// safe: nothing after a cut is delivered).
function referenceBoundaries(text: string): Set<number> {
  const out = new Set<number>();
  let lineEmpty = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\r' || c === '\n') {
      const crlf = c === '\r' && text[i + 1] === '\n';
      if (lineEmpty) { out.add(i + 1); if (crlf) out.add(i + 2); }
      lineEmpty = true;
      if (crlf) i++;
    } else lineEmpty = false;
  }
  return out;
}

test('SSE: over random texts and random chunkings, each chunk reports the last boundary a plain reading finds in it', () => {
  const alphabet = fc.constantFrom('a', ':', ' ', '\n', '\r', 'd');
  fc.assert(fc.property(fc.array(alphabet, { maxLength: 60 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 30 }), (chars, cuts) => {
    const text = chars.join('');
    const expected = referenceBoundaries(text);
    const f = new Framer('sse');
    let offset = 0;
    let k = 0;
    while (offset < text.length) {
      const size = Math.min(cuts[k++ % cuts.length]!, text.length - offset);
      const b = f.boundary(enc(text.slice(offset, offset + size)));
      let want = -1;
      for (let p = offset + size; p > offset; p--) if (expected.has(p)) { want = p - offset; break; }
      assert.equal(b, want, `text ${JSON.stringify(text)}, chunk at ${offset} of ${size}`);
      offset += size;
    }
  }), { numRuns: 3000 });
});
