// The closed set of errors stopline reports. Foreign errors (undici, ioredis) are translated once, here, keeping
// the original as `cause`; each error carries the HTTP status it answers with.
import type { RedisErrorReason } from './observability/metrics.ts';

export type ErrorCode =
  | 'bad_request'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'too_many_streams'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'upstream_error'
  | 'shutting_down'
  | 'resume_window_passed'
  | 'owner_unavailable';

const statusOf: Record<ErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  too_many_streams: 503,
  upstream_unreachable: 502,
  upstream_timeout: 504,
  upstream_error: 502,
  shutting_down: 503,
  resume_window_passed: 410,
  owner_unavailable: 503,
};

export class StoplineError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoplineError';
    this.code = code;
    this.status = statusOf[code];
  }
}

/** A Redis call that did not succeed; `reason` is the metric label. */
export class RedisUnavailableError extends Error {
  readonly reason: RedisErrorReason;
  constructor(reason: RedisErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisUnavailableError';
    this.reason = reason;
  }
}

const connectionCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

export function redisErrorReason(err: unknown): RedisErrorReason {
  if (err instanceof RedisUnavailableError) return err.reason;
  const e = err as { code?: string; name?: string; message?: string };
  if (e?.code && connectionCodes.has(e.code)) return 'connection';
  const msg = e?.message ?? '';
  if (/timed out/i.test(msg)) return 'timeout';
  if (e?.name === 'ReplyError' && msg.startsWith('OOM')) return 'oom'; // Redis at maxmemory refusing writes
  if (/writeable|Connection is closed|MaxRetriesPerRequest|enableOfflineQueue|ClusterAllFailed|None of startup nodes|Failed to refresh slots/i.test(msg)) return 'connection';
  return 'other';
}

/** Translates an undici error into the answer the client gets. */
export function upstreamError(err: unknown): StoplineError {
  const code = (err as { code?: string })?.code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new StoplineError('upstream_timeout', 'Upstream did not answer in time', { cause: err });
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') {
    return new StoplineError('upstream_unreachable', 'Upstream is unreachable', { cause: err });
  }
  return new StoplineError('upstream_error', 'Upstream request failed', { cause: err });
}
