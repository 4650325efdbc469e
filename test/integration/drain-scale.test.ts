// Regression: the drain was quadratic. Each time a stream ended it raced the `closed` promise of every stream still
// live (and added one more abort listener), so 10,000 streams cost about a minute of CPU and 2.4 GB on the event
// loop during SIGTERM. Now the drain waits on one promise per drainable (the registry resolves it when it empties):
// the streams here are registered by the test (10,000 of them need no sockets), and the test counts what the drain
// does per stream, which is nothing. CPU time is reported as a diagnostic, never asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StreamRef } from '../../src/cancel/keys.ts';
import { drained, type Drainable } from '../../src/shutdown.ts';
import { Registry, type LiveStream, type StopResult } from '../../src/streams/registry.ts';

const n = 10_000;

class Stream implements LiveStream {
  readonly trace = '';
  readonly startedAt = performance.now();
  stopVia = '';
  stops = 0;
  readonly ref: StreamRef;
  readonly registry: Registry<Stream>;
  constructor(ref: StreamRef, registry: Registry<Stream>) { this.ref = ref; this.registry = registry; }
  stop(): Promise<StopResult> {
    this.stops++;
    this.registry.remove(this);
    return Promise.resolve('stopped');
  }
}

/** The registry as the app drains it, counting how often the drain looks at it. */
function counted(registry: Registry<Stream>) {
  const calls = { size: 0, idle: 0, closeAll: 0 };
  const d: Drainable = {
    name: 'streams',
    get size() { calls.size++; return registry.size; },
    idle: () => { calls.idle++; return registry.idle(); },
    closeAll: () => { calls.closeAll++; for (const s of [...registry.all()]) void s.stop(); },
  };
  return { d, calls };
}

function fill(registry: Registry<Stream>): Stream[] {
  const streams: Stream[] = [];
  for (let i = 0; i < n; i++) {
    const s = new Stream({ sessionId: `s${i % 100}`, messageId: `m${i}` }, registry);
    assert.equal(registry.add(s), undefined);
    streams.push(s);
  }
  return streams;
}

test('10,000 streams ending one by one: the drain waits on one promise, whatever the number of streams', async (t) => {
  const registry = new Registry<Stream>();
  const streams = fill(registry);
  const { d, calls } = counted(registry);
  const cpu = process.cpuUsage();
  const done = drained([d], AbortSignal.timeout(60_000));
  // The streams end in batches over many turns of the event loop, as they would under a drain.
  for (let i = 0; i < n; i += 100) {
    for (const s of streams.slice(i, i + 100)) registry.remove(s);
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(await done, true);
  const used = process.cpuUsage(cpu);
  t.diagnostic(`drain of ${n} streams ending one by one: ${((used.user + used.system) / 1000).toFixed(1)} ms CPU`);
  assert.equal(calls.idle, 1, 'one wait for the whole registry');
  assert.ok(calls.size <= 3, `the drain read the size ${calls.size} times`);
  assert.equal(calls.closeAll, 0);
});

test('10,000 streams outliving the deadline: each is stopped once and the registry is empty', async (t) => {
  const registry = new Registry<Stream>();
  const streams = fill(registry);
  const { d, calls } = counted(registry);
  const deadline = new AbortController();
  const waiting = drained([d], deadline.signal);
  const cpu = process.cpuUsage();
  deadline.abort();
  assert.equal(await waiting, false);
  d.closeAll();
  assert.equal(await drained([d], AbortSignal.timeout(60_000)), true);
  const used = process.cpuUsage(cpu);
  t.diagnostic(`stop-all of ${n} streams: ${((used.user + used.system) / 1000).toFixed(1)} ms CPU`);
  assert.equal(registry.size, 0);
  assert.equal(streams.filter((s) => s.stops !== 1).length, 0);
  assert.equal(calls.idle, 1);
});

test('a drainable that fills again after it was idle is waited for again', async () => {
  const registry = new Registry<Stream>();
  const a = new Stream({ sessionId: 's', messageId: 'a' }, registry);
  const b = new Stream({ sessionId: 's', messageId: 'b' }, registry);
  registry.add(a);
  const { d, calls } = counted(registry);
  const done = drained([d], AbortSignal.timeout(60_000));
  // `a` ends and `b` arrives in the same turn, before the drain wakes: it must wait for `b` too.
  registry.remove(a);
  registry.add(b);
  let settled = false;
  void done.then(() => { settled = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false);
  registry.remove(b);
  assert.equal(await done, true);
  assert.equal(calls.idle, 2);
});
