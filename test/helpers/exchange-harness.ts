// What the exchange-level unit tests share: the upstream half of a dispatch, driven as undici drives a dispatch
// handler, and a real node:http server whose handler each test sets (a real Exchange answers a real client there).
import { after } from 'node:test';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { terminalEvent } from '../../src/relay/framing.ts';

/** The upstream half of a dispatch, as undici's controller behaves: pause holds the next chunk until resume. */
export class Upstream extends EventEmitter implements Dispatcher.DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  abort(reason: Error): void { this.aborted = true; this.reason = reason; this.emit('go'); }
  pause(): void { this.paused = true; this.emit('paused'); }
  resume(): void { this.paused = false; this.emit('go'); }
  async ready(): Promise<void> { while (this.paused && !this.aborted) await once(this, 'go'); }
}

/** A server on a free loopback port for the file's tests; its `handler` answers the requests (each test sets it). */
export async function exchangeServer(): Promise<{ port: number; handler: (req: IncomingMessage, res: ServerResponse) => void }> {
  const srv = { port: 0, handler: (_req: IncomingMessage, _res: ServerResponse): void => {} };
  const server = createServer((req, res) => srv.handler(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => server.close());
  srv.port = (server.address() as AddressInfo).port;
  return srv;
}

export const ref = { sessionId: 's', messageId: 'm' };
/** The generic SSE ending a stop writes for `ref`. */
export const ending = Buffer.from(terminalEvent('sse', ref.sessionId, ref.messageId, 'cancelled'));
