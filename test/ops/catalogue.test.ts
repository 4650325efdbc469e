// The metric catalogue the dashboard, the alerts and docs/operations.md are written against must be what the
// sidecar really registers: same names, types and label names, and the histogram buckets the docs list.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createMetrics } from '../../src/observability/metrics.ts';
import { createResumeMetrics } from '../../src/resume/metrics.ts';
import { describeRegistry, stoplineMetrics } from './catalogue.ts';
import { root } from './rules.ts';

async function registered() {
  const metrics = createMetrics('0.0.0-test');
  metrics.enableRedisMetrics();
  metrics.enableSubscriberMetrics();
  createResumeMetrics(metrics.registry, { max: 1024, held: 0 });
  return (await describeRegistry(metrics.registry)).filter((m) => m.name.startsWith('stopline_'));
}

test('the catalogue matches the metrics the sidecar registers', async () => {
  const actual = await registered();
  const fromCode = actual.map((m) => `${m.name} ${m.type} [${[...m.labels].sort().join(',')}]`).sort();
  const fromCatalogue = stoplineMetrics.map((m) => `${m.name} ${m.type} [${[...m.labels].sort().join(',')}]`).sort();
  assert.deepEqual(fromCatalogue, fromCode);
});

test('docs/operations.md lists every metric with its type', () => {
  const doc = readFileSync(`${root}docs/operations.md`, 'utf8');
  const missing = stoplineMetrics.filter((m) => !new RegExp(`^\\| \`${m.name}\` \\| ${m.type} \\|`, 'm').test(doc));
  assert.deepEqual(missing.map((m) => m.name), []);
});

test('docs/operations.md lists the histogram buckets the sidecar uses', async () => {
  const doc = readFileSync(`${root}docs/operations.md`, 'utf8');
  const wrong: string[] = [];
  for (const { name, buckets } of await registered()) {
    if (buckets === undefined) continue;
    const row = new RegExp(`^\\| \`${name}\` \\| ([0-9., ]+) \\|$`, 'm').exec(doc);
    const documented = row?.[1]?.split(',').map((s) => Number(s.trim()));
    if (JSON.stringify(documented) !== JSON.stringify(buckets)) wrong.push(`${name}: documented ${JSON.stringify(documented)}, registered ${JSON.stringify(buckets)}`);
  }
  assert.deepEqual(wrong, []);
});
