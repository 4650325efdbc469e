// The data plane: paths under /stopline/ are stopline's own and never proxied; the configured cancel routes are
// answered by the cancel handler; everything else goes to the relay.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Coordinator } from '../cancel/coordinator.ts';
import { routeMatches, type Config } from '../config.ts';
import { StoplineError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../observability/metrics.ts';
import { refuseUpgrade, type Relay } from '../relay/relay.ts';
import { streamsPath, type Resumer } from '../resume/resume-api.ts';
import { activeRouteSession } from '../resume/settings.ts';
import { handleCancel } from './cancel-api.ts';
import type { CancelAuth, RateLimiter } from './cancel-auth.ts';
import { sendError } from './respond.ts';

export function createDataServer(config: Config, relay: Relay, coordinator: Coordinator, metrics: Metrics, log: Logger, auth: CancelAuth, limiter: RateLimiter, resumer: Resumer | null = null): Server {
  const activeRoute = config.resume?.activeRoute ?? null;
  const cancel = (req: IncomingMessage, res: ServerResponse, query: string, own: boolean) => handleCancel(req, res, query, { config, coordinator, metrics, auth, limiter, own });
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';
    // HTTP/1.x only: an HTTP/0.9-style line (Node would still read header lines after it, so a CRLF in the target
    // becomes a header) or an HTTP/2.0 line in an HTTP/1 exchange is refused, never forwarded.
    if (req.httpVersionMajor !== 1) throw new StoplineError('bad_request', `Unsupported HTTP version ${req.httpVersion}`);
    // RFC 9112 §6.3: a Transfer-Encoding other than a lone "chunked" cannot be relayed (its codings would be
    // dropped when the body is re-framed): refuse it and close the connection.
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te.trim().toLowerCase() !== 'chunked') throw new StoplineError('bad_request', 'Unsupported Transfer-Encoding');
    if (path.startsWith('/stopline/')) {
      if (resumer !== null && path.startsWith(streamsPath)) return resumer.streams(req, res, path, query);
      if (path !== '/stopline/v1/cancel') throw new StoplineError('not_found', `No such stopline endpoint: ${path}`);
      if (method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new StoplineError('method_not_allowed', `Method ${method} is not allowed on ${path}; use POST`);
      }
      return cancel(req, res, query, true);
    }
    if (activeRoute !== null && method === 'GET') {
      const sessionId = activeRouteSession(activeRoute, path);
      if (sessionId !== undefined) return resumer!.active(req, res, sessionId);
    }
    if (config.cancelRoutes.length > 0 && routeMatches(config.cancelRoutes, method, path)) {
      return cancel(req, res, query, false);
    }
    return relay.handle(req, res, path, query);
  };
  const server = createServer({
    maxHeaderSize: 16 * 1024, // 16 KiB; larger heads get 431
    headersTimeout: 10_000, // a client has 10 s to send its request head (slowloris)
    // Receiving the whole request (head and body) may take 2 min at most (then 408): a client that sends a head and
    // a trickle of body cannot hold a connection, or an upstream one, forever. The response is not bounded by it.
    requestTimeout: 120_000,
    keepAliveTimeout: 65_000, // longer than common load balancers' idle timeout (60 s)
    requireHostHeader: false,
  }, (req, res) => {
    handler(req, res).catch((err: unknown) => sendError(res, err, log));
  });
  // Expect: 100-continue: a body stopline would read to find ids, declared larger than it reads, is refused before
  // 100 Continue (the client never sends it); anything else is told to continue and handled as usual.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers['content-length']);
    if (declared > config.maxBodyBytes && relay.readsBody(req)) {
      res.shouldKeepAlive = false;
      sendError(res, new StoplineError('payload_too_large', `Request body is larger than ${config.maxBodyBytes} bytes`), log);
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // WebSocket and other HTTP/1.1 upgrades are tunnelled; stopline's own paths never upgrade.
    const url = req.url ?? '/';
    if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) { refuseUpgrade(socket, 400, 'Bad Request'); return; }
    if (url.startsWith('/stopline/')) { refuseUpgrade(socket, 404, 'Not Found'); return; }
    relay.upgrade(req, socket, head);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Malformed HTTP (smuggling attempts included) never reaches the handler: answer 400 (431 for big heads), close.
    // Decided a tick later, once an earlier request on this connection had its chance to answer (a request refused
    // by the handler answers 400 itself). A status line is written only where it answers the broken request: when
    // nothing was written on this connection and no earlier response is in flight. A bad request pipelined behind a
    // stream is never answered inside that stream's body, nor in its place: a stream already answering finishes and
    // the connection closes; one not yet answering is aborted with the connection.
    setImmediate(() => answerClientError(err, socket as Socket));
  });
  const answerClientError = (err: NodeJS.ErrnoException, socket: Socket): void => {
    const inFlight = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
    if (inFlight != null && inFlight.headersSent && !inFlight.writableFinished) {
      inFlight.once('close', () => socket.destroy());
      return;
    }
    // The in-flight response may be this very request's, when its own body is what broke: that one is answered.
    const earlier = inFlight != null && inFlight.req.complete;
    if (!socket.writable || earlier || socket.bytesWritten > 0) { socket.destroy(); return; }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  };
  return server;
}
