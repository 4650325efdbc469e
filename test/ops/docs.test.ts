// docs/operations.md and docs/runbooks.md: every alert linked, every relative link resolving.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { headingAnchors, slug } from './markdown.ts';
import { alertRules, root } from './rules.ts';

const docs = ['docs/operations.md', 'docs/runbooks.md'];
const read = (file: string) => readFileSync(join(root, file), 'utf8');

test('GitHub anchors are computed the way GitHub does', () => {
  assert.equal(slug('StoplineRedisDown'), 'stoplineredisdown');
  assert.equal(slug('Import in the Grafana UI'), 'import-in-the-grafana-ui');
  assert.equal(slug('Provision with the Helm chart and the Grafana sidecar'), 'provision-with-the-helm-chart-and-the-grafana-sidecar');
  assert.deepEqual([...headingAnchors('# A\n```\n# not a heading\n```\n## B c\n')], ['a', 'b-c']);
});

test('docs/operations.md links every alert to its runbook section', () => {
  const doc = read('docs/operations.md');
  const missing = alertRules().filter((r) => !doc.includes(`| \`${r.alert}\` |`) || !doc.includes(`(runbooks.md#${r.alert.toLowerCase()})`));
  assert.deepEqual(missing.map((r) => r.alert), []);
});

test('docs/operations.md explains both ways to import the dashboard', () => {
  const doc = read('docs/operations.md');
  assert.match(doc, /grafana_dashboard: "1"/);
  assert.match(doc, /\*Dashboards\* → \*New\* → \*Import\*/);
});

test('every relative link in the docs points at a file and heading that exist', () => {
  const broken: string[] = [];
  for (const file of docs) {
    for (const [, target = ''] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [path = '', anchor] = target.split('#');
      const resolved = path === '' ? file : join(dirname(file), path);
      if (!existsSync(join(root, resolved))) { broken.push(`${file}: ${target}`); continue; }
      if (anchor !== undefined && !headingAnchors(read(resolved)).has(anchor)) broken.push(`${file}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});
