// A streaming upstream fixture in the shape of an AI service: it streams SSE, NDJSON, OpenAI-style or plain chunked
// answers at a set pace and records, per request, what it sent and whether (and when) its client went away.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface UpstreamRecord {
  readonly path: string;
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  body: string;
  produced: number;
  sent: string;
  /** true while the fixture waits for 'drain': its client (stopline) stopped reading */
  blocked: boolean;
  aborted: boolean;
  finished: boolean;
  readonly done: Promise<void>;
}

export interface Upstream {
  readonly url: string;
  readonly port: number;
  readonly records: UpstreamRecord[];
  readonly cancelCalls: { headers: IncomingMessage['headers']; body: string }[];
  readonly events: EventEmitter;
  /** The record of the request carrying this message id (waits for it to arrive). */
  request(messageId: string): Promise<UpstreamRecord>;
  close(): Promise<void>;
}

type Opts = { format: string; chunks: number; interval: number; firstByteDelay: number; resetAfter: number; split: boolean; pad: number; stallAfter: number };

function options(url: URL, body: unknown): Opts {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const get = (k: string, d: number) => Number(url.searchParams.get(k) ?? b[k] ?? d);
  return {
    format: url.searchParams.get('format') ?? (typeof b.format === 'string' ? b.format : url.pathname === '/v1/chat/completions' ? 'openai' : 'sse'),
    chunks: get('chunks', 50),
    interval: get('interval', 10),
    firstByteDelay: get('firstByteDelay', 0),
    resetAfter: get('resetAfter', -1),
    split: (url.searchParams.get('split') ?? String(b.split ?? 'false')) === 'true',
    pad: get('pad', 0),
    stallAfter: get('stallAfter', -1),
  };
}

function chunkText(format: string, i: number): string {
  switch (format) {
    case 'ndjson': return `${JSON.stringify({ i, tok: `word${i} ` })}\n`;
    case 'plain': return `word${i} `;
    case 'openai': return `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: `word${i} ` } }] })}\n\n`;
    default: return `id: ${i}\nevent: token\ndata: ${JSON.stringify({ i, tok: `word${i} ` })}\n\n`;
  }
}

const contentTypes: Record<string, string> = { sse: 'text/event-stream', openai: 'text/event-stream', ndjson: 'application/x-ndjson', plain: 'text/plain' };

export async function startUpstream(): Promise<Upstream> {
  const records: UpstreamRecord[] = [];
  const cancelCalls: Upstream['cancelCalls'] = [];
  const events = new EventEmitter();
  events.setMaxListeners(0);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    for await (const c of req) raw += c;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/auth/cancel') {
      // An authorization endpoint: allows a cancel for the bearer "good" only.
      cancelCalls.push({ headers: req.headers, body: raw });
      res.writeHead(req.headers.authorization === 'Bearer good' ? 204 : 403).end();
      return;
    }
    if (url.pathname === '/api/chat/cancel' || url.pathname === '/cancel') {
      cancelCalls.push({ headers: req.headers, body: raw });
      events.emit('cancel-call');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    let body: unknown;
    try { body = raw ? JSON.parse(raw) : undefined; } catch { body = undefined; }
    const o = options(url, body);
    const { promise: done, resolve } = Promise.withResolvers<void>();
    const rec: UpstreamRecord = { path: req.url ?? '/', method: req.method ?? 'GET', headers: req.headers, body: raw, produced: 0, sent: '', blocked: false, aborted: false, finished: false, done };
    records.push(rec);
    events.emit('request', rec);
    res.on('close', () => {
      if (!res.writableFinished) { rec.aborted = true; events.emit('aborted', rec); }
      resolve();
    });
    if (o.format === 'json' || url.pathname === '/json') {
      const text = JSON.stringify({ ok: true, echo: raw, path: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-upstream': 'yes' }).end(text);
      rec.finished = true;
      return;
    }
    if (o.firstByteDelay > 0) {
      // Cancelled when the client goes away first: a pending timer would hold the test process open until it fires.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((r) => { timer = setTimeout(r, o.firstByteDelay); }), done]);
      clearTimeout(timer);
    }
    if (rec.aborted) return;
    res.writeHead(200, { 'content-type': contentTypes[o.format] ?? 'text/plain', 'cache-control': 'no-cache', 'x-upstream': 'yes' });
    res.flushHeaders();
    for (let i = 0; i < o.chunks; i++) {
      if (rec.aborted) return;
      if (i === o.resetAfter) { res.socket?.destroy(); return; }
      if (i === o.stallAfter) { events.emit('stalled', rec); await done; return; } // goes quiet, never ends
      const text = o.pad > 0 ? `: ${'x'.repeat(o.pad)}\n${chunkText(o.format, i)}` : chunkText(o.format, i);
      if (o.pad > 0) {
        // Big chunks as fast as the reader takes them: wait for 'drain' when the socket is full.
        rec.produced++;
        rec.sent += text;
        if (!res.write(text)) { rec.blocked = true; events.emit('blocked', rec); await Promise.race([once(res, 'drain'), done]); rec.blocked = false; }
        continue;
      }
      if (o.split && text.length > 4) {
        const cut = Math.floor(text.length / 2);
        res.write(text.slice(0, cut));
        await new Promise((r) => setTimeout(r, 1));
        if (rec.aborted) return;
        res.write(text.slice(cut));
      } else {
        res.write(text);
      }
      rec.sent += text;
      rec.produced++;
      if (o.interval > 0) await new Promise((r) => setTimeout(r, o.interval));
      else if (i % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    if (rec.aborted) return;
    if (o.format === 'openai') { res.write('data: [DONE]\n\n'); rec.sent += 'data: [DONE]\n\n'; }
    rec.finished = true;
    res.end();
  };

  const server: Server = createServer((req, res) => { handle(req, res).catch(() => res.destroy()); });
  server.keepAliveTimeout = 500;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    records,
    cancelCalls,
    events,
    async request(messageId) {
      const find = () => records.find((r) => r.headers['x-message-id'] === messageId);
      const existing = find();
      if (existing) return existing;
      for (;;) {
        await once(events, 'request');
        const r = find();
        if (r) return r;
      }
    },
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
