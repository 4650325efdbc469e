// Generates dashboards/stopline-overview.json, the Grafana dashboard for stopline: `node dashboards/build.ts`.
// The JSON is committed; test/ops/dashboard.test.ts fails when it differs from what this script produces.
//
// Every panel, query, variable, unit and threshold is built with Grafana's foundation SDK
// (@grafana/grafana-foundation-sdk, pinned in package.json): its builders and enums are typed against Grafana's own
// schema, so a misspelt option or unit fails `npm run typecheck` instead of rendering a blank panel. The SDK also
// lays panels out on the grid (left to right, a new line at 24 columns) and sets the schema version it targets.
//
// Conventions kept by every panel (those of Grafana's dashboard-linter, checked by test/ops/dashboard-lint.ts): the
// `${datasource}` variable as data source, `namespace`, `job`, `pod` and `instance` matchers on every selector of
// stopline's own series, `$__rate_interval` in every rate() and increase(), a unit and a description. The linter
// itself runs on the JSON in test/ops/dashboard-linter.test.ts. The USE row reads cAdvisor and kube-state-metrics
// series, which carry those exporters' `job` and `instance`: they are matched on namespace, pod and
// container="stopline" instead (dashboards/.lint says so to the linter).
//
// STOPLINE_DOCS_BASE sets where the runbook link points (default: the project's repository on GitHub), e.g.
//   STOPLINE_DOCS_BASE=https://git.example.com/platform/stopline/blob/main npm run dashboards
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  BigValueColorMode, BigValueGraphMode, BigValueJustifyMode, BigValueTextMode, type DataSourceRef, GraphDrawStyle,
  GraphThresholdsStyleConfigBuilder, GraphThresholdsStyleMode, LegendDisplayMode, LegendPlacement,
  ReduceDataOptionsBuilder, SortOrder, StackingConfigBuilder, StackingMode, TimelineValueAlignment, TooltipDisplayMode,
  VisibilityMode, VizLegendOptionsBuilder, VizOrientation, VizTooltipOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder, type Dashboard, DashboardBuilder, DashboardCursorSync, DashboardLinkBuilder,
  DashboardLinkType, DatasourceVariableBuilder, type FieldColor, FieldColorBuilder, FieldColorModeId, type GridPos,
  MappingType, type Panel, QueryVariableBuilder, RowBuilder, type ThresholdsConfig, ThresholdsConfigBuilder, ThresholdsMode,
  type ValueMapping, VariableHide, VariableRefresh, VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import * as units from '@grafana/grafana-foundation-sdk/units';

export const overviewFile = fileURLToPath(new URL('./stopline-overview.json', import.meta.url));

const datasource: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };
const docsBase = (process.env.STOPLINE_DOCS_BASE ?? 'https://github.com/stopline/stopline/blob/main').replace(/\/+$/, '');
const runbooks = `${docsBase}/docs/runbooks.md`;

/** `name{namespace=~"$namespace", job=~"$job", pod=~"$pod", instance=~"$instance", ...extra}`: every selector of
 *  stopline's own series. */
function sel(name: string, extra = ''): string {
  return `${name}{namespace=~"$namespace", job=~"$job", pod=~"$pod", instance=~"$instance"${extra === '' ? '' : `, ${extra}`}}`;
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

/** One of the units Grafana knows (the SDK's list of them). */
type Unit = Extract<(typeof units)[keyof typeof units], string>;
type Target = { expr: string; legendFormat: string };
type Mapping = { value: number; text: string; color: string };
type PanelKind = 'timeseries' | 'stat' | 'state-timeline';

interface PanelSpec {
  kind: PanelKind;
  title: string;
  description: string;
  unit: Unit;
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

/** What the SDK's panel builders (timeseries, stat, state timeline) have in common. */
interface AnyPanelBuilder extends cog.Builder<Panel> {
  id(id: number): unknown;
  title(title: string): unknown;
  description(description: string): unknown;
  datasource(datasource: DataSourceRef): unknown;
  gridPos(gridPos: GridPos): unknown;
  unit(unit: string): unknown;
  min(min: number): unknown;
  max(max: number): unknown;
  colorScheme(color: cog.Builder<FieldColor>): unknown;
  thresholds(thresholds: cog.Builder<ThresholdsConfig>): unknown;
  mappings(mappings: ValueMapping[]): unknown;
  withTarget(target: cog.Builder<cog.Dataquery>): unknown;
}

/** Adds rows and panels to the dashboard in order and numbers them; the SDK places them on the grid. */
class Layout {
  readonly #dashboard: DashboardBuilder;
  #id = 0;

  constructor(dashboard: DashboardBuilder) {
    this.#dashboard = dashboard;
  }

  row(title: string): void {
    this.#dashboard.withRow(new RowBuilder(title).id(++this.#id));
  }

  add(spec: PanelSpec): void {
    this.#dashboard.withPanel(panel(++this.#id, spec));
  }
}

function panel(id: number, spec: PanelSpec): AnyPanelBuilder {
  const b = panelOfKind(spec);
  b.id(id);
  b.title(spec.title);
  b.description(spec.description);
  b.datasource(datasource);
  b.gridPos({ x: 0, y: 0, w: spec.w, h: spec.h });
  b.unit(spec.unit);
  b.colorScheme(new FieldColorBuilder().mode(spec.kind === 'timeseries' ? FieldColorModeId.PaletteClassic : FieldColorModeId.Thresholds));
  b.thresholds(new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([{ color: 'green', value: null }, ...(spec.steps ?? [])]));
  b.mappings((spec.mappings ?? []).map((m, index) => ({ type: MappingType.ValueToText, options: { [String(m.value)]: { text: m.text, color: m.color, index } } })));
  if (spec.min !== undefined) b.min(spec.min);
  if (spec.max !== undefined) b.max(spec.max);
  spec.targets.forEach((t, i) => {
    b.withTarget(new DataqueryBuilder().datasource(datasource).refId(String.fromCharCode(65 + i)).expr(t.expr).legendFormat(t.legendFormat).range());
  });
  return b;
}

const legend = () => new VizLegendOptionsBuilder().displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom).showLegend(true).calcs([]);

/** The panel type's own options: how a stat reduces, how a graph draws, how a timeline shows states. */
function panelOfKind(spec: PanelSpec): AnyPanelBuilder {
  switch (spec.kind) {
    case 'stat':
      return new stat.PanelBuilder()
        .reduceOptions(new ReduceDataOptionsBuilder().calcs([spec.reduce ?? 'lastNotNull']).fields('').values(false))
        .colorMode(BigValueColorMode.Value)
        .graphMode(BigValueGraphMode.Area)
        .justifyMode(BigValueJustifyMode.Auto)
        .orientation(VizOrientation.Auto)
        .textMode(BigValueTextMode.Auto);
    case 'state-timeline':
      return new statetimeline.PanelBuilder()
        .showValue(VisibilityMode.Never)
        .mergeValues(true)
        .alignValue(TimelineValueAlignment.Left)
        .rowHeight(0.9)
        .legend(legend())
        .tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Single).sort(SortOrder.None));
    case 'timeseries': {
      const b = new timeseries.PanelBuilder()
        .legend(legend())
        .tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending))
        .lineWidth(1)
        .showPoints(VisibilityMode.Never);
      if (spec.bars === true) b.drawStyle(GraphDrawStyle.Bars).fillOpacity(80).stacking(new StackingConfigBuilder().mode(StackingMode.Normal).group('A'));
      else b.drawStyle(GraphDrawStyle.Line).fillOpacity(10).spanNulls(false);
      if (spec.steps !== undefined) b.thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Line));
      return b;
    }
  }
}

const upDown: Mapping[] = [
  { value: 0, text: 'down', color: 'red' },
  { value: 1, text: 'up', color: 'green' },
];
const cancelsReachingAStream = 'outcome=~"stopped|already_completed|accepted"';
// Resumes that did not give the client the rest of its stream (StoplineResumesFailing), among those answered
// (a malformed request is the client's own mistake).
const resumesFailed = 'outcome=~"cut|window_passed|unavailable"';
const resumesAnswered = 'outcome!="bad_request"';

export function buildOverview(): Dashboard {
  const dash = new DashboardBuilder('stopline / Overview')
    .uid('stopline-overview')
    .description('Streams, stops, latency, Redis health, fallback and resumes of the stopline sidecar.')
    .tags(['stopline', 'streaming', 'redis'])
    .readonly()
    .tooltip(DashboardCursorSync.Crosshair)
    .version(1)
    .refresh('30s')
    .time({ from: 'now-3h', to: 'now' })
    .timezone('')
    .fiscalYearStartMonth(0)
    .liveNow(false)
    .weekStart('')
    .link(new DashboardLinkBuilder('Runbooks').type(DashboardLinkType.Link).url(runbooks).icon('doc').targetBlank(true)
      .asDropdown(false).includeVars(false).keepTime(false).tags([]).tooltip('What each stopline alert means and what to do'))
    .annotation(new AnnotationQueryBuilder().name('Annotations & Alerts').builtIn(1).type('dashboard')
      .datasource({ type: 'grafana', uid: '-- Grafana --' }).enable(true).hide(true).iconColor('rgba(0, 211, 255, 1)'))
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus').hide(VariableHide.DontHide)
      .includeAll(false).multi(false).regex(''))
    .withVariable(labelVariable('namespace', 'Namespace', 'label_values(stopline_build_info, namespace)'))
    .withVariable(labelVariable('job', 'Job', 'label_values(stopline_build_info{namespace=~"$namespace"}, job)'))
    .withVariable(labelVariable('pod', 'Pod', 'label_values(stopline_build_info{namespace=~"$namespace", job=~"$job"}, pod)'))
    .withVariable(labelVariable('instance', 'Instance', 'label_values(stopline_build_info{namespace=~"$namespace", job=~"$job", pod=~"$pod"}, instance)'));
  const l = new Layout(dash);

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

  l.row('Resume');
  l.add({ ...ts, title: 'Resumes by outcome and path', unit: 'reqps', min: 0,
    description: 'Resumes and follows answered per second, on the replica that received them, by outcome (whole, cut, left, not_found, window_passed, unavailable, bad_request) and path (local: this replica holds the stream; peer: another does). Only replicas with STOPLINE_RESUME_ROUTES export these.',
    targets: [{ expr: `sum by (outcome, path) (${rate('stopline_resumes_total')})`, legendFormat: '{{outcome}} {{path}}' }] });
  l.add({ ...ts, title: 'Failed resumes', unit: 'percentunit', min: 0, max: 1, steps: [{ value: 0.1, color: 'red' }],
    description: 'Share of the resumes answered (all but bad_request) that did not give the client the rest of its stream: cut (the follower fell out of the window, the stream failed or the owner went away), window_passed (410) or unavailable (503: the owner could not be found or reached). Alert: StoplineResumesFailing (10% over 10m).',
    targets: [{ expr: `sum(${rate('stopline_resumes_total', resumesFailed)}) / sum(${rate('stopline_resumes_total', resumesAnswered)})`, legendFormat: 'failed share' }] });
  l.add({ ...ts, title: 'Followers active', unit: 'none', min: 0,
    description: 'Followers being served right now, by path: local (the stream is on the replica the follower reached) or peer (relayed from the owner).',
    targets: [{ expr: `sum by (path) (${sel('stopline_resume_followers_active')})`, legendFormat: '{{path}}' }] });
  l.add({ ...ts, title: 'Detached generations', unit: 'none', min: 0,
    description: 'Generations running on with their client gone (a resume route), per pod: each is aborted once STOPLINE_RESUME_DETACH_MS passes without a follower.',
    targets: [{ expr: `sum by (pod) (${sel('stopline_detached_streams_active')})`, legendFormat: '{{pod}}' }] });
  l.add({ ...ts, title: 'Detached generations by end', unit: 'none', min: 0, bars: true,
    description: 'How detached generations ended, per interval: completed, cancelled, upstream_error or shutdown within the window, or aborted for want of a follower.',
    targets: [{ expr: `sum by (end) (increase(${sel('stopline_detached_streams_total')}[$__rate_interval]))`, legendFormat: '{{end}}' }] });
  l.add({ ...ts, title: 'Resume buffer against the bound', unit: 'percentunit', min: 0, max: 1, steps: [{ value: 0.9, color: 'red' }],
    description: 'Stream output held in memory for resumes over the replica\'s bound (STOPLINE_RESUME_REPLICA_BYTES), per pod. At the bound each growing stream gives up its oldest output: resumes from before it answer 410.',
    targets: [{ expr: `max by (pod) (${sel('stopline_resume_buffer_bytes')} / ${sel('stopline_resume_buffer_limit_bytes')})`, legendFormat: '{{pod}}' }] });

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

  const built = dash.build();
  // The SDK defaults links and annotations to `placement: inControlsMenu`, which hides them in the controls menu of
  // recent Grafana versions: the runbook link belongs in the dashboard's header, where an on-call engineer looks.
  for (const link of built.links ?? []) delete link.placement;
  for (const annotation of built.annotations.list ?? []) delete annotation.placement;
  return built;
}

function labelVariable(name: string, label: string, query: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(datasource)
    .definition(query)
    .query({ query, refId: 'StandardVariableQuery' })
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .regex('')
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    // `.+`, as the linter asks: All then means "any value", never "the label may be missing".
    .allValue('.+')
    .current({ selected: true, text: ['All'], value: ['$__all'] })
    .options([])
    .hide(VariableHide.DontHide);
}

export function renderOverview(): string {
  return `${JSON.stringify(buildOverview(), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(overviewFile, renderOverview());
  console.log(`wrote ${overviewFile}`);
}
