// The admin port: /metrics, /healthz, /readyz (and, with the peers path, the peer endpoint). Never proxied.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './observability/metrics.ts';
import { sendJson, sendError } from './http/respond.ts';
import { StoplineError } from './errors.ts';
import { markUntracedPort, unmarkUntracedPort } from './tracing/state.ts';

export interface AdminRoutes {
  /** Extra routes (peer endpoint); returns false when the path is not theirs. */
  handle?(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, path: string): Promise<boolean>;
}

export function createAdminServer(config: Config, metrics: Metrics, state: { draining: boolean }, log: Logger, extra: AdminRoutes = {}): Server {
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const run = async () => {
      if (extra.handle !== undefined && (await extra.handle(req, res, path))) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        throw new StoplineError('method_not_allowed', `Method ${req.method} is not allowed on ${path}`);
      }
      switch (path) {
        case '/metrics': {
          const text = await metrics.registry.metrics();
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
          return;
        }
        case '/healthz':
          // Answered while the event loop turns; never depends on Redis or the upstream.
          return sendJson(res, 200, { status: 'ok' });
        case '/readyz': {
          if (state.draining) return sendJson(res, 503, { status: 'draining' });
          const up = await upstreamReachable(config);
          // Redis down does not make stopline unready: streaming fails open.
          return sendJson(res, up ? 200 : 503, { status: up ? 'ready' : 'upstream_unreachable' });
        }
        default:
          throw new StoplineError('not_found', `No such admin endpoint: ${path}`);
      }
    };
    run().catch((err: unknown) => sendError(res, err, log));
  });
  // Probes and scrapes make no spans (about one every few seconds per pod at the chart's probe periods).
  let bound: number | undefined;
  server.on('listening', () => { bound = (server.address() as import('node:net').AddressInfo).port; markUntracedPort(bound); });
  server.on('close', () => { if (bound !== undefined) unmarkUntracedPort(bound); });
  return server;
}

/** A TCP connect to the upstream, bounded to 1 s: cheap enough for a probe every few seconds. */
function upstreamReachable(config: Config): Promise<boolean> {
  const u = config.upstream;
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port });
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
