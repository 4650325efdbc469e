// The Redis circuit breaker on an injected monotonic clock. It used to read Date.now (a wall-clock step back kept it
// open), never reached its half-open state, closed from open on any late success without a probe, and counted a
// caller's own errors (a RangeError) as Redis failures. Every transition is checked here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Breaker } from '../../src/cancel/breaker.ts';
import { isRedisFailure } from '../../src/cancel/redis-client.ts';
import { RedisUnavailableError } from '../../src/errors.ts';

function breaker() {
  const clock = { t: 1_000 };
  const changes: boolean[] = [];
  const b = new Breaker({ failureThreshold: 3, minBackoffMs: 500, maxBackoffMs: 2_000, now: () => clock.t, onChange: (c) => changes.push(c) });
  return { b, clock, changes };
}

test('closed: failures below the threshold keep it closed, a success ends the run', () => {
  const { b, changes } = breaker();
  b.failure(); b.failure();
  assert.deepEqual(b.state, { kind: 'closed', failures: 2 });
  b.success();
  b.failure(); b.failure();
  assert.ok(b.closed && b.allow(), 'the run started again after the success');
  assert.deepEqual(changes, []);
});

test('closed → open after N failures in a row; open refuses calls and no probe before the back-off', () => {
  const { b, clock, changes } = breaker();
  b.failure(); b.failure(); b.failure();
  assert.equal(b.state.kind, 'open');
  assert.deepEqual(changes, [false]);
  assert.equal(b.allow(), false);
  assert.equal(b.probeInMs, 500);
  clock.t += 499;
  assert.equal(b.probe(), false);
  assert.equal(b.state.kind, 'open');
});

test('open: a late success of a call sent before it opened does not close it', () => {
  const { b, changes } = breaker();
  b.trip();
  b.success();
  assert.equal(b.state.kind, 'open');
  assert.deepEqual(changes, [false]);
});

test('open → half-open when the probe goes out; only one probe at a time; ordinary calls still refused', () => {
  const { b, clock } = breaker();
  b.trip();
  clock.t += 500;
  assert.equal(b.probe(), true);
  assert.equal(b.state.kind, 'half-open');
  assert.equal(b.probe(), false, 'a second probe while the first is out');
  assert.equal(b.probe(true), false);
  assert.equal(b.allow(), false);
});

test('half-open → closed on the probe\'s success', () => {
  const { b, clock, changes } = breaker();
  b.trip();
  clock.t += 500;
  b.probe();
  b.success();
  assert.deepEqual(b.state, { kind: 'closed', failures: 0 });
  assert.deepEqual(changes, [false, true]);
  assert.ok(b.allow());
});

test('half-open → open with the back-off doubled, up to the maximum', () => {
  const { b, clock, changes } = breaker();
  b.trip();
  const backoffs: number[] = [];
  for (let i = 0; i < 4; i++) {
    clock.t += b.probeInMs!;
    assert.ok(b.probe());
    b.failure();
    backoffs.push(b.probeInMs!);
  }
  assert.deepEqual(backoffs, [1_000, 2_000, 2_000, 2_000]);
  assert.deepEqual(changes, [false], 'a failed probe is no new entry into fallback');
});

test('an early probe (a fresh connection) goes out before the back-off ends', () => {
  const { b } = breaker();
  b.trip();
  assert.equal(b.probe(true), true);
  b.success();
  assert.ok(b.closed);
});

test('trip(): closed → open at once; half-open counts as a failed probe; open stays as it was', () => {
  const { b, clock, changes } = breaker();
  b.trip();
  const until = (b.state as { until: number }).until;
  b.trip();
  assert.equal((b.state as { until: number }).until, until);
  clock.t += 500;
  b.probe();
  b.trip();
  assert.deepEqual(b.state, { kind: 'open', until: clock.t + 1_000, backoffMs: 1_000 });
  assert.deepEqual(changes, [false]);
});

test('a monotonic clock: the back-off is measured on the injected clock, whatever the wall clock does', () => {
  const { b, clock } = breaker();
  const realNow = Date.now;
  Date.now = () => 0; // a wall-clock step back by decades
  try {
    b.trip();
    clock.t += 500;
    assert.ok(b.probe());
  } finally {
    Date.now = realNow;
  }
});

test('only Redis failures count: timeouts, connection errors, unusable-server replies; not a caller\'s own error', () => {
  const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
  assert.ok(isRedisFailure(new RedisUnavailableError('timeout', 'slow')));
  assert.ok(isRedisFailure(new RedisUnavailableError('connection', 'gone')));
  assert.ok(isRedisFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
  for (const m of ['OOM command not allowed when used memory > \'maxmemory\'.', 'READONLY You can\'t write against a read only replica.', 'LOADING Redis is loading the dataset in memory', 'MASTERDOWN Link with MASTER is down', 'CLUSTERDOWN The cluster is down', 'BUSY Redis is busy running a script']) {
    assert.ok(isRedisFailure(reply(m)), m);
  }
  assert.equal(isRedisFailure(new RangeError('Maximum call stack size exceeded')), false);
  assert.equal(isRedisFailure(new TypeError('x is not a function')), false);
  assert.equal(isRedisFailure(reply('WRONGTYPE Operation against a key holding the wrong kind of value')), false);
  assert.equal(isRedisFailure(reply('ERR wrong number of arguments for \'set\' command')), false);
});
