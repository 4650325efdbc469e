// With tracing off (no SDK started, as when no OTEL_* variable asks for it), no span is made: the hooks are
// the shared no-op objects, and a stream sends no trace context upstream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { createTracing, tracingOff } from '../../src/tracing/spans.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { startReplica } from '../helpers/stopline.ts';
import { stream } from '../helpers/client.ts';

test('tracing off: no-op hooks, no spans, no traceparent upstream', async () => {
  const t = createTracing('n');
  assert.equal(t, tracingOff);
  assert.equal(t.stream('s', 'm').traceparent, '');
  assert.equal(trace.getActiveSpan(), undefined);
  const up = await startUpstream();
  const sl = await startReplica({ STOPLINE_UPSTREAM: up.url });
  try {
    await stream(`${sl.url}/api/chat/stream?chunks=3&interval=0`, { body: JSON.stringify({ session_id: 'off', message_id: 'o1' }) }).result;
    const rec = await up.request('o1');
    assert.equal(rec.headers.traceparent, undefined);
  } finally {
    await sl.close();
    await up.close();
  }
});
