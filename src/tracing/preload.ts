// Loaded with `node --import` before anything it instruments. Tracing is off unless an OTEL_* variable asks for it
// (an exporter endpoint, or OTEL_TRACES_EXPORTER other than "none"); when off, nothing more is loaded at all.
import { requireNode } from '../node-check.ts';

requireNode(); // the SDK and its instrumentations need a recent Node as much as the rest does
const env = process.env;
const wanted = env.OTEL_SDK_DISABLED !== 'true' && (
  env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
  env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined ||
  (env.OTEL_TRACES_EXPORTER !== undefined && env.OTEL_TRACES_EXPORTER !== 'none')
);
if (wanted) {
  // ESM imports are instrumented through the loader hook of @opentelemetry/instrumentation (import-in-the-middle).
  const { register } = await import('node:module');
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const { startTracing } = await import('./sdk.ts');
  startTracing();
}
