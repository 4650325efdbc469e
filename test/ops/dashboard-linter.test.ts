// Grafana's own dashboard-linter on the committed dashboard, in strict mode (a warning fails too): the binary that
// scripts/install-ship-tools.sh builds from its Go module. dashboards/.lint excludes only what is wrong for this
// dashboard (the USE row's exporter series have no stopline `job` or `instance`), and a test below shows that it
// excludes nothing else.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { toolPath } from '../ship/lib/tools.ts';
import { overviewFile } from '../../dashboards/build.ts';
import { root } from './rules.ts';

const exclusions = join(root, 'dashboards', '.lint');

function lint(file: string, config: string): { status: number | null; findings: string[]; output: string } {
  const r = spawnSync(toolPath('bin/dashboard-linter'), ['lint', '--strict', '--config', config, file], { encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  const output = `${r.stdout}${r.stderr}`.replace(/\u001b\[[0-9;]*m/g, '');
  return { status: r.status, findings: output.split('\n').filter((l) => /^\[(❌|⚠️?)\]/u.test(l)), output };
}

/** The committed dashboard, edited, with the committed exclusions beside it, in a folder of its own. */
async function edited(t: { after(fn: () => Promise<void>): void }, edit: (json: string) => string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stopline-dashboard-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const text = await readFile(overviewFile, 'utf8');
  const changed = edit(text);
  assert.notEqual(changed, text, 'the edit changed the dashboard');
  await writeFile(join(dir, 'stopline-overview.json'), changed);
  await copyFile(exclusions, join(dir, '.lint'));
  return join(dir, 'stopline-overview.json');
}

test('dashboard-linter lint --strict finds nothing in the committed dashboard', () => {
  const r = lint(overviewFile, exclusions);
  assert.deepEqual(r.findings, []);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /Checks that each target uses \$__rate_interval/, 'the rules ran');
});

test('the linter fails on a fixed rate window (the check can fail)', async (t) => {
  const file = await edited(t, (json) => json.replace('[$__rate_interval]', '[5m]'));
  const r = lint(file, join(file, '..', '.lint'));
  assert.notEqual(r.status, 0, r.output);
  assert.equal(r.findings.length, 1, r.output);
  assert.match(r.findings[0]!, /\[5m\].*should use \$__rate_interval/);
});

test('the linter fails on a selector without the instance matcher', async (t) => {
  const file = await edited(t, (json) => json.replace(', instance=~\\"$instance\\"}', '}'));
  const r = lint(file, join(file, '..', '.lint'));
  assert.notEqual(r.status, 0, r.output);
  assert.ok(r.findings.some((f) => /instance selector not found/.test(f)), r.output);
});

test('dashboards/.lint excludes only the USE row from the job and instance rules', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stopline-dashboard-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const none = join(dir, 'none.lint');
  await writeFile(none, 'exclusions: {}\n');
  const r = lint(overviewFile, none);
  assert.notEqual(r.status, 0, 'without the exclusions the USE row is reported');
  const useRow = /panel '(CPU throttling|Memory against the limit|Sidecar restarts)'.*(job|instance) selector not found$/;
  assert.deepEqual(r.findings.filter((f) => !useRow.test(f)), []);
  assert.ok(r.findings.length > 0);
});
