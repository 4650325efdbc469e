// HTTP/1.1 upgrades (WebSocket and any other `Upgrade`): the handshake is sent to the upstream through the pool
// (undici's upgrade dispatch), and on 101 the two sockets are piped both ways, with backpressure, until either side
// closes. A refused handshake gets the upstream's own answer. A tunnel is never a tracked stream; the open ones are
// kept in one set so that shutdown can wait for them and then close what is left.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import type { Config } from '../config.ts';
import { upstreamError } from '../errors.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from '../http/headers.ts';
import type { Metrics } from '../observability/metrics.ts';

type Controller = Dispatcher.DispatchController;
export type UpgradeResult = 'upgraded' | 'refused' | 'failed';

// The upstream has this long to answer a handshake (the connect itself is bounded by the pool's connect timeout).
const handshakeTimeoutMs = 10_000;
// Once one side has closed cleanly, the other gets this long to finish writing and close before it is cut.
const closeGraceMs = 5_000;

/** The open tunnels of this replica: what shutdown waits for, then closes. */
export class Tunnels {
  readonly name = 'tunnels';
  /** Each tunnel's client socket, with its upstream socket. */
  readonly #open = new Map<Duplex, Duplex>();
  #idle: PromiseWithResolvers<void> | null = null;

  get size(): number { return this.#open.size; }

  /** Resolves when no tunnel is open (at once if none is). */
  idle(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return (this.#idle ??= Promise.withResolvers<void>()).promise;
  }

  add(client: Duplex, upstream: Duplex): void {
    this.#open.set(client, upstream);
  }

  delete(client: Duplex): void {
    if (!this.#open.delete(client) || this.#open.size > 0) return;
    this.#idle?.resolve();
    this.#idle = null;
  }

  /** Cuts every open tunnel (both of its sockets close). */
  closeAll(): void {
    for (const [client, upstream] of [...this.#open]) { client.destroy(); upstream.destroy(); }
  }
}

/** Opens one tunnel for an upgrade request the data server received. */
export function tunnel(req: IncomingMessage, client: Duplex, head: Buffer, upstream: Pool, config: Config, tunnels: Tunnels, metrics: Metrics, traced: boolean): void {
  const protocol = req.headers.upgrade ?? '';
  const headers = upstreamRequestHeaders(req, config.upstream.host, {}, traced, config.preserveHost);
  const handler = new UpgradeHandler(client, head, tunnels, metrics);
  try {
    upstream.dispatch({ path: req.url ?? '/', method: req.method ?? 'GET', headers, upgrade: protocol, body: null, headersTimeout: handshakeTimeoutMs, bodyTimeout: handshakeTimeoutMs }, handler);
  } catch (err) {
    handler.onResponseError(null, err as Error);
  }
}

class UpgradeHandler implements Dispatcher.DispatchHandler {
  readonly #client: Duplex;
  readonly #head: Buffer;
  readonly #tunnels: Tunnels;
  readonly #m: Metrics;
  #controller: Controller | null = null;
  #answered = false;
  #done = false;

  constructor(client: Duplex, head: Buffer, tunnels: Tunnels, metrics: Metrics) {
    this.#client = client;
    this.#head = head;
    this.#tunnels = tunnels;
    this.#m = metrics;
    client.on('error', noop);
    // A client gone during the handshake aborts it.
    client.once('close', this.#onClientGone);
  }

  #onClientGone = (): void => {
    if (!this.#done) this.#controller?.abort(new Error('stopline: client disconnected'));
  };

  #finish(result: UpgradeResult): void {
    if (this.#done) return;
    this.#done = true;
    this.#client.off('close', this.#onClientGone);
    this.#m.upgradesTotal.inc({ result });
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    if (this.#client.destroyed) controller.abort(new Error('stopline: client disconnected'));
  }

  onRequestUpgrade(_controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>, socket: Duplex): void {
    const client = this.#client;
    this.#finish('upgraded');
    if (client.destroyed) { socket.destroy(); return; }
    client.write(statusLine(statusCode, 'Switching Protocols') + headerLines(headers));
    if (this.#head.length > 0) socket.write(this.#head);
    this.#tunnels.add(client, socket);
    this.#m.upgradesActive.inc();
    socket.on('error', noop);
    let open = 2;
    const closed = (other: Duplex) => (hadError: boolean) => {
      // An error on one side cuts the other; a clean close lets the other finish its writes (pipe ended it) first.
      if (hadError) other.destroy();
      else setTimeout(() => other.destroy(), closeGraceMs).unref();
      if (--open === 0) { this.#tunnels.delete(client); this.#m.upgradesActive.dec(); }
    };
    client.once('close', closed(socket));
    socket.once('close', closed(client));
    socket.pipe(client);
    client.pipe(socket);
  }

  // ---- a refused handshake: the upstream's answer, then the connection closes ----

  onResponseStart(_controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>, statusText: string): void {
    if (statusCode < 200) return; // informational answers are not forwarded on a handshake
    this.#finish('refused');
    this.#answered = true;
    const out = clientResponseHeaders(headers);
    out.connection = 'close';
    this.#client.write(statusLine(statusCode, statusText) + headerLines(out));
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.#client.write(chunk);
  }

  onResponseEnd(): void {
    this.#client.end();
  }

  onResponseError(_controller: Controller | null, err: Error): void {
    const first = !this.#done;
    this.#finish('failed');
    const client = this.#client;
    if (!first || this.#answered || client.destroyed || !client.writable) { client.destroy(); return; }
    const e = upstreamError(err);
    const body = JSON.stringify({ error: e.code, message: e.message });
    client.end(`${statusLine(e.status, '')}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }
}

function noop(): void {}

function statusLine(status: number, text: string): string {
  return `HTTP/1.1 ${status} ${text}\r\n`;
}

function headerLines(headers: Record<string, string | string[] | undefined>): string {
  let s = '';
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) s += `${name}: ${x}\r\n`;
    else s += `${name}: ${v}\r\n`;
  }
  return `${s}\r\n`;
}
