// Traces, with the real SDK and an in-memory exporter: a stream is one span (ids, outcome, chunks, bytes), the
// parent of its upstream request (trace context goes upstream) and of its Redis registration; a cancel received
// on another replica is a span of its own that links to the stream's span, through the traceparent kept in Redis.
// The SDK starts before anything it instruments is imported, as the preload module does in production.
// Regressions covered here: the ioredis instrumentation's default serializer wrote every script argument into
// db.query.text (session and message ids, the node id, the traceparent); probes and scrapes on the admin port made
// root spans; the cancel span's link was added after its creation, where no sampler sees it.
import { register } from 'node:module';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
const { InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace');
const { SpanKind } = await import('@opentelemetry/api');
const exporter = new InMemorySpanExporter();
// Samples everything, and records the links each span had when it was made (what a sampler decides on).
const linksAtCreation = new Map<string, number[]>();
const sampler: import('@opentelemetry/sdk-trace').Sampler = {
  shouldSample(_ctx, _traceId, name, _kind, _attributes, links) {
    linksAtCreation.set(name, [...(linksAtCreation.get(name) ?? []), links.length]);
    return { decision: SamplingDecision.RECORD_AND_SAMPLED };
  },
  toString: () => 'recording',
};
const { startTracing, stopTracing } = await import('../../src/tracing/sdk.ts');
startTracing({ processor: new SimpleSpanProcessor({ exporter }), sampler });
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
  a = await startReplica({ ...env, STOPLINE_NODE_ID: 'node-ta7' });
  b = await startReplica({ ...env, STOPLINE_NODE_ID: 'node-tb7' });
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
  const s = stream(`${a.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'sess-q81z', message_id: 'tr1' }) });
  await s.waitFor((t) => t.includes('word2 '));
  const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'sess-q81z', message_id: 'tr1' });
  assert.equal(r.json.outcome, 'stopped');
  await s.result;
  await until('stream span exported', () => exporter.getFinishedSpans().some((x) => x.name === 'stopline.stream' && x.attributes['stopline.message_id'] === 'tr1'));
  const spans = exporter.getFinishedSpans();
  const streamSpan = spans.find((x) => x.name === 'stopline.stream' && x.attributes['stopline.message_id'] === 'tr1')!;
  assert.equal(streamSpan.attributes['stopline.session_id'], 'sess-q81z');
  assert.equal(streamSpan.attributes['stopline.outcome'], 'cancelled');
  assert.equal(streamSpan.attributes['stopline.node'], 'node-ta7');
  assert.ok(Number(streamSpan.attributes['stopline.chunks']) > 0);
  assert.ok(Number(streamSpan.attributes['stopline.bytes']) > 0);
  assert.equal(streamSpan.attributes['stopline.dialect'], 'sse', 'the dialect its ending was written in (the stopline_streams_total label)');

  const cancelSpan = spans.find((x) => x.name === 'stopline.cancel' && x.attributes['stopline.message_id'] === 'tr1')!;
  assert.ok(cancelSpan, 'a cancel span');
  assert.equal(cancelSpan.attributes['stopline.node'], 'node-tb7');
  assert.equal(cancelSpan.attributes['stopline.outcome'], 'stopped');
  assert.notEqual(cancelSpan.spanContext().traceId, streamSpan.spanContext().traceId, 'the cancel is its own trace');
  assert.ok(cancelSpan.links.some((l) => l.context.spanId === streamSpan.spanContext().spanId && l.context.traceId === streamSpan.spanContext().traceId), 'linked to the stream span');
  assert.deepEqual(linksAtCreation.get('stopline.cancel'), [1], 'the link was there when the span was made');

  const rec = await up.request('tr1');
  const tp = String(rec.headers.traceparent ?? '');
  assert.match(tp, new RegExp(`^00-${streamSpan.spanContext().traceId}-[0-9a-f]{16}-0[01]$`), 'the upstream request carries the stream\'s trace');

  const redisSpans = spans.filter((x) => x.instrumentationScope.name.includes('ioredis'));
  assert.ok(redisSpans.length > 0, 'ioredis spans');
  assert.ok(redisSpans.some((x) => x.spanContext().traceId === streamSpan.spanContext().traceId), 'the registration is part of the stream\'s trace');
  // No id reaches a Redis span: not the session or message id, not a node id, not the stream's trace or span id.
  const secrets = ['sess-q81z', 'tr1', 'node-ta7', 'node-tb7', streamSpan.spanContext().traceId, streamSpan.spanContext().spanId];
  for (const x of redisSpans) {
    const text = JSON.stringify(x.attributes);
    assert.deepEqual(secrets.filter((id) => text.includes(id)), [], `${x.name}: ${text}`);
  }
  const scripts = redisSpans.filter((x) => /^evalsha$/i.test(String(x.attributes['db.operation.name'] ?? x.name)));
  assert.ok(scripts.length > 0, 'script calls are traced');
  for (const x of scripts) assert.match(String(x.attributes['db.query.text'] ?? x.attributes['db.statement']), /^EVALSHA stopline:… \(\d+ keys, \d+ args\)$/);
});

test('the admin port makes no spans; the data port does', async () => {
  exporter.reset();
  for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal((await fetch(`${a.adminUrl}${path}`)).status, 200);
  await postJson(`${a.url}/stopline/v1/cancel`, { session_id: 'nobody', message_id: 'none' });
  await until('the data port\'s server span', () => exporter.getFinishedSpans().some((x) => x.kind === SpanKind.SERVER));
  const servers = exporter.getFinishedSpans().filter((x) => x.kind === SpanKind.SERVER);
  const paths = servers.map((x) => String(x.attributes['url.path'] ?? x.attributes['http.target'] ?? x.name));
  assert.deepEqual(paths.filter((p) => /healthz|readyz|metrics/.test(p)), [], JSON.stringify(paths));
  assert.ok(paths.some((p) => p.includes('/stopline/v1/cancel')), JSON.stringify(paths));
});

test('with tracing on, a log line written inside a span carries its trace_id and span_id', async () => {
  const { createLogger } = await import('../../src/log.ts');
  const { trace } = await import('@opentelemetry/api');
  const lines: string[] = [];
  const log = createLogger('info', {}, (l) => lines.push(l));
  log.info('outside');
  const ids = trace.getTracer('test').startActiveSpan('t', (span) => {
    log.info('inside');
    span.end();
    return span.spanContext();
  });
  const [outside, inside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(outside!.trace_id, undefined);
  assert.equal(inside!.trace_id, ids.traceId);
  assert.equal(inside!.span_id, ids.spanId);
});
