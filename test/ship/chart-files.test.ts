// The chart packages the alert rules and Grafana dashboards from their single sources in dashboards/. Helm cannot
// read outside the chart directory, so the chart holds copies (helm/stopline/files/), refreshed by
// scripts/sync-chart-files.sh; these tests fail as soon as a copy drifts from its source.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { chartDir, find, helm, render, repoRoot } from './lib/helm.ts';

const sourceDir = join(repoRoot, 'dashboards');
const copyDir = join(chartDir, 'files');
const fix = 'run `sh scripts/sync-chart-files.sh` and commit the result';

function jsonFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];
}

describe('chart copies of dashboards/', () => {
  it('files/alerts.yaml is byte-identical to dashboards/alerts.yaml', () => {
    const source = join(sourceDir, 'alerts.yaml');
    assert.ok(existsSync(source), 'dashboards/alerts.yaml is missing: the chart would ship placeholder alerts');
    assert.ok(readFileSync(join(copyDir, 'alerts.yaml')).equals(readFileSync(source)), `helm/stopline/files/alerts.yaml differs from dashboards/alerts.yaml: ${fix}`);
  });

  it('files/dashboards/*.json are byte-identical to dashboards/*.json, none missing, none stale', () => {
    const sources = jsonFiles(sourceDir);
    assert.ok(sources.length > 0, 'dashboards/*.json is missing: the chart would ship no dashboards');
    assert.deepEqual(jsonFiles(join(copyDir, 'dashboards')), sources, `the chart's dashboard files differ from dashboards/*.json: ${fix}`);
    for (const f of sources) {
      assert.ok(
        readFileSync(join(copyDir, 'dashboards', f)).equals(readFileSync(join(sourceDir, f))),
        `helm/stopline/files/dashboards/${f} differs from dashboards/${f}: ${fix}`,
      );
    }
  });
});

interface RuleGroup {
  name: string;
  rules: Array<{ alert?: string; annotations?: Record<string, string> }>;
}

/** dashboards/alerts.yaml's groups with each runbook_url rebased onto `base` (undefined: removed). */
function sourceGroups(base: string | undefined): RuleGroup[] {
  const source = parse(readFileSync(join(sourceDir, 'alerts.yaml'), 'utf8')) as { groups: RuleGroup[] };
  assert.ok(Array.isArray(source.groups) && source.groups.length > 0, 'dashboards/alerts.yaml has no rule groups');
  for (const r of source.groups.flatMap((g) => g.rules)) {
    if (r.annotations?.runbook_url === undefined) continue;
    if (base === undefined) delete r.annotations.runbook_url;
    else r.annotations.runbook_url = `${base}#${r.annotations.runbook_url.split('#')[1]}`;
  }
  return source.groups;
}

describe('rendered monitoring objects', () => {
  const base = 'https://git.example.com/platform/stopline/blob/v0.1.0/docs/runbooks.md';

  it('the PrometheusRule holds the rule groups of dashboards/alerts.yaml, runbook links rebased onto the chart value', () => {
    const rule = find(render({ set: ['metrics.prometheusRule.enabled=true', `metrics.prometheusRule.runbookBaseUrl=${base}`] }), 'PrometheusRule');
    assert.deepEqual(rule.spec.groups, sourceGroups(base));
    const urls = (rule.spec.groups as RuleGroup[]).flatMap((g) => g.rules).map((r) => r.annotations?.runbook_url);
    assert.ok(urls.includes(`${base}#stoplineredisdown`), urls.join('\n'));
  });

  it('without a runbook base the alerts carry no runbook_url rather than a link to someone else\'s page', () => {
    const rule = find(render({ set: ['metrics.prometheusRule.enabled=true'] }), 'PrometheusRule');
    assert.deepEqual(rule.spec.groups, sourceGroups(undefined));
  });

  it('one ConfigMap per dashboard carries the JSON byte for byte, labelled for the Grafana sidecar', () => {
    const objs = render({ set: ['dashboards.enabled=true'] });
    const maps = objs.filter((o) => o.kind === 'ConfigMap');
    const sources = jsonFiles(sourceDir);
    assert.equal(maps.length, sources.length);
    for (const f of sources) {
      const cm = maps.find((m) => f in (m.data ?? {}));
      assert.ok(cm, `no ConfigMap holds ${f}`);
      assert.ok(cm.data[f] === readFileSync(join(sourceDir, f), 'utf8'), `${f} is not embedded byte for byte in ConfigMap/${cm.metadata.name}: ${fix}`);
      assert.equal(cm.metadata.labels.grafana_dashboard, '1');
      JSON.parse(cm.data[f]);
      assert.ok(Buffer.byteLength(JSON.stringify(cm)) < 1024 * 1024, `${f}: ConfigMap over the 1 MiB object limit`);
    }
  });

  it('the discovery label, its value and the folder annotation are configurable', () => {
    const objs = render({ set: ['dashboards.enabled=true', 'dashboards.label=grafana_dashboard_ai', 'dashboards.labelValue=yes', 'dashboards.folder=AI', 'dashboards.namespace=grafana'] });
    for (const cm of objs.filter((o) => o.kind === 'ConfigMap')) {
      assert.equal(cm.metadata.labels.grafana_dashboard_ai, 'yes');
      assert.equal(cm.metadata.labels.grafana_dashboard, undefined);
      assert.equal(cm.metadata.annotations.grafana_folder, 'AI');
      assert.equal(cm.metadata.namespace, 'grafana');
    }
  });
});

describe('packaged chart', () => {
  it('`helm package` keeps the rule and dashboard files, and the archive renders them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stopline-package-'));
    try {
      const r = helm(['package', chartDir, '--destination', dir]);
      assert.equal(r.status, 0, r.stderr);
      const archive = join(dir, 'stopline-0.1.0.tgz');
      assert.ok(existsSync(archive), r.stdout);
      const objs = render({ chart: archive, set: ['metrics.prometheusRule.enabled=true', 'dashboards.enabled=true'] });
      assert.deepEqual(find(objs, 'PrometheusRule').spec.groups, sourceGroups(undefined));
      assert.equal(objs.filter((o) => o.kind === 'ConfigMap').length, jsonFiles(sourceDir).length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
