// The Helm chart, rendered by the real helm CLI over the value sets in test/ship/values/, checked against the
// conventions the chart promises: restricted Pod Security Standard for every container, native-sidecar shape,
// probes, labels and selectors, Redis wiring. Schema validation (kubeconform) is chart-schemas.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chartDir, find, helm, kubeVersion, namespace, release, render, stoplineContainer, valuesDir, type K8sObject } from './lib/helm.ts';
import { join } from 'node:path';

const valueSets = [
  'defaults.yaml',
  'monitoring.yaml',
  'service-monitor.yaml',
  'classic.yaml',
  'sentinel.yaml',
  'cluster.yaml',
  'existing-secret.yaml',
  'tracing.yaml',
] as const;

const fullname = `${release}-stopline`;
const rendered = new Map<string, K8sObject[]>();
function objects(valueSet: string): K8sObject[] {
  let objs = rendered.get(valueSet);
  if (objs === undefined) {
    objs = render({ values: [valueSet] });
    rendered.set(valueSet, objs);
  }
  return objs;
}

/** Every pod spec in a set of objects, with a label for messages. */
function podSpecs(objs: readonly K8sObject[]): Array<{ where: string; spec: Record<string, any> }> {
  const out: Array<{ where: string; spec: Record<string, any> }> = [];
  for (const o of objs) {
    if (o.kind === 'Pod') out.push({ where: `Pod/${o.metadata.name}`, spec: o.spec });
    else if (o.spec?.template?.spec) out.push({ where: `${o.kind}/${o.metadata.name}`, spec: o.spec.template.spec });
  }
  return out;
}

function envOf(container: Record<string, any>): Map<string, Record<string, any>> {
  return new Map((container.env ?? []).map((e: { name: string }) => [e.name, e]));
}

function envValue(container: Record<string, any>, name: string): string | undefined {
  return envOf(container).get(name)?.value;
}

describe('helm lint --strict', () => {
  for (const v of valueSets) {
    it(`passes with ${v}`, () => {
      const r = helm(['lint', '--strict', chartDir, '--kube-version', kubeVersion, '--values', join(valuesDir, v)]);
      assert.equal(r.status, 0, `helm lint --strict failed for ${v}:\n${r.stdout}\n${r.stderr}`);
    });
  }
});

describe('rendered objects', () => {
  it('renders the expected kinds with the defaults', () => {
    const kinds = objects('defaults.yaml').map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      `Deployment/${fullname}`,
      `Pod/${fullname}-test`,
      `PodDisruptionBudget/${fullname}`,
      `Secret/${fullname}`,
      `Service/${fullname}`,
      `Service/${fullname}-peers`,
    ]);
  });

  it('renders every monitoring object when asked', () => {
    const kinds = new Set(objects('monitoring.yaml').map((o) => o.kind));
    for (const k of ['PodMonitor', 'PrometheusRule', 'ConfigMap', 'NetworkPolicy']) assert.ok(kinds.has(k), `no ${k}`);
    assert.ok(!kinds.has('ServiceMonitor'));
    assert.ok(new Set(objects('service-monitor.yaml').map((o) => o.kind)).has('ServiceMonitor'));
  });
});

describe('restricted Pod Security Standard', () => {
  for (const v of valueSets) {
    it(`every container rendered with ${v} is restricted, read-only and non-root`, () => {
      const specs = podSpecs(objects(v));
      assert.ok(specs.length >= 2, 'expected the Deployment and the helm test Pod');
      for (const { where, spec } of specs) {
        const podCtx = spec.securityContext ?? {};
        assert.notEqual(podCtx.runAsUser, 0, `${where}: pod runAsUser 0`);
        for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
          for (const c of spec[list] ?? []) {
            const at = `${where} ${list}/${c.name}`;
            const sc = c.securityContext;
            assert.ok(sc, `${at}: no securityContext`);
            assert.equal(sc.runAsNonRoot, true, `${at}: runAsNonRoot`);
            assert.ok(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, `${at}: runAsUser must be a numeric non-root UID, got ${sc.runAsUser}`);
            assert.equal(sc.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation`);
            assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${at}: capabilities.drop`);
            assert.equal(sc.capabilities?.add, undefined, `${at}: capabilities.add`);
            assert.equal(sc.privileged ?? false, false, `${at}: privileged`);
            assert.equal(sc.seccompProfile?.type ?? podCtx.seccompProfile?.type, 'RuntimeDefault', `${at}: seccompProfile`);
            assert.equal(sc.readOnlyRootFilesystem, true, `${at}: readOnlyRootFilesystem`);
          }
        }
        for (const vol of spec.volumes ?? []) assert.equal(vol.hostPath, undefined, `${where}: hostPath volume`);
        assert.ok(!spec.hostNetwork && !spec.hostPID && !spec.hostIPC, `${where}: host namespaces`);
      }
    });
  }
});

describe('the stopline sidecar', () => {
  for (const v of valueSets.filter((x) => x !== 'classic.yaml')) {
    it(`is a native sidecar with ${v}: initContainers entry, restartPolicy Always, startupProbe`, () => {
      const spec = find(objects(v), 'Deployment').spec.template.spec;
      const { container, list } = stoplineContainer(spec);
      assert.equal(list, 'initContainers');
      assert.equal(container.restartPolicy, 'Always');
      assert.ok(container.startupProbe, 'a startupProbe makes the app start only after the proxy listens');
      assert.equal(spec.initContainers[0].name, 'stopline', 'stopline is the first init container');
      assert.deepEqual(spec.containers.map((c: { name: string }) => c.name), ['app']);
    });
  }

  it('is a classic sidecar in containers[] with stopline.native=false', () => {
    const spec = find(objects('classic.yaml'), 'Deployment').spec.template.spec;
    const { container, list } = stoplineContainer(spec);
    assert.equal(list, 'containers');
    assert.equal(container.restartPolicy, undefined);
    assert.equal(spec.initContainers, undefined);
    assert.deepEqual(spec.containers.map((c: { name: string }) => c.name).sort(), ['app', 'stopline']);
  });

  for (const v of ['defaults.yaml', 'classic.yaml']) {
    it(`has startup and liveness on /healthz and readiness on /readyz, all on the admin port (${v})`, () => {
      const { container } = stoplineContainer(find(objects(v), 'Deployment').spec.template.spec);
      const admin = container.ports.find((p: { name: string }) => p.name === 'stopline-admin');
      const data = container.ports.find((p: { name: string }) => p.name === 'stopline-http');
      assert.equal(admin.containerPort, 9464);
      assert.equal(data.containerPort, 8080);
      assert.deepEqual(container.startupProbe.httpGet, { path: '/healthz', port: 'stopline-admin' });
      assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'stopline-admin' });
      assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'stopline-admin' });
      assert.equal(envValue(container, 'STOPLINE_ADMIN_LISTEN'), '0.0.0.0:9464');
      assert.equal(envValue(container, 'STOPLINE_LISTEN'), '0.0.0.0:8080');
    });
  }

  it('proxies to the app on 127.0.0.1:<app.port> and finds its peers through the headless Service', () => {
    const objs = render({ set: ['app.port=3000'] });
    const { container } = stoplineContainer(find(objs, 'Deployment').spec.template.spec);
    assert.equal(envValue(container, 'STOPLINE_UPSTREAM'), 'http://127.0.0.1:3000');
    assert.equal(envValue(container, 'STOPLINE_PEERS'), `dns:${fullname}-peers.${namespace}.svc.cluster.local:9464`);
    const app = find(objs, 'Deployment').spec.template.spec.containers.find((c: { name: string }) => c.name === 'app');
    assert.equal(app.ports[0].containerPort, 3000);
    const peers = find(objs, 'Service', `${fullname}-peers`);
    assert.equal(peers.spec.clusterIP, 'None');
    assert.equal(peers.spec.publishNotReadyAddresses, true, 'a draining replica must still receive cancels for its streams');
    assert.deepEqual(peers.spec.ports.map((p: any) => [p.port, p.targetPort]), [[9464, 'stopline-admin']]);
  });

  it('reads the peer secret from the Secret, and the node id from the pod name', () => {
    const objs = objects('defaults.yaml');
    const { container } = stoplineContainer(find(objs, 'Deployment').spec.template.spec);
    const env = envOf(container);
    assert.deepEqual(env.get('STOPLINE_PEER_SECRET')?.valueFrom, { secretKeyRef: { name: fullname, key: 'peer-secret' } });
    assert.deepEqual(env.get('POD_NAME')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
    const secret = find(objs, 'Secret', fullname);
    const peerSecret = Buffer.from(secret.data['peer-secret'], 'base64').toString();
    assert.ok(peerSecret.length >= 16, 'stopline refuses peer secrets shorter than 16 characters');
    assert.equal(env.has('STOPLINE_REDIS_URL'), false, 'no Redis configured by default');
  });

  it('passes stopline.config through as environment and refuses keys the chart sets itself', () => {
    const objs = render({ set: ['stopline.config.STOPLINE_CANCEL_MODE=poll', 'stopline.config.STOPLINE_POLL_INTERVAL_MS=500'] });
    const { container } = stoplineContainer(find(objs, 'Deployment').spec.template.spec);
    assert.equal(envValue(container, 'STOPLINE_CANCEL_MODE'), 'poll');
    assert.equal(envValue(container, 'STOPLINE_POLL_INTERVAL_MS'), '500');
    const r = helm(['template', release, chartDir, '--kube-version', kubeVersion, '--set', 'stopline.config.STOPLINE_UPSTREAM=http://x:1']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /stopline\.config\.STOPLINE_UPSTREAM is set by the chart/);
  });

  it('pins the image by digest when one is given', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const objs = render({ set: [`stopline.image.digest=${digest}`, 'stopline.image.repository=registry.example.com/stopline'] });
    const { container } = stoplineContainer(find(objs, 'Deployment').spec.template.spec);
    assert.equal(container.image, `registry.example.com/stopline@${digest}`);
    assert.equal(stoplineContainer(find(objects('defaults.yaml'), 'Deployment').spec.template.spec).container.image, 'stopline:0.1.0');
  });
});

describe('Redis and secrets', () => {
  it('Sentinel: hosts, master name, password from the chart Secret', () => {
    const objs = objects('sentinel.yaml');
    const { container } = stoplineContainer(find(objs, 'Deployment').spec.template.spec);
    const env = envOf(container);
    assert.equal(env.get('STOPLINE_REDIS_SENTINELS')?.value, [0, 1, 2].map((n) => `redis-sentinel-${n}.redis-sentinel.redis.svc.cluster.local:26379`).join(','));
    assert.equal(env.get('STOPLINE_REDIS_SENTINEL_NAME')?.value, 'mymaster');
    assert.equal(env.get('STOPLINE_REDIS_PREFIX')?.value, 'team-a:');
    assert.deepEqual(env.get('STOPLINE_REDIS_PASSWORD')?.valueFrom, { secretKeyRef: { name: fullname, key: 'redis-password', optional: true } });
    assert.equal(env.has('STOPLINE_REDIS_URL'), false);
    assert.equal(env.has('STOPLINE_REDIS_CLUSTER_NODES'), false);
    const secret = find(objs, 'Secret', fullname);
    assert.equal(Buffer.from(secret.data['redis-password'], 'base64').toString(), 's3cret-redis-password');
  });

  it('Cluster: seed nodes and TLS', () => {
    const { container } = stoplineContainer(find(objects('cluster.yaml'), 'Deployment').spec.template.spec);
    const env = envOf(container);
    assert.equal(env.get('STOPLINE_REDIS_CLUSTER_NODES')?.value?.split(',').length, 3);
    assert.equal(env.get('STOPLINE_REDIS_TLS')?.value, 'true');
    assert.equal(env.has('STOPLINE_REDIS_SENTINELS'), false);
  });

  it('existing Secret: every secret comes from it and the chart creates none', () => {
    const objs = objects('existing-secret.yaml');
    assert.equal(objs.filter((o) => o.kind === 'Secret').length, 0);
    const { container } = stoplineContainer(find(objs, 'Deployment').spec.template.spec);
    const env = envOf(container);
    assert.deepEqual(env.get('STOPLINE_PEER_SECRET')?.valueFrom, { secretKeyRef: { name: 'stopline-credentials', key: 'peer' } });
    assert.deepEqual(env.get('STOPLINE_CANCEL_SECRET')?.valueFrom, { secretKeyRef: { name: 'stopline-credentials', key: 'cancel' } });
    assert.deepEqual(env.get('STOPLINE_REDIS_PASSWORD')?.valueFrom, { secretKeyRef: { name: 'stopline-credentials', key: 'redis', optional: true } });
    assert.equal(env.get('STOPLINE_CANCEL_AUTH')?.value, 'token');
    assert.equal(env.get('STOPLINE_REDIS_URL')?.value, 'redis://redis.redis.svc.cluster.local:6379');
  });

  it('token cancel auth gets a generated key in the chart Secret', () => {
    const objs = objects('monitoring.yaml');
    const secret = find(objs, 'Secret', fullname);
    assert.ok(Buffer.from(secret.data['cancel-secret'], 'base64').toString().length >= 16);
    const { container } = stoplineContainer(find(objs, 'Deployment').spec.template.spec);
    assert.deepEqual(envOf(container).get('STOPLINE_CANCEL_SECRET')?.valueFrom, { secretKeyRef: { name: fullname, key: 'cancel-secret' } });
  });
});

describe('tracing and dialects', () => {
  it('otel: the OTEL_* variables in the stopline container, resource attributes from the pod, headers from a Secret', () => {
    const { container } = stoplineContainer(find(objects('tracing.yaml'), 'Deployment').spec.template.spec);
    const env = envOf(container);
    assert.equal(env.get('OTEL_EXPORTER_OTLP_ENDPOINT')?.value, 'http://otel-collector.observability.svc.cluster.local:4318');
    assert.equal(env.get('OTEL_EXPORTER_OTLP_PROTOCOL')?.value, 'http/protobuf');
    assert.equal(env.get('OTEL_SERVICE_NAME')?.value, fullname);
    assert.equal(env.get('OTEL_TRACES_SAMPLER')?.value, 'parentbased_traceidratio');
    assert.equal(env.get('OTEL_TRACES_SAMPLER_ARG')?.value, '0.1');
    assert.equal(env.get('OTEL_RESOURCE_ATTRIBUTES')?.value,
      'k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME),k8s.container.name=stopline,deployment.environment.name=prod');
    assert.deepEqual(env.get('OTEL_EXPORTER_OTLP_HEADERS')?.valueFrom, { secretKeyRef: { name: 'otlp-credentials', key: 'otlp-headers' } });
    // $(POD_NAME) expands only from variables defined before it in the list.
    const names = (container.env as { name: string }[]).map((e) => e.name);
    assert.ok(names.indexOf('POD_NAME') < names.indexOf('OTEL_RESOURCE_ATTRIBUTES'));
    assert.ok(names.indexOf('POD_NAMESPACE') < names.indexOf('OTEL_RESOURCE_ATTRIBUTES'));
  });

  it('otel off (the default): no OTEL_* variable at all', () => {
    const { container } = stoplineContainer(find(objects('defaults.yaml'), 'Deployment').spec.template.spec);
    assert.deepEqual([...envOf(container).keys()].filter((k) => k.startsWith('OTEL_')), []);
  });

  it('stopline.dialectRoutes: STOPLINE_DIALECT_ROUTES in the order given, none by default', () => {
    const { container } = stoplineContainer(find(objects('tracing.yaml'), 'Deployment').spec.template.spec);
    assert.equal(envOf(container).get('STOPLINE_DIALECT_ROUTES')?.value, 'POST /v1/chat/completions=openai-chat,POST /api/*=ollama,*=auto');
    const defaults = stoplineContainer(find(objects('defaults.yaml'), 'Deployment').spec.template.spec).container;
    assert.equal(envOf(defaults).has('STOPLINE_DIALECT_ROUTES'), false);
  });
});

describe('labels and selectors', () => {
  const recommended = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart'];
  const selector = { 'app.kubernetes.io/name': 'stopline', 'app.kubernetes.io/instance': release };

  for (const v of ['defaults.yaml', 'monitoring.yaml', 'service-monitor.yaml']) {
    it(`every object rendered with ${v} carries the recommended labels and a name of at most 63 characters`, () => {
      for (const o of objects(v)) {
        const at = `${o.kind}/${o.metadata.name}`;
        for (const l of recommended) assert.ok(o.metadata.labels?.[l], `${at}: no ${l} label`);
        assert.equal(o.metadata.labels['helm.sh/chart'], 'stopline-0.1.0', at);
        assert.equal(o.metadata.labels['app.kubernetes.io/managed-by'], 'Helm', at);
        assert.ok(o.metadata.name.length <= 63, `${at}: name longer than 63 characters`);
        assert.ok(typeof o.metadata.namespace === 'string' && o.metadata.namespace !== '', `${at}: no namespace`);
      }
    });
  }

  it('selectors use only name and instance', () => {
    const objs = objects('defaults.yaml');
    const deployment = find(objs, 'Deployment');
    assert.deepEqual(deployment.spec.selector.matchLabels, selector);
    for (const [k, val] of Object.entries(selector)) assert.equal(deployment.spec.template.metadata.labels[k], val);
    assert.deepEqual(find(objs, 'PodDisruptionBudget').spec.selector.matchLabels, selector);
    assert.deepEqual(find(objs, 'Service', fullname).spec.selector, selector);
    assert.deepEqual(find(objs, 'Service', `${fullname}-peers`).spec.selector, selector);
    assert.deepEqual(find(objects('monitoring.yaml'), 'PodMonitor').spec.selector.matchLabels, selector);
    assert.deepEqual(find(objects('monitoring.yaml'), 'NetworkPolicy').spec.podSelector.matchLabels, selector);
  });

  it('the helm test Pod matches no workload selector', () => {
    const pod = find(objects('defaults.yaml'), 'Pod');
    const labels = pod.metadata.labels;
    assert.ok(!Object.entries(selector).every(([k, val]) => labels[k] === val), 'the Deployment would adopt the test Pod');
  });

  it('podSelectorLabels retargets the Services, the PodMonitor and the NetworkPolicy', () => {
    const objs = render({ set: ['podSelectorLabels.app=chat-api', 'metrics.podMonitor.enabled=true', 'networkPolicy.enabled=true'] });
    assert.deepEqual(find(objs, 'Service', fullname).spec.selector, { app: 'chat-api' });
    assert.deepEqual(find(objs, 'Service', `${fullname}-peers`).spec.selector, { app: 'chat-api' });
    assert.deepEqual(find(objs, 'PodMonitor').spec.selector.matchLabels, { app: 'chat-api' });
    assert.deepEqual(find(objs, 'NetworkPolicy').spec.podSelector.matchLabels, { app: 'chat-api' });
    const deployment = find(objs, 'Deployment');
    assert.deepEqual(deployment.spec.selector.matchLabels, selector, 'the Deployment selector stays immutable');
    assert.equal(deployment.spec.template.metadata.labels.app, 'chat-api', 'the example pods carry the extra selector labels');
  });
});

describe('monitoring and network objects', () => {
  it('the PodMonitor scrapes a named port of the stopline container', () => {
    const objs = objects('monitoring.yaml');
    const pm = find(objs, 'PodMonitor');
    assert.equal(pm.metadata.labels.release, 'kube-prometheus-stack');
    const [endpoint] = pm.spec.podMetricsEndpoints;
    assert.equal(endpoint.path, '/metrics');
    const { container } = stoplineContainer(find(objs, 'Deployment').spec.template.spec);
    assert.ok(container.ports.some((p: { name: string }) => p.name === endpoint.port), `no container port named ${endpoint.port}`);
    assert.deepEqual(pm.spec.namespaceSelector, { matchNames: [namespace] });
  });

  it('the ServiceMonitor selects the client Service (not the headless one) on its metrics port', () => {
    const objs = objects('service-monitor.yaml');
    const sm = find(objs, 'ServiceMonitor');
    assert.equal(sm.metadata.namespace, 'monitoring');
    assert.deepEqual(sm.spec.namespaceSelector, { matchNames: [namespace] });
    const matches = (o: K8sObject) => Object.entries(sm.spec.selector.matchLabels).every(([k, val]) => o.metadata.labels?.[k] === val);
    const services = objs.filter((o) => o.kind === 'Service' && matches(o));
    assert.deepEqual(services.map((s) => s.metadata.name), [fullname]);
    assert.ok(services[0]!.spec.ports.some((p: { name: string }) => p.name === sm.spec.endpoints[0].port));
    assert.ok(services[0]!.spec.ports.some((p: { name: string; targetPort: string }) => p.name === 'metrics' && p.targetPort === 'stopline-admin'));
  });

  it('the NetworkPolicy opens the data port as configured and the admin port only to Prometheus, peers and the test Pod', () => {
    const objs = objects('monitoring.yaml');
    const np = find(objs, 'NetworkPolicy');
    assert.deepEqual(np.spec.policyTypes, ['Ingress']);
    const byPort = new Map(np.spec.ingress.map((rule: any) => [rule.ports.map((p: any) => p.port).join(','), rule]));
    assert.deepEqual([...byPort.keys()].sort(), ['stopline-admin', 'stopline-http'], 'no rule may open the app port');
    const data: any = byPort.get('stopline-http');
    assert.deepEqual(data.from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'backend' } } }]);
    const admin: any = byPort.get('stopline-admin');
    assert.equal(admin.from.length, 3);
    assert.deepEqual(admin.from[0], {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
    });
    assert.deepEqual(admin.from[1].podSelector.matchLabels, find(objs, 'Deployment').spec.selector.matchLabels);
    const testPod = find(objs, 'Pod');
    for (const [k, val] of Object.entries(admin.from[2].podSelector.matchLabels)) assert.equal(testPod.metadata.labels[k], val);
  });

  it('the helm test Pod checks /healthz through the Service metrics port', () => {
    const pod = find(objects('defaults.yaml'), 'Pod');
    assert.equal(pod.metadata.annotations['helm.sh/hook'], 'test');
    assert.equal(pod.spec.restartPolicy, 'Never');
    const script = pod.spec.containers[0].command.join(' ');
    assert.match(script, new RegExp(`wget .*http://${fullname}\\.${namespace}\\.svc:9464/healthz`));
  });
});

describe('NOTES.txt', () => {
  function notes(set: readonly string[] = []): string {
    // a client-side dry run renders the notes without a cluster
    const args = ['install', release, chartDir, '--namespace', namespace, '--dry-run=client', ...set.flatMap((x) => ['--set', x])];
    const r = helm(args);
    assert.equal(r.status, 0, r.stderr);
    const at = r.stdout.indexOf('NOTES:');
    assert.ok(at >= 0, 'no NOTES in the dry-run output');
    return r.stdout.slice(at);
  }

  it('says how to check the install and states the shutdown budget', () => {
    const text = notes();
    assert.match(text, new RegExp(`kubectl -n ${namespace} rollout status deployment/${fullname}`));
    assert.match(text, new RegExp(`helm test ${release} -n ${namespace}`));
    assert.match(text, /\/healthz/);
    assert.match(text, /terminationGracePeriodSeconds=75 \(preStop sleep 10s \+ app drain 30s \+ stopline drain 30s, margin included\)/);
    assert.match(text, /WARNING: no Redis configured/);
  });

  it('warns about missing Prometheus Operator CRDs and init-container scraping', () => {
    const text = notes(['metrics.podMonitor.enabled=true', 'redis.url=redis://redis:6379']);
    assert.match(text, /WARNING: metrics\.podMonitor\.enabled is set but the cluster has no monitoring\.coreos\.com\/v1 PodMonitor API/);
    assert.match(text, /must not drop __meta_kubernetes_pod_container_init="true"/);
    assert.doesNotMatch(text, /no Redis configured/);
  });
});
