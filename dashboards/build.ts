// Generates dashboards/stopline-overview.json, the Grafana dashboard for stopline: `node dashboards/build.ts`.
// The JSON is committed; test/ops/dashboard.test.ts fails when it differs from what this script produces.
//
// Conventions kept by every panel (those of Grafana's dashboard-linter, checked by test/ops/dashboard-lint.ts): the
// `${datasource}` variable as data source, `namespace`, `job` and `pod` matchers on every selector of stopline's own
// series, `$__rate_interval` in every rate() and increase(), a unit and a description. The USE row reads cAdvisor
// and kube-state-metrics series, which carry those exporters' `job`: they are matched on namespace, pod and
// container="stopline" instead.
//
// STOPLINE_DOCS_BASE sets where the runbook link points (default: the project's repository on GitHub), e.g.
//   STOPLINE_DOCS_BASE=https://git.example.com/platform/stopline/blob/main npm run dashboards
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const overviewFile = fileURLToPath(new URL('./stopline-overview.json', import.meta.url));

const datasource = { type: 'prometheus', uid: '${datasource}' } as const;
const docsBase = (process.env.STOPLINE_DOCS_BASE ?? 'https://github.com/stopline/stopline/blob/main').replace(/\/+$/, '');
const runbooks = `${docsBase}/docs/runbooks.md`;

/** `name{namespace=~"$namespace", job=~"$job", pod=~"$pod", ...extra}`: every selector of stopline's own series. */
function sel(name: string, extra = ''): string {
  return `${name}{namespace=~"$namespace", job=~"$job", pod=~"$pod"${extra === '' ? '' : `, ${extra}`}}`;
}

/** A cAdvisor or kube-state-metrics series of the stopline container (their `job` is the exporter's). */
function container(name: string, extra = ''): string {
  return `${name}{namespace=~"$namespace", pod=~"$pod", container="stopline"${extra === '' ? '' : `, ${extra}`}}`;
}

/** prom-client's default metrics carry no stopline prefix: keep only the stopline container's own series. */
function ownProcess(expr: string): string {
  return `${expr} and on (namespace, pod, instance) ${sel('stopline_build_info')}`;
}

const rate = (name: string, extra = '') => `rate(${sel(name, extra)}[$__rate_interval])`;

function quantile(q: number, histogram: string, by: string[]): string {
  return `histogram_quantile(${q}, sum by (${['le', ...by].join(', ')}) (rate(${sel(`${histogram}_bucket`)}[$__rate_interval])))`;
}

type Target = { expr: string; legendFormat: string; instant?: boolean };
type Mapping = { value: number; text: string; color: string };
type PanelKind = 'timeseries' | 'stat' | 'state-timeline';

interface PanelSpec {
  kind: PanelKind;
  title: string;
  description: string;
  unit: string;
  targets: Target[];
  w: number;
  h: number;
  min?: number;
  max?: number;
  /** Threshold steps after the green base, for stats and state timelines. */
  steps?: { value: number; color: string }[];
  mappings?: Mapping[];
  bars?: boolean;
  /** How a stat reduces its series over the time range (default: the last value). */
  reduce?: 'max' | 'mean';
}

export type Panel = Record<string, unknown> & { id: number; type: string; title: string };
export type Dashboard = Record<string, unknown> & { uid: string; panels: Panel[] };

/** Places panels left to right in rows of 24 columns and numbers them. */
class Layout {
  readonly panels: Panel[] = [];
  #id = 0;
  #x = 0;
  #y = 0;
  #rowHeight = 0;

  row(title: string): void {
    this.#newline();
    this.panels.push({ id: ++this.#id, type: 'row', title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y: this.#y }, panels: [] });
    this.#y += 1;
  }

  add(spec: PanelSpec): void {
    if (this.#x + spec.w > 24) this.#newline();
    const gridPos = { h: spec.h, w: spec.w, x: this.#x, y: this.#y };
    this.#x += spec.w;
    this.#rowHeight = Math.max(this.#rowHeight, spec.h);
    this.panels.push(panel(++this.#id, gridPos, spec));
  }

  #newline(): void {
    this.#y += this.#rowHeight;
    this.#x = 0;
    this.#rowHeight = 0;
  }
}

function panel(id: number, gridPos: object, spec: PanelSpec): Panel {
  const defaults: Record<string, unknown> = {
    unit: spec.unit,
    color: spec.kind === 'timeseries' ? { mode: 'palette-classic' } : { mode: 'thresholds' },
    thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, ...(spec.steps ?? []).map((s) => ({ color: s.color, value: s.value }))] },
    mappings: (spec.mappings ?? []).map((m, index) => ({
      type: 'value',
      options: { [String(m.value)]: { text: m.text, color: m.color, index } },
    })),
  };
  if (spec.min !== undefined) defaults.min = spec.min;
  if (spec.max !== undefined) defaults.max = spec.max;
  if (spec.kind === 'timeseries') {
    defaults.custom = spec.bars === true
      ? { drawStyle: 'bars', fillOpacity: 80, lineWidth: 1, showPoints: 'never', stacking: { mode: 'normal', group: 'A' } }
      : { drawStyle: 'line', fillOpacity: 10, lineWidth: 1, showPoints: 'never', spanNulls: false };
    if (spec.steps !== undefined) (defaults.custom as Record<string, unknown>).thresholdsStyle = { mode: 'line' };
  }
  const legend = { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] };
  const options: Record<string, unknown> =
    spec.kind === 'stat'
      ? {
          reduceOptions: { calcs: [spec.reduce ?? 'lastNotNull'], fields: '', values: false },
          colorMode: 'value',
          graphMode: spec.targets.some((t) => t.instant === true) ? 'none' : 'area',
          justifyMode: 'auto',
          orientation: 'auto',
          textMode: 'auto',
        }
      : spec.kind === 'state-timeline'
        ? { showValue: 'never', mergeValues: true, alignValue: 'left', rowHeight: 0.9, legend, tooltip: { mode: 'single', sort: 'none' } }
        : { legend, tooltip: { mode: 'multi', sort: 'desc' } };
  return {
    id,
    type: spec.kind,
    title: spec.title,
    description: spec.description,
    datasource,
    gridPos,
    fieldConfig: { defaults, overrides: [] },
    options,
    targets: spec.targets.map((t, i) => ({
      datasource,
      refId: String.fromCharCode(65 + i),
      expr: t.expr,
      legendFormat: t.legendFormat,
      range: t.instant !== true,
      instant: t.instant === true,
    })),
  };
}

const upDown: Mapping[] = [
  { value: 0, text: 'down', color: 'red' },
  { value: 1, text: 'up', color: 'green' },
];
const cancelsReachingAStream = 'outcome=~"stopped|already_completed|accepted"';

export function buildOverview(): Dashboard {
  const l = new Layout();

  l.row('Overview');
  const stat = { kind: 'stat', w: 3, h: 4 } as const;
  l.add({ ...stat, title: 'Active streams', unit: 'none',
    description: 'Tracked streams live right now, summed over the selected pods.',
    targets: [{ expr: `sum(${sel('stopline_streams_active')})`, legendFormat: 'active' }] });
  l.add({ ...stat, title: 'Streams ended', unit: 'reqps',
    description: 'Tracked streams ending per second, all outcomes.',
    targets: [{ expr: `sum(${rate('stopline_streams_total')})`, legendFormat: 'ended' }] });
  l.add({ ...stat, title: 'Cancel-to-stop p99 (worst)', unit: 's', reduce: 'max', steps: [{ value: 0.5, color: 'orange' }, { value: 2, color: 'red' }],
    description: 'p99 from receipt of a cancel to the owner confirming the stop, per rate interval; the worst over the time range. Alert: StoplineCancelToStopSlow.',
    targets: [{ expr: quantile(0.99, 'stopline_cancel_to_stop_seconds', []), legendFormat: 'p99' }] });
  l.add({ ...stat, title: 'Unconfirmed cancels', unit: 'percentunit', reduce: 'mean', steps: [{ value: 0.02, color: 'orange' }, { value: 0.1, color: 'red' }],
    description: 'Share of the cancels that reached a stream which were answered `accepted` (not confirmed), per rate interval; the mean over the time range. Alert: StoplineStopsNotConfirmed.',
    targets: [{ expr: `sum(${rate('stopline_cancel_requests_total', 'outcome="accepted"')}) / sum(${rate('stopline_cancel_requests_total', cancelsReachingAStream)})`, legendFormat: 'unconfirmed' }] });
  l.add({ ...stat, title: 'Pods without Redis', unit: 'none', steps: [{ value: 1, color: 'red' }],
    description: 'Pods whose Redis connection is down or whose circuit breaker is open. Alert: StoplineRedisDown.',
    targets: [{ expr: `count(${sel('stopline_redis_up')} == 0) or vector(0)`, legendFormat: 'pods' }] });
  l.add({ ...stat, title: 'Fallback activations (peak)', unit: 'none', reduce: 'max', steps: [{ value: 1, color: 'orange' }],
    description: 'Times stopline used its Redis-independent fallback per rate interval; the most in one interval over the time range. Alert: StoplineFallbackActivated.',
    targets: [{ expr: `sum(increase(${sel('stopline_fallback_activations_total')}[$__rate_interval])) or vector(0)`, legendFormat: 'activations' }] });
  l.add({ ...stat, title: 'Event-loop lag p99 (worst pod)', unit: 's', steps: [{ value: 0.05, color: 'orange' }, { value: 0.1, color: 'red' }],
    description: 'Highest p99 event-loop lag among the selected pods. Alert: StoplineEventLoopLagHigh.',
    targets: [{ expr: `max(${ownProcess(sel('nodejs_eventloop_lag_p99_seconds'))})`, legendFormat: 'lag' }] });
  l.add({ ...stat, title: 'Draining pods', unit: 'none', steps: [{ value: 1, color: 'orange' }],
    description: 'Pods draining after SIGTERM: they take no new streams and stop the live ones at the drain deadline.',
    targets: [{ expr: `sum(${sel('stopline_draining')})`, legendFormat: 'draining' }] });

  l.row('Streams');
  const ts = { kind: 'timeseries', w: 8, h: 8 } as const;
  l.add({ ...ts, title: 'Active streams', unit: 'none', min: 0,
    description: 'Tracked streams live on each pod, and their sum.',
    targets: [
      { expr: `sum(${sel('stopline_streams_active')})`, legendFormat: 'total' },
      { expr: `sum by (pod) (${sel('stopline_streams_active')})`, legendFormat: '{{pod}}' },
    ] });
  l.add({ ...ts, title: 'Streams ended by outcome', unit: 'reqps', min: 0,
    description: 'Tracked streams ending per second: completed, cancelled, client_disconnected, upstream_error, shutdown.',
    targets: [{ expr: `sum by (outcome) (${rate('stopline_streams_total')})`, legendFormat: '{{outcome}}' }] });
  l.add({ ...ts, title: 'Upstream first byte', unit: 's', min: 0,
    description: 'From sending the request to the AI service to its response headers.',
    targets: [
      { expr: quantile(0.5, 'stopline_upstream_first_byte_seconds', []), legendFormat: 'p50' },
      { expr: quantile(0.99, 'stopline_upstream_first_byte_seconds', []), legendFormat: 'p99' },
    ] });
  l.add({ ...ts, title: 'Stream duration p50 by outcome', unit: 's', min: 0,
    description: 'Median duration of the tracked streams that ended, by outcome.',
    targets: [{ expr: quantile(0.5, 'stopline_stream_duration_seconds', ['outcome']), legendFormat: '{{outcome}}' }] });
  l.add({ ...ts, title: 'Relayed chunks', unit: 'cps', min: 0,
    description: 'Chunks relayed per second on tracked streams, by pod.',
    targets: [{ expr: `sum by (pod) (${rate('stopline_stream_chunks_total')})`, legendFormat: '{{pod}}' }] });
  l.add({ ...ts, title: 'Relayed bytes', unit: 'Bps', min: 0,
    description: 'Bytes relayed per second on tracked streams, by pod.',
    targets: [{ expr: `sum by (pod) (${rate('stopline_stream_bytes_total')})`, legendFormat: '{{pod}}' }] });

  l.row('Cancel path');
  l.add({ ...ts, w: 12, title: 'Cancel-to-stop by path', unit: 's', min: 0,
    description: 'From receipt of a cancel to the owner confirming the stop, on the replica that received it, by the path that delivered it (local, pubsub, poll, peer). Alert: StoplineCancelToStopSlow.',
    targets: [
      { expr: quantile(0.5, 'stopline_cancel_to_stop_seconds', ['path']), legendFormat: 'p50 {{path}}' },
      { expr: quantile(0.99, 'stopline_cancel_to_stop_seconds', ['path']), legendFormat: 'p99 {{path}}' },
    ] });
  l.add({ ...ts, w: 12, title: 'Cancel requests by outcome', unit: 'reqps', min: 0,
    description: 'Cancel requests answered per second, by outcome: stopped, already_completed, pending, accepted, not_found, invalid, forbidden, rate_limited.',
    targets: [{ expr: `sum by (outcome) (${rate('stopline_cancel_requests_total')})`, legendFormat: '{{outcome}}' }] });
  l.add({ ...ts, title: 'Unconfirmed cancels', unit: 'percentunit', min: 0, max: 1,
    description: 'Share of the cancels that reached a stream (stopped, already_completed, accepted) answered `accepted`: delivered but not confirmed in time, or Redis degraded. Alert: StoplineStopsNotConfirmed (10% over 10m).',
    targets: [{ expr: `sum(${rate('stopline_cancel_requests_total', 'outcome="accepted"')}) / sum(${rate('stopline_cancel_requests_total', cancelsReachingAStream)})`, legendFormat: 'accepted share' }] });
  l.add({ ...ts, w: 16, title: 'Cancel checks by source and result', unit: 'ops', min: 0,
    description: 'Cancel checks per second, by where the answer came from (pubsub, poll, local, chunk, peer) and what it was (cancel, clear, error).',
    targets: [{ expr: `sum by (source, result) (${rate('stopline_cancel_checks_total')})`, legendFormat: '{{source}} {{result}}' }] });

  l.row('Redis and fallback');
  l.add({ ...ts, title: 'Redis command latency p99', unit: 's', min: 0,
    description: 'p99 duration of stopline\'s Redis calls by logical command (a Lua script counts as one). Alert: StoplineRedisLatencyHigh (25ms).',
    targets: [{ expr: quantile(0.99, 'stopline_redis_command_duration_seconds', ['command']), legendFormat: '{{command}}' }] });
  l.add({ ...ts, title: 'Redis errors by reason', unit: 'ops', min: 0,
    description: 'Failed Redis calls per second by reason (timeout, connection, circuit_open, other). Alert: StoplineRedisErrorsHigh.',
    targets: [{ expr: `sum by (reason) (${rate('stopline_redis_errors_total')})`, legendFormat: '{{reason}}' }] });
  l.add({ ...ts, title: 'Fallback activations by reason', unit: 'none', min: 0, bars: true,
    description: 'Times stopline used its Redis-independent fallback, per interval, by reason. Alert: StoplineFallbackActivated.',
    targets: [{ expr: `sum by (reason) (increase(${sel('stopline_fallback_activations_total')}[$__rate_interval]))`, legendFormat: '{{reason}}' }] });
  const timeline = { kind: 'state-timeline', w: 8, h: 8, unit: 'none', mappings: upDown } as const;
  l.add({ ...timeline, title: 'Redis up',
    description: '1 while the Redis command connection is ready and the circuit is closed, per pod. Alert: StoplineRedisDown.',
    targets: [{ expr: `min by (pod) (${sel('stopline_redis_up')})`, legendFormat: '{{pod}}' }] });
  l.add({ ...timeline, title: 'Pub/Sub subscriber up',
    description: '1 while the Pub/Sub subscriber is connected and verified, per pod (push mode only). Alert: StoplineRedisSubscriberDown.',
    targets: [{ expr: `min by (pod) (${sel('stopline_redis_subscriber_up')})`, legendFormat: '{{pod}}' }] });
  l.add({ ...ts, title: 'Pub/Sub resubscribes', unit: 'none', min: 0, bars: true,
    description: 'Times the Pub/Sub subscription was re-established, per interval and pod. A steady trickle means a flapping connection.',
    targets: [{ expr: `sum by (pod) (increase(${sel('stopline_pubsub_resubscribes_total')}[$__rate_interval]))`, legendFormat: '{{pod}}' }] });

  l.row('Runtime');
  l.add({ ...ts, title: 'Event-loop lag p99', unit: 's', min: 0, steps: [{ value: 0.1, color: 'red' }],
    description: 'p99 event-loop lag per pod: every relayed chunk waits this long at worst. Alert: StoplineEventLoopLagHigh (100ms).',
    targets: [{ expr: `max by (pod) (${ownProcess(sel('nodejs_eventloop_lag_p99_seconds'))})`, legendFormat: '{{pod}}' }] });
  l.add({ ...ts, title: 'Memory', unit: 'bytes', min: 0,
    description: 'Resident set size and V8 heap in use, per pod.',
    targets: [
      { expr: `max by (pod) (${ownProcess(sel('process_resident_memory_bytes'))})`, legendFormat: 'rss {{pod}}' },
      { expr: `max by (pod) (${ownProcess(sel('nodejs_heap_size_used_bytes'))})`, legendFormat: 'heap used {{pod}}' },
    ] });
  l.add({ ...ts, title: 'CPU', unit: 'percentunit', min: 0,
    description: 'CPU time used per second, per pod (1 = 100% of one core).',
    targets: [{ expr: `max by (pod) (${ownProcess(rate('process_cpu_seconds_total'))})`, legendFormat: '{{pod}}' }] });
  l.add({ ...timeline, w: 24, h: 5, title: 'Draining',
    mappings: [{ value: 0, text: 'serving', color: 'green' }, { value: 1, text: 'draining', color: 'orange' }],
    description: '1 while a pod drains after SIGTERM, per pod.',
    targets: [{ expr: `max by (pod) (${sel('stopline_draining')})`, legendFormat: '{{pod}}' }] });

  l.row('Sidecar resources (USE)');
  l.add({ ...ts, title: 'CPU throttling', unit: 'percentunit', min: 0, max: 1, steps: [{ value: 0.25, color: 'red' }],
    description: 'Share of CFS periods in which the stopline container was throttled (cAdvisor), per pod. Throttling delays every relayed chunk: raise the CPU limit or remove it.',
    targets: [{ expr: `sum by (pod) (rate(${container('container_cpu_cfs_throttled_periods_total')}[$__rate_interval])) / sum by (pod) (rate(${container('container_cpu_cfs_periods_total')}[$__rate_interval]))`, legendFormat: '{{pod}}' }] });
  l.add({ ...ts, title: 'Memory against the limit', unit: 'percentunit', min: 0, steps: [{ value: 0.9, color: 'red' }],
    description: 'Working set of the stopline container (cAdvisor) over its memory limit (kube-state-metrics), per pod. Near 1 the container is OOM-killed.',
    targets: [{ expr: `max by (pod) (${container('container_memory_working_set_bytes')}) / max by (pod) (${container('kube_pod_container_resource_limits', 'resource="memory"')})`, legendFormat: '{{pod}}' }] });
  l.add({ ...ts, title: 'Sidecar restarts', unit: 'none', min: 0, bars: true,
    description: 'Restarts of the stopline container per rate interval (kube-state-metrics), per pod. A native sidecar that restarts takes the pod\'s streams with it.',
    targets: [{ expr: `sum by (pod) (increase(${container('kube_pod_container_status_restarts_total')}[$__rate_interval]))`, legendFormat: '{{pod}}' }] });

  return {
    uid: 'stopline-overview',
    title: 'stopline / Overview',
    description: 'Streams, stops, latency, Redis health and fallback of the stopline sidecar.',
    tags: ['stopline', 'streaming', 'redis'],
    editable: false,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-3h', to: 'now' },
    timepicker: {},
    timezone: '',
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    links: [{ title: 'Runbooks', type: 'link', url: runbooks, icon: 'doc', targetBlank: true, asDropdown: false, includeVars: false, keepTime: false, tags: [], tooltip: 'What each stopline alert means and what to do' }],
    annotations: {
      list: [{
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      }],
    },
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0, includeAll: false, multi: false, options: [], refresh: 1, regex: '', skipUrlSync: false },
        labelVariable('namespace', 'Namespace', 'label_values(stopline_build_info, namespace)'),
        labelVariable('job', 'Job', 'label_values(stopline_build_info{namespace=~"$namespace"}, job)'),
        labelVariable('pod', 'Pod', 'label_values(stopline_build_info{namespace=~"$namespace", job=~"$job"}, pod)'),
      ],
    },
    panels: l.panels,
  };
}

function labelVariable(name: string, label: string, query: string): Record<string, unknown> {
  return {
    name,
    label,
    type: 'query',
    datasource,
    definition: query,
    query: { query, refId: 'StandardVariableQuery' },
    refresh: 2,
    regex: '',
    sort: 1,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    hide: 0,
    skipUrlSync: false,
  };
}

export function renderOverview(): string {
  return `${JSON.stringify(buildOverview(), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(overviewFile, renderOverview());
  console.log(`wrote ${overviewFile}`);
}
