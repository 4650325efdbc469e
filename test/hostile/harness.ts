// Tools for the hostile-input tests: an in-process replica whose log lines are kept (an "unexpected error" is a bug
// even when the client got a clean 4xx), a TCP tap that counts every byte stopline sends to its upstream, and the
// malformed-HTTP corpus. Raw HTTP/1.1 exchanges over node:net are in ../helpers/raw-http.ts.
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { startReplica, type Replica } from '../helpers/stopline.ts';

export interface LoggedReplica extends Replica {
  /** Every log line at warn level and above, parsed. */
  readonly logs: { level: string; msg: string; [k: string]: unknown }[];
}

export async function startLoggedReplica(env: Record<string, string>): Promise<LoggedReplica> {
  const logs: LoggedReplica['logs'] = [];
  const replica = await startReplica({ STOPLINE_LOG_LEVEL: 'warn', ...env }, (line) => { logs.push(JSON.parse(line)); });
  return { ...replica, logs };
}

/** The log lines that say stopline failed itself (level error), as text for an assertion message. */
export const internalErrors = (r: LoggedReplica) => r.logs.filter((l) => l.level === 'error').map((l) => JSON.stringify(l));

/** A TCP pass-through in front of the upstream that counts the bytes stopline sends it. */
export interface Tap {
  readonly port: number;
  readonly url: string;
  /** Bytes received from stopline so far. */
  bytes: number;
  close(): Promise<void>;
}

export async function startTap(upstreamPort: number): Promise<Tap> {
  const sockets = new Set<Socket>();
  const tap: Tap = { port: 0, url: '', bytes: 0, close: async () => {} };
  const server: Server = createServer((down) => {
    const up = connect(upstreamPort, '127.0.0.1');
    sockets.add(down).add(up);
    down.on('data', (d: Buffer) => { tap.bytes += d.length; up.write(d); });
    down.on('end', () => up.end());
    up.pipe(down);
    const gone = () => { down.destroy(); up.destroy(); sockets.delete(down); sockets.delete(up); };
    down.on('close', gone).on('error', gone);
    up.on('close', gone).on('error', gone);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return Object.assign(tap, {
    port,
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  });
}

export type Stage = 'head' | 'body';
export interface HostileCase {
  name: string;
  raw: string;
  /** Acceptable statuses (the first is the one RFC 9110/9112 suggests). */
  status: number[];
  /** Where the message breaks: in its head (nothing may reach the upstream) or in its body. */
  stage: Stage;
}

const post = 'POST /api/chat/stream HTTP/1.1\r\nHost: stopline\r\n';
const json = 'Content-Type: application/json\r\n';
// A JSON body on a stream route is read whole by stopline (to find the ids); any other body is streamed through.
const chunked = (body: string, type = json) => `${post}${type}Transfer-Encoding: chunked\r\n\r\n${body}`;
const octets = 'Content-Type: application/octet-stream\r\n';

/** Request smuggling attempts and malformed HTTP/1.1, each with the answer it must get. */
export const corpus: HostileCase[] = [
  // Conflicting framing (RFC 9112 §6.3): never guess, reject.
  { name: 'Content-Length and Transfer-Encoding together (CL.TE)', stage: 'head', status: [400], raw: `${post}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG` },
  { name: 'Transfer-Encoding then Content-Length (TE.CL)', stage: 'head', status: [400], raw: `${post}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n` },
  { name: 'two differing Content-Length fields', stage: 'head', status: [400], raw: `${post}Content-Length: 4\r\nContent-Length: 11\r\n\r\nabcdGET / HT` },
  { name: 'a Content-Length list with differing values', stage: 'head', status: [400], raw: `${post}Content-Length: 4, 11\r\n\r\nabcdGET / HT` },
  { name: 'a Content-Length that is not a number', stage: 'head', status: [400], raw: `${post}Content-Length: 0x10\r\n\r\n` },
  { name: 'a negative Content-Length', stage: 'head', status: [400], raw: `${post}Content-Length: -1\r\n\r\n` },
  // Node accepts a coding before the final chunked and leaves it to the application; stopline drops the whole
  // Transfer-Encoding field as hop-by-hop and re-chunks the body, so the upstream would get gzip bytes as if they
  // were the body itself. A proxy that does not apply or forward such a coding must refuse it (RFC 9112 §6.1).
  { name: 'Transfer-Encoding: gzip, chunked (a coding stopline would drop)', stage: 'head', status: [400], raw: `${post}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\n\x1f\x8b\x08\r\n0\r\n\r\n` },
  { name: 'Transfer-Encoding: chunked, gzip (chunked not last)', stage: 'head', status: [400], raw: `${post}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n` },
  { name: 'Transfer-Encoding: chunked then a second identity field', stage: 'head', status: [400], raw: `${post}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n` },
  { name: 'Transfer-Encoding: xchunked', stage: 'head', status: [400], raw: `${post}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n` },
  // Field syntax (RFC 9112 §5).
  { name: 'space before the colon of Transfer-Encoding', stage: 'head', status: [400], raw: `${post}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n` },
  { name: 'space before the colon of any field', stage: 'head', status: [400], raw: `${post}X-Session-Id : s1\r\nContent-Length: 0\r\n\r\n` },
  { name: 'obs-fold continuing Transfer-Encoding', stage: 'head', status: [400], raw: `${post}Transfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n` },
  { name: 'obs-fold continuing any field', stage: 'head', status: [400], raw: `${post}X-Note: a\r\n\tb\r\nContent-Length: 0\r\n\r\n` },
  { name: 'bare LF line endings throughout', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\nHost: stopline\n\n' },
  { name: 'a bare LF ending one field line', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\r\nHost: stopline\nX-A: b\r\n\r\n' },
  { name: 'bare CR line endings throughout', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\rHost: stopline\r\r' },
  { name: 'a bare CR inside the head', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\r\nHost: stopline\rX-A: b\r\n\r\n' },
  { name: 'a field name with parentheses', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\r\nHost: stopline\r\nX(Session): s1\r\n\r\n' },
  { name: 'a field name with a space', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\r\nHost: stopline\r\nX Session: s1\r\n\r\n' },
  { name: 'a field name with a control character', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\r\nHost: stopline\r\nX\x01Session: s1\r\n\r\n' },
  { name: 'a field name with a non-ASCII byte', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\r\nHost: stopline\r\nX-S\xe9ssion: s1\r\n\r\n' },
  { name: 'CR injected in a field value', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\r\nHost: stopline\r\nX-Session-Id: s1\rX-Injected: yes\r\n\r\n' },
  { name: 'LF injected in a field value', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\r\nHost: stopline\r\nX-Session-Id: s1\nX-Injected: yes\r\n\r\n' },
  { name: 'NUL in a field value', stage: 'head', status: [400], raw: 'GET /json HTTP/1.1\r\nHost: stopline\r\nX-Session-Id: s1\x00x\r\n\r\n' },
  // Node's parser reads a request line without a version as HTTP/0.9 and still parses the field lines after it,
  // and takes HTTP/2.0 in an HTTP/1 request line as a request too: stopline forwarded both as HTTP/1.1 (the first
  // with an injected field). Only HTTP/1.0 and HTTP/1.1 messages may be proxied.
  { name: 'CRLF in the request target', stage: 'head', status: [400], raw: 'GET /json\r\nX-Injected: yes HTTP/1.1\r\nHost: stopline\r\n\r\n' },
  { name: 'a request line without an HTTP version', stage: 'head', status: [400], raw: 'GET /json\r\nHost: stopline\r\n\r\n' },
  { name: 'an unknown HTTP/1 minor version', stage: 'head', status: [400, 505], raw: 'GET /json HTTP/1.7\r\nHost: stopline\r\n\r\n' },
  { name: 'HTTP/2.0 in an HTTP/1 request line', stage: 'head', status: [505, 400], raw: 'GET /json HTTP/2.0\r\nHost: stopline\r\n\r\n' },
  // Sizes.
  { name: 'a head over 16 KiB (one big field)', stage: 'head', status: [431], raw: `GET /json HTTP/1.1\r\nHost: stopline\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n` },
  { name: 'a head over 16 KiB (many fields)', stage: 'head', status: [431], raw: `GET /json HTTP/1.1\r\nHost: stopline\r\n${Array.from({ length: 600 }, (_, i) => `X-F${i}: ${'v'.repeat(24)}\r\n`).join('')}\r\n` },
  { name: 'a request target over 16 KiB', stage: 'head', status: [414, 431], raw: `GET /${'a'.repeat(20 * 1024)} HTTP/1.1\r\nHost: stopline\r\n\r\n` },
  { name: 'a JSON body declared over STOPLINE_MAX_BODY_BYTES on a stream route', stage: 'head', status: [413], raw: `${post}${json}Content-Length: 99999999\r\n\r\n{"session_id":"s1"` },
  { name: 'a cancel body declared over 64 KiB', stage: 'head', status: [413], raw: `POST /stopline/v1/cancel HTTP/1.1\r\nHost: stopline\r\n${json}Content-Length: 70000\r\n\r\n{"session_id":"s1"` },
  // Chunked bodies (RFC 9112 §7.1): the head is fine, the body is not.
  { name: 'a chunk size that is not hex', stage: 'body', status: [400], raw: chunked('zz\r\n{"a":1}\r\n0\r\n\r\n') },
  { name: 'a negative chunk size (streamed body)', stage: 'body', status: [400], raw: chunked('-7\r\n{"a":1}\r\n0\r\n\r\n', octets) },
  { name: 'a chunk size with a 0x prefix', stage: 'body', status: [400], raw: chunked('0x7\r\n{"a":1}\r\n0\r\n\r\n') },
  { name: 'a chunk size that overflows 64 bits (streamed body)', stage: 'body', status: [400], raw: chunked('fffffffffffffffff\r\n{"a":1}\r\n0\r\n\r\n', octets) },
  { name: 'a chunk size with a space inside', stage: 'body', status: [400], raw: chunked('1 0\r\n{"a":1}\r\n0\r\n\r\n') },
  { name: 'chunk data longer than its size (streamed body)', stage: 'body', status: [400], raw: chunked('3\r\n{"a":1}\r\n0\r\n\r\n', octets) },
  { name: 'a chunk extension with a control character', stage: 'body', status: [400], raw: chunked('7;x=\x01\r\n{"a":1}\r\n0\r\n\r\n') },
  { name: 'a chunk size line ended by a bare LF (streamed body)', stage: 'body', status: [400], raw: chunked('7\n{"a":1}\r\n0\r\n\r\n', octets) },
];

/** Closes what was started; what a failed `before` never started is undefined and skipped. */
export async function closeAll(...xs: ({ close(): Promise<unknown> } | { stop(): Promise<unknown> } | undefined)[]): Promise<void> {
  await Promise.allSettled(xs.map((x) => (x === undefined ? undefined : 'close' in x ? x.close() : x.stop())));
}
