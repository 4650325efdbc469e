// The held writes' own rules, without Redis: a flush runs at most `concurrency` writes at once, oldest first; the
// first write that fails because Redis is unusable again stops the flush and stays held, one that fails otherwise
// is dropped; each kind has its bound; a later write under the same key replaces the earlier one, and a dropped one
// is never written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeldWrites } from '../../src/cancel/held-writes.ts';
import { RedisUnavailableError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';

const log = createLogger('silent', {});
const limits = { registration: Number.POSITIVE_INFINITY, finish: 2, cancel: 10 };

test('a flush writes oldest first, at most `concurrency` at once', async () => {
  const held = new HeldWrites(log, { concurrency: 3, limits });
  let inFlight = 0;
  let most = 0;
  const order: number[] = [];
  for (let i = 0; i < 20; i++) {
    held.hold(`r${i}`, 'registration', async () => {
      order.push(i);
      most = Math.max(most, ++inFlight);
      await new Promise<void>((r) => setImmediate(r));
      inFlight--;
    });
  }
  await held.flush();
  assert.equal(held.size, 0);
  assert.equal(most, 3);
  assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
});

test('the first write that fails stops the flush and stays held; the next flush writes it', async () => {
  const held = new HeldWrites(log, { concurrency: 1, limits });
  let down = true;
  const written: string[] = [];
  for (const k of ['a', 'b', 'c']) held.hold(k, 'cancel', async () => { if (down) throw new RedisUnavailableError('connection', 'Redis register failed: connection closed'); written.push(k); });
  await held.flush();
  assert.equal(held.size, 3, 'nothing lost');
  assert.deepEqual(written, []);
  down = false;
  await held.flush();
  assert.equal(held.size, 0);
  assert.deepEqual(written.sort(), ['a', 'b', 'c']);
});

test('a write that fails for another reason than Redis is dropped, and the flush goes on', async () => {
  const held = new HeldWrites(log, { concurrency: 1, limits });
  const written: string[] = [];
  held.hold('bad', 'cancel', async () => { throw new TypeError('not Redis'); });
  held.hold('good', 'cancel', async () => { written.push('good'); });
  await held.flush();
  assert.equal(held.size, 0);
  assert.deepEqual(written, ['good']);
});

test('each kind has its bound; a key held again replaces the earlier write; a dropped one is never written', async () => {
  const held = new HeldWrites(log, { concurrency: 4, limits });
  const written: string[] = [];
  const w = (name: string) => async () => { written.push(name); };
  assert.equal(held.hold('f1', 'finish', w('f1')), true);
  assert.equal(held.hold('f2', 'finish', w('f2')), true);
  assert.equal(held.hold('f3', 'finish', w('f3')), false, 'past the bound for finishes');
  assert.equal(held.hold('f2', 'finish', w('f2 again')), true, 'the same key replaces');
  assert.equal(held.hold('c1', 'cancel', w('c1')), true, 'other kinds have their own bound');
  held.hold('r1', 'registration', w('r1'));
  held.drop('r1');
  assert.equal(held.count('finish'), 2);
  await held.flush();
  assert.deepEqual(written.sort(), ['c1', 'f1', 'f2 again']);
});
