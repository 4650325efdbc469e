// JSON logs on stdout, one object per line. Levels are decided at setup: a disabled level is a no-op function,
// so a log call below the threshold costs one call and nothing else (never used on the per-chunk path anyway).
// With tracing on, a line written inside a span carries its trace_id and span_id. An error is written with its
// name, message, code, stack and cause (and, for an AggregateError, its errors), so the real cause is never lost.
import { context, trace } from '@opentelemetry/api';
import type { LogLevel } from './config.ts';
import { tracingStarted } from './tracing/state.ts';

export type LogFn = (msg: string, fields?: Record<string, unknown>) => void;
export interface Logger {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}

const order = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
const noop: LogFn = () => {};

export function createLogger(level: LogLevel, base: Record<string, unknown>, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const traced = tracingStarted();
  const make = (name: Exclude<LogLevel, 'silent'>): LogFn => {
    if (order[name] < order[level]) return noop;
    return (msg, fields) => {
      const ids = traced ? traceIds() : undefined;
      write(JSON.stringify({ time: new Date().toISOString(), level: name, msg, ...base, ...ids, ...fields }, errorReplacer) + '\n');
    };
  };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}

function traceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getSpan(context.active());
  if (span === undefined) return undefined;
  const c = span.spanContext();
  return trace.isSpanContextValid(c) ? { trace_id: c.traceId, span_id: c.spanId } : undefined;
}

// JSON.stringify calls the replacer again on what it returns, so a cause that is itself an Error is written the same way.
function errorReplacer(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const e = value as Error & { code?: unknown; errors?: unknown };
  return {
    name: e.name,
    message: e.message,
    ...(e.code !== undefined ? { code: e.code } : {}),
    ...(e.stack !== undefined ? { stack: e.stack } : {}),
    ...(e.cause !== undefined ? { cause: e.cause } : {}),
    ...(Array.isArray(e.errors) && e.errors.length > 0 ? { errors: e.errors } : {}),
  };
}
