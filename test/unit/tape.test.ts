// A resumable stream's tape: whatever the pieces' sizes, every offset in the window reads back the bytes the client
// was sent, the window trims by whole blocks to its bounds, and the replica's budget is charged the memory the blocks
// really take (and given all of it back).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Tape } from '../../src/resume/tape.ts';
import { Budget } from '../../src/resume/budget.ts';

const ref = { sessionId: 's', messageId: 'm' } as never;

/** Everything a reader starting at `from` gets, piece by piece, as a follower reads it. */
function readFrom(t: Tape, from: number): Buffer {
  const parts: Uint8Array[] = [];
  for (let pos = from, p = t.at(pos); p !== null; p = t.at(pos)) { parts.push(Buffer.from(p)); pos += p.length; }
  return Buffer.concat(parts);
}

const sizes = fc.array(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 20_000 })), { minLength: 1, maxLength: 200 });

test('every offset in the window reads back what was appended, through pieces of any size', () => {
  fc.assert(fc.property(sizes, fc.nat(), (lens, seed) => {
    const budget = new Budget(1 << 30);
    const t = new Tape(ref, 200, {}, '', budget, 1 << 30);
    const sent: Buffer[] = [];
    lens.forEach((n, i) => {
      const piece = Buffer.alloc(n, (seed + i) & 255);
      t.append(piece);
      // A small piece is copied: the caller may reuse its buffer (a large one may be kept as it is).
      if (n < 8_192) piece.fill(0);
      sent.push(Buffer.alloc(n, (seed + i) & 255));
    });
    const all = Buffer.concat(sent);
    assert.equal(t.length, all.length);
    for (const from of [0, 1, Math.floor(all.length / 2), all.length - 1]) {
      assert.ok(readFrom(t, from).equals(all.subarray(from)), `read from ${from}`);
    }
    assert.ok(budget.held >= all.length, 'the budget is charged at least the output');
  }));
});

test('a live reader reads on as pieces arrive, with no byte twice and none missed', () => {
  const t = new Tape(ref, 200, {}, '', new Budget(1 << 30), 1 << 30);
  let pos = 0;
  const got: Buffer[] = [];
  t.follow({ more() { for (let p = t.at(pos); p !== null; p = t.at(pos)) { got.push(Buffer.from(p)); pos += p.length; } } });
  const sent: Buffer[] = [];
  for (let i = 0; i < 2_000; i++) { const b = Buffer.from(`data: {"n":${i}}\n\n`); sent.push(b); t.append(b); }
  t.end();
  assert.ok(Buffer.concat(got).equals(Buffer.concat(sent)));
  assert.equal(t.state, 'ended');
});

test('small pieces are held in a few blocks: the memory charged stays within twice the output', () => {
  const budget = new Budget(1 << 30);
  const t = new Tape(ref, 200, {}, '', budget, 1 << 30);
  for (let i = 0; i < 10_000; i++) t.append(Buffer.alloc(120, 1));
  assert.ok(budget.held <= 2 * t.length, `held ${budget.held} for ${t.length} bytes of output`);
  t.release();
  assert.equal(budget.held, 0);
});

test('past the stream bound the oldest blocks leave the window, and what is left reads back whole', () => {
  const budget = new Budget(1 << 30);
  const t = new Tape(ref, 200, {}, '', budget, 200_000);
  const sent: Buffer[] = [];
  for (let i = 0; i < 5_000; i++) { const b = Buffer.alloc(100, i & 255); sent.push(b); t.append(b); }
  const all = Buffer.concat(sent);
  assert.ok(t.start > 0, 'the window moved');
  assert.ok(t.length - t.start <= 200_000, `window ${t.length - t.start}`);
  assert.equal(t.at(t.start - 1), null, 'before the window is gone');
  assert.ok(readFrom(t, t.start).equals(all.subarray(t.start)));
  const charged = budget.held;
  t.release();
  assert.equal(budget.held, 0, `released ${charged}`);
});

test('past the replica bound a stream trims its own oldest output', () => {
  const budget = new Budget(100_000);
  const t = new Tape(ref, 200, {}, '', budget, 1 << 30);
  for (let i = 0; i < 5_000; i++) t.append(Buffer.alloc(100, 7));
  assert.ok(budget.held <= 100_000 + 65_536, `held ${budget.held}`);
  assert.ok(t.start > 0);
  assert.ok(readFrom(t, t.start).equals(Buffer.alloc(t.length - t.start, 7)));
});
