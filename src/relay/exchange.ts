// One proxied exchange: the upstream request (an undici dispatch handler) and the client's response, relayed chunk
// by chunk. This is the hot path: onResponseData writes the chunk and, when the client's socket is full, pauses
// the upstream until 'drain'. No Redis call, no log line; per chunk, one pooled buffer (the chunk framed for the
// client) and, when an event is split across chunks, a subarray view.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { StreamRef } from '../cancel/keys.ts';
import { upstreamError } from '../errors.ts';
import { clientResponseHeaders } from '../http/headers.ts';
import type { StreamOutcome } from '../observability/metrics.ts';
import type { Tape } from '../resume/tape.ts';
import type { StopResult } from '../streams/registry.ts';
import type { StreamTrace } from '../tracing/spans.ts';
import type { DialectName } from './dialects/dialect.ts';
import { noShape } from './dialects/detect.ts';
import { StreamEnding } from './dialects/ending.ts';
import { Framer, framingOf } from './framing.ts';
import { codingOf, Decoder, refusesIdentity, type DecoderSink } from './decoding.ts';

type Controller = Dispatcher.DispatchController;
/** What the relay pauses when the client is slow: the upstream, or the decoder in front of it (see decoding.ts). */
type Source = Pick<Controller, 'pause' | 'resume' | 'paused'>;
export type StopReason = 'cancelled' | 'shutdown';

/** What an exchange reports to the rest of stopline; the relay supplies it. */
export interface ExchangeHooks {
  /** The response is a stream: may it be tracked? (A request that did not start a stream is registered now.) */
  adopt(x: Exchange): boolean;
  /** The response turned out to be a stream: it is now a tracked stream (its head as the client gets it). */
  streamStarted(x: Exchange, status: number, headers: OutgoingHttpHeaders): void;
  /** A resumable stream's client went away: true when the generation runs on detached (see src/resume/hub.ts). */
  detached?: (x: Exchange) => boolean;
  /** A tracked candidate whose response was not a stream: forget it. */
  notAStream(x: Exchange): void;
  /**
   * A tracked stream's outcome is decided, once: it completed, was stopped, failed or lost its client. Called at that
   * moment (the response may still be flushing to the client): from here on the stream is not live.
   */
  streamEnded(x: Exchange, outcome: StreamOutcome): void;
  /** Per-chunk mode only: ask Redis before each chunk (the old design, kept for comparison). */
  checkChunk?: (x: Exchange) => Promise<boolean>;
  firstByte(seconds: number): void;
  /** Set when the upstream gets its own Host: maps the response's redirects back to the client's host. */
  mapHeaders?: (req: IncomingMessage, out: Record<string, string | string[]>) => void;
  /** The upstream request failed (unreachable, timed out, reset): reported, rate limited. */
  upstreamFailed?: (e: ReturnType<typeof upstreamError>) => void;
}

// A client that does not read the terminal event within this time is cut off, so a stop always completes.
const endGraceMs = 5_000;
// An event bigger than this, split over chunks, is forwarded as it comes rather than held back whole.
const maxHeldBytes = 64 * 1024;
// Chunks up to this size are framed into one buffer (a copy) and written in one call; bigger ones go out as three.
const maxFramedCopy = 16 * 1024;
const hexDigits = Buffer.from('0123456789abcdef', 'latin1');
const crlf = Buffer.from('\r\n', 'latin1');

export class Exchange implements Dispatcher.DispatchHandler, DecoderSink {
  readonly ref: StreamRef | null;
  readonly startedAt = performance.now();
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #hooks: ExchangeHooks;
  readonly #extraHeaders: Record<string, string>;
  #controller: Controller | null = null;
  /** The client's socket, once the response head is on it and the body is chunked: chunks are framed here. */
  #socket: Socket | null = null;
  #socketDrainWanted = false;
  /** A tracked stream the upstream encoded anyway: its body is decoded before it is framed (see decoding.ts). */
  #decoder: Decoder | null = null;
  /** A tracked stream relayed encoded, in a coding stopline cannot undo: a stop cuts its connection. */
  #opaque = false;
  #framer: Framer | null = null;
  /** How this stream ends when stopped, in its API's dialect (see #send for what it sees). */
  #ending: StreamEnding | null = null;
  #held: Uint8Array[] | null = null;
  #heldBytes = 0;
  /** The client has part of an event and not its end (an event over maxHeldBytes, forwarded as it comes). */
  #inEvent = false;
  /** A stop that came while the client was inside an event: the event is relayed to its end, then the ending. */
  #finishing: StopReason | null = null;
  #finishTimer: NodeJS.Timeout | null = null;
  /** Set once: why this exchange ends. Read on the hot path to ignore late upstream events. */
  #outcome: StreamOutcome | null = null;
  #tracked = false;
  /** A candidate whose response was not a stream, already reported as such. */
  #forgotten = false;
  #checking = false;
  #queue: Uint8Array[] | null = null;
  /** Per-chunk mode: the upstream ended while a chunk was under check; the end follows that chunk. */
  #upstreamEnded = false;
  #closed: Promise<void>;
  #resolveClosed!: () => void;
  /** How the stop reached this replica (pubsub, poll, local, chunk, peer): reported with the confirmation. */
  stopVia = '';
  /** This stream's chunks and bytes (its span; the replica's counters are summed from these). */
  chunks = 0;
  bytes = 0;
  /** On a resume route: whether this stream keeps its output for followers, and where (src/resume/). */
  resumable = false;
  /** On a resume route, the client is an EventSource (it gets `id:` blocks to reconnect with). */
  eventSource = false;
  tape: Tape | null = null;

  readonly span: StreamTrace;

  constructor(req: IncomingMessage, res: ServerResponse, hooks: ExchangeHooks, ref: StreamRef | null, span: StreamTrace, extraHeaders: Record<string, string>) {
    this.#req = req;
    this.#res = res;
    this.#hooks = hooks;
    this.ref = ref;
    this.span = span;
    this.#extraHeaders = extraHeaders;
    // The generic ending until the relay gives the request's own (endsAs).
    if (ref !== null) this.#ending = new StreamEnding(noShape, null);
    this.#closed = new Promise((resolve) => { this.#resolveClosed = resolve; });
    res.on('close', this.#onClientClose);
    res.on('drain', this.#onDrain);
  }

  /** The stream span's traceparent ('' when tracing is off), kept with the stream's registration. */
  get trace(): string { return this.span.traceparent; }
  get tracked(): boolean { return this.#tracked; }
  get response(): ServerResponse { return this.#res; }
  get ended(): boolean { return this.#outcome !== null; }
  /** The stream's dialect (the metric label): detected, forced for its route, or implied by its request. */
  get dialect(): DialectName { return this.#ending?.name ?? 'none'; }

  /** A tracked candidate's ending, with what its request implies and its route forces; set before the upstream is called. */
  endsAs(ending: StreamEnding): void { this.#ending = ending; }

  // ---- undici dispatch handler ----

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    if (this.#outcome !== null) controller.abort(new Error(`stopline: ${this.#outcome}`));
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.#outcome !== null) return;
    if (statusCode < 200) { this.#informational(statusCode, headers); return; }
    this.#hooks.firstByte((performance.now() - this.startedAt) / 1000);
    const res = this.#res;
    const out = clientResponseHeaders(headers);
    this.#hooks.mapHeaders?.(this.#req, out);
    const ct = headers['content-type'];
    const declared = framingOf(Array.isArray(ct) ? ct[0] : ct);
    let kind = declared;
    const isStream = this.ref !== null && statusCode < 300 && statusCode >= 200 &&
      (declared !== 'none' || (headers['content-length'] === undefined && isChunked(headers['transfer-encoding']))) &&
      this.#hooks.adopt(this);
    if (isStream) {
      this.#tracked = true;
      const coding = codingOf(headers['content-encoding']);
      if (coding !== 'identity') {
        if (coding !== 'unknown' && !refusesIdentity(this.#req.headers['accept-encoding'])) {
          // Encoded anyway (the upstream ignored `identity`, or a request that did not start a stream): decoded here
          // and relayed unencoded, so that it is framed, ended and resumed like any other stream.
          this.#decoder = new Decoder(coding, this);
          delete out['content-encoding'];
        } else {
          // A coding stopline cannot undo, or a client that refuses identity: relayed as it comes, unframed, with
          // no ending (it would land inside the encoded body); a stop cuts the connection (see #end).
          this.#opaque = true;
          kind = 'none';
          this.#ending = new StreamEnding(noShape, null);
        }
      }
      this.#framer = new Framer(this.#ending?.started(kind, headers) ?? kind);
      Object.assign(out, this.#extraHeaders);
      // A stop changes the length: a tracked stream is relayed chunked (close-delimited to HTTP/1.0), so that a
      // stopped one still ends cleanly instead of leaving the client waiting for the declared bytes.
      delete out['content-length'];
      if (kind === 'sse' && out['x-accel-buffering'] === undefined) out['x-accel-buffering'] = 'no';
      this.#hooks.streamStarted(this, statusCode, out);
    } else if (this.ref !== null) {
      this.#forgotten = true;
      this.#hooks.notAStream(this);
    }
    res.writeHead(statusCode, out);
    if (isStream) {
      res.flushHeaders();
      // The head is on the socket and nothing waits in the response's own buffer (a pipelined response that is not
      // yet its connection's turn has no socket): from here on, body chunks can be framed and written by us, one
      // write call per chunk instead of four through the response (see #send).
      const socket = res.socket;
      if (socket !== null && res.chunkedEncoding && res.writableLength === socket.writableLength) this.#socket = socket;
    }
  }

  /**
   * A 1xx before the response: `103 Early Hints` is forwarded to an HTTP/1.1 client (the final response follows
   * as usual); any other is dropped (`100 Continue` is stopline's own to send, and undici never passes one on).
   */
  #informational(statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    const res = this.#res;
    const link = headers.link;
    if (statusCode !== 103 || link === undefined || res.headersSent || this.#req.httpVersionMinor < 1) return;
    try {
      res.writeEarlyHints({ link });
    } catch {
      // Hints Node will not write (a malformed link) are dropped: they are only hints.
    }
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    const decoder = this.#decoder;
    if (decoder !== null) { if (!decoder.write(chunk)) controller.pause(); return; }
    this.#relay(controller, chunk);
  }

  /** One piece of the body as the client gets it (decoded, for a stream the upstream encoded): relayed, or dropped once the outcome is set. */
  #relay(controller: Source, chunk: Buffer): void {
    if (this.#outcome !== null) {
      // Only a stop that waits for the end of an event the client is inside still relays (never the common case).
      if (this.#finishing !== null) {
        if (this.#checking) (this.#queue ??= []).push(chunk);
        else if (!this.#toBoundary(chunk)) controller.pause();
      }
      return;
    }
    if (this.#tracked) {
      this.chunks++;
      this.bytes += chunk.length;
      if (this.#hooks.checkChunk !== undefined) { this.#checkThenWrite(controller, chunk); return; }
    }
    // Framed by #send, a chunk is one socket write. Through the response, it is corked around the write so that
    // it goes out at uncork, in this turn of the event loop: otherwise Node's response corks the socket itself and
    // uncorks it in a process.nextTick, one more callback per chunk.
    const socket = this.#socket === null ? this.#res.socket : null;
    socket?.cork();
    const ok = this.#write(chunk);
    socket?.uncork();
    if (!ok) controller.pause();
  }

  onResponseEnd(): void {
    const decoder = this.#decoder;
    if (decoder !== null) { decoder.end(); return; } // the rest of the body is decoded first, then decodedEnd
    this.#upstreamEnd();
  }

  #upstreamEnd(): void {
    // A close-delimited body ends even while the upstream is paused: the chunk under check goes out first.
    if (this.#checking) { this.#upstreamEnded = true; return; }
    if (this.#outcome !== null) {
      // The upstream ended inside the event the client is in: end there (no ending can be written into it).
      if (this.#finishing !== null) this.#endStop(this.#finishing);
      return;
    }
    this.#outcome = 'completed';
    this.#flushHeld();
    this.tape?.end();
    this.#res.end();
    this.#report('completed');
  }

  onResponseError(_controller: Controller, err: Error): void {
    this.#closeDecoder();
    if (this.#outcome !== null) { // our own abort, the client already gone, or a stop waiting for an event's end
      if (this.#finishing !== null) this.#endStop(this.#finishing);
      return;
    }
    this.#outcome = 'upstream_error';
    this.tape?.fail();
    const res = this.#res;
    const e = upstreamError(err);
    this.#hooks.upstreamFailed?.(e);
    if (!res.headersSent) {
      const body = JSON.stringify({ error: e.code, message: e.message });
      res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else {
      // Headers are out: never pass a broken body off as a clean end. Destroying the response makes the client see
      // a truncated chunked body (or a short Content-Length), which is the truth.
      res.destroy(err);
    }
    this.#report('upstream_error');
  }

  // ---- the decoder's side (DecoderSink) ----

  decoded(piece: Buffer): void { this.#relay(this.#decoder!, piece); }

  decodedEnd(): void {
    this.#decoder = null;
    this.#upstreamEnd();
  }

  /** A corrupt or cut encoded body: as an upstream error (the client's response is destroyed), and the upstream aborted. */
  decodeFailed(err: Error): void {
    this.#decoder = null;
    this.onResponseError(this.#controller!, err);
    this.#controller?.abort(err);
  }

  decoderDrained(): void {
    const c = this.#controller;
    if (c !== null && c.paused && (this.#outcome === null || this.#finishing !== null)) c.resume();
  }

  #closeDecoder(): void {
    const decoder = this.#decoder;
    if (decoder === null) return;
    this.#decoder = null;
    decoder.close();
  }

  // ---- writing ----

  /** Writes a chunk up to its last event boundary and holds the rest (a view, no copy) until the event is whole. */
  #write(chunk: Uint8Array): boolean {
    const framer = this.#framer;
    if (framer === null || framer.kind === 'none') return this.#send(chunk);
    const b = framer.boundary(chunk);
    if (b === chunk.length && this.#held === null) { this.#inEvent = false; return this.#send(chunk); }
    if (b < 0) return this.#hold(chunk);
    // The held part of an event and the rest of it leave in one syscall.
    const socket = this.#socket;
    socket?.cork();
    let ok = this.#flushHeld();
    if (b > 0) ok = this.#send(b === chunk.length ? chunk : chunk.subarray(0, b)) && ok;
    this.#inEvent = false;
    if (b < chunk.length) ok = this.#hold(chunk.subarray(b)) && ok;
    socket?.uncork();
    return ok;
  }

  /**
   * Writes one body chunk. Through the response, a chunk of a chunked body costs four socket writes (size line,
   * CRLF, data, CRLF) gathered into a writev; once the head is out, the same bytes framed here into one buffer are
   * one socket write. The response still writes the last chunk and the trailer at its end.
   */
  #send(chunk: Uint8Array): boolean {
    // Only while its first event is not yet seen, or for a dialect whose ending needs more than that, does the
    // stream's ending see the piece (and keep a reference to it: no copy, no parse).
    const ending = this.#ending;
    if (ending !== null && ending.watching) ending.see(chunk);
    // A resumable stream keeps a reference to what its client is sent; once that client is gone, only that.
    const tape = this.tape;
    if (tape !== null) {
      tape.append(chunk);
      if (tape.detached) return true;
      // An EventSource client on a resume route: an `id:` block after the piece, for its reconnect's Last-Event-ID.
      const id = tape.idAfter(chunk);
      if (id !== null) chunk = Buffer.concat([chunk, id]);
    }
    const socket = this.#socket;
    if (socket === null) return this.#res.write(chunk);
    const n = chunk.length;
    if (n === 0) return true;
    let digits = 1;
    for (let v = n >>> 4; v !== 0; v >>>= 4) digits++;
    let ok: boolean;
    if (n <= maxFramedCopy) {
      const buf = Buffer.allocUnsafe(digits + 4 + n);
      for (let i = digits - 1, v = n; i >= 0; i--, v >>>= 4) buf[i] = hexDigits[v & 15]!;
      buf[digits] = 13;
      buf[digits + 1] = 10;
      buf.set(chunk, digits + 2);
      buf[digits + 2 + n] = 13;
      buf[digits + 3 + n] = 10;
      ok = socket.write(buf);
    } else {
      socket.write(`${n.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write(crlf);
    }
    if (!ok && !this.#socketDrainWanted) {
      this.#socketDrainWanted = true;
      socket.once('drain', this.#onSocketDrain);
    }
    return ok;
  }

  #onSocketDrain = (): void => {
    this.#socketDrainWanted = false;
    this.#onDrain();
  };

  /** Holds part of an event; an event grown past maxHeldBytes is forwarded as it comes, and the client is inside it. */
  #hold(part: Uint8Array): boolean {
    (this.#held ??= []).push(part);
    this.#heldBytes += part.length;
    if (this.#heldBytes <= maxHeldBytes) return true;
    this.#inEvent = true;
    return this.#flushHeld();
  }

  #flushHeld(): boolean {
    const held = this.#held;
    if (held === null) return true;
    this.#held = null;
    this.#heldBytes = 0;
    let ok = true;
    for (const p of held) ok = this.#send(p);
    return ok;
  }

  #checkThenWrite(controller: Source, chunk: Buffer): void {
    if (this.#checking) { (this.#queue ??= []).push(chunk); return; }
    this.#checking = true;
    controller.pause();
    const next = (cancelled: boolean) => {
      this.#checking = false;
      if (cancelled && this.#outcome === null) { this.stopVia = 'chunk'; void this.stop('cancelled'); }
      // Stopped: the chunk under check and those behind it are dropped, unless they finish the event the client is in.
      if (this.#outcome !== null && this.#finishing === null) return;
      const finishing = this.#finishing !== null;
      let ok = finishing ? this.#toBoundary(chunk) : this.#write(chunk);
      const queued = this.#queue;
      this.#queue = null;
      if (queued !== null) for (const c of queued) ok = (finishing ? this.#toBoundary(c) : this.#write(c)) && ok;
      if (this.#upstreamEnded) { this.#upstreamEnded = false; this.#upstreamEnd(); } else if (ok) controller.resume();
    };
    // A failed check fails open: the chunk goes out (the hook counts the error).
    this.#hooks.checkChunk!(this).then(next, () => next(false));
  }

  #onDrain = (): void => {
    const c = this.#decoder ?? this.#controller;
    if (c !== null && c.paused && !this.#checking && (this.#outcome === null || this.#finishing !== null)) c.resume();
  };

  // ---- ending ----

  /** Answers without calling the upstream, and is no stream at all (the registry has already let it go). */
  refuse(status: number, reason: string): void {
    if (this.#outcome !== null) return;
    this.#outcome = 'completed';
    this.#forgotten = true;
    this.span.end(reason, 0, 0);
    this.#res.writeHead(status, this.#extraHeaders).end();
  }

  /**
   * Stops the exchange: writes the terminal event at an event boundary, ends the client's response cleanly, then
   * aborts the upstream request (the AI service sees its client go away). Resolves with what it did once the
   * client's response is closed; a stream that had already ended some other way answers `already_completed` at once.
   * Idempotent.
   */
  stop(reason: StopReason): Promise<StopResult> {
    const outcome = this.#outcome;
    if (outcome !== null) {
      return outcome === 'cancelled' || outcome === 'shutdown' ? this.#closed.then(() => 'stopped') : Promise.resolve('already_completed');
    }
    this.#outcome = reason;
    const res = this.#res;
    if (this.#inEvent && !res.destroyed && !res.writableEnded) {
      // The client is inside an event it has in part (one bigger than maxHeldBytes): an ending written now would
      // land inside it. The event is relayed to its end, then the ending; bounded by endGraceMs, past which the
      // response ends without one. Decided all the same: the stream is no longer live.
      this.#finishing = reason;
      this.#finishTimer = setTimeout(() => this.#endStop(reason), endGraceMs);
    } else {
      this.#endStop(reason);
    }
    this.#report(reason);
    return this.#closed.then(() => 'stopped');
  }

  /** A detached stream that had no follower for its window: the upstream is aborted, as if its client just left. */
  abandon(): void {
    if (this.#outcome !== null) return;
    this.#outcome = 'client_disconnected';
    this.#closeDecoder();
    this.#controller?.abort(new Error('stopline: client disconnected'));
    this.#report('client_disconnected');
  }

  /** Ends the client's response for a stop, then aborts the upstream request. */
  #endStop(reason: StopReason): void {
    this.#finishing = null;
    this.#closeDecoder(); // what it still holds came after the stop
    if (this.#finishTimer !== null) { clearTimeout(this.#finishTimer); this.#finishTimer = null; }
    const res = this.#res;
    if ((!res.destroyed && !res.writableEnded) || this.tape?.detached === true) this.#end(res, reason);
    // The upstream is aborted once the client's end is on its socket: the abort (undici erroring the request and
    // destroying its socket) takes a few hundred microseconds under load, and the client need not wait for it.
    // Nothing of the upstream's can reach the client in between: the outcome is set, and this is one synchronous step.
    this.#controller?.abort(new Error(`stopline: ${reason}`));
  }

  /** While a stop waits for the end of the event the client is in: relays up to that end, then ends the response. */
  #toBoundary(chunk: Uint8Array): boolean {
    const reason = this.#finishing;
    if (reason === null) return true;
    const b = this.#framer!.boundary(chunk);
    let ok = this.#flushHeld();
    if (b < 0) return this.#send(chunk) && ok;
    if (b > 0) ok = this.#send(b === chunk.length ? chunk : chunk.subarray(0, b)) && ok;
    this.#inEvent = false;
    this.#endStop(reason);
    return ok;
  }

  /** Ends the client's response for a stop: the dialect's ending at an event boundary, then the end of the body. */
  #end(res: ServerResponse, reason: StopReason): void {
    const ref = this.ref;
    this.#queue = null;
    // A held partial event is never delivered: the client sees whole events, then the ending. A client inside an
    // event (one forwarded in part, whose end never came) gets no ending written into it.
    const atBoundary = !this.#inEvent;
    this.#held = null;
    this.#heldBytes = 0;
    const ending = this.#ending ??= new StreamEnding(noShape, null);
    const record = { reason, session_id: ref?.sessionId ?? '', message_id: ref?.messageId ?? '' };
    // One end call with the ending: its bytes and the last chunk leave in one write.
    if (!res.headersSent) {
      // Stopped before the upstream answered: a whole stream of the dialect the request implies.
      const early = ending.early(record, this.#req.headers.accept);
      res.writeHead(200, { ...early.headers, ...this.#extraHeaders });
      res.end(ref === null ? undefined : early.body);
    } else if (this.#opaque) {
      // No ending can be written into an encoding stopline cannot undo, and a clean end would pass the cut body off
      // as whole: the connection is cut, so every client sees a truncated body (close-delimited HTTP/1.0 cannot tell).
      this.tape?.fail();
      res.destroy();
      return;
    } else if (ref !== null && this.#framer !== null && atBoundary) {
      const last = ending.ending(record);
      this.tape?.end(last); // followers get the same ending (a detached stream's client is gone: only they do)
      res.end(last);
    } else {
      this.tape?.end();
      res.end();
    }
    const timer = setTimeout(() => res.destroy(), endGraceMs);
    void this.#closed.then(() => clearTimeout(timer));
  }

  /** The outcome is decided: a tracked stream (or a candidate that ended before its response) is no longer live. */
  #report(outcome: StreamOutcome): void {
    if (this.ref !== null && !this.#forgotten) this.#hooks.streamEnded(this, outcome);
  }

  #onClientClose = (): void => {
    this.#res.off('drain', this.#onDrain);
    if (this.#socketDrainWanted) { this.#socketDrainWanted = false; this.#socket?.off('drain', this.#onSocketDrain); }
    this.#socket = null;
    if (this.#finishing !== null) this.#endStop(this.#finishing); // the client left inside the event
    if (this.#outcome === null && this.tape !== null && this.#hooks.detached?.(this) === true) {
      // A resumable stream runs on for its followers: the upstream goes on at its own pace from here.
      if (this.#decoder?.paused === true) this.#decoder.resume();
      if (this.#controller?.paused === true) this.#controller.resume();
    } else if (this.#outcome === null) {
      // The client went away (before or during the stream): abort the upstream at once.
      this.#outcome = 'client_disconnected';
      this.#closeDecoder();
      this.#controller?.abort(new Error('stopline: client disconnected'));
      this.#report('client_disconnected');
    }
    this.#resolveClosed();
  };
}

function isChunked(te: string | string[] | undefined): boolean {
  if (te === undefined) return false;
  return (Array.isArray(te) ? te.join(',') : te).toLowerCase().includes('chunked');
}
