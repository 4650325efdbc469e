// The OpenTelemetry Node SDK with the http, undici and ioredis instrumentations, configured by OTEL_* only.
import { NodeSDK } from '@opentelemetry/sdk-node';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import type { SpanExporter } from '@opentelemetry/sdk-trace';

let sdk: NodeSDK | null = null;

export function startTracing(exporter?: SpanExporter): void {
  if (sdk !== null) return;
  sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? 'stopline',
    ...(exporter !== undefined ? { traceExporter: exporter } : {}),
    instrumentations: [
      new HttpInstrumentation(),
      new UndiciInstrumentation(),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
}

export async function stopTracing(): Promise<void> {
  const s = sdk;
  sdk = null;
  if (s === null) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([s.shutdown().catch(() => {}), new Promise<void>((r) => { timer = setTimeout(r, 2_000); })]);
  clearTimeout(timer);
}
