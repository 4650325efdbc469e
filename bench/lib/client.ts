// The benchmark's client: raw node:http streams that time every SSE event against the timestamp the upstream wrote
// into it (same monotonic clock, in µs), and the cancel request.
import { Agent, request, type ClientRequest } from 'node:http';
import { nowUs } from './procs.ts';
import type { Samples } from './stats.ts';

/** Where per-event delays go right now (null: not recording). Swapped by the workloads, shared by all streams. */
export const recorder: { sink: Samples | null; events: number } = { sink: null, events: 0 };

export interface StreamOpts {
  /** Origin of the design under test (direct upstream, nginx or a stopline replica). */
  base: string;
  id: string;
  session: string;
  /** Events the upstream will produce, and their interval in µs. */
  n: number;
  ivUs: number;
  agent: Agent | false;
}

export class BenchStream {
  readonly id: string;
  readonly session: string;
  readonly base: string;
  sentAt = 0;
  headersAt = 0;
  firstEventAt = 0;
  lastEventAt = 0;
  endAt = 0;
  terminalAt = 0;
  destroyedAt = 0;
  events = 0;
  /** The upstream's timestamps (µs) of the first and last events received. */
  tFirst = 0;
  tLast = 0;
  status = 0;
  complete = false;
  error = '';
  /** Watch for the terminal event (set when a cancel is sent). */
  watchTerminal = false;
  readonly ended: Promise<void>;
  readonly #req: ClientRequest;
  #carry = '';

  constructor(o: StreamOpts) {
    this.id = o.id;
    this.session = o.session;
    this.base = o.base;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.ended = promise;
    const end = (complete: boolean) => {
      if (this.endAt !== 0) return;
      this.endAt = nowUs();
      this.complete = complete;
      resolve();
    };
    const body = JSON.stringify({ session_id: o.session, message_id: o.id, messages: [{ role: 'user', content: 'Tell me a long story.' }] });
    this.#req = request(`${o.base}/stream?id=${encodeURIComponent(o.id)}&n=${o.n}&iv=${o.ivUs}`, {
      method: 'POST',
      agent: o.agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), accept: 'text/event-stream' },
    });
    this.#req.setNoDelay(true);
    this.#req.on('response', (res) => {
      this.headersAt = nowUs();
      this.status = res.statusCode ?? 0;
      res.on('data', (buf: Buffer) => this.#data(buf));
      res.on('end', () => end(true));
      res.on('close', () => end(false));
      res.on('error', (e) => { this.error ||= e.message; end(false); });
    });
    this.#req.on('error', (e) => { this.error ||= e.message; end(false); });
    this.sentAt = nowUs();
    this.#req.end(body);
  }

  #data(buf: Buffer): void {
    const now = nowUs();
    const s = this.#carry + buf.toString('latin1');
    const last = s.lastIndexOf('\n\n');
    if (last < 0) { this.#carry = s; return; }
    this.#carry = last + 2 < s.length ? s.slice(last + 2) : '';
    const sink = recorder.sink;
    let p = 0;
    for (;;) {
      p = s.indexOf('"t":', p);
      if (p < 0 || p > last) break;
      const t = parseInt(s.slice(p + 4, p + 24), 10);
      p += 4;
      if (!Number.isFinite(t)) continue;
      this.events++;
      recorder.events++;
      if (this.tFirst === 0) this.tFirst = t;
      this.tLast = t;
      if (sink !== null) sink.push(now - t);
    }
    if (this.firstEventAt === 0 && this.events > 0) this.firstEventAt = now;
    this.lastEventAt = now;
    if (this.watchTerminal && this.terminalAt === 0 && s.includes('stopline.cancelled')) this.terminalAt = now;
  }

  /** The client goes away. */
  destroy(): void {
    if (this.destroyedAt === 0) this.destroyedAt = nowUs();
    this.#req.destroy();
  }
}

export interface PostResult {
  status: number;
  json: Record<string, unknown> | null;
  sentAt: number;
  answeredAt: number;
  error: string;
}

/** POST a JSON body; sentAt is taken just before the request leaves. */
export function postJson(url: string, body: unknown, agent: Agent): Promise<PostResult> {
  const text = JSON.stringify(body);
  return new Promise((resolve) => {
    const out: PostResult = { status: 0, json: null, sentAt: 0, answeredAt: 0, error: '' };
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      out.status = res.statusCode ?? 0;
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { data += d; });
      res.on('end', () => {
        out.answeredAt = nowUs();
        try { out.json = JSON.parse(data) as Record<string, unknown>; } catch { out.json = null; }
        resolve(out);
      });
    });
    req.setNoDelay(true);
    req.on('error', (e) => { out.error = e.message; out.answeredAt = nowUs(); resolve(out); });
    out.sentAt = nowUs();
    req.end(text);
  });
}

export const keepAliveAgent = () => new Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 1_000 });
