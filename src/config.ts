// Configuration: parsed once from the environment, every bad variable reported together, then frozen.
// main.ts is the only reader of process.env; everything else receives a Config.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseResumeSettings, type ResumeSettings } from './resume/settings.ts';
import { dialectNames, type DialectName } from './relay/dialects/dialect.ts';

export type CancelMode = 'push' | 'poll' | 'per-chunk';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type IdSource = { readonly kind: 'header' | 'json' | 'query'; readonly name: string; readonly path: readonly string[] };
export type Route = { readonly method: string; readonly path: string; readonly prefix: boolean };
/** A route whose streams end in a dialect the operator chose (`auto`: told from each response). */
export type DialectRoute = { readonly route: Route; readonly dialect: DialectName | 'auto' };
export type HostPort = { readonly host: string; readonly port: number };

export type RedisConfig =
  | { readonly mode: 'memory' }
  | { readonly mode: 'standalone'; readonly url: string; readonly password: string | undefined }
  | { readonly mode: 'sentinel'; readonly sentinels: readonly HostPort[]; readonly name: string; readonly password: string | undefined; readonly tls: boolean }
  | { readonly mode: 'cluster'; readonly nodes: readonly HostPort[]; readonly password: string | undefined; readonly tls: boolean };

export type Peers =
  | { readonly kind: 'none' }
  | { readonly kind: 'static'; readonly addresses: readonly HostPort[] }
  | { readonly kind: 'dns'; readonly name: string; readonly port: number };

export interface Config {
  readonly listen: HostPort;
  readonly adminListen: HostPort;
  readonly upstream: URL;
  readonly redis: RedisConfig;
  readonly prefix: string;
  readonly nodeId: string;
  readonly streamRoutes: readonly Route[];
  readonly cancelRoutes: readonly Route[];
  readonly dialectRoutes: readonly DialectRoute[];
  readonly sessionIdFrom: readonly IdSource[];
  readonly messageIdFrom: readonly IdSource[];
  readonly cancelMode: CancelMode;
  readonly pollIntervalMs: number;
  readonly redisTimeoutMs: number;
  readonly cancelWaitMs: number;
  readonly streamTtlS: number;
  readonly upstreamCancelPath: string | undefined;
  readonly peers: Peers;
  readonly peerSecret: string | undefined;
  readonly drainTimeoutS: number;
  readonly logLevel: LogLevel;
  readonly maxStreams: number;
  readonly maxBodyBytes: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly upstreamHeadersTimeoutMs: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly cancelAuth: 'none' | 'token' | 'forward';
  readonly cancelSecrets: readonly string[];
  readonly cancelTokenTtlS: number;
  readonly cancelAuthPath: string | undefined;
  readonly cancelRatePerS: number;
  readonly subscriberPingMs: number;
  /** PEM file of the CA that signed Redis' certificate (rediss://), beside the system's; verification is always on. */
  readonly redisCaFile: string | undefined;
  /** The upstream sees the client's Host (as sidecars do); false: the upstream's own, and redirects are mapped back. */
  readonly preserveHost: boolean;
  /** Resume and followers (src/resume/); null: off. */
  readonly resume: ResumeSettings | null;
}

export const defaults = {
  listen: '0.0.0.0:8080',
  adminListen: '0.0.0.0:9464',
  upstream: 'http://127.0.0.1:8000',
  prefix: 'stopline:',
  streamRoutes: '*',
  sessionIdFrom: 'header:x-session-id,json:session_id,query:session_id',
  messageIdFrom: 'header:x-message-id,json:message_id,query:message_id',
  cancelMode: 'push',
  pollIntervalMs: 1_000, // one batched Redis round trip per replica per second
  redisTimeoutMs: 50,
  cancelWaitMs: 2_000,
  streamTtlS: 300, // 5 min
  drainTimeoutS: 30,
  logLevel: 'info',
  maxStreams: 10_000,
  maxBodyBytes: 1024 * 1024, // 1 MiB: the most of a request body read to find ids
  upstreamConnectTimeoutMs: 5_000,
  upstreamHeadersTimeoutMs: 300_000, // 5 min to first byte: long prompts are slow
  upstreamIdleTimeoutMs: 300_000, // 5 min between two chunks
  cancelAuth: 'none',
  cancelTokenTtlS: 86_400, // a cancel token is good for a day
  cancelRatePerS: 50, // cancels per second per client address (a backend in front counts as one address)
  subscriberPingMs: 5_000, // a silently dead subscriber is replaced within about two of these
} as const;

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const bad = (name: string, value: string, allowed: string) =>
    problems.push(`Invalid ${name}="${value}": ${allowed}`);

  const str = (name: string, fallback: string): string => {
    const v = env[name];
    return v === undefined || v === '' ? fallback : v;
  };
  const opt = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = opt(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
      bad(name, raw, `expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const hostPort = (name: string, raw: string): HostPort | undefined => {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(raw);
    const port = m ? Number(m[2]) : -1;
    if (!m || port > 65535) {
      bad(name, raw, 'expected host:port');
      return undefined;
    }
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  };
  const hostPortList = (name: string, raw: string): HostPort[] =>
    raw.split(',').map((s) => s.trim()).filter(Boolean).flatMap((s) => hostPort(name, s) ?? []);

  const listen = hostPort('STOPLINE_LISTEN', str('STOPLINE_LISTEN', defaults.listen)) ?? { host: '0.0.0.0', port: 8080 };
  const adminListen = hostPort('STOPLINE_ADMIN_LISTEN', str('STOPLINE_ADMIN_LISTEN', defaults.adminListen)) ?? { host: '0.0.0.0', port: 9464 };

  const upstreamRaw = str('STOPLINE_UPSTREAM', defaults.upstream);
  let upstream = new URL(defaults.upstream);
  try {
    const u = new URL(upstreamRaw);
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || (u.pathname !== '/' && u.pathname !== '') || u.search) {
      bad('STOPLINE_UPSTREAM', upstreamRaw, 'expected an http:// or https:// origin with no path');
    } else upstream = u;
  } catch {
    bad('STOPLINE_UPSTREAM', upstreamRaw, 'expected an http:// or https:// origin with no path');
  }

  const password = opt('STOPLINE_REDIS_PASSWORD');
  const tlsRaw = opt('STOPLINE_REDIS_TLS');
  const tls = tlsRaw !== undefined && /^(true|yes|on|1)$/i.test(tlsRaw);
  if (tlsRaw !== undefined && !tls && !/^(false|no|off|0)$/i.test(tlsRaw)) bad('STOPLINE_REDIS_TLS', tlsRaw, 'expected true or false (also yes/no, on/off, 1/0)');
  let redis: RedisConfig = { mode: 'memory' };
  const url = opt('STOPLINE_REDIS_URL');
  const sentinels = opt('STOPLINE_REDIS_SENTINELS');
  const clusterNodes = opt('STOPLINE_REDIS_CLUSTER_NODES');
  const modes = [url, sentinels, clusterNodes].filter((v) => v !== undefined).length;
  if (modes > 1) {
    problems.push('Invalid Redis configuration: set only one of STOPLINE_REDIS_URL, STOPLINE_REDIS_SENTINELS, STOPLINE_REDIS_CLUSTER_NODES');
  } else if (url !== undefined) {
    if (!/^rediss?:\/\/[^\s]+$/.test(url)) bad('STOPLINE_REDIS_URL', redact(url), 'expected a redis:// or rediss:// URL');
    else redis = { mode: 'standalone', url, password };
  } else if (sentinels !== undefined) {
    const list = hostPortList('STOPLINE_REDIS_SENTINELS', sentinels);
    const name = opt('STOPLINE_REDIS_SENTINEL_NAME');
    if (name === undefined) problems.push('Invalid STOPLINE_REDIS_SENTINEL_NAME="": required with STOPLINE_REDIS_SENTINELS (the master group name)');
    if (list.length > 0 && name !== undefined) redis = { mode: 'sentinel', sentinels: list, name, password, tls };
  } else if (clusterNodes !== undefined) {
    const list = hostPortList('STOPLINE_REDIS_CLUSTER_NODES', clusterNodes);
    if (list.length > 0) redis = { mode: 'cluster', nodes: list, password, tls };
  }

  const prefix = str('STOPLINE_REDIS_PREFIX', defaults.prefix);
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(prefix)) bad('STOPLINE_REDIS_PREFIX', prefix, 'expected 1-64 characters of A-Za-z0-9._:- (no braces: they are hash tags)');

  const nodeId = str('STOPLINE_NODE_ID', env.POD_NAME || env.HOSTNAME || hostname());
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(nodeId)) bad('STOPLINE_NODE_ID', nodeId, 'expected 1-128 characters of A-Za-z0-9._:-');

  const routes = (name: string, raw: string | undefined): Route[] => {
    if (raw === undefined) return [];
    const out: Route[] = [];
    for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (part === '*') { out.push({ method: '*', path: '/', prefix: true }); continue; }
      const m = /^([A-Z]+|\*)\s+(\/\S*)$/.exec(part);
      if (!m) { bad(name, raw, `"${part}" is not "METHOD /path" (a trailing * matches a prefix; * alone matches all)`); continue; }
      const path = m[2]!;
      const prefixMatch = path.endsWith('*');
      out.push({ method: m[1]!, path: prefixMatch ? path.slice(0, -1) : path, prefix: prefixMatch });
    }
    return out;
  };
  const streamRoutes = routes('STOPLINE_STREAM_ROUTES', str('STOPLINE_STREAM_ROUTES', defaults.streamRoutes));
  const cancelRoutes = routes('STOPLINE_CANCEL_ROUTES', opt('STOPLINE_CANCEL_ROUTES'));
  for (const r of cancelRoutes) {
    if (r.path.startsWith('/stopline/')) bad('STOPLINE_CANCEL_ROUTES', r.path, 'paths under /stopline/ are reserved');
  }

  // STOPLINE_DIALECT_ROUTES="POST /v1/chat/completions=openai-chat,POST /api/*=ollama": first match wins.
  const dialectRoutes: DialectRoute[] = [];
  const dialectRaw = opt('STOPLINE_DIALECT_ROUTES');
  for (const part of (dialectRaw ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.lastIndexOf('=');
    const dialect = part.slice(eq + 1).trim();
    const [route] = eq < 0 ? [] : routes('STOPLINE_DIALECT_ROUTES', part.slice(0, eq).trim());
    if (eq < 0 || (dialect !== 'auto' && !(dialectNames as readonly string[]).includes(dialect))) {
      bad('STOPLINE_DIALECT_ROUTES', dialectRaw!, `"${part}" is not "METHOD /path=DIALECT" with DIALECT one of auto, ${dialectNames.join(', ')}`);
    } else if (route !== undefined) dialectRoutes.push({ route, dialect: dialect as DialectName | 'auto' });
  }

  const sources = (name: string, raw: string): IdSource[] => {
    const out: IdSource[] = [];
    for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
      const m = /^(header|json|query):([A-Za-z0-9_.-]+)$/.exec(part);
      if (!m) { bad(name, raw, `"${part}" is not header:NAME, json:FIELD[.FIELD] or query:NAME`); continue; }
      const kind = m[1] as IdSource['kind'];
      const field = kind === 'header' ? m[2]!.toLowerCase() : m[2]!;
      out.push({ kind, name: field, path: kind === 'json' ? field.split('.') : [field] });
    }
    if (out.length === 0) bad(name, raw, 'expected at least one source');
    return out;
  };
  const sessionIdFrom = sources('STOPLINE_SESSION_ID_FROM', str('STOPLINE_SESSION_ID_FROM', defaults.sessionIdFrom));
  const messageIdFrom = sources('STOPLINE_MESSAGE_ID_FROM', str('STOPLINE_MESSAGE_ID_FROM', defaults.messageIdFrom));

  const modeRaw = str('STOPLINE_CANCEL_MODE', defaults.cancelMode);
  let cancelMode: CancelMode = 'push';
  if (modeRaw === 'push' || modeRaw === 'poll' || modeRaw === 'per-chunk') cancelMode = modeRaw;
  else bad('STOPLINE_CANCEL_MODE', modeRaw, 'expected push, poll or per-chunk');

  const levelRaw = str('STOPLINE_LOG_LEVEL', defaults.logLevel);
  let logLevel: LogLevel = 'info';
  if (['debug', 'info', 'warn', 'error', 'silent'].includes(levelRaw)) logLevel = levelRaw as LogLevel;
  else bad('STOPLINE_LOG_LEVEL', levelRaw, 'expected debug, info, warn, error or silent');

  const cancelPath = opt('STOPLINE_UPSTREAM_CANCEL_PATH');
  if (cancelPath !== undefined && !/^\/\S*$/.test(cancelPath)) bad('STOPLINE_UPSTREAM_CANCEL_PATH', cancelPath, 'expected a path starting with /');

  let peers: Peers = { kind: 'none' };
  const peersRaw = opt('STOPLINE_PEERS');
  if (peersRaw !== undefined) {
    const dns = /^dns:([A-Za-z0-9.-]+):(\d{1,5})$/.exec(peersRaw);
    if (dns) peers = { kind: 'dns', name: dns[1]!, port: Number(dns[2]) };
    else if (peersRaw.startsWith('dns:')) bad('STOPLINE_PEERS', peersRaw, 'expected dns:NAME:PORT or host:port,host:port');
    else {
      const list = hostPortList('STOPLINE_PEERS', peersRaw);
      if (list.length > 0) peers = { kind: 'static', addresses: list };
    }
  }
  const peerSecret = opt('STOPLINE_PEER_SECRET');
  if (peerSecret !== undefined && peerSecret.length < 16) bad('STOPLINE_PEER_SECRET', '<redacted>', 'expected at least 16 characters');
  if (peers.kind !== 'none' && peerSecret === undefined) problems.push('Invalid STOPLINE_PEER_SECRET="": required with STOPLINE_PEERS (peer endpoints are never open)');

  const authRaw = str('STOPLINE_CANCEL_AUTH', defaults.cancelAuth);
  let cancelAuth: Config['cancelAuth'] = 'none';
  if (authRaw === 'none' || authRaw === 'token' || authRaw === 'forward') cancelAuth = authRaw;
  else bad('STOPLINE_CANCEL_AUTH', authRaw, 'expected none, token or forward');
  const secretsRaw = opt('STOPLINE_CANCEL_SECRET');
  const cancelSecrets = secretsRaw === undefined ? [] : secretsRaw.split(',').map((s) => s.trim()).filter(Boolean);
  if (cancelAuth === 'token' && (cancelSecrets.length === 0 || cancelSecrets.length > 2 || cancelSecrets.some((s) => s.length < 16))) {
    problems.push('Invalid STOPLINE_CANCEL_SECRET="<redacted>": with STOPLINE_CANCEL_AUTH=token, one or two comma-separated secrets of at least 16 characters (the first signs, both verify)');
  }
  const cancelAuthPath = opt('STOPLINE_CANCEL_AUTH_PATH');
  if (cancelAuth === 'forward' && (cancelAuthPath === undefined || !/^\/\S*$/.test(cancelAuthPath))) {
    bad('STOPLINE_CANCEL_AUTH_PATH', cancelAuthPath ?? '', 'with STOPLINE_CANCEL_AUTH=forward, the upstream path that authorizes a cancel (starting with /)');
  }

  const preserveHostRaw = str('STOPLINE_PRESERVE_HOST', 'true');
  if (preserveHostRaw !== 'true' && preserveHostRaw !== 'false') bad('STOPLINE_PRESERVE_HOST', preserveHostRaw, 'expected true or false');

  const redisCaFile = opt('STOPLINE_REDIS_CA_FILE');
  if (redisCaFile !== undefined && !existsSync(redisCaFile)) bad('STOPLINE_REDIS_CA_FILE', redisCaFile, 'expected a readable PEM file');

  const resume = parseResumeSettings({ opt, int, bad, routes });

  const config: Config = {
    listen,
    adminListen,
    upstream,
    redis,
    prefix,
    nodeId,
    streamRoutes,
    dialectRoutes,
    cancelRoutes,
    sessionIdFrom,
    messageIdFrom,
    cancelMode,
    pollIntervalMs: int('STOPLINE_POLL_INTERVAL_MS', defaults.pollIntervalMs, 10, 3_600_000),
    redisTimeoutMs: int('STOPLINE_REDIS_TIMEOUT_MS', defaults.redisTimeoutMs, 1, 60_000),
    cancelWaitMs: int('STOPLINE_CANCEL_WAIT_MS', defaults.cancelWaitMs, 0, 600_000),
    streamTtlS: int('STOPLINE_STREAM_TTL_S', defaults.streamTtlS, 5, 86_400),
    upstreamCancelPath: cancelPath,
    peers,
    peerSecret,
    drainTimeoutS: int('STOPLINE_DRAIN_TIMEOUT_S', defaults.drainTimeoutS, 0, 3_600),
    logLevel,
    // At most what has been measured to work: the poll and Redis at 50,000 live streams on one replica.
    maxStreams: int('STOPLINE_MAX_STREAMS', defaults.maxStreams, 1, 50_000),
    maxBodyBytes: int('STOPLINE_MAX_BODY_BYTES', defaults.maxBodyBytes, 1_024, 64 * 1024 * 1024),
    upstreamConnectTimeoutMs: int('STOPLINE_UPSTREAM_CONNECT_TIMEOUT_MS', defaults.upstreamConnectTimeoutMs, 1, 600_000),
    upstreamHeadersTimeoutMs: int('STOPLINE_UPSTREAM_HEADERS_TIMEOUT_MS', defaults.upstreamHeadersTimeoutMs, 1, 3_600_000),
    upstreamIdleTimeoutMs: int('STOPLINE_UPSTREAM_IDLE_TIMEOUT_MS', defaults.upstreamIdleTimeoutMs, 1, 3_600_000),
    cancelAuth,
    cancelSecrets,
    cancelTokenTtlS: int('STOPLINE_CANCEL_TOKEN_TTL_S', defaults.cancelTokenTtlS, 60, 30 * 86_400),
    cancelAuthPath,
    cancelRatePerS: int('STOPLINE_CANCEL_RATE_PER_S', defaults.cancelRatePerS, 0, 1_000_000),
    subscriberPingMs: int('STOPLINE_SUBSCRIBER_PING_MS', defaults.subscriberPingMs, 100, 600_000),
    redisCaFile,
    preserveHost: preserveHostRaw !== 'false',
    resume,
  };
  // The poll is what keeps a replica's Redis state alive (cancel/poll.ts, owner.ts): each tick writes again the
  // registrations older than half the TTL, and a tick more than a quarter of the TTL after the last good one writes
  // every live stream again. At most an eighth leaves room for a late tick before that; longer, every tick writes
  // every stream again (above a quarter), registrations expire between two refreshes (above a half), and the inbox
  // and the state marker expire between two polls (above the TTL): cancels of this replica's streams are lost.
  const given = (name: string) => !problems.some((p) => p.startsWith(`Invalid ${name}=`));
  if (given('STOPLINE_POLL_INTERVAL_MS') && given('STOPLINE_STREAM_TTL_S') && config.pollIntervalMs * 8 > config.streamTtlS * 1000) {
    problems.push(`Invalid STOPLINE_POLL_INTERVAL_MS="${config.pollIntervalMs}" with STOPLINE_STREAM_TTL_S="${config.streamTtlS}": ` +
      `expected a poll interval of at most an eighth of the stream TTL (at most ${Math.floor(config.streamTtlS * 1000 / 8)} ms with this TTL, ` +
      `or a TTL of at least ${Math.ceil(config.pollIntervalMs * 8 / 1000)} s with this interval), so that every poll comes before registrations and cancels expire`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//<credentials>@');
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof URL)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** The dialect an operator forced for this route, or null (`auto`). */
export function forcedDialect(routes: readonly DialectRoute[], method: string, path: string): DialectName | null {
  for (const r of routes) if (routeMatches([r.route], method, path)) return r.dialect === 'auto' ? null : r.dialect;
  return null;
}

export function routeMatches(routes: readonly Route[], method: string, path: string): boolean {
  for (const r of routes) {
    if (r.method !== '*' && r.method !== method) continue;
    if (r.prefix ? path.startsWith(r.path) : path === r.path) return true;
  }
  return false;
}
