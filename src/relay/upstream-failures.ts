// Upstream failures in the logs: the first is written as it happens, with the upstream's origin and the real cause
// (ECONNREFUSED, ENOTFOUND, a timeout); then at most one line per interval, saying how many more there were, so an
// AI service that is down does not flood the log with one line per request.
import type { StoplineError } from '../errors.ts';
import type { Logger } from '../log.ts';

export function upstreamFailureLog(log: Logger, origin: string, intervalMs = 10_000, now: () => number = performance.now.bind(performance)): (e: StoplineError) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (e) => {
    const t = now();
    if (t - last < intervalMs) { suppressed++; return; }
    last = t;
    log.warn('upstream request failed', { upstream: origin, error: e.code, ...(suppressed > 0 ? { since_last: suppressed } : {}), err: e.cause ?? e });
    suppressed = 0;
  };
}
