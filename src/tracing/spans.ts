// stopline's own spans. A stream is one span (ids, outcome, chunks, bytes), the parent of the upstream request and
// of its Redis registration; its traceparent is stored with the registration, so a cancel received on any replica
// is a span of its own that links to the stream's span. The links of a cancel are known only once the streams it
// names are found (locally or through Redis), so its span is made then, with its links and the receipt as its start
// time: links given at creation are what a sampler sees (the specification's advice), not ones added later.
// Decided at setup: with tracing off every hook is a no-op.
import { context, trace, SpanKind, SpanStatusCode, type Link, type Span, type SpanContext } from '@opentelemetry/api';
import { tracingStarted } from './state.ts';

export interface StreamTrace {
  readonly traceparent: string;
  end(outcome: string, chunks: number, bytes: number, dialect?: string): void;
  /** Runs `fn` with the stream's span active (the upstream request and the registration become its children). */
  run<T>(fn: () => T): T;
}

export interface CancelTrace {
  /** A stream the cancel names: its span is linked from the cancel's span (made at `end`, links included). */
  link(traceparent: string): void;
  end(outcome: string): void;
  /** Runs `fn` in the context the cancel arrived in (its HTTP server span, when traced). */
  run<T>(fn: () => T): T;
}

export interface Tracing {
  readonly enabled: boolean;
  stream(sessionId: string, messageId: string): StreamTrace;
  cancel(sessionId: string, messageId: string | undefined): CancelTrace;
  /** A resume or follow of a stream: its own span, linked to the stream's. */
  resume(sessionId: string, messageId: string): CancelTrace;
}

/** The span of an exchange that is no stream, and of every stream when tracing is off: does nothing. */
export const untracedStream: StreamTrace = { traceparent: '', end() {}, run: (fn) => fn() };
const noopCancel: CancelTrace = { link() {}, end() {}, run: (fn) => fn() };
export const tracingOff: Tracing = { enabled: false, stream: () => untracedStream, cancel: () => noopCancel, resume: () => noopCancel };

/** W3C traceparent "00-<trace id>-<span id>-<flags>" to a remote span context, or null. */
export function parseTraceparent(tp: string): SpanContext | null {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(tp);
  return m ? { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true } : null;
}

function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1) === 1 ? '01' : '00'}`;
}

export function createTracing(nodeId: string): Tracing {
  if (!tracingStarted()) return tracingOff;
  const tracer = trace.getTracer('stopline');
  const within = (span: Span) => <T>(fn: () => T): T => context.with(trace.setSpan(context.active(), span), fn);
  return {
    enabled: true,
    stream(sessionId, messageId) {
      const span = tracer.startSpan('stopline.stream', { kind: SpanKind.INTERNAL, attributes: { 'stopline.session_id': sessionId, 'stopline.message_id': messageId, 'stopline.node': nodeId } });
      return {
        traceparent: traceparentOf(span),
        end(outcome, chunks, bytes, dialect) {
          span.setAttributes({ 'stopline.outcome': outcome, 'stopline.chunks': chunks, 'stopline.bytes': bytes });
          if (dialect !== undefined) span.setAttribute('stopline.dialect', dialect);
          if (outcome === 'upstream_error') span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        },
        run: within(span),
      };
    },
    cancel(sessionId, messageId) { return linked('stopline.cancel', sessionId, messageId); },
    resume(sessionId, messageId) { return linked('stopline.resume', sessionId, messageId); },
  };

  /**
   * A span linked to the stream(s) it acts on. Links are known only once the streams are found, and a sampler sees
   * a span's links at its creation only: so the span is created at its end, with the links and the time the
   * request arrived as its start, under the context the request came in.
   */
  function linked(name: string, sessionId: string, messageId: string | undefined): CancelTrace {
    const received = performance.timeOrigin + performance.now();
    const parent = context.active();
    const links: Link[] = [];
    return {
      link(traceparent) {
        const l = parseTraceparent(traceparent);
        if (l !== null) links.push({ context: l, attributes: { 'stopline.link': 'stream' } });
      },
      end(outcome) {
        const attributes = { 'stopline.session_id': sessionId, ...(messageId !== undefined ? { 'stopline.message_id': messageId } : {}), 'stopline.node': nodeId, 'stopline.outcome': outcome };
        tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes, links, startTime: received }, parent).end();
      },
      run: (fn) => context.with(parent, fn),
    };
  }
}
