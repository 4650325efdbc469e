// Header rules of a proxy (RFC 9110 §7.6.1): hop-by-hop fields, and every field the Connection header nominates,
// stay on their own hop. Forwarding adds x-forwarded-for/-proto/-host. The upstream sees the client's Host unless
// STOPLINE_PRESERVE_HOST=false; then redirects pointing at the upstream's own origin are mapped back to the client's.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'http2-settings',
]);

function nominated(connection: string | string[] | undefined): Set<string> | null {
  if (connection === undefined) return null;
  const list = Array.isArray(connection) ? connection.join(',') : connection;
  const out = new Set<string>();
  for (const t of list.split(',')) { const n = t.trim().toLowerCase(); if (n) out.add(n); }
  return out.size > 0 ? out : null;
}

/** The headers the upstream request carries: end-to-end fields of the client's request, plus forwarding fields. */
export function upstreamRequestHeaders(req: IncomingMessage, upstreamHost: string, extra: Record<string, string>, traced: boolean, keepHost: boolean): Record<string, string | string[]> {
  const src = req.headers;
  const drop = nominated(src.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in src) {
    if (hopByHop.has(name) || drop?.has(name) || name === 'host') continue;
    // With tracing on, the instrumentation injects the current context (a descendant of the client's): the
    // client's own trace headers would make a second, conflicting traceparent. With tracing off they pass through.
    if (traced && (name === 'traceparent' || name === 'tracestate')) continue;
    const v = src[name];
    if (v !== undefined) out[name] = v;
  }
  const remote = req.socket.remoteAddress ?? '';
  const prior = src['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${remote}` : remote;
  if (src['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = 'http';
  if (src['x-forwarded-host'] === undefined && src.host !== undefined) out['x-forwarded-host'] = src.host;
  out.host = keepHost && src.host !== undefined && src.host !== '' ? src.host : upstreamHost;
  for (const k in extra) out[k] = extra[k]!;
  return out;
}

/** The end-to-end fields of the upstream's response. */
export function clientResponseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const drop = nominated(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (hopByHop.has(name) || drop?.has(name)) continue;
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

export function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * With the upstream's own Host sent, a redirect it builds points at its loopback origin: `Location` and
 * `Content-Location` on that origin are rewritten to the client's (as nginx's default `proxy_redirect` does).
 */
export function mapLocations(out: Record<string, string | string[]>, upstreamOrigin: string, req: IncomingMessage): void {
  for (const name of ['location', 'content-location']) {
    const v = out[name];
    if (typeof v !== 'string' || !v.startsWith(upstreamOrigin)) continue;
    const rest = v.slice(upstreamOrigin.length);
    if (rest !== '' && rest[0] !== '/' && rest[0] !== '?' && rest[0] !== '#') continue; // another host that only starts alike
    const host = req.headers.host;
    if (host === undefined || host === '') { out[name] = rest === '' ? '/' : rest; continue; }
    const proto = firstHeader(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim() || 'http';
    out[name] = `${proto}://${host}${rest}`;
  }
}
