// `kubeconform -strict` on the chart's render with every value set in test/ship/values/, for every Kubernetes
// version the chart supports, against vendored schemas (no network): Kubernetes' own for 1.29 to 1.37 and the
// prometheus-operator CRDs. Strict means unknown fields and duplicate keys fail, as the API server's strict field
// validation would.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { find, helm, kubeVersion, parseManifests, render, templateArgs, valuesDir } from './lib/helm.ts';
import { kubeconform, problems, supportedKubeVersions } from './lib/kubeconform.ts';
import { stringify } from 'yaml';

/** Value sets the chart must refuse (chart-guards.test.ts checks the messages); every other one must render. */
const refused = new Set(['bad-log-level.yaml', 'bad-unknown-key.yaml', 'short-grace.yaml']);
const valueSets = readdirSync(valuesDir).filter((f) => f.endsWith('.yaml')).sort();

function renderText(values: string, version: string): string {
  const r = helm(templateArgs({ values: [values], kubeVersion: version }));
  if (r.status !== 0) throw new Error(`helm template with ${values} for Kubernetes ${version} failed:\n${r.stderr}`);
  return r.stdout;
}

describe('kubeconform -strict', () => {
  it('the refused value sets are refused, so every other one is validated below', () => {
    for (const v of refused) assert.notEqual(helm(templateArgs({ values: [v] })).status, 0, `${v} rendered`);
    assert.ok(valueSets.length - refused.size >= 8, `only ${valueSets.length - refused.size} value sets to validate`);
  });

  for (const version of supportedKubeVersions) {
    it(`every value set renders objects valid for Kubernetes ${version}`, async () => {
      const docs = valueSets.filter((v) => !refused.has(v)).map((v) => renderText(v, version));
      const findings = await kubeconform(docs.join('\n---\n'), version);
      const objects = docs.reduce((n, d) => n + parseManifests(d).length, 0);
      assert.equal(findings.length, objects, 'kubeconform saw every rendered object');
      assert.deepEqual(problems(findings), []);
    });
  }

  it('reports an unknown field of a core kind and of a CRD, and a kind it has no schema for', async () => {
    const objs = render({ values: ['monitoring.yaml'] });
    const deployment = find(objs, 'Deployment');
    deployment.spec.template.spec.initContainers[0].restartPolicyy = 'Always';
    deployment.spec.template.spec.initContainers[0].lifecycle.preStop.sleep.second = 5;
    const podMonitor = find(objs, 'PodMonitor');
    podMonitor.spec.podMetricsEndpoints[0].intervall = '30s';
    const unknown = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } };
    const text = [deployment, podMonitor, unknown].map((o) => stringify(o)).join('---\n');
    const found = problems(await kubeconform(text, kubeVersion)).join('\n');
    assert.match(found, /Deployment\/rel-stopline: statusInvalid .*'restartPolicyy' not allowed/);
    assert.match(found, /Deployment\/rel-stopline: statusInvalid .*'second' not allowed/);
    assert.match(found, /PodMonitor\/rel-stopline: statusInvalid .*'intervall' not allowed/);
    assert.match(found, /Widget\/w: statusError could not find schema for Widget/);
  });
});
