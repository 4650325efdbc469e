// A streaming HTTP client for tests: raw node:http, so the test sees exactly what the client would.
import { request, type IncomingHttpHeaders } from 'node:http';
import { EventEmitter, once } from 'node:events';

export interface StreamResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** true when the response ended cleanly (not cut off) */
  complete: boolean;
}

export class StreamClient extends EventEmitter {
  text = '';
  status = 0;
  headers: IncomingHttpHeaders = {};
  readonly result: Promise<StreamResult>;
  readonly #req: ReturnType<typeof request>;
  readonly responded: Promise<void>;

  constructor(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
    super();
    const { promise: responded, resolve: onResponse, reject: onFail } = Promise.withResolvers<void>();
    this.responded = responded;
    responded.catch(() => {});
    // A streaming client's POST asks for a stream (Accept), which is what makes it a stream start under
    // STOPLINE_STREAM_ROUTES=*. A GET does not by default: with that Accept it would be an EventSource's request.
    const method = init.method ?? 'POST';
    const accept: Record<string, string> = method === 'GET' ? {} : { accept: 'text/event-stream' };
    this.#req = request(url, { method, headers: { 'content-type': 'application/json', ...accept, ...init.headers }, agent: false });
    this.result = new Promise<StreamResult>((resolve, reject) => {
      this.#req.on('response', (res) => {
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        onResponse();
        res.setEncoding('utf8');
        res.on('data', (d: string) => { this.text += d; this.emit('data', d); });
        res.on('end', () => resolve({ status: this.status, headers: this.headers, text: this.text, complete: true }));
        res.on('error', () => resolve({ status: this.status, headers: this.headers, text: this.text, complete: false }));
        res.on('aborted', () => resolve({ status: this.status, headers: this.headers, text: this.text, complete: false }));
      });
      this.#req.on('error', (err) => { onFail(err); reject(err); });
    });
    this.result.catch(() => {});
    this.#req.end(init.body);
  }

  /** Resolves once the received text satisfies `test` (checked on every chunk). */
  async waitFor(test: (text: string) => boolean): Promise<void> {
    while (!test(this.text)) {
      const r = await Promise.race([once(this, 'data').then(() => 'data'), this.result.then(() => 'end', () => 'end')]);
      if (r === 'end' && !test(this.text)) throw new Error(`stream ended before the condition held; got: ${this.text.slice(-300)}`);
    }
  }

  /** The client goes away (the browser tab closes). */
  destroy(): void { this.#req.destroy(); }
}

export function stream(url: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): StreamClient {
  return new StreamClient(url, init);
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: IncomingHttpHeaders }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json, headers: Object.fromEntries(res.headers) };
}

/** SSE events of a text, as {event, data} (whole events only). */
export function sseEvents(text: string): { event: string; data: string }[] {
  return text.split(/\r?\n\r?\n/).filter((b) => b.trim() !== '').map((block) => {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    return { event, data: data.join('\n') };
  });
}
