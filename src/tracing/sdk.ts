// The OpenTelemetry Node SDK with the http, undici and ioredis instrumentations, configured by OTEL_* only
// (exporter, endpoint, sampler, resource). A test may pass its own exporter and sampler.
import { startNodeSdk } from '@opentelemetry/sdk-node';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace';
import { redisStatement } from './redaction.ts';
import { isUntracedPort, markTracingStarted } from './state.ts';

let sdk: ReturnType<typeof startNodeSdk> | null = null;

export function startTracing(options: { processor?: SpanProcessor; sampler?: Sampler } = {}): void {
  if (sdk !== null) return;
  // Exporter, endpoint, sampler, propagators and resource come from OTEL_* (service.name from OTEL_SERVICE_NAME,
  // 'stopline' when unset); metrics and logs stay with Prometheus and stdout.
  sdk = startNodeSdk({
    resourceAttributes: { 'service.name': process.env.OTEL_SERVICE_NAME ?? 'stopline' },
    metricReaders: [],
    logRecordProcessors: [],
    ...(options.processor !== undefined ? { spanProcessors: [options.processor] } : {}),
    ...(options.sampler !== undefined ? { sampler: options.sampler } : {}),
    instrumentations: [
      // Probes and scrapes on the admin port (/healthz, /readyz, /metrics, peer calls) make no spans.
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => isUntracedPort(req.socket.localPort) }),
      new UndiciInstrumentation(),
      // Only Redis calls made inside a span (a stream's registration, a cancel) become spans, and their
      // db.query.text holds the command and the key prefix, never an id.
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: redisStatement(process.env.STOPLINE_REDIS_PREFIX ?? 'stopline:') }),
    ],
  });
  markTracingStarted();
}

export async function stopTracing(): Promise<void> {
  const s = sdk;
  sdk = null;
  if (s === null) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([s.shutdown().catch(() => {}), new Promise<void>((r) => { timer = setTimeout(r, 2_000); })]);
  clearTimeout(timer);
}
