// The data plane's proxy: decides whether a request starts a stream (see startsStream), forwards it through the
// upstream pool, and wires each exchange to the registry, the coordinator and the metrics.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Pool } from 'undici';
import type { Coordinator } from '../cancel/coordinator.ts';
import { isValidId, type StreamRef } from '../cancel/keys.ts';
import { forcedDialect, routeMatches, type Config } from '../config.ts';
import { StoplineError } from '../errors.ts';
import { hasBody, isJson, parseJson, readBody } from '../http/body.ts';
import { mapLocations, upstreamRequestHeaders } from '../http/headers.ts';
import { needsJson, readId } from '../http/ids.ts';
import type { Logger } from '../log.ts';
import { upstreamFailureLog } from './upstream-failures.ts';
import type { Metrics, StreamOutcome } from '../observability/metrics.ts';
import type { Hub } from '../resume/hub.ts';
import { eventSource, position, type Resumer } from '../resume/resume-api.ts';
import type { Registry } from '../streams/registry.ts';
import { untracedStream, type Tracing } from '../tracing/spans.ts';
import type { CancelAuth } from '../http/cancel-auth.ts';
import { requestShape } from './dialects/detect.ts';
import type { RequestShape } from './dialects/dialect.ts';
import { StreamEnding } from './dialects/ending.ts';
import { Exchange, type ExchangeHooks } from './exchange.ts';
import { tunnel, Tunnels } from './tunnel.ts';
import type { Duplex } from 'node:stream';
import { Framer, framingOf } from './framing.ts';

const isEventSource = (req: IncomingMessage) => (req.headers.accept ?? '').includes('text/event-stream');
const asksForStream = /text\/event-stream|application\/(x-)?ndjson|application\/jsonl/i;

/**
 * Which requests start a stream, and so are registered before their response (a pending or early cancel stops
 * them, a second one with the same live ids gets 409, an EventSource reconnect to a stopped message gets 204):
 * - on a route listed in STOPLINE_STREAM_ROUTES, every request that carries a session id;
 * - under the catch-all `*`, a request with a session id that asks for a stream: by its `Accept` (SSE or NDJSON), by
 *   `"stream": true` in its JSON body, or by a body whose shape is a streaming API's (an AI SDK chat request's
 *   `trigger`, Ollama's /api/chat and /api/generate, which stream unless told not to).
 * Any other request with ids is proxied untouched but for the `x-session-id`/`x-message-id` headers (never 409, 204
 * or a synthetic ending); if its response turns out to be a stream it is tracked from then on, so it can still be
 * stopped, and its upstream generated it under the message id the client is given.
 */
function startsStream(req: IncomingMessage, json: unknown, listed: boolean, shape: RequestShape): boolean {
  if (listed || shape.dialect !== null) return true;
  const accept = req.headers.accept;
  if (accept !== undefined && asksForStream.test(accept)) return true;
  return json !== null && typeof json === 'object' && (json as { stream?: unknown }).stream === true;
}

export class Relay {
  readonly #c: Config;
  readonly #upstream: Pool;
  readonly #registry: Registry<Exchange>;
  readonly #coordinator: Coordinator;
  readonly #m: Metrics;
  readonly #log: Logger;
  readonly #hooks: ExchangeHooks;
  readonly #jsonIds: boolean;
  readonly #upstreamHost: string;
  readonly #tracing: Tracing;
  /** The stream routes other than the catch-all `*`: a request on one of them starts a stream whatever it asks. */
  readonly #listedRoutes: Config['streamRoutes'];
  /** The open upgraded connections (WebSocket...): shutdown waits for them, then closes them. */
  readonly tunnels = new Tunnels();
  /** The replica's resumable streams; null when resume is off. */
  hub: Hub | null = null;
  resumer: Resumer | null = null;
  /** Read on every new request: a cached flag, not a lookup (set once on SIGTERM). */
  draining = false;

  readonly #auth: CancelAuth;

  constructor(config: Config, upstream: Pool, registry: Registry<Exchange>, coordinator: Coordinator, metrics: Metrics, log: Logger, tracing: Tracing, auth: CancelAuth) {
    this.#c = config;
    this.#auth = auth;
    this.#tracing = tracing;
    this.#upstream = upstream;
    this.#registry = registry;
    this.#coordinator = coordinator;
    this.#m = metrics;
    this.#log = log;
    this.#jsonIds = needsJson(config.sessionIdFrom) || needsJson(config.messageIdFrom);
    this.#upstreamHost = config.upstream.host;
    this.#listedRoutes = config.streamRoutes.filter((r) => !(r.method === '*' && r.prefix && r.path === '/'));
    this.#hooks = {
      firstByte: (s) => metrics.firstByte.observe(s),
      ...(config.preserveHost ? {} : { mapHeaders: (req, out) => mapLocations(out, config.upstream.origin, req) }),
      adopt: (x) => this.#adopt(x as Exchange & { ref: StreamRef }),
      upstreamFailed: upstreamFailureLog(log, config.upstream.origin),
      streamStarted: (x, status, headers) => {
        if (!x.resumable || this.hub === null || x.ref === null) return;
        const tape = x.tape = this.hub.open(x.ref, status, headers, x.trace);
        if (x.eventSource && framingOf(String(headers['content-type'] ?? '')) === 'sse') tape.ids = new Framer('sse');
      },
      detached: (x) => this.hub !== null && x.tape !== null && this.hub.detach(x.tape, () => x.abandon()),
      notAStream: (x) => {
        (x as Exchange).span.end('not_a_stream', 0, 0);
        // Only a registered stream start has anything to clear (a late candidate's ids may be another live stream's).
        if (!this.#registry.remove(x as Exchange & { ref: StreamRef })) return;
        this.#m.streamsActive.dec();
        this.#coordinator.streamEnded(x as Exchange & { ref: StreamRef }, 'completed');
      },
      streamEnded: (x, outcome) => this.#ended(x as Exchange & { ref: StreamRef }, outcome),
      ...(config.cancelMode === 'per-chunk' && config.redis.mode !== 'memory' ? { checkChunk: coordinator.checkChunk } : {}),
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (!routeMatches(this.#c.streamRoutes, method, path)) { this.#forward(req, res, null, undefined); return; }

    let body: Buffer | undefined;
    let json: unknown;
    if (this.#jsonIds && hasBody(req) && isJson(req)) {
      body = await readBody(req, this.#c.maxBodyBytes);
      json = parseJson(body);
    }
    const params = query === '' ? null : new URLSearchParams(query);
    const sessionId = readId(this.#c.sessionIdFrom, req.headers, params, json);
    if (sessionId === undefined || !isValidId(sessionId)) { this.#forward(req, res, null, body); return; }
    const messageId = readId(this.#c.messageIdFrom, req.headers, params, json) ?? randomUUID();
    if (!isValidId(messageId)) { this.#forward(req, res, null, body); return; }
    const shape = requestShape(path, json);
    const ending = new StreamEnding(shape, forcedDialect(this.#c.dialectRoutes, method, path));
    if (!startsStream(req, json, this.#listedRoutes.length > 0 && routeMatches(this.#listedRoutes, method, path), shape)) {
      this.#forward(req, res, { sessionId, messageId }, body, ending, false);
      return;
    }

    // An EventSource reconnect (the same request with Last-Event-ID) to a stream still held somewhere: followed
    // from there. A stream no replica holds any more is a new request, as it always was.
    const resume = this.#c.resume;
    if (this.resumer !== null && resume !== null && req.headers['last-event-id'] !== undefined && routeMatches(resume.routes, method, path)) {
      try {
        await this.resumer.follow(req, res, { sessionId, messageId }, position(req, query));
        return;
      } catch (err) {
        if (!(err instanceof StoplineError) || err.code !== 'not_found') throw err;
      }
    }
    if (this.draining) throw new StoplineError('shutting_down', 'This replica is shutting down; retry on another');
    if (this.#registry.size >= this.#c.maxStreams) throw new StoplineError('too_many_streams', `This replica already holds ${this.#c.maxStreams} streams`);
    this.#forward(req, res, { sessionId, messageId }, body, ending);
  }

  /** Whether handle() reads this request's body itself (for ids in JSON), and so bounds it by STOPLINE_MAX_BODY_BYTES. */
  readsBody(req: IncomingMessage): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    return this.#jsonIds && isJson(req) && !url.startsWith('/stopline/') && routeMatches(this.#c.streamRoutes, req.method ?? 'GET', q < 0 ? url : url.slice(0, q));
  }

  /** An HTTP/1.1 upgrade request: tunnelled to the upstream, never a tracked stream; refused while draining. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.draining) { refuseUpgrade(socket, 503, 'Service Unavailable'); return; }
    tunnel(req, socket, head, this.#upstream, this.#c, this.tunnels, this.#m, this.#tracing.enabled);
  }

  /** `start`: a stream start, registered now; otherwise a request with ids is only tracked if its response is a stream. */
  #forward(req: IncomingMessage, res: ServerResponse, ref: StreamRef | null, body: Buffer | undefined, ending?: StreamEnding, start = true): void {
    const ids: Record<string, string> = ref === null ? {} : { 'x-session-id': ref.sessionId, 'x-message-id': ref.messageId };
    const span = ref === null ? untracedStream : this.#tracing.stream(ref.sessionId, ref.messageId);
    // The response also carries the cancel tokens (token mode); the upstream request carries the ids only.
    const responseHeaders = ref === null || this.#auth.mode !== 'token' ? ids : { ...ids, ...this.#auth.streamHeaders(ref.sessionId, ref.messageId) };
    const x = new Exchange(req, res, this.#hooks, ref, span, responseHeaders);
    const resume = this.#c.resume;
    if (ref !== null && resume !== null) {
      x.resumable = routeMatches(resume.routes, req.method ?? 'GET', (req.url ?? '/').split('?')[0]!);
      x.eventSource = x.resumable && eventSource(req);
    }
    if (ending !== undefined) x.endsAs(ending);
    // A request that may still turn out to be a stream carries the ids upstream too: a message id made here must be
    // the one the upstream generates under, should its response be tracked.
    span.run(() => start ? this.#dispatch(req, x, ref, ids, body) : this.#send(req, x, ids, body, false));
  }

  /**
   * A response turned out to be a stream: a stream start is tracked already; a late candidate is registered now,
   * unless its ids are those of a live stream or this replica takes no more streams (then it is proxied untracked).
   */
  #adopt(x: Exchange & { ref: StreamRef }): boolean {
    if (this.#registry.get(x.ref) === x) return true;
    if (this.draining || this.#registry.size >= this.#c.maxStreams || this.#registry.add(x) !== undefined) return false;
    this.#m.streamsActive.inc();
    void this.#coordinator.streamStarted(x);
    return true;
  }

  #dispatch(req: IncomingMessage, x: Exchange, ref: StreamRef | null, ids: Record<string, string>, body: Buffer | undefined): void {
    const res = x.response;
    if (ref !== null) {
      const existing = this.#registry.add(x as Exchange & { ref: StreamRef });
      if (existing !== undefined) {
        const msg = JSON.stringify({ error: 'duplicate_stream', message: `A stream with session "${ref.sessionId}" and message "${ref.messageId}" is already live` });
        x.span.end('duplicate', 0, 0);
        res.writeHead(409, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(msg) }).end(msg);
        return;
      }
      this.#m.streamsActive.inc();
      const eventSource = req.method === 'GET' && isEventSource(req);
      const registered = this.#coordinator.streamStarted(x as Exchange & { ref: StreamRef }, eventSource);
      if (eventSource) {
        // A browser's EventSource reconnects by itself to a stream that ended, with the same ids. For this kind of
        // request alone the registration is awaited (bounded by STOPLINE_REDIS_TIMEOUT_MS, failing open) before
        // the upstream is called: a message that was stopped answers 204, which ends the EventSource for good,
        // instead of being generated again.
        void registered.then((result) => {
          // The client may have left (or a cancel stopped it) meanwhile: its end was counted then, not again here.
          if (x.ended) return;
          if (result !== 'already_stopped') { this.#send(req, x, ids, body, true); return; }
          if (this.#registry.remove(x as Exchange & { ref: StreamRef })) this.#m.streamsActive.dec();
          x.refuse(204, 'already_stopped');
        });
        return;
      }
    }
    this.#send(req, x, ids, body, ref !== null);
  }

  /** `start`: a stream start, which asks for an unencoded answer; any other request keeps its Accept-Encoding. */
  #send(req: IncomingMessage, x: Exchange, ids: Record<string, string>, body: Buffer | undefined, start: boolean): void {
    const headers = upstreamRequestHeaders(req, this.#upstreamHost, ids, this.#tracing.enabled, this.#c.preserveHost);
    if (body !== undefined) { headers['content-length'] = String(body.length); delete headers['transfer-encoding']; }
    // A stream start asks the upstream (on loopback, in the same pod) for an unencoded answer: events are framed on
    // plain bytes and relayed as they come, and a stop can end the stream validly. Compression is the ingress' job.
    // (A stream that comes back encoded anyway is decoded, see exchange.ts.)
    if (start) headers['accept-encoding'] = 'identity';
    const method = req.method ?? 'GET';
    const streamBody = body === undefined && hasBody(req);
    this.#upstream.dispatch({
      path: req.url ?? '/',
      method,
      headers,
      body: body ?? (streamBody ? req : null),
    }, x);
  }

  #ended(x: Exchange & { ref: StreamRef }, outcome: StreamOutcome): void {
    // Only the exchange the registry holds is the live stream (a refused duplicate with the same ids is not).
    if (!this.#registry.remove(x)) return;
    this.#m.streamsActive.dec();
    x.span.end(outcome, x.chunks, x.bytes, x.dialect);
    this.#m.relayed.chunks += x.chunks;
    this.#m.relayed.bytes += x.bytes;
    this.#m.streamsTotal.inc({ outcome, dialect: x.dialect });
    this.#m.streamDuration.observe({ outcome }, (performance.now() - x.startedAt) / 1000);
    this.#coordinator.streamEnded(x, outcome);
    if (x.tape !== null) this.hub?.ended(x.tape, outcome);
    if (outcome === 'cancelled' && this.#c.upstreamCancelPath !== undefined) this.#upstreamCancel(x.ref);
  }

  /** Lets the AI service run its own clean-up: its existing cancel path, called on the owner replica. */
  #upstreamCancel(ref: StreamRef): void {
    const body = JSON.stringify({ session_id: ref.sessionId, message_id: ref.messageId });
    this.#upstream.request({
      path: this.#c.upstreamCancelPath!,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-session-id': ref.sessionId, 'x-message-id': ref.messageId },
      body,
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
    }).then(
      (r) => r.body.dump(),
      (err: unknown) => this.#log.warn('upstream cancel path failed', { err, path: this.#c.upstreamCancelPath }),
    );
  }

  /** Drain's last step: stop what is still live, with the terminal event (each stop leaves the registry at once). */
  stopAll(): void {
    for (const x of [...this.#registry.all()]) void x.stop('shutdown');
  }
}

/** An upgrade answered by stopline itself (the socket has no response object): a bare status, then close. */
export function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.on('error', () => {});
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}
