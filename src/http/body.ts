// Reading a bounded request body (for ids in JSON, and for the cancel API).
import type { IncomingMessage } from 'node:http';
import { StoplineError } from '../errors.ts';

export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

export function isJson(req: IncomingMessage): boolean {
  const ct = req.headers['content-type'];
  return ct !== undefined && /^application\/([a-z0-9.+-]*\+)?json\b/i.test(ct);
}

/** The whole body, at most `limit` bytes; more is refused with 413 before it is all read. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new StoplineError('payload_too_large', `Request body is larger than ${limit} bytes`);
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new StoplineError('payload_too_large', `Request body is larger than ${limit} bytes`);
      parts.push(chunk);
    }
  } catch (err) {
    // A body cut off or malformed (aborted, bad chunk framing) is the client's error, not an internal one.
    if (err instanceof StoplineError) throw err;
    throw new StoplineError('bad_request', 'The request body could not be read', { cause: err });
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
