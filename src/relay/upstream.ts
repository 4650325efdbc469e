// The pooled, keep-alive connection to the local AI service. One Pool for the upstream origin, with as many
// connections as there are concurrent requests (each live stream holds one), and idle ones kept briefly.
import { Pool } from 'undici';
import type { Config } from '../config.ts';

export function createUpstream(config: Config): Pool {
  return new Pool(config.upstream.origin, {
    connections: null, // one per concurrent request: a stream holds its connection for its whole life
    pipelining: 1,
    connect: { timeout: config.upstreamConnectTimeoutMs },
    headersTimeout: config.upstreamHeadersTimeoutMs,
    bodyTimeout: config.upstreamIdleTimeoutMs, // idle time between two chunks, never a total duration
    keepAliveTimeout: 4_000,
    // An idle connection is closed after 4 s whatever the upstream's `Keep-Alive: timeout=` hint says (undici follows
    // the hint up to this bound, 10 minutes by default): after a burst, each idle connection held costs about 50 KiB.
    keepAliveMaxTimeout: 4_000,
  });
}
