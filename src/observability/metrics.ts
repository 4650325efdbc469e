// Every metric stopline exports, built once per app on its own registry. Label values are closed sets, and the
// children used on hot paths are bound here once, so recording is a plain method call.
import { dialectNames } from '../relay/dialects/dialect.ts';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const streamOutcomes = ['completed', 'cancelled', 'client_disconnected', 'upstream_error', 'shutdown'] as const;
export type StreamOutcome = (typeof streamOutcomes)[number];
export const cancelPaths = ['local', 'pubsub', 'poll', 'peer'] as const;
export type CancelPath = (typeof cancelPaths)[number];
export type CheckSource = 'pubsub' | 'poll' | 'local' | 'chunk' | 'peer';
export type CheckResult = 'cancel' | 'clear' | 'error';
export type RedisErrorReason = 'timeout' | 'connection' | 'circuit_open' | 'oom' | 'other';
export const fallbackReasons = ['redis_unavailable', 'local_registration', 'local_cancel', 'peer_cancel', 'held_cancel', 'held_finish'] as const;
export type FallbackReason = (typeof fallbackReasons)[number];
export const cancelOutcomes = ['stopped', 'already_completed', 'pending', 'accepted', 'not_found', 'invalid', 'forbidden', 'rate_limited'] as const;

// Redis calls on loopback take ~50 µs, across a zone a few ms; the top buckets catch a hung server.
const redisBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
// Cancel-to-stop: 100 µs (same replica) to 10 s (a lost message caught by a slow poll).
const stopBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Streams last from a second to half an hour.
const durationBuckets = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800];
const firstByteBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A stream's own counts of what it relayed. */
export interface RelayCounts { readonly chunks: number; readonly bytes: number }

export function createMetrics(version: string) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const r = [registry];

  const redisDuration = new Histogram({ name: 'stopline_redis_command_duration_seconds', help: 'Redis calls made by stopline, by logical command (a Lua script counts as one)', labelNames: ['command'], buckets: redisBuckets, registers: r });
  const redisErrors = new Counter({ name: 'stopline_redis_errors_total', help: 'Redis calls that failed, by command and reason', labelNames: ['command', 'reason'], registers: r });
  const redisUp = new Gauge({ name: 'stopline_redis_up', help: '1 while the Redis command connection is ready and the circuit is closed', registers: [] });
  const cancelChecks = new Counter({ name: 'stopline_cancel_checks_total', help: 'Cancel checks, by where the answer came from and what it was', labelNames: ['source', 'result'], registers: r });
  const fallbacks = new Counter({ name: 'stopline_fallback_activations_total', help: 'Entries into fallback and operations served by it while Redis is unusable', labelNames: ['reason'], registers: r });
  const cancelToStop = new Histogram({ name: 'stopline_cancel_to_stop_seconds', help: 'From receipt of a cancel to the owner confirming the stop, on the replica that received it', labelNames: ['path'], buckets: stopBuckets, registers: r });
  const cancelRequests = new Counter({ name: 'stopline_cancel_requests_total', help: 'Cancel requests answered, by outcome', labelNames: ['outcome'], registers: r });
  const streamsActive = new Gauge({ name: 'stopline_streams_active', help: 'Tracked streams live on this replica', registers: r });
  const streamsTotal = new Counter({ name: 'stopline_streams_total', help: 'Tracked streams ended, by outcome and API dialect', labelNames: ['outcome', 'dialect'], registers: r });
  const streamDuration = new Histogram({ name: 'stopline_stream_duration_seconds', help: 'Tracked stream duration, by outcome', labelNames: ['outcome'], buckets: durationBuckets, registers: r });
  // Each stream counts its chunks and bytes in plain integers on the hot path, and nothing else does: a stream that
  // ends adds its counts to `relayed`, and a scrape adds those of the live streams (`relayed.live`, set by the app).
  const relayed = { chunks: 0, bytes: 0, live: (): Iterable<RelayCounts> => [] };
  const reported = { chunks: 0, bytes: 0 };
  const catchUp = (counter: Counter, k: keyof RelayCounts) => {
    let n = relayed[k];
    for (const s of relayed.live()) n += s[k];
    counter.inc(n - reported[k]);
    reported[k] = n;
  };
  new Counter({ name: 'stopline_stream_chunks_total', help: 'Chunks relayed on tracked streams', registers: r, collect() { catchUp(this, 'chunks'); } });
  new Counter({ name: 'stopline_stream_bytes_total', help: 'Bytes relayed on tracked streams', registers: r, collect() { catchUp(this, 'bytes'); } });
  const firstByte = new Histogram({ name: 'stopline_upstream_first_byte_seconds', help: 'From sending the upstream request to its response headers', buckets: firstByteBuckets, registers: r });
  const upgradesActive = new Gauge({ name: 'stopline_upgrades_active', help: 'Upgraded connections (WebSocket and other HTTP/1.1 upgrades) tunnelled now', registers: r });
  const upgradesTotal = new Counter({ name: 'stopline_upgrades_total', help: 'Upgrade handshakes, by result: upgraded, refused (the upstream answered without 101), failed', labelNames: ['result'], registers: r });
  const draining = new Gauge({ name: 'stopline_draining', help: '1 while draining on SIGTERM', registers: r });
  const subscriberUp = new Gauge({ name: 'stopline_redis_subscriber_up', help: '1 while the Pub/Sub subscriber is connected and verified (push mode)', registers: [] });
  const resubscribes = new Counter({ name: 'stopline_pubsub_resubscribes_total', help: 'Times the Pub/Sub subscription was re-established', registers: [] });
  new Gauge({ name: 'stopline_build_info', help: 'Build information, always 1', labelNames: ['version', 'node_version'], registers: r }).set({ version, node_version: process.versions.node }, 1);

  // Series start at zero, so the first increase of each is seen by rate() and increase().
  for (const o of streamOutcomes) for (const dialect of dialectNames) streamsTotal.inc({ outcome: o, dialect }, 0);
  for (const o of cancelOutcomes) cancelRequests.inc({ outcome: o }, 0);
  for (const reason of fallbackReasons) fallbacks.inc({ reason }, 0);
  for (const p of cancelPaths) cancelToStop.zero({ path: p });
  for (const result of ['upgraded', 'refused', 'failed']) upgradesTotal.inc({ result }, 0);

  return {
    registry,
    relayed,
    redisDuration,
    redisErrors,
    redisUp,
    cancelChecks,
    fallbacks,
    cancelToStop,
    cancelRequests,
    streamsActive,
    streamsTotal,
    streamDuration,
    firstByte,
    draining,
    upgradesActive,
    upgradesTotal,
    subscriberUp,
    resubscribes,
    /** Only with Redis configured is there a Redis to be up (single-node mode exports no stopline_redis_up). */
    enableRedisMetrics() {
      registry.registerMetric(redisUp);
    },
    /** Push mode has a subscriber; only then are its metrics exported. */
    enableSubscriberMetrics() {
      registry.registerMetric(subscriberUp);
      registry.registerMetric(resubscribes);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
