// What a tracked stream remembers for its ending, and the ending it writes when it is stopped. The relay's hot path
// hands every written piece to `tail` (a field assignment: no copy, no parse); only while the first event is not yet
// seen, or for a dialect whose ending needs every event, does it also call `see`. Everything else happens once, at
// stop time: the kept pieces are parsed and the dialect writes its ending.
import type { FramingKind } from '../framing.ts';
import type { Dialect, DialectName, RequestShape, Seen, StopRecord } from './dialect.ts';
import { dialects, fromFirst, fromHead, generic } from './detect.ts';
import { decode, ndjsonEvents, sseEvents, type WireEvent } from './wire.ts';

/** Writes without a whole event before auto-detection gives up and takes the generic ending. */
const maxDetectWrites = 8;
/** Past this many kept bytes a keep-all dialect lets go, and the stream gets the generic ending. */
const maxKeptBytes = 16 * 1024 * 1024; // 16 MiB

const encoder = new TextEncoder();

export class StreamEnding {
  /** The last piece written to the client; assigned on the hot path. */
  tail: Uint8Array | null = null;
  /** Whether `see` must be called with each written piece. */
  watching = false;
  readonly #request: RequestShape;
  readonly #forced: Dialect | null;
  #framing: FramingKind = 'none';
  #dialect: Dialect | null = null;
  #first: Uint8Array[] = [];
  #all: Uint8Array[] | null = null;
  #keptBytes = 0;

  constructor(request: RequestShape, forced: DialectName | null) {
    this.#request = request;
    this.#forced = forced === null ? null : dialects[forced];
  }

  /** The response head is out as a stream: returns the framing to track (a forced dialect's own). */
  started(framing: FramingKind, headers: Record<string, string | string[] | undefined>): FramingKind {
    const forced = this.#forced;
    this.#framing = forced?.framing ?? framing;
    this.#dialect = forced ?? fromHead(framing, headers);
    this.watching = this.#dialect === null || this.#dialect.keepsAll;
    if (this.#dialect?.keepsAll) this.#all = [];
    return this.#framing;
  }

  /** A piece written to the client, while detecting or keeping every event. */
  see(piece: Uint8Array): void {
    const all = this.#all;
    if (all !== null) {
      all.push(piece);
      this.#keptBytes += piece.length;
      if (this.#keptBytes > maxKeptBytes) { this.#all = null; this.#dialect = generic(this.#framing); this.watching = false; }
      return;
    }
    this.#first.push(piece);
    const first = this.#events(this.#first).find((e) => e.data !== '');
    if (first === undefined) {
      if (this.#first.length >= maxDetectWrites) this.#decide(generic(this.#framing));
      return;
    }
    this.#decide(fromFirst(this.#framing, first));
  }

  #decide(d: Dialect): void {
    this.#dialect = d;
    this.watching = d.keepsAll;
    if (d.keepsAll) { this.#all = this.#first.slice(); this.#keptBytes = this.#all.reduce((n, p) => n + p.length, 0); }
  }

  /** The dialect for the metric label and the ending: detected, forced, or what is known so far. */
  get name(): DialectName {
    return (this.#dialect ?? this.#early()).name;
  }

  #early(): Dialect {
    return this.#forced ?? (this.#request.dialect !== null ? dialects[this.#request.dialect] : null) ?? generic(this.#framing);
  }

  #events(pieces: readonly Uint8Array[]): WireEvent[] {
    if (pieces.length === 0) return [];
    const text = decode(pieces);
    return this.#framing === 'ndjson' ? ndjsonEvents(text) : sseEvents(text);
  }

  /** The bytes a stream stopped after its head ends with (empty: nothing to write). */
  ending(record: StopRecord): Uint8Array {
    const d = this.#dialect ?? generic(this.#framing);
    const tail = this.tail;
    const seen: Seen = {
      first: this.#events(this.#first.length > 0 ? this.#first : this.#all?.slice(0, 1) ?? []),
      last: tail === null ? [] : this.#events([tail]),
      all: this.#all === null ? [] : this.#events(this.#all),
    };
    return encoder.encode(d.ending(seen, this.#request, record));
  }

  /**
   * A stream stopped before the upstream answered: the head and body of the dialect the request implies, or of the
   * generic one the client's Accept header asks for.
   */
  early(record: StopRecord, accept: string | undefined): { headers: Record<string, string>; body: Uint8Array } {
    const d = this.#forced ?? (this.#request.dialect !== null ? dialects[this.#request.dialect] : null) ??
      (accept !== undefined && /ndjson|jsonl/i.test(accept) ? generic('ndjson') : generic('sse'));
    this.#dialect = d;
    this.#framing = d.framing;
    const empty: Seen = { first: [], last: [], all: [] };
    return {
      headers: { 'content-type': d.contentType, 'cache-control': 'no-cache', ...d.earlyHeaders },
      body: encoder.encode(d.ending(empty, this.#request, record)),
    };
  }
}
