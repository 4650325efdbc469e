// The environment the chart gives the stopline container must be a configuration stopline accepts: each value set's
// rendered env (secrets and downward-API fields filled with stand-ins) goes through the product's own config loader.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { find, render, stoplineContainer } from './lib/helm.ts';
import { loadConfig } from '../../src/config.ts';

const valueSets = ['defaults.yaml', 'monitoring.yaml', 'classic.yaml', 'sentinel.yaml', 'cluster.yaml', 'existing-secret.yaml'];

function containerEnv(valueSet: string): Record<string, string> {
  const { container } = stoplineContainer(find(render({ values: [valueSet] }), 'Deployment').spec.template.spec);
  const env: Record<string, string> = {};
  for (const e of container.env as Array<{ name: string; value?: string; valueFrom?: Record<string, any> }>) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = 'x'.repeat(48);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = 'rel-stopline-5d9c7b8f4-abcde';
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = 'ai';
    else assert.fail(`unexpected env source for ${e.name}: ${JSON.stringify(e.valueFrom)}`);
  }
  return env;
}

describe('the chart configures stopline validly', () => {
  for (const v of valueSets) {
    it(`stopline accepts the environment rendered with ${v}`, () => {
      const env = containerEnv(v);
      const config = loadConfig(env);
      assert.equal(config.listen.port, 8080);
      assert.equal(config.adminListen.port, 9464);
      assert.equal(config.upstream.origin, 'http://127.0.0.1:8000');
      assert.equal(config.drainTimeoutS, 30);
      assert.equal(config.nodeId, 'rel-stopline-5d9c7b8f4-abcde', 'the node id comes from the pod name');
      assert.deepEqual(config.peers, { kind: 'dns', name: 'rel-stopline-peers.ai.svc.cluster.local', port: 9464 });
    });
  }

  it('maps each Redis value set onto the matching Redis mode', () => {
    assert.equal(loadConfig(containerEnv('defaults.yaml')).redis.mode, 'memory');
    assert.equal(loadConfig(containerEnv('monitoring.yaml')).redis.mode, 'standalone');
    const sentinel = loadConfig(containerEnv('sentinel.yaml'));
    assert.equal(sentinel.redis.mode, 'sentinel');
    assert.equal(sentinel.prefix, 'team-a:');
    const cluster = loadConfig(containerEnv('cluster.yaml')).redis;
    assert.equal(cluster.mode, 'cluster');
    assert.ok(cluster.mode === 'cluster' && cluster.tls && cluster.nodes.length === 3);
  });
});
