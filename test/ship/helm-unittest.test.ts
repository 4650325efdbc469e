// The chart's own unit suites (helm/stopline/tests/*_test.yaml) under `helm unittest --strict`: the helm-unittest
// plugin that scripts/install-ship-tools.sh builds from its Go module and installs offline. The suites cover what
// a rendered manifest alone cannot show: lookup of a live Secret (a fake cluster object), Kubernetes versions
// through capabilities, NOTES.txt, and failed renders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { chartDir, helm } from './lib/helm.ts';
import { toolPath } from './lib/tools.ts';

test('helm unittest --strict passes every suite of helm/stopline/tests', () => {
  const plugins = toolPath('helm-plugins/unittest/plugin.yaml', false).replace(/\/unittest\/plugin\.yaml$/, '');
  const suites = readdirSync(join(chartDir, 'tests')).filter((f) => f.endsWith('_test.yaml'));
  assert.ok(suites.length >= 5, `only ${suites.length} suites`);
  const r = helm(['unittest', '--strict', chartDir], undefined, { HELM_PLUGINS: plugins });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  const summary = /Test Suites:\s+(\d+) passed, (\d+) total/.exec(out);
  assert.ok(summary, out);
  assert.equal(Number(summary[1]), suites.length, `not every suite ran:\n${out}`);
  assert.match(out, /Tests:\s+\d+ passed, \d+ total/);
  assert.doesNotMatch(out, /failed|skipped/i, out);
});
