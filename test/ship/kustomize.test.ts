// Teams not on Helm: the Kustomize component kustomize/stopline, built by the real kustomize with the example
// overlay, validated by kubeconform -strict, and kept in step with the Helm chart's sidecar container.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { find, parseManifests, render, repoRoot, stoplineContainer, type K8sObject } from './lib/helm.ts';
import { kubeconform, problems, supportedKubeVersions } from './lib/kubeconform.ts';
import { toolPath } from './lib/tools.ts';

function build(dir: string): string {
  const r = spawnSync(toolPath('bin/kustomize'), ['build', join(repoRoot, dir)], { encoding: 'utf8' });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const text = build('kustomize/example');
const objs = parseManifests(text);
const podSpec = (name: string) => find(objs, 'Deployment', name).spec.template.spec;

describe('the Kustomize component', () => {
  for (const version of [supportedKubeVersions[0], supportedKubeVersions.at(-1)!]) {
    it(`builds objects valid for Kubernetes ${version}`, async () => {
      assert.deepEqual(problems(await kubeconform(text, version)), []);
    });
  }

  it('adds stopline as the first init container of the annotated Deployment only, leaving its containers as they were', () => {
    const spec = podSpec('chat-api');
    assert.deepEqual(spec.initContainers.map((c: { name: string }) => c.name), ['stopline']);
    assert.equal(spec.initContainers[0].restartPolicy, 'Always');
    assert.deepEqual(spec.containers.map((c: { name: string }) => c.name), ['api']);
    assert.equal(spec.terminationGracePeriodSeconds, 75);
    assert.equal(find(objs, 'Deployment', 'chat-api').spec.template.metadata.labels['stopline.io/sidecar'], 'true');
    assert.equal(podSpec('batch-worker').initContainers, undefined, 'a Deployment without the annotation is left alone');
  });

  it('wires the settings ConfigMap (hashed name, overlay patch applied) and the peers Service', () => {
    const sidecar = stoplineContainer(podSpec('chat-api')).container;
    const config = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('stopline-config-')) as K8sObject;
    assert.ok(config, 'no generated stopline-config ConfigMap');
    assert.equal(sidecar.envFrom[0].configMapRef.name, config.metadata.name);
    assert.equal(config.data.STOPLINE_UPSTREAM, 'http://127.0.0.1:3000');
    assert.equal(config.data.STOPLINE_CANCEL_AUTH, 'token');
    const peers = find(objs, 'Service', 'stopline-peers');
    assert.deepEqual(peers.spec.selector, { app: 'chat-api', 'stopline.io/sidecar': 'true' });
    const env = new Map(sidecar.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    assert.equal(env.get('STOPLINE_PEERS'), 'dns:stopline-peers.$(POD_NAMESPACE).svc.cluster.local:9464');
  });

  it('is the Helm chart\'s sidecar with its defaults: image, ports, probes, preStop, resources, security, settings', () => {
    const chart = stoplineContainer(find(render(), 'Deployment').spec.template.spec).container;
    const ours = stoplineContainer(podSpec('chat-api')).container;
    for (const field of ['name', 'image', 'imagePullPolicy', 'restartPolicy', 'ports', 'startupProbe', 'readinessProbe', 'livenessProbe', 'lifecycle', 'resources', 'securityContext']) {
      assert.deepEqual(ours[field], chart[field], field);
    }
    const config = objs.find((o) => o.kind === 'ConfigMap')!.data as Record<string, string>;
    const ourSettings = new Set([...ours.env.map((e: { name: string }) => e.name), ...Object.keys(config)]);
    const missing = chart.env.map((e: { name: string }) => e.name).filter((n: string) => !ourSettings.has(n));
    assert.deepEqual(missing, [], 'settings the chart gives stopline and the component does not');
    for (const name of ['STOPLINE_DRAIN_TIMEOUT_S', 'STOPLINE_LOG_LEVEL', 'STOPLINE_CANCEL_AUTH']) {
      assert.equal(config[name], chart.env.find((e: { name: string }) => e.name === name).value, name);
    }
  });
});
