// What a tracked stream remembers for its ending, and the ending it writes when it is stopped. The relay's hot path
// calls `see` with a written piece only while `watching`: until the first event with data is seen (a stream's first
// few writes), and then only for a dialect whose ending needs more (Anthropic keeps a reference to the last piece,
// Responses to every piece; never a copy, never a parse). Everything else happens once, at stop time.
import type { FramingKind } from '../framing.ts';
import type { Dialect, DialectName, RequestShape, Seen, StopRecord } from './dialect.ts';
import { dialects, fromFirst, fromHead, generic } from './detect.ts';
import { decode, ndjsonEvents, sseEvents, type WireEvent } from './wire.ts';

/** Writes without a whole event before auto-detection gives up and takes the generic ending. */
const maxDetectWrites = 8;
/** Past this many kept bytes a keep-all dialect lets go, and the stream gets the generic ending. */
const maxKeptBytes = 16 * 1024 * 1024; // 16 MiB

const encoder = new TextEncoder();
const nothingSeen: Seen = { first: [], last: [], all: [] };

export class StreamEnding {
  /** Whether the relay must hand each written piece to `see`; read on the hot path. */
  watching = false;
  readonly #request: RequestShape;
  readonly #forced: Dialect | null;
  #framing: FramingKind = 'none';
  #dialect: Dialect | null = null;
  /** The pieces written before the first event with data (a few at most); let go once it is seen. */
  #pending: Uint8Array[] | null = [];
  /** The first events, parsed once when the dialect is told. */
  #first: WireEvent[] = [];
  #last: Uint8Array | null = null;
  #all: Uint8Array[] | null = null;
  #keptBytes = 0;

  constructor(request: RequestShape, forced: DialectName | null) {
    this.#request = request;
    this.#forced = forced === null ? null : dialects[forced];
  }

  /** The response head is out as a stream: returns the framing to track (a forced dialect's own). */
  started(framing: FramingKind, headers: Record<string, string | string[] | undefined>): FramingKind {
    this.#framing = this.#forced?.framing ?? framing;
    const byHead = this.#forced === null ? fromHead(framing, headers) : null;
    if (byHead !== null) { this.#pending = null; this.#decide(byHead); } // nothing to learn from its events
    else { this.#dialect = this.#forced; this.watching = true; } // a forced dialect still reads the upstream's ids
    return this.#framing;
  }

  /** A piece written to the client, while `watching`. */
  see(piece: Uint8Array): void {
    if (this.#pending !== null) { this.#detect(this.#pending, piece); return; }
    if (this.#all === null) { this.#last = piece; return; }
    this.#all.push(piece);
    this.#keptBytes += piece.length;
    if (this.#keptBytes > maxKeptBytes) this.#decide(generic(this.#framing));
  }

  #detect(pending: Uint8Array[], piece: Uint8Array): void {
    pending.push(piece);
    const events = this.#events(pending);
    const first = events.find((e) => e.data !== '');
    if (first === undefined && pending.length < maxDetectWrites) return;
    this.#pending = null;
    this.#first = events;
    this.#decide(this.#dialect ?? (first === undefined ? generic(this.#framing) : fromFirst(this.#framing, first)));
    if (this.#all !== null) { this.#all.push(...pending); this.#keptBytes = pending.reduce((n, p) => n + p.length, 0); }
    else if (this.watching) this.#last = piece;
  }

  #decide(d: Dialect): void {
    this.#dialect = d;
    this.watching = d.keeps !== 'none';
    this.#all = d.keeps === 'all' ? [] : null;
    this.#last = null;
  }

  /** The dialect for the metric label: detected or forced, else what the request implies, else generic. */
  get name(): DialectName {
    return (this.#dialect ?? this.#implied() ?? generic(this.#framing)).name;
  }

  /** The dialect forced for the route, or the one the request implies. */
  #implied(): Dialect | null {
    return this.#forced ?? (this.#request.dialect === null ? null : dialects[this.#request.dialect]);
  }

  #events(pieces: readonly Uint8Array[]): WireEvent[] {
    if (pieces.length === 0) return [];
    const text = decode(pieces);
    return this.#framing === 'ndjson' ? ndjsonEvents(text) : sseEvents(text);
  }

  /** The bytes a stream stopped after its head ends with (empty: nothing to write). */
  ending(record: StopRecord): Uint8Array {
    const d = this.#dialect ?? generic(this.#framing);
    const all = this.#all === null ? [] : this.#events(this.#all);
    const seen: Seen = {
      first: all.length > 0 ? all : this.#first,
      last: this.#last === null ? [] : this.#events([this.#last]),
      all,
    };
    return encoder.encode(d.ending(seen, this.#request, record));
  }

  /**
   * A stream stopped before the upstream answered: the head and body of the dialect the request implies, or of the
   * generic one the client's Accept header asks for.
   */
  early(record: StopRecord, accept: string | undefined): { headers: Record<string, string>; body: Uint8Array } {
    const d = this.#implied() ?? generic(accept !== undefined && /ndjson|jsonl/i.test(accept) ? 'ndjson' : 'sse');
    this.#dialect = d;
    this.#framing = d.framing;
    return {
      headers: { 'content-type': d.contentType, 'cache-control': 'no-cache', ...d.earlyHeaders },
      body: encoder.encode(d.ending(nothingSeen, this.#request, record)),
    };
  }
}
