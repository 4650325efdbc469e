// Reading back events the relay already wrote, at stop time only: SSE (WHATWG "Server-sent events" field parsing)
// and NDJSON lines. Lenient by design: a piece may start inside an event (the rest of one split across chunks), and
// whatever does not parse is skipped.

export interface WireEvent {
  /** The SSE `event:` field, null when absent (and for NDJSON). */
  readonly event: string | null;
  /** The data, parsed as JSON where it is JSON, else the raw string (`[DONE]`). */
  readonly data: unknown;
}

const decoder = new TextDecoder();

export function decode(pieces: readonly Uint8Array[]): string {
  if (pieces.length === 1) return decoder.decode(pieces[0]);
  let s = '';
  for (const p of pieces) s += decoder.decode(p, { stream: true });
  return s + decoder.decode();
}

function json(s: string): unknown {
  try { return JSON.parse(s); } catch { return s; }
}

/** The whole SSE events in `text` (those ended by an empty line) that carry data. */
export function sseEvents(text: string): WireEvent[] {
  const out: WireEvent[] = [];
  let event: string | null = null;
  let data: string | null = null;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data !== null) out.push({ event, data: json(data) });
      event = null;
      data = null;
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data = data === null ? value : `${data}\n${value}`;
  }
  return out;
}

/** The whole NDJSON lines in `text` that parse as JSON objects. */
export function ndjsonEvents(text: string): WireEvent[] {
  const lines = text.split('\n');
  lines.pop(); // what follows the last newline is not a whole line
  const out: WireEvent[] = [];
  for (const line of lines) {
    const data = json(line);
    if (data !== null && typeof data === 'object') out.push({ event: null, data });
  }
  return out;
}

/** One SSE event: an optional name and one JSON data line. */
export function sseFrame(event: string | null, data: unknown): string {
  return `${event === null ? '' : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The `type` of an event's JSON data, or its SSE event name. */
export function typeOf(e: WireEvent): string | null {
  if (isObject(e.data) && typeof e.data.type === 'string') return e.data.type;
  return e.event;
}
