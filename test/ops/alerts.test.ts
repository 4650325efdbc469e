// The Prometheus alerts: valid, unit-tested both ways, and each one documented with a runbook.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { headingAnchors } from './markdown.ts';
import { alertRuleTests, alertRules, promtool, root, rulesFile, rulesTestFile, runbookBase } from './rules.ts';

const rules = alertRules();
const ruleTests = alertRuleTests();
const runbooks = readFileSync(`${root}docs/runbooks.md`, 'utf8');

test('promtool check rules accepts the rule file', () => {
  const run = promtool('check', 'rules', rulesFile);
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

test('promtool test rules passes', () => {
  const run = promtool('test', 'rules', rulesTestFile);
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /SUCCESS/);
});

test('promtool test rules can fail: a case expecting the wrong labels is reported', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stopline-rules-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await copyFile(`${root}${rulesFile}`, join(dir, 'alerts.yaml'));
  await writeFile(join(dir, 'wrong.test.yaml'), [
    'rule_files: [alerts.yaml]',
    'evaluation_interval: 1m',
    'tests:',
    '  - interval: 1m',
    '    input_series:',
    `      - series: 'stopline_redis_up{namespace="ai", pod="chat-0"}'`,
    "        values: '1x10'",
    '    alert_rule_test:',
    '      - eval_time: 5m',
    '        alertname: StoplineRedisDown',
    '        exp_alerts:',
    '          - exp_labels: {severity: critical, namespace: ai, pod: chat-0}',
    '',
  ].join('\n'));
  const run = promtool('test', 'rules', join(dir, 'wrong.test.yaml'));
  assert.notEqual(run.status, 0, run.output);
  assert.match(run.output, /FAILED/);
});

test('every alert has a firing and a silent case in the unit tests', () => {
  const missing: string[] = [];
  for (const { alert } of rules) {
    const cases = ruleTests.filter((c) => c.alertname === alert);
    const firing = cases.filter((c) => (c.exp_alerts ?? []).length > 0);
    if (firing.length === 0) missing.push(`${alert}: no case with exp_alerts`);
    if (cases.length === firing.length) missing.push(`${alert}: no case where it must stay silent`);
  }
  assert.deepEqual(missing, []);
});

test('the unit tests name only alerts that exist', () => {
  const names = new Set(rules.map((r) => r.alert));
  assert.deepEqual(ruleTests.map((c) => c.alertname).filter((n) => !names.has(n)), []);
});

test('alert names are unique CamelCase with the Stopline prefix', () => {
  const names = rules.map((r) => r.alert);
  assert.deepEqual(names.filter((n) => !/^Stopline(?:[A-Z][a-z0-9]*)+$/.test(n)), []);
  assert.equal(new Set(names).size, names.length);
});

test('every alert has for, severity, summary, description and runbook_url', () => {
  const problems: string[] = [];
  for (const r of rules) {
    if (!/^\d+[smh]$/.test(r.for ?? '')) problems.push(`${r.alert}: for`);
    if (!['critical', 'warning', 'info'].includes(r.labels?.severity ?? '')) problems.push(`${r.alert}: severity`);
    if ((r.annotations?.summary ?? '') === '') problems.push(`${r.alert}: summary`);
    if (!/\{\{ \$labels\.(pod|namespace|instance) \}\}/.test(r.annotations?.description ?? '')) problems.push(`${r.alert}: description without the affected pod or namespace`);
    if (r.annotations?.runbook_url !== `${runbookBase}#${r.alert.toLowerCase()}`) problems.push(`${r.alert}: runbook_url`);
  }
  assert.deepEqual(problems, []);
});

test('every runbook_url anchor is a heading in docs/runbooks.md', () => {
  const anchors = headingAnchors(runbooks);
  const missing = rules.map((r) => (r.annotations?.runbook_url ?? '').split('#')[1] ?? '').filter((a) => !anchors.has(a));
  assert.deepEqual(missing, []);
});

test('docs/runbooks.md has no section for an alert that does not exist', () => {
  const names = new Set(rules.map((r) => r.alert));
  const sections = [...runbooks.matchAll(/^## (Stopline\w+)\s*$/gm)].map((m) => m[1] ?? '');
  assert.deepEqual(sections.filter((s) => !names.has(s)), []);
  assert.equal(sections.length, names.size);
});
