// Reading a bounded request body (for ids in JSON, and for the cancel API).
import type { IncomingMessage } from 'node:http';
import { StoplineError } from '../errors.ts';

export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

// A request refused before its body was read is read on and discarded within these bounds (so that a client still
// sending gets to read the refusal instead of a reset), then its connection is closed.
const discardBytes = 16 * 1024 * 1024; // 16 MiB
const discardIdleMs = 1_000; // a client still sending does not pause this long; one that stopped is let go
const discardMs = 10_000;

/**
 * Reads and discards the rest of a refused request's body, bounded, then closes the connection. The answer carries
 * `Connection: close`; Node would close the socket as soon as it is written, and closing a socket with unread bytes
 * resets the connection (the client loses the answer). So the answer's end only half-closes the connection (FIN),
 * and the socket is destroyed once the body has ended, or past the bounds. False when the declared length is
 * already past the bound: then the connection simply closes with the answer.
 */
export function discardBody(req: IncomingMessage): boolean {
  if (Number(req.headers['content-length']) > discardBytes) return false;
  const socket = req.socket;
  socket.destroySoon = () => { if (socket.writable) socket.end(); };
  let n = 0;
  const cut = () => { clearTimeout(total); clearTimeout(idle); socket.destroy(); };
  const total = setTimeout(cut, discardMs);
  const idle = setTimeout(cut, discardIdleMs);
  req.on('data', (c: Buffer) => {
    n += c.length;
    if (n > discardBytes) { cut(); return; }
    idle.refresh();
  });
  req.once('end', cut);
  req.once('close', () => { clearTimeout(total); clearTimeout(idle); });
  req.on('error', () => {});
  req.resume();
  return true;
}

export function isJson(req: IncomingMessage): boolean {
  const ct = req.headers['content-type'];
  return ct !== undefined && /^application\/([a-z0-9.+-]*\+)?json\b/i.test(ct);
}

/**
 * The whole body, at most `limit` bytes; more is refused with 413 before it is all read. The request is left
 * undestroyed and paused at the refusal, so that the rest can be discarded while the refusal is read.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new StoplineError('payload_too_large', `Request body is larger than ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const done = () => { req.off('data', onData); req.off('end', onEnd); req.off('error', onError); req.off('close', onClose); };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) { parts.push(chunk); return; }
      done();
      req.pause();
      reject(new StoplineError('payload_too_large', `Request body is larger than ${limit} bytes`));
    };
    const onEnd = () => { done(); resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)); };
    // A body cut off or malformed (aborted, bad chunk framing) is the client's error, not an internal one.
    const onError = (err: Error) => { done(); reject(new StoplineError('bad_request', 'The request body could not be read', { cause: err })); };
    const onClose = () => { if (!req.complete) onError(new Error('The request was closed before its body ended')); };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
