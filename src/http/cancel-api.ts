// The cancel API: POST /stopline/v1/cancel with JSON {"session_id", "message_id"?}, or the same ids read from the
// configured sources on a STOPLINE_CANCEL_ROUTES route (the AI service's own cancel path, answered here instead).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CancelAnswer, Coordinator } from '../cancel/coordinator.ts';
import { isValidId } from '../cancel/keys.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../observability/metrics.ts';
import { hasBody, isJson, parseJson, readBody } from './body.ts';
import { readId } from './ids.ts';
import type { CancelAuth, RateLimiter } from './cancel-auth.ts';
import { sendJson } from './respond.ts';

const statusOf: Record<CancelAnswer['outcome'], number> = {
  stopped: 200,
  already_completed: 200,
  pending: 202,
  accepted: 202,
  not_found: 404,
};

const cancelBodyLimit = 64 * 1024; // 64 KiB: two ids fit many times over

export interface CancelDeps {
  readonly config: Config;
  readonly coordinator: Coordinator;
  readonly metrics: Metrics;
  readonly auth: CancelAuth;
  readonly limiter: RateLimiter;
  /** POST /stopline/v1/cancel (JSON ids) rather than a configured cancel route (ids from the configured sources) */
  readonly own: boolean;
}

export async function handleCancel(req: IncomingMessage, res: ServerResponse, query: string, deps: CancelDeps): Promise<void> {
  const { config, coordinator, metrics, auth, limiter, own } = deps;
  if (!limiter.take(req.socket.remoteAddress ?? '')) {
    metrics.cancelRequests.inc({ outcome: 'rate_limited' });
    // The body is left unread: close the connection rather than wait for it.
    sendJson(res, 429, { error: 'rate_limited', message: `More than ${config.cancelRatePerS} cancels per second from this address` }, { 'retry-after': '1', connection: 'close' });
    return;
  }
  let sessionId: unknown;
  let messageId: unknown;
  let bodyToken: unknown;
  const limit = own ? cancelBodyLimit : config.maxBodyBytes;
  const body = hasBody(req) ? await readBody(req, limit) : undefined;
  if (own) {
    const json = body === undefined ? undefined : parseJson(body);
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return invalid(res, metrics, 'Body must be a JSON object with "session_id" and optionally "message_id"');
    sessionId = (json as Record<string, unknown>).session_id;
    messageId = (json as Record<string, unknown>).message_id ?? undefined;
    bodyToken = (json as Record<string, unknown>).cancel_token;
  } else {
    const json = body !== undefined && isJson(req) ? parseJson(body) : undefined;
    if (json !== null && typeof json === 'object') bodyToken = (json as Record<string, unknown>).cancel_token;
    const params = query === '' ? null : new URLSearchParams(query);
    sessionId = readId(config.sessionIdFrom, req.headers, params, json);
    messageId = readId(config.messageIdFrom, req.headers, params, json);
  }
  if (!isValidId(sessionId)) return invalid(res, metrics, 'Invalid "session_id": expected 1-128 characters of A-Za-z0-9._:-');
  if (messageId !== undefined && !isValidId(messageId)) return invalid(res, metrics, 'Invalid "message_id": expected 1-128 characters of A-Za-z0-9._:-');
  const allowed = await auth.check(req, bodyToken, sessionId, messageId);
  if (allowed !== 'allowed') {
    metrics.cancelRequests.inc({ outcome: 'forbidden' });
    if (allowed === 'unavailable') sendJson(res, 503, { error: 'auth_unavailable', message: 'The authorization path could not be reached; retry' }, { 'retry-after': '1' });
    else sendJson(res, 403, { error: 'forbidden', message: auth.mode === 'token' ? 'A valid cancel token for exactly these ids is required' : 'The authorization path refused this cancel' });
    return;
  }
  const answer = await coordinator.cancel(sessionId, messageId);
  sendJson(res, statusOf[answer.outcome], answer);
}

function invalid(res: ServerResponse, metrics: Metrics, message: string): void {
  metrics.cancelRequests.inc({ outcome: 'invalid' });
  sendJson(res, 400, { error: 'bad_request', message });
}
