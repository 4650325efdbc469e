// Teams with their own chart: they depend on the stopline chart, turn its example Deployment off and include the
// exported `stopline.sidecar` template in their own pod spec. A throwaway parent chart proves that path renders
// and validates.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chartDir, find, helm, kubeVersion, parseManifests, render, renderFails, stoplineContainer, templateArgs } from './lib/helm.ts';
import { kubeconform, problems } from './lib/kubeconform.ts';

const parent = mkdtempSync(join(tmpdir(), 'stopline-parent-'));
after(() => rmSync(parent, { recursive: true, force: true }));

function writeParent(list: 'initContainers' | 'containers'): string {
  const dir = join(parent, list);
  mkdirSync(join(dir, 'templates'), { recursive: true });
  cpSync(chartDir, join(dir, 'charts', 'stopline'), { recursive: true });
  writeFileSync(
    join(dir, 'Chart.yaml'),
    ['apiVersion: v2', 'name: chat-api', 'version: 1.0.0', 'dependencies:', '  - name: stopline', '    version: 0.1.0', ''].join('\n'),
  );
  writeFileSync(
    join(dir, 'values.yaml'),
    [
      'stopline:',
      '  deployment:',
      '    enabled: false',
      '  podSelectorLabels:',
      '    app: chat-api',
      '  app:',
      '    port: 3000',
      '  stopline:',
      `    native: ${list === 'initContainers'}`,
      '',
    ].join('\n'),
  );
  const sidecarIn = (l: string) => (l === list ? ['        {{- include "stopline.sidecar" .Subcharts.stopline | nindent 8 }}'] : []);
  writeFileSync(
    join(dir, 'templates', 'deployment.yaml'),
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: chat-api',
      'spec:',
      '  selector:',
      '    matchLabels:',
      '      app: chat-api',
      '  template:',
      '    metadata:',
      '      labels:',
      '        app: chat-api',
      '    spec:',
      '      terminationGracePeriodSeconds: {{ include "stopline.terminationGracePeriodSeconds" .Subcharts.stopline }}',
      ...(list === 'initContainers' ? ['      initContainers:', ...sidecarIn('initContainers')] : []),
      '      containers:',
      ...sidecarIn('containers'),
      '        - name: api',
      '          image: registry.example.com/chat-api:1.0.0',
      '          ports:',
      '            - name: api',
      '              containerPort: 3000',
      '          securityContext:',
      '            runAsNonRoot: true',
      '            runAsUser: 10001',
      '            allowPrivilegeEscalation: false',
      '            readOnlyRootFilesystem: true',
      '            capabilities:',
      '              drop: ["ALL"]',
      '            seccompProfile:',
      '              type: RuntimeDefault',
      '',
    ].join('\n'),
  );
  return dir;
}

describe('stopline.sidecar in a parent chart', () => {
  it('renders the native sidecar into the parent Deployment, wired to the subchart Secret and headless Service', async () => {
    const r = helm(templateArgs({ chart: writeParent('initContainers') }));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(problems(await kubeconform(r.stdout, kubeVersion)), []);
    const objs = parseManifests(r.stdout);
    const deployments = objs.filter((o) => o.kind === 'Deployment');
    assert.deepEqual(deployments.map((d) => d.metadata.name), ['chat-api'], 'the example Deployment is off');
    const spec = find(objs, 'Deployment', 'chat-api').spec.template.spec;
    const { container, list } = stoplineContainer(spec);
    assert.equal(list, 'initContainers');
    assert.equal(container.restartPolicy, 'Always');
    assert.equal(spec.terminationGracePeriodSeconds, 75);
    const env = new Map(container.env.map((e: any) => [e.name, e]));
    assert.equal((env.get('STOPLINE_UPSTREAM') as any).value, 'http://127.0.0.1:3000');
    const secretRef = (env.get('STOPLINE_PEER_SECRET') as any).valueFrom.secretKeyRef;
    assert.equal(find(objs, 'Secret', secretRef.name).metadata.name, 'rel-stopline');
    const peers = find(objs, 'Service', 'rel-stopline-peers');
    assert.deepEqual(peers.spec.selector, { app: 'chat-api' });
    assert.equal((env.get('STOPLINE_PEERS') as any).value, 'dns:rel-stopline-peers.ai.svc.cluster.local:9464');
    assert.equal(objs.filter((o) => o.kind === 'PodDisruptionBudget').length, 0, 'the parent owns its PodDisruptionBudget');
  });

  it('renders the classic sidecar into containers[]', () => {
    const objs = render({ chart: writeParent('containers') });
    const { container, list } = stoplineContainer(find(objs, 'Deployment', 'chat-api').spec.template.spec);
    assert.equal(list, 'containers');
    assert.equal(container.restartPolicy, undefined);
  });

  it('keeps the subchart guards', () => {
    const dir = writeParent('initContainers');
    const err = renderFails({ chart: dir, set: ['stopline.termination.terminationGracePeriodSeconds=5'] });
    assert.match(err, /terminationGracePeriodSeconds=5 is too small/);
  });
});
