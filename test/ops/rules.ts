// Reads dashboards/alerts.yaml and dashboards/alerts.test.yaml, and runs promtool on them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const rulesFile = 'dashboards/alerts.yaml';
export const rulesTestFile = 'dashboards/alerts.test.yaml';
export const runbookBase = 'https://github.com/stopline/stopline/blob/main/docs/runbooks.md';

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const doc = parse(readFileSync(`${root}${rulesFile}`, 'utf8')) as { groups: { rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules).filter((r) => typeof r.alert === 'string');
}

export interface AlertRuleTest {
  alertname: string;
  eval_time: string;
  exp_alerts?: { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[] | null;
}

export function alertRuleTests(): AlertRuleTest[] {
  const doc = parse(readFileSync(`${root}${rulesTestFile}`, 'utf8')) as { tests: { alert_rule_test?: AlertRuleTest[] }[] };
  return doc.tests.flatMap((t) => t.alert_rule_test ?? []);
}

export interface Run {
  status: number | null;
  output: string;
}

export function promtool(...args: string[]): Run {
  const r = spawnSync('promtool', args, { cwd: root, encoding: 'utf8' });
  if (r.error !== undefined) return { status: null, output: `cannot run promtool (Debian package prometheus): ${r.error.message}` };
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
