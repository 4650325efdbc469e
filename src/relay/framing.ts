// Event boundaries of SSE and NDJSON streams, tracked on bytes so that a terminal event is written at a boundary,
// never inside an event. The common case (a chunk that ends with a whole event) is decided from its last bytes;
// only a chunk that ends inside an event is scanned, with a small state machine that carries over between chunks.
// Nothing is decoded and nothing is re-chunked.

import type { StopReason } from './dialects/dialect.ts';
import { generic, noShape } from './dialects/detect.ts';

const noneSeen = { first: [], last: [], all: [] } as const;
const LF = 0x0a;
const CR = 0x0d;

export type FramingKind = 'sse' | 'ndjson' | 'none';

export function framingOf(contentType: string | undefined): FramingKind {
  if (contentType === undefined) return 'none';
  const ct = contentType.toLowerCase();
  if (ct.startsWith('text/event-stream')) return 'sse';
  if (ct.startsWith('application/x-ndjson') || ct.startsWith('application/jsonl') || ct.startsWith('application/ndjson') || ct.startsWith('application/json-seq')) return 'ndjson';
  return 'none';
}

// SSE scanner states (WHATWG HTML, "Server-sent events": lines end in CRLF, LF or CR; an empty line ends an event).
const IN_LINE = 0; // inside a line that has content
const LINE_START = 1; // just after the end of a non-empty line
const LINE_START_CR = 2; // just after a CR that ended a non-empty line (an LF next belongs to it)
const BOUNDARY = 3; // at an event boundary
const BOUNDARY_CR = 4; // at an event boundary reached by a CR (an LF next belongs to it)

/**
 * Finds, for each chunk, the offset just past the last event boundary in it (-1 if none), carrying its state from
 * one chunk to the next. `atBoundary` says whether everything seen so far ends at a boundary.
 */
export class Framer {
  readonly kind: FramingKind;
  #state = BOUNDARY;

  constructor(kind: FramingKind) {
    this.kind = kind;
  }

  get atBoundary(): boolean {
    return this.#state >= BOUNDARY;
  }

  /** Offset just past the last boundary in `chunk`, or -1. For 'none' every offset is a boundary. */
  boundary(chunk: Uint8Array): number {
    const n = chunk.length;
    if (n === 0) return this.atBoundary ? 0 : -1;
    if (this.kind === 'none') return n;
    if (this.kind === 'ndjson') {
      const last = chunk.lastIndexOf(LF);
      this.#state = last === n - 1 ? BOUNDARY : IN_LINE;
      return last < 0 ? -1 : last + 1;
    }
    // SSE fast path: a chunk ending in "\n\n" ends at a boundary whatever came before.
    if (n >= 2 && chunk[n - 1] === LF && chunk[n - 2] === LF) { this.#state = BOUNDARY; return n; }
    return this.#scan(chunk);
  }

  #scan(chunk: Uint8Array): number {
    let s = this.#state;
    let last = -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === LF) {
        if (s === IN_LINE) s = LINE_START;
        else if (s === LINE_START_CR) s = LINE_START; // the LF of a CRLF
        else { // an empty line: LINE_START, BOUNDARY, BOUNDARY_CR (LF of a CRLF)
          s = BOUNDARY;
          last = i + 1;
        }
      } else if (c === CR) {
        if (s === IN_LINE) s = LINE_START_CR;
        else { s = BOUNDARY_CR; last = i + 1; }
      } else {
        s = IN_LINE;
      }
    }
    this.#state = s;
    return last;
  }
}

const encoder = new TextEncoder();

/**
 * The generic ending of a stopped stream of this framing (see dialects/generic.ts): `event: stopline.cancelled` for
 * SSE, a `{"stopline":"cancelled",...}` line for NDJSON, nothing without framing. Streams of a known API dialect end
 * in that dialect instead (dialects/ending.ts).
 */
export function terminalEvent(kind: FramingKind, sessionId: string, messageId: string, reason: StopReason): Uint8Array {
  return encoder.encode(generic(kind).ending(noneSeen, noShape, { reason, session_id: sessionId, message_id: messageId }));
}
