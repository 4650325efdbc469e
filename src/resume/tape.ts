// One resumable stream's output on its owner: references to the very chunks its client was sent (no copy), in
// order, with their byte offsets, so that a follower can start at any offset still in the window and read on live.
// Bounded per stream (STOPLINE_RESUME_STREAM_BYTES) and per replica (the Budget): past a bound the oldest chunks
// leave the window, and a follower that still needed them is cut, never handed a gap.
import type { OutgoingHttpHeaders } from 'node:http';
import type { StreamRef } from '../cancel/keys.ts';
import { Framer } from '../relay/framing.ts';
import type { Budget } from './budget.ts';

/** Someone reading the tape: told when there is more to read, or that it ended. */
export interface TapeReader {
  /** More output (or the end) is there to read. */
  more(): void;
}

export type TapeState = 'live' | 'ended' | 'failed';

// A consumed head of the chunk list is compacted once it is this long (and half the list): no shift per chunk.
const compactAfter = 1_024;

export class Tape {
  readonly ref: StreamRef;
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  /** The stream span's traceparent ('' when tracing is off): a resume's span links to it. */
  readonly trace: string;
  readonly #budget: Budget;
  readonly #maxBytes: number;
  /** Chunks in order; those before #head have left the window (their slot is kept until compaction). */
  #chunks: Uint8Array[] = [];
  /** The byte offset of each chunk in #chunks. */
  #offsets: number[] = [];
  #head = 0;
  /** The stream's length so far, in bytes, and where the window starts. */
  #length = 0;
  #start = 0;
  #state: TapeState = 'live';
  readonly #readers = new Set<TapeReader>();
  /** The owner's own client went away; the generation runs on for followers (see Hub.detach). */
  detached = false;
  /** Aborted for want of a follower once its detach window passed. */
  abandoned = false;
  /**
   * Set when the owner's own client is an EventSource: its pieces are scanned for event boundaries (only then), so
   * that an `id: <offset>` block can follow each piece that ends at one (idAfter).
   */
  ids: Framer | null = null;

  constructor(ref: StreamRef, status: number, headers: OutgoingHttpHeaders, trace: string, budget: Budget, maxBytes: number) {
    this.ref = ref;
    this.status = status;
    this.headers = headers;
    this.trace = trace;
    this.#budget = budget;
    this.#maxBytes = maxBytes;
  }

  get length(): number { return this.#length; }
  /** The first offset still held: a resume from before it cannot be served whole. */
  get start(): number { return this.#start; }
  get state(): TapeState { return this.#state; }
  get held(): number { return this.#length - this.#start; }
  get readers(): number { return this.#readers.size; }

  /** The hot path's one call per piece sent to the owner's client: a reference kept, readers told. */
  append(chunk: Uint8Array): void {
    if (this.#state !== 'live' || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#offsets.push(this.#length);
    this.#length += chunk.length;
    this.#budget.add(chunk.length);
    if (this.#length - this.#start > this.#maxBytes || this.#budget.over) this.#trim();
    if (this.#readers.size > 0) for (const r of this.#readers) r.more();
  }

  /** The `id:` block to send after a piece just appended, or null (not an EventSource client, or mid-event). */
  idAfter(piece: Uint8Array): Uint8Array | null {
    const f = this.ids;
    if (f === null || f.boundary(piece) !== piece.length) return null;
    return Buffer.from(`id: ${this.#length}\n\n`, 'latin1');
  }

  /** The stream ended cleanly; `ending` is what closed it for the client (a stop's ending), if anything. */
  end(ending?: Uint8Array): void {
    if (this.#state !== 'live') return;
    if (ending !== undefined) this.append(ending);
    this.#state = 'ended';
    for (const r of this.#readers) r.more();
  }

  /** The stream broke (the upstream failed): readers are cut where they are, as the owner's client was. */
  fail(): void {
    if (this.#state !== 'live') return;
    this.#state = 'failed';
    for (const r of this.#readers) r.more();
  }

  /** Drops everything held (the stream is gone from this replica); readers still on it are cut. */
  release(): void {
    this.#budget.add(-(this.#length - this.#start));
    this.#start = this.#length;
    this.#chunks = [];
    this.#offsets = [];
    this.#head = 0;
    if (this.#state === 'live') this.#state = 'failed';
    for (const r of this.#readers) r.more();
  }

  follow(r: TapeReader): void { this.#readers.add(r); }
  unfollow(r: TapeReader): void { this.#readers.delete(r); }

  /**
   * The piece of output at `offset` (a view into a kept chunk, no copy), or null when the reader is caught up.
   * The caller checks `offset >= start` first: output before the window is gone.
   */
  at(offset: number): Uint8Array | null {
    if (offset >= this.#length || offset < this.#start) return null;
    // Readers mostly read the chunk after their last one: start the search from the end for live followers.
    let lo = this.#head;
    let hi = this.#chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#offsets[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    const chunk = this.#chunks[lo]!;
    const skip = offset - this.#offsets[lo]!;
    return skip === 0 ? chunk : chunk.subarray(skip);
  }

  /** Oldest chunks out until this stream is within its bound and the replica within its own (the last chunk stays). */
  #trim(): void {
    let freed = 0;
    while (this.#head < this.#chunks.length - 1 && (this.#length - this.#start > this.#maxBytes || this.#budget.overBy(freed))) {
      const c = this.#chunks[this.#head]!;
      this.#chunks[this.#head] = empty;
      this.#head++;
      this.#start += c.length;
      freed += c.length;
    }
    this.#budget.add(-freed);
    if (this.#head >= compactAfter && this.#head * 2 >= this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#offsets = this.#offsets.slice(this.#head);
      this.#head = 0;
    }
  }
}

const empty = new Uint8Array(0);
