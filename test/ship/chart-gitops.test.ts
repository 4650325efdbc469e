// GitOps renderers (Argo CD, `helm template` in a pipeline) have no cluster access, so the chart's `lookup` of its
// live Secret finds nothing. The bug: every such render generated new keys, and pods started after a sync signed
// peer requests (and cancel tokens) with a different key than the others, answering 401 between them. A render
// with auth.existingSecret must be the same every time; a render that still generates keys says so (NOTES.txt,
// see helm/stopline/tests/notes_test.yaml) and keeps its Secret on uninstall.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { find, helm, parseManifests, stoplineContainer, templateArgs } from './lib/helm.ts';

function twice(values: readonly string[]): [string, string] {
  const out = [0, 1].map(() => {
    const r = helm(templateArgs({ values }));
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  });
  return [out[0]!, out[1]!];
}

describe('rendering twice without a cluster', () => {
  it('with auth.existingSecret gives the same manifests, reading every key from that Secret', () => {
    const [first, second] = twice(['gitops.yaml']);
    assert.equal(first, second);
    const objs = parseManifests(first);
    assert.equal(objs.filter((o) => o.kind === 'Secret').length, 0, 'the chart creates no Secret of its own');
    const env = stoplineContainer(find(objs, 'Deployment').spec.template.spec).container.env as Array<Record<string, any>>;
    const fromSecret = env.filter((e) => e.valueFrom?.secretKeyRef).map((e) => [e.name, e.valueFrom.secretKeyRef.name]);
    assert.deepEqual(fromSecret.map(([n]) => n).sort(), ['STOPLINE_CANCEL_SECRET', 'STOPLINE_PEER_SECRET', 'STOPLINE_REDIS_PASSWORD']);
    for (const [name, secret] of fromSecret) assert.equal(secret, 'stopline-keys', name);
  });

  it('with generated keys gives different keys each time, in a Secret marked to be kept', () => {
    const [first, second] = twice(['defaults.yaml']).map((t) => find(parseManifests(t), 'Secret'));
    assert.notEqual(first!.data['peer-secret'], second!.data['peer-secret'], 'the hazard NOTES.txt warns about');
    assert.equal(first!.metadata.annotations['helm.sh/resource-policy'], 'keep');
  });
});
