// Raw HTTP/1.1 over node:net, for tests that must see (or send) exactly the bytes on the wire.
import { connect } from 'node:net';

export interface RawResult {
  /** Every byte the server sent, as latin1 text. */
  text: string;
  /** Status code of the first final response (0: none). */
  status: number;
  /** Final responses received whole; a second one answers the follow-up request. */
  responses: number;
  /** The server ended the connection (FIN or RST), rather than the test. */
  closedByServer: boolean;
}

// A harmless request answered by stopline itself (404, never proxied): pipelined after a hostile one, it is
// answered only if the server kept reading the connection after the hostile request.
export const followUp = 'GET /stopline/v1/follow-up HTTP/1.1\r\nHost: x\r\n\r\n';

/** The complete final responses at the start of `text` (1xx skipped): their statuses, in order. */
export function responses(text: string): number[] {
  const out: number[] = [];
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return out;
    const head = text.slice(at, headEnd);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
    if (!Number.isInteger(status)) return out;
    let next = headEnd + 4;
    if (status >= 200 && status !== 204 && status !== 304) {
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (length) {
        next += Number(length[1]);
        if (next > text.length) return out;
      } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        for (;;) {
          const line = text.indexOf('\r\n', next);
          if (line < 0) return out;
          const size = parseInt(text.slice(next, line), 16);
          next = line + 2 + size + 2;
          if (next > text.length) return out;
          if (size === 0) break;
        }
      } else {
        return out; // delimited by the close of the connection: not known to be whole
      }
    }
    if (status >= 200) out.push(status);
    at = next;
  }
}

/**
 * Writes `raw` (then, unless told not to, the follow-up request) on a fresh connection and reads until the server
 * closes it, or until `wait` whole responses have come (by default 2 with the follow-up: the connection stayed
 * usable, and the test closes it).
 */
export function rawExchange(port: number, raw: string | Buffer, opts: { followUp?: boolean; wait?: number } = {}): Promise<RawResult> {
  const pipelined = opts.followUp !== false;
  const wait = opts.wait ?? (pipelined ? 2 : Infinity);
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let closedByServer = false;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      const whole = responses(text);
      const first = whole[0] ?? Number(/^HTTP\/1\.[01] ([2-5]\d\d)/m.exec(text)?.[1] ?? 0);
      resolve({ text, status: first, responses: whole.length, closedByServer });
    };
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (responses(text).length >= wait) { finish(); socket.destroy(); }
    });
    socket.on('end', () => { closedByServer = true; });
    socket.on('error', () => { closedByServer = true; }); // a reset from the server
    socket.on('close', finish);
    socket.write(typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw);
    if (pipelined) socket.write(followUp, () => {});
  });
}
