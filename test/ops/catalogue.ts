// The metrics stopline exports, as the external contract names them: what the dashboard may query and what
// docs/operations.md must list. catalogue.test.ts checks this list against the registry the sidecar builds.
import { Registry, collectDefaultMetrics } from 'prom-client';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export interface MetricSpec {
  name: string;
  type: MetricType;
  labels: string[];
}

export const stoplineMetrics: MetricSpec[] = [
  { name: 'stopline_redis_command_duration_seconds', type: 'histogram', labels: ['command'] },
  { name: 'stopline_redis_errors_total', type: 'counter', labels: ['command', 'reason'] },
  { name: 'stopline_redis_up', type: 'gauge', labels: [] },
  { name: 'stopline_redis_subscriber_up', type: 'gauge', labels: [] },
  { name: 'stopline_pubsub_resubscribes_total', type: 'counter', labels: [] },
  { name: 'stopline_cancel_checks_total', type: 'counter', labels: ['source', 'result'] },
  { name: 'stopline_fallback_activations_total', type: 'counter', labels: ['reason'] },
  { name: 'stopline_cancel_to_stop_seconds', type: 'histogram', labels: ['path'] },
  { name: 'stopline_cancel_requests_total', type: 'counter', labels: ['outcome'] },
  { name: 'stopline_streams_active', type: 'gauge', labels: [] },
  { name: 'stopline_streams_total', type: 'counter', labels: ['outcome', 'dialect'] },
  { name: 'stopline_stream_duration_seconds', type: 'histogram', labels: ['outcome'] },
  { name: 'stopline_stream_chunks_total', type: 'counter', labels: [] },
  { name: 'stopline_stream_bytes_total', type: 'counter', labels: [] },
  { name: 'stopline_upstream_first_byte_seconds', type: 'histogram', labels: [] },
  { name: 'stopline_upgrades_active', type: 'gauge', labels: [] },
  { name: 'stopline_upgrades_total', type: 'counter', labels: ['result'] },
  { name: 'stopline_draining', type: 'gauge', labels: [] },
  { name: 'stopline_build_info', type: 'gauge', labels: ['version', 'node_version'] },
  // Resume's, exported only where resume is on (STOPLINE_RESUME_ROUTES).
  { name: 'stopline_resumes_total', type: 'counter', labels: ['outcome', 'path'] },
  { name: 'stopline_resume_followers_active', type: 'gauge', labels: ['path'] },
  { name: 'stopline_detached_streams_total', type: 'counter', labels: ['end'] },
  { name: 'stopline_detached_streams_active', type: 'gauge', labels: [] },
  { name: 'stopline_resume_buffer_bytes', type: 'gauge', labels: [] },
  { name: 'stopline_resume_buffer_limit_bytes', type: 'gauge', labels: [] },
];

/** prom-client's default process and Node.js metrics, read from prom-client itself. */
export async function defaultMetrics(): Promise<MetricSpec[]> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return describeRegistry(registry);
}

/** Name, type (as exposed), label names and, for histograms, bucket bounds of every metric in a registry. */
export async function describeRegistry(registry: Registry): Promise<(MetricSpec & { buckets?: number[] })[]> {
  const specs: (MetricSpec & { buckets?: number[] })[] = [];
  for (const { name, type } of await registry.getMetricsAsJSON()) {
    const metric = registry.getSingleMetric(name) as unknown as { labelNames?: string[]; upperBounds?: number[] };
    specs.push({
      name,
      type: String(type) as MetricType,
      labels: [...(metric.labelNames ?? [])],
      ...(metric.upperBounds === undefined ? {} : { buckets: [...metric.upperBounds] }),
    });
  }
  return specs;
}

/** Every series name a metric exposes: histograms add _bucket, _sum and _count. */
export function seriesNames(spec: MetricSpec): string[] {
  return spec.type === 'histogram' ? [`${spec.name}_bucket`, `${spec.name}_sum`, `${spec.name}_count`] : [spec.name];
}

/** Labels every scraped series carries besides its own (added by the scrape), and the histogram bucket label. */
export const targetLabels = ['namespace', 'pod', 'instance', 'job', 'le'];
