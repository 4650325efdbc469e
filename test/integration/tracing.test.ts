// Traces, with the real SDK and an in-memory exporter: a stream is one span (ids, outcome, chunks, bytes), the
// parent of its upstream request (trace context goes upstream) and of its Redis registration; a cancel received
// on another replica is a span of its own that links to the stream's span, through the traceparent kept in Redis.
// The SDK starts before anything it instruments is imported, as the preload module does in production.
import { register } from 'node:module';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
const { InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace');
const exporter = new InMemorySpanExporter();
const { startTracing, stopTracing } = await import('../../src/tracing/sdk.ts');
startTracing({ processor: new SimpleSpanProcessor({ exporter }) });
const { startUpstream } = await import('../helpers/upstream.ts');
const { startRedis } = await import('../helpers/redis.ts');
const { startReplica, subscribed } = await import('../helpers/stopline.ts');
const { postJson, stream } = await import('../helpers/client.ts');
const { until } = await import('../helpers/net.ts');

type Awaited2<T> = T extends Promise<infer U> ? U : T;
let up: Awaited2<ReturnType<typeof startUpstream>>;
let redis: Awaited2<ReturnType<typeof startRedis>>;
let a: Awaited2<ReturnType<typeof startReplica>>;
let b: Awaited2<ReturnType<typeof startReplica>>;
before(async () => {
  up = await startUpstream();
  redis = await startRedis();
  const env = { STOPLINE_UPSTREAM: up.url, STOPLINE_REDIS_URL: redis.url, STOPLINE_REDIS_TIMEOUT_MS: '1000' };
  a = await startReplica({ ...env, STOPLINE_NODE_ID: 'ta' });
  b = await startReplica({ ...env, STOPLINE_NODE_ID: 'tb' });
  await subscribed([a, b]);
});
after(async () => {
  await a.close();
  await b.close();
  await redis.stop();
  await up.close();
  await stopTracing();
});

test('stream span, cancel span linked across replicas, ioredis spans, and trace context upstream', async () => {
  const s = stream(`${a.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'tr', message_id: 'tr1' }) });
  await s.waitFor((t) => t.includes('word2 '));
  const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'tr', message_id: 'tr1' });
  assert.equal(r.json.outcome, 'stopped');
  await s.result;
  await until('stream span exported', () => exporter.getFinishedSpans().some((x) => x.name === 'stopline.stream' && x.attributes['stopline.message_id'] === 'tr1'));
  const spans = exporter.getFinishedSpans();
  const streamSpan = spans.find((x) => x.name === 'stopline.stream' && x.attributes['stopline.message_id'] === 'tr1')!;
  assert.equal(streamSpan.attributes['stopline.session_id'], 'tr');
  assert.equal(streamSpan.attributes['stopline.outcome'], 'cancelled');
  assert.equal(streamSpan.attributes['stopline.node'], 'ta');
  assert.ok(Number(streamSpan.attributes['stopline.chunks']) > 0);
  assert.ok(Number(streamSpan.attributes['stopline.bytes']) > 0);

  const cancelSpan = spans.find((x) => x.name === 'stopline.cancel' && x.attributes['stopline.message_id'] === 'tr1')!;
  assert.ok(cancelSpan, 'a cancel span');
  assert.equal(cancelSpan.attributes['stopline.node'], 'tb');
  assert.equal(cancelSpan.attributes['stopline.outcome'], 'stopped');
  assert.notEqual(cancelSpan.spanContext().traceId, streamSpan.spanContext().traceId, 'the cancel is its own trace');
  assert.ok(cancelSpan.links.some((l) => l.context.spanId === streamSpan.spanContext().spanId && l.context.traceId === streamSpan.spanContext().traceId), 'linked to the stream span');

  const rec = await up.request('tr1');
  const tp = String(rec.headers.traceparent ?? '');
  assert.match(tp, new RegExp(`^00-${streamSpan.spanContext().traceId}-[0-9a-f]{16}-0[01]$`), 'the upstream request carries the stream\'s trace');

  const redisSpans = spans.filter((x) => x.instrumentationScope.name.includes('ioredis'));
  assert.ok(redisSpans.length > 0, 'ioredis spans');
  assert.ok(redisSpans.some((x) => x.spanContext().traceId === streamSpan.spanContext().traceId), 'the registration is part of the stream\'s trace');
});
