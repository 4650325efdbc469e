import type { ServerResponse } from 'node:http';
import { StoplineError } from '../errors.ts';
import { discardBody, hasBody } from './body.ts';
import type { Logger } from '../log.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** Answers an error that escaped a handler: a StoplineError with its status, anything else as 500 (logged). */
export function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  if (res.destroyed) return; // the client is gone: nobody to answer
  if (res.headersSent) { res.destroy(); return; }
  if (err instanceof StoplineError) {
    const headers: Record<string, string> = err.status === 503 ? { 'retry-after': '1' } : {};
    // Errors that leave a request body unread, or the framing in doubt, close the connection. An early refusal of a
    // request whose body is still coming reads the rest and discards it (bounded) first: closing at once would reset
    // the connection under a client that is still sending, and it would never see the answer.
    const req = res.req;
    if (err.code !== 'bad_request' && !req.complete && hasBody(req)) discardBody(req);
    if (err.code === 'payload_too_large' || err.code === 'shutting_down' || err.code === 'bad_request') headers.connection = 'close';
    sendJson(res, err.status, { error: err.code, message: err.message }, headers);
    return;
  }
  log.error('unexpected error', { err });
  sendJson(res, 500, { error: 'internal', message: 'Internal error' });
}
