// One resumable stream's output on its owner: the very bytes its client was sent, in order, so that a follower can
// start at any offset still in the window and read on live. Small pieces (most of a stream: one event a chunk) are
// copied into blocks of the stream's own, growing from 2 KiB to 64 KiB with the stream, so that what is held is the
// output itself: keeping a reference per piece would keep each socket read's buffer and two heap objects alive, about
// four times the output in memory, all of it for the garbage collector to walk. A large piece is kept by reference
// as a block of its own. Bounded per stream (STOPLINE_RESUME_STREAM_BYTES) and per replica (the Budget, which counts
// the blocks' memory): past a bound the oldest blocks leave the window, and a follower that still needed them is
// cut, never handed a gap.
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

// Blocks grow with the stream (a short answer holds one small block); a piece this large is kept as it is.
const minBlock = 2_048;
const maxBlock = 65_536;
const keepAsIs = 8_192;

export class Tape {
  readonly ref: StreamRef;
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  /** The stream span's traceparent ('' when tracing is off): a resume's span links to it. */
  readonly trace: string;
  readonly #budget: Budget;
  readonly #maxBytes: number;
  /** Blocks in order, oldest first, and the byte offset where each starts. */
  #blocks: Uint8Array[] = [];
  #offsets: number[] = [];
  /** The memory each block takes (what the replica's budget is charged for it). */
  #memories: number[] = [];
  /** The last block, while pieces are still copied into it, and how much of it is filled. */
  #open: Uint8Array | null = null;
  #fill = 0;
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

  /** The hot path's one call per piece sent to the owner's client: the piece copied (or kept), readers told. */
  append(chunk: Uint8Array): void {
    const n = chunk.length;
    if (this.#state !== 'live' || n === 0) return;
    let open = this.#open;
    if (open !== null && this.#fill + n <= open.length) {
      open.set(chunk, this.#fill);
      this.#fill += n;
    } else {
      // The open block is sealed at what it holds (a view; its memory stays charged until it leaves the window).
      if (open !== null) this.#blocks[this.#blocks.length - 1] = open.subarray(0, this.#fill);
      if (n >= keepAsIs) {
        this.#open = null;
        this.#add(chunk, n);
      } else {
        open = Buffer.allocUnsafeSlow(Math.min(maxBlock, Math.max(minBlock, n, this.#length - this.#start)));
        open.set(chunk, 0);
        this.#open = open;
        this.#fill = n;
        this.#add(open, open.length);
      }
    }
    this.#length += n;
    if (this.#length - this.#start > this.#maxBytes || this.#budget.over) this.#trim();
    if (this.#readers.size > 0) for (const r of this.#readers) r.more();
  }

  #add(block: Uint8Array, memory: number): void {
    this.#blocks.push(block);
    this.#offsets.push(this.#length);
    this.#memories.push(memory);
    this.#budget.add(memory);
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
    let memory = 0;
    for (const m of this.#memories) memory += m;
    this.#budget.add(-memory);
    this.#start = this.#length;
    this.#blocks = [];
    this.#offsets = [];
    this.#memories = [];
    this.#open = null;
    if (this.#state === 'live') this.#state = 'failed';
    for (const r of this.#readers) r.more();
  }

  follow(r: TapeReader): void { this.#readers.add(r); }
  unfollow(r: TapeReader): void { this.#readers.delete(r); }

  /**
   * The output from `offset` to the end of its block (a view, no copy: bytes once written are never changed), or
   * null when the reader is caught up. The caller checks `offset >= start` first: output before the window is gone.
   */
  at(offset: number): Uint8Array | null {
    if (offset >= this.#length || offset < this.#start) return null;
    // Readers mostly read the last block: search from the end.
    const offsets = this.#offsets;
    let i = offsets.length - 1;
    while (offsets[i]! > offset) i--;
    const block = this.#blocks[i]!;
    const end = block === this.#open ? this.#fill : block.length;
    const skip = offset - offsets[i]!;
    return skip === 0 && end === block.length ? block : block.subarray(skip, end);
  }

  /** Oldest blocks out until this stream is within its bound and the replica within its own (the last block stays). */
  #trim(): void {
    let freed = 0;
    while (this.#blocks.length > 1 && (this.#length - this.#start > this.#maxBytes || this.#budget.overBy(freed))) {
      this.#blocks.shift();
      this.#offsets.shift();
      this.#start = this.#offsets[0]!;
      freed += this.#memories.shift()!;
    }
    this.#budget.add(-freed);
  }
}
