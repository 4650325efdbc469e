// The Grafana dashboard: generated file up to date, lint clean, and every query accepted by a real Prometheus.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { overviewFile, renderOverview } from '../../dashboards/build.ts';
import { defaultMetrics, seriesNames, stoplineMetrics, targetLabels } from './catalogue.ts';
import { type LintRules, lintDashboard, queries } from './dashboard-lint.ts';
import { type Prometheus, query, startPrometheus } from './prometheus.ts';
import { scan } from './promql.ts';

const committed = readFileSync(overviewFile, 'utf8');
const dashboard = JSON.parse(committed) as Record<string, unknown>;

async function lintRules(): Promise<LintRules> {
  const series = new Map<string, Set<string>>();
  for (const spec of [...stoplineMetrics, ...(await defaultMetrics())]) {
    const labels = new Set([...spec.labels, ...targetLabels]);
    for (const name of seriesNames(spec)) series.set(name, labels);
  }
  // The USE row's series, with the labels cAdvisor (through the kubelet) and kube-state-metrics give them.
  const pod = ['namespace', 'pod', 'container', 'instance', 'job'];
  const external = new Map<string, Set<string>>([
    ['container_cpu_cfs_throttled_periods_total', new Set([...pod, 'id', 'image', 'name'])],
    ['container_cpu_cfs_periods_total', new Set([...pod, 'id', 'image', 'name'])],
    ['container_memory_working_set_bytes', new Set([...pod, 'id', 'image', 'name'])],
    ['kube_pod_container_resource_limits', new Set([...pod, 'node', 'resource', 'unit', 'uid'])],
    ['kube_pod_container_status_restarts_total', new Set([...pod, 'uid'])],
  ]);
  return { series, labels: new Set([...series.values()].flatMap((s) => [...s])), external };
}

test('the committed dashboard JSON is what dashboards/build.ts generates', () => {
  const want = renderOverview().split('\n');
  const have = committed.split('\n');
  const line = want.findIndex((l, i) => have[i] !== l);
  assert.ok(line < 0 && have.length === want.length,
    `stopline-overview.json is stale from line ${line + 1}: run \`node dashboards/build.ts\` and commit the result\n` +
    `  committed: ${have[line] ?? ''}\n  generated: ${want[line] ?? ''}`);
});

test('the dashboard is provisionable: uid, schema, tags, no __inputs', () => {
  assert.equal(dashboard.uid, 'stopline-overview');
  assert.ok(Number(dashboard.schemaVersion) >= 39);
  assert.ok(Array.isArray(dashboard.tags) && dashboard.tags.includes('stopline'));
  assert.equal('__inputs' in dashboard, false);
});

test('the dashboard passes lint', async () => {
  assert.deepEqual(lintDashboard(dashboard, await lintRules()), []);
});

test('every section the brief asks for has a panel', () => {
  const wanted = [
    'stopline_streams_active', 'stopline_streams_total', 'stopline_cancel_to_stop_seconds_bucket',
    // the USE row: CPU throttling, memory against the limit, sidecar restarts
    'container_cpu_cfs_throttled_periods_total', 'container_memory_working_set_bytes', 'kube_pod_container_resource_limits', 'kube_pod_container_status_restarts_total',
    'stopline_cancel_requests_total', 'stopline_cancel_checks_total', 'stopline_redis_command_duration_seconds_bucket',
    'stopline_redis_errors_total', 'stopline_redis_up', 'stopline_redis_subscriber_up', 'stopline_fallback_activations_total',
    'stopline_upstream_first_byte_seconds_bucket', 'stopline_stream_duration_seconds_bucket', 'stopline_stream_chunks_total',
    'stopline_stream_bytes_total', 'nodejs_eventloop_lag_p99_seconds', 'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes', 'stopline_draining',
    // the resume row
    'stopline_resumes_total', 'stopline_resume_followers_active', 'stopline_detached_streams_active',
    'stopline_detached_streams_total', 'stopline_resume_buffer_bytes', 'stopline_resume_buffer_limit_bytes',
  ];
  const used = new Set(queries(dashboard).flatMap((q) => scan(q.expr).selectors.map((s) => s.metric)));
  assert.deepEqual(wanted.filter((m) => !used.has(m)), []);
});

describe('the lint catches', () => {
  const broken = (edit: (panels: Record<string, unknown>[]) => void) => {
    const copy = JSON.parse(committed) as { panels: Record<string, unknown>[] };
    edit(copy.panels);
    return copy;
  };
  const firstGraph = (panels: Record<string, unknown>[]) => {
    const p = panels.find((x) => x.type === 'timeseries');
    assert.ok(p);
    return p as { id: number; datasource: unknown; fieldConfig: { defaults: { unit?: string } }; targets: { expr: string }[] };
  };
  const cases: [string, (panels: Record<string, unknown>[]) => void, RegExp][] = [
    ['a duplicate panel id', (ps) => { firstGraph(ps).id = 1; }, /duplicate id/],
    ['a fixed data source', (ps) => { firstGraph(ps).datasource = { type: 'prometheus', uid: 'prod' }; }, /data source is not/],
    ['a missing unit', (ps) => { delete firstGraph(ps).fieldConfig.defaults.unit; }, /no unit/],
    ['an unknown metric', (ps) => { firstGraph(ps).targets[0] = { expr: 'sum(stopline_streams_live{namespace=~"$namespace", pod=~"$pod"})' }; }, /unknown metric "stopline_streams_live"/],
    ['a selector without the pod matcher', (ps) => { firstGraph(ps).targets[0] = { expr: 'sum(stopline_streams_active{namespace=~"$namespace"})' }; }, /lacks pod=~"\$pod"/],
    ['a grouping label that does not exist', (ps) => { firstGraph(ps).targets[0] = { expr: 'sum by (outcom) (stopline_streams_active{namespace=~"$namespace", pod=~"$pod"})' }; }, /unknown label "outcom"/],
    ['a matcher on a label the metric lacks', (ps) => { firstGraph(ps).targets[0] = { expr: 'sum(stopline_streams_active{namespace=~"$namespace", pod=~"$pod", outcome="x"})' }; }, /unknown label "outcome"/],
    ['a fixed rate window', (ps) => { firstGraph(ps).targets[0] = { expr: 'sum(rate(stopline_streams_total{namespace=~"$namespace", job=~"$job", pod=~"$pod"}[5m]))' }; }, /window \[5m\]/],
    ['a window of the whole range', (ps) => { firstGraph(ps).targets[0] = { expr: 'sum(increase(stopline_streams_total{namespace=~"$namespace", job=~"$job", pod=~"$pod"}[$__range]))' }; }, /window \[\$__range\]/],
    ['a selector without the job matcher', (ps) => { firstGraph(ps).targets[0] = { expr: 'sum(stopline_streams_active{namespace=~"$namespace", pod=~"$pod"})' }; }, /lacks job=~"\$job"/],
    ['a selector without the instance matcher', (ps) => { firstGraph(ps).targets[0] = { expr: 'sum(stopline_streams_active{namespace=~"$namespace", job=~"$job", pod=~"$pod"})' }; }, /lacks instance=~"\$instance"/],
    ['a cAdvisor series not narrowed to the container', (ps) => { firstGraph(ps).targets[0] = { expr: 'sum(container_memory_working_set_bytes{namespace=~"$namespace", pod=~"$pod"})' }; }, /lacks container="stopline"/],
  ];
  for (const [name, edit, expected] of cases) {
    test(name, async () => {
      const problems = lintDashboard(broken(edit), await lintRules());
      assert.ok(problems.some((p) => expected.test(p)), `expected ${String(expected)} in ${JSON.stringify(problems)}`);
    });
  }
});

describe('every query is accepted by Prometheus', () => {
  let prometheus: Prometheus | undefined;
  before(async () => {
    prometheus = await startPrometheus();
  });
  after(async () => {
    await prometheus?.stop();
  });

  const concrete = (expr: string) =>
    expr.replaceAll('$namespace', '.*').replaceAll('$job', '.*').replaceAll('$pod', '.*').replaceAll('$instance', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h');

  test('a malformed query is rejected (the check can fail)', async () => {
    assert.ok(prometheus);
    const result = await query(prometheus, 'sum by (le) (rate(stopline_streams_total[1m])');
    assert.equal(result.status, 'error');
  });

  for (const q of queries(dashboard)) {
    test(q.where, async () => {
      assert.ok(prometheus);
      const result = await query(prometheus, concrete(q.expr));
      assert.equal(result.status, 'success', `${q.expr}: ${result.error ?? ''}`);
    });
  }
});
