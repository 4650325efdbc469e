// The OpenTelemetry Node SDK with the http, undici and ioredis instrumentations, configured by OTEL_* only
// (exporter, endpoint, sampler, resource). A test may pass its own exporter.
import { startNodeSdk } from '@opentelemetry/sdk-node';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { markTracingStarted } from './state.ts';

let sdk: ReturnType<typeof startNodeSdk> | null = null;

export function startTracing(options: { processor?: SpanProcessor } = {}): void {
  if (sdk !== null) return;
  // Exporter, endpoint, sampler, propagators and resource come from OTEL_* (service.name from OTEL_SERVICE_NAME,
  // 'stopline' when unset); metrics and logs stay with Prometheus and stdout.
  sdk = startNodeSdk({
    resourceAttributes: { 'service.name': process.env.OTEL_SERVICE_NAME ?? 'stopline' },
    metricReaders: [],
    logRecordProcessors: [],
    ...(options.processor !== undefined ? { spanProcessors: [options.processor] } : {}),
    instrumentations: [
      new HttpInstrumentation(),
      new UndiciInstrumentation(),
      // Only Redis calls made inside a stopline span (a stream's registration, a cancel) become spans.
      new IORedisInstrumentation({ requireParentSpan: true }),
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
