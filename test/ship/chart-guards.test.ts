// What the chart refuses, and the shutdown budget it computes: values.schema.json for malformed values, `fail` for
// combinations the schema cannot express, and the grace-period arithmetic.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chartDir, find, helm, kubeVersion, render, renderFails, stoplineContainer, valuesDir, type K8sObject } from './lib/helm.ts';

function pod(objs: readonly K8sObject[]): Record<string, any> {
  return find(objs, 'Deployment').spec.template.spec;
}

function appContainer(spec: Record<string, any>): Record<string, any> {
  return spec.containers.find((c: { name: string }) => c.name === 'app');
}

describe('values.schema.json', () => {
  it('refuses an unknown key with a message naming it', () => {
    const err = renderFails({ values: ['bad-unknown-key.yaml'] });
    assert.match(err, /values don't meet the specifications of the schema/);
    assert.match(err, /at '\/stopline': additional properties 'drainTimeoutSecond' not allowed/);
  });

  it('refuses a log level stopline does not know, listing the allowed ones', () => {
    const err = renderFails({ values: ['bad-log-level.yaml'] });
    assert.match(err, /at '\/stopline\/logLevel': value must be one of 'debug', 'info', 'warn', 'error', 'silent'/);
  });

  it('helm lint --strict refuses the bad value set too', () => {
    const r = helm(['lint', '--strict', chartDir, '--kube-version', kubeVersion, '--values', join(valuesDir, 'bad-unknown-key.yaml')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /additional properties 'drainTimeoutSecond' not allowed/);
  });

  it('refuses malformed Redis addresses, prefixes and peer secrets', () => {
    assert.match(renderFails({ set: ['redis.url=http://redis:6379'] }), /at '\/redis\/url'/);
    assert.match(renderFails({ set: ['redis.cluster.nodes={redis-0}'] }), /at '\/redis\/cluster\/nodes\/0'/);
    assert.match(renderFails({ set: ['redis.prefix=a{b}'] }), /at '\/redis\/prefix'/);
    assert.match(renderFails({ set: ['auth.peerSecret=short'] }), /at '\/auth\/peerSecret'/);
    assert.match(renderFails({ set: ['auth.cancelAuth=maybe'] }), /at '\/auth\/cancelAuth': value must be one of 'none', 'token', 'forward'/);
    assert.match(renderFails({ set: ['stopline.config.FOO=1'] }), /'FOO' does not match pattern/);
  });

  it('refuses malformed dialect routes and otel settings', () => {
    assert.match(renderFails({ set: ['stopline.dialectRoutes[0].route=POST /x', 'stopline.dialectRoutes[0].dialect=openai'] }),
      /at '\/stopline\/dialectRoutes\/0\/dialect': value must be one of 'auto', 'openai-chat'/);
    assert.match(renderFails({ set: ['stopline.dialectRoutes[0].route=/x', 'stopline.dialectRoutes[0].dialect=sse'] }), /at '\/stopline\/dialectRoutes\/0\/route'/);
    assert.match(renderFails({ set: ['stopline.dialectRoutes[0].route=POST /x'] }), /at '\/stopline\/dialectRoutes\/0': missing property 'dialect'/);
    assert.match(renderFails({ set: ['otel.endpoint=otel-collector:4318'] }), /at '\/otel\/endpoint'/);
    assert.match(renderFails({ set: ['otel.protocol=http'] }), /at '\/otel\/protocol': value must be one of 'http\/protobuf', 'http\/json', 'grpc'/);
    assert.match(renderFails({ set: ['otel.sampler=sometimes'] }), /at '\/otel\/sampler'/);
    assert.match(renderFails({ set: ['otel.samplerArg=1.5'] }), /at '\/otel\/samplerArg'/);
  });
});

describe('combinations refused at render time', () => {
  it('two Redis modes', () => {
    const err = renderFails({ set: ['redis.url=redis://redis:6379', 'redis.cluster.nodes={redis-0:6379}'] });
    assert.match(err, /set only one Redis mode, not redis\.url and redis\.cluster\.nodes/);
  });

  it('Sentinel without a master name', () => {
    assert.match(renderFails({ set: ['redis.sentinel.hosts={s-0:26379}'] }), /Redis Sentinel needs both redis\.sentinel\.hosts and redis\.sentinel\.name/);
  });

  it('PodMonitor and ServiceMonitor together', () => {
    const err = renderFails({ set: ['metrics.podMonitor.enabled=true', 'metrics.serviceMonitor.enabled=true'] });
    assert.match(err, /enable either metrics\.podMonitor or metrics\.serviceMonitor, not both/);
  });

  it('the app listening on one of stopline\'s ports', () => {
    assert.match(renderFails({ set: ['app.port=8080'] }), /app\.port 8080 collides with one of stopline's ports/);
  });
});

describe('grace-period arithmetic', () => {
  it('defaults to preStop sleep + app drain + stopline drain + margin for the native sidecar (10 + 30 + 30 + 5)', () => {
    const spec = pod(render());
    assert.equal(spec.terminationGracePeriodSeconds, 75);
    const { container } = stoplineContainer(spec);
    assert.deepEqual(container.lifecycle, { preStop: { sleep: { seconds: 10 } } });
    assert.deepEqual(appContainer(spec).lifecycle, { preStop: { sleep: { seconds: 10 } } });
    assert.equal(container.env.find((e: { name: string }) => e.name === 'STOPLINE_DRAIN_TIMEOUT_S').value, '30');
  });

  it('follows every term of the sum', () => {
    const spec = pod(render({ set: ['termination.preStopSleepSeconds=5', 'termination.appDrainSeconds=60', 'stopline.drainTimeoutSeconds=20', 'termination.marginSeconds=7'] }));
    assert.equal(spec.terminationGracePeriodSeconds, 5 + 60 + 20 + 7);
    const { container } = stoplineContainer(spec);
    assert.equal(container.lifecycle.preStop.sleep.seconds, 5);
    assert.equal(container.env.find((e: { name: string }) => e.name === 'STOPLINE_DRAIN_TIMEOUT_S').value, '20');
  });

  it('uses the longer of the two drains for a classic sidecar, whose containers stop together (10 + max(30, 30) + 5)', () => {
    assert.equal(pod(render({ values: ['classic.yaml'] })).terminationGracePeriodSeconds, 45);
    assert.equal(pod(render({ values: ['classic.yaml'], set: ['termination.appDrainSeconds=50'] })).terminationGracePeriodSeconds, 10 + 50 + 5);
  });

  it('fails when the grace period cannot hold preStop + drains, and says why', () => {
    const err = renderFails({ values: ['short-grace.yaml'] });
    assert.match(
      err,
      /termination\.terminationGracePeriodSeconds=60 is too small: the native sidecar drains after the app, so it must be at least preStop sleep 10s \+ app drain 30s \(termination\.appDrainSeconds\) \+ stopline drain 30s \(stopline\.drainTimeoutSeconds\) = 70s/,
    );
    const classic = renderFails({ values: ['short-grace.yaml'], set: ['stopline.native=false', 'termination.terminationGracePeriodSeconds=39'] });
    assert.match(classic, /terminationGracePeriodSeconds=39 is too small: it must be at least preStop sleep 10s \+ max\(app drain 30s, stopline drain 30s\) = 40s/);
  });

  it('accepts an explicit grace period that holds preStop + drains exactly', () => {
    assert.equal(pod(render({ set: ['termination.terminationGracePeriodSeconds=70'] })).terminationGracePeriodSeconds, 70);
  });

  it('checks the stopline drain against the grace period even when the example Deployment is off', () => {
    assert.match(renderFails({ set: ['deployment.enabled=false', 'podSelectorLabels.app=chat-api', 'termination.terminationGracePeriodSeconds=10'] }), /is too small/);
  });

  it('leaves the preStop sleep out on Kubernetes 1.29, which lacks the sleep action, and budgets without it', () => {
    const spec = pod(render({ kubeVersion: '1.29.0' }));
    assert.equal(stoplineContainer(spec).container.lifecycle, undefined);
    assert.equal(appContainer(spec).lifecycle, undefined);
    assert.equal(spec.terminationGracePeriodSeconds, 30 + 30 + 5);
  });

  it('refuses Kubernetes versions without native sidecars (kubeVersion >= 1.29)', () => {
    const r = helm(['template', 'rel', chartDir, '--kube-version', '1.28.9']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /kubeVersion|incompatible/i);
  });
});
