// Undoing the content coding of a tracked stream whose upstream compressed it anyway, so that its events can be
// framed on plain bytes and a stop can end it validly (as Envoy's decompressor filter does). The decompressor is
// Node's streaming zlib, flushing what each upstream chunk holds at once; it sits between the upstream (which it
// pauses when its input is full) and the relay (which pauses it when the client is slow), so order and
// backpressure hold across it. Only tracked streams are decoded; every other response passes as it came.
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';

export type Coding = 'gzip' | 'deflate' | 'br' | 'zstd';

/**
 * The one coding of a response's Content-Encoding that stopline can decode; 'identity' for none; 'unknown' for
 * anything else (an unknown coding, or several applied in turn).
 */
export function codingOf(contentEncoding: string | string[] | undefined): Coding | 'identity' | 'unknown' {
  if (contentEncoding === undefined) return 'identity';
  const list = (Array.isArray(contentEncoding) ? contentEncoding.join(',') : contentEncoding).split(',');
  let coding: Coding | 'identity' = 'identity';
  for (const raw of list) {
    const c = raw.trim().toLowerCase();
    if (c === '' || c === 'identity') continue;
    if (coding !== 'identity') return 'unknown';
    if (c === 'gzip' || c === 'x-gzip') coding = 'gzip';
    else if (c === 'deflate' || c === 'br' || c === 'zstd') coding = c;
    else return 'unknown';
  }
  return coding;
}

/**
 * Whether the client's Accept-Encoding refuses an unencoded response (RFC 9110 §12.5.3): `identity;q=0`, or `*;q=0`
 * without `identity` listed. No common client sends either.
 */
export function refusesIdentity(acceptEncoding: string | string[] | undefined): boolean {
  if (acceptEncoding === undefined) return false;
  let star: boolean | null = null;
  for (const item of (Array.isArray(acceptEncoding) ? acceptEncoding.join(',') : acceptEncoding).split(',')) {
    const [name = '', ...params] = item.split(';');
    const coding = name.trim().toLowerCase();
    if (coding !== 'identity' && coding !== '*') continue;
    let zero = false;
    for (const p of params) {
      const [k = '', v = ''] = p.split('=');
      if (k.trim().toLowerCase() === 'q') zero = Number(v.trim()) === 0;
    }
    if (coding === 'identity') return zero;
    star = zero;
  }
  return star === true;
}

/** What a decoder hands on: decoded pieces in order, its end, a broken body, and room again for upstream chunks. */
export interface DecoderSink {
  decoded(piece: Buffer): void;
  decodedEnd(): void;
  decodeFailed(err: Error): void;
  decoderDrained(): void;
}

const noop = (): void => {};

/**
 * One stream's decompressor. Made on the first body byte (an empty body has nothing to decode); for `deflate` the
 * first two bytes choose between the zlib format RFC 9110 means and the raw deflate some servers send, as browsers
 * do. `pause`/`resume`/`paused` hold back its output for a slow client, the way the upstream's controller does.
 */
export class Decoder {
  readonly coding: Coding;
  readonly #sink: DecoderSink;
  #z: Transform | null = null;
  /** The first byte of a deflate body, while the second that decides its format has not come. */
  #head: Buffer | null = null;
  #paused = false;
  #closed = false;

  constructor(coding: Coding, sink: DecoderSink) {
    this.coding = coding;
    this.#sink = sink;
  }

  get paused(): boolean { return this.#paused; }

  pause(): void {
    this.#paused = true;
    this.#z?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#z?.resume();
  }

  /** Feeds an upstream chunk; false when the decompressor's input is full (pause the upstream until drained). */
  write(chunk: Buffer): boolean {
    if (this.#closed) return true;
    let z = this.#z;
    if (z === null) {
      if (this.coding === 'deflate') {
        const head = this.#head === null ? chunk : Buffer.concat([this.#head, chunk]);
        if (head.length < 2) { this.#head = head; return true; }
        this.#head = null;
        chunk = head;
      }
      z = this.#open(chunk);
    }
    return z.write(chunk);
  }

  /** The upstream's body is complete: the rest is decoded, then `decodedEnd` (or `decodeFailed` for a cut body). */
  end(): void {
    if (this.#closed) return;
    const head = this.#head;
    this.#head = null;
    if (head !== null) this.#open(head).end(head);
    else if (this.#z !== null) this.#z.end();
    else { this.#closed = true; this.#sink.decodedEnd(); }
  }

  /** Drops what is still being decoded and frees the decompressor; nothing is handed on after it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const z = this.#z;
    if (z === null) return;
    z.removeAllListeners('data');
    z.removeAllListeners('end');
    z.removeAllListeners('drain');
    z.removeAllListeners('error');
    z.on('error', noop);
    z.destroy();
  }

  #open(first: Buffer): Transform {
    const z = this.#z = create(this.coding, first);
    const sink = this.#sink;
    z.on('data', (piece: Buffer) => sink.decoded(piece));
    z.on('drain', () => sink.decoderDrained());
    z.once('end', () => { this.#closed = true; sink.decodedEnd(); });
    z.once('error', (err: Error) => {
      this.close();
      sink.decodeFailed(new Error(`Upstream body is not valid ${this.coding}: ${err.message}`, { cause: err }));
    });
    if (this.#paused) z.pause();
    return z;
  }
}

// Each decompressor flushes what a chunk holds at once (Z_SYNC_FLUSH and its kin), so an upstream's per-event flush
// reaches the client as one event. A body cut short still fails at its end (the finish flush stays Z_FINISH).
function create(coding: Coding, first: Buffer): Transform {
  const c = zlib.constants;
  switch (coding) {
    case 'gzip': return zlib.createGunzip({ flush: c.Z_SYNC_FLUSH });
    case 'deflate': return isZlibHeader(first) ? zlib.createInflate({ flush: c.Z_SYNC_FLUSH }) : zlib.createInflateRaw({ flush: c.Z_SYNC_FLUSH });
    case 'br': return zlib.createBrotliDecompress({ flush: c.BROTLI_OPERATION_FLUSH });
    case 'zstd': return zlib.createZstdDecompress({ flush: c.ZSTD_e_flush });
  }
}

/** RFC 1950's two header bytes: compression method 8 (deflate), and a check making them a multiple of 31. */
function isZlibHeader(b: Buffer): boolean {
  return (b[0]! & 0x0f) === 8 && ((b[0]! << 8) | b[1]!) % 31 === 0;
}
