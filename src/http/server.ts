// The data plane: paths under /stopline/ are stopline's own and never proxied; the configured cancel routes are
// answered by the cancel handler; everything else goes to the relay.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Coordinator } from '../cancel/coordinator.ts';
import { routeMatches, type Config } from '../config.ts';
import { StoplineError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Relay } from '../relay/relay.ts';
import { handleCancel } from './cancel-api.ts';
import type { CancelAuth, RateLimiter } from './cancel-auth.ts';
import { sendError } from './respond.ts';

export function createDataServer(config: Config, relay: Relay, coordinator: Coordinator, metrics: Metrics, log: Logger, auth: CancelAuth, limiter: RateLimiter): Server {
  const cancel = (req: IncomingMessage, res: ServerResponse, query: string, own: boolean) => handleCancel(req, res, query, { config, coordinator, metrics, auth, limiter, own });
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';
    if (path.startsWith('/stopline/')) {
      if (path !== '/stopline/v1/cancel') throw new StoplineError('not_found', `No such stopline endpoint: ${path}`);
      if (method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new StoplineError('method_not_allowed', `Method ${method} is not allowed on ${path}; use POST`);
      }
      return cancel(req, res, query, true);
    }
    if (config.cancelRoutes.length > 0 && routeMatches(config.cancelRoutes, method, path)) {
      return cancel(req, res, query, false);
    }
    return relay.handle(req, res, path, query);
  };
  const server = createServer({
    maxHeaderSize: 16 * 1024, // 16 KiB; larger heads get 431
    headersTimeout: 10_000, // a client has 10 s to send its request head (slowloris)
    requestTimeout: 0, // streams live long: no total-duration limit on an exchange
    keepAliveTimeout: 65_000, // longer than common load balancers' idle timeout (60 s)
    requireHostHeader: false,
  }, (req, res) => {
    handler(req, res).catch((err: unknown) => sendError(res, err, log));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Malformed HTTP (smuggling attempts included) never reaches the handler: answer 400 (431 for big heads), close.
    if (!socket.writable) { socket.destroy(); return; }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  return server;
}
