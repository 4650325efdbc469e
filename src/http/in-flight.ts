// The data server's exchanges in flight (a request received, its response not yet closed), whatever they are:
// tracked streams, untracked requests, untracked streams. The drain waits for every one of them.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Drainable } from '../shutdown.ts';

export class InFlight implements Drainable {
  readonly name = 'requests';
  readonly #open = new Set<ServerResponse>();
  #empty: PromiseWithResolvers<void> | null = null;
  #draining = false;
  /** One listener for every response (no closure per request): `this` is the response that closed. */
  readonly #onClose: (this: ServerResponse) => void;

  constructor(server: Server) {
    const open = this.#open;
    const self = this;
    this.#onClose = function onClose(this: ServerResponse) {
      open.delete(this);
      if (open.size === 0) self.#settle();
    };
    server.on('request', this.#onRequest);
  }

  get size(): number { return this.#open.size; }

  idle(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return (this.#empty ??= Promise.withResolvers<void>()).promise;
  }

  /**
   * The drain begins: every response whose head is not out yet, and every later one, carries `Connection: close`,
   * so that a kept-alive connection ends with its exchange instead of taking new requests (Node's server.close()
   * closes only the connections idle at that moment).
   */
  drain(): void {
    this.#draining = true;
    for (const res of this.#open) if (!res.headersSent) res.setHeader('connection', 'close');
  }

  /** Past the drain window: cuts every response still being produced; one already ended (an ending) may flush. */
  closeAll(): void {
    for (const res of this.#open) if (!res.writableEnded) res.destroy();
  }

  #onRequest = (_req: IncomingMessage, res: ServerResponse): void => {
    this.#open.add(res);
    if (this.#draining && !res.headersSent) res.setHeader('connection', 'close');
    res.on('close', this.#onClose); // 'close' comes once; `on` spares the wrapper `once` would allocate
  };

  #settle(): void {
    const e = this.#empty;
    this.#empty = null;
    e?.resolve();
  }
}
