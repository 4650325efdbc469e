// values.yaml, values.schema.json and the values table in helm/stopline/README.md describe the same keys with the
// same defaults; docs/kubernetes.md covers what operators need to know.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { chartDir, repoRoot } from './lib/helm.ts';

type Schema = Record<string, any>;
const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Schema;
const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');

function resolveRef(node: Schema): Schema {
  let n = node;
  while (typeof n.$ref === 'string') {
    const { $ref, ...rest } = n;
    n = { ...schema.$defs[($ref as string).split('/').pop()!], ...rest };
  }
  return n;
}

/** Documented keys: paths down through the strict objects the chart defines; anything else is one value. */
function schemaLeaves(node: Schema, path: string[] = []): string[] {
  const n = resolveRef(node);
  if (n.properties && n.additionalProperties === false) {
    return Object.entries(n.properties as Record<string, Schema>).flatMap(([k, v]) => schemaLeaves(v, [...path, k]));
  }
  return [path.join('.')];
}

function strictObjects(node: Schema, path: string[] = []): string[] {
  const n = resolveRef(node);
  if (!(n.type === 'object' && n.properties)) return [];
  const here = n.additionalProperties === false ? [] : [path.join('.') || '<root>'];
  return [...here, ...Object.entries(n.properties as Record<string, Schema>).flatMap(([k, v]) => strictObjects(v, [...path, k]))];
}

function lookup(path: string): unknown {
  let v: unknown = values;
  for (const p of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(p in (v as object))) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

const leaves = schemaLeaves(schema).filter((p) => p !== 'global');
const table = new Map<string, string>();
for (const m of readme.matchAll(/^\| `([^`]+)` \| [^|]+ \| `(.*?)` \| .* \|$/gm)) table.set(m[1]!, m[2]!);

describe('values documentation', () => {
  it('values.schema.json refuses unknown keys in every object the chart defines', () => {
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(strictObjects(schema), [], 'objects with properties but without additionalProperties: false');
  });

  it('every key of the schema has a default in values.yaml', () => {
    const missing = leaves.filter((p) => lookup(p) === undefined);
    assert.deepEqual(missing, []);
  });

  it('the README values table lists exactly the schema keys, with the defaults of values.yaml', () => {
    assert.deepEqual([...table.keys()].sort(), [...leaves].sort(), 'README table keys differ from the schema keys');
    for (const p of leaves) {
      assert.equal(table.get(p), JSON.stringify(lookup(p)), `README default of ${p} differs from values.yaml`);
    }
  });
});

describe('docs/kubernetes.md', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'kubernetes.md'), 'utf8');
  it('covers install, both topologies, the grace-period arithmetic and init-container scraping', () => {
    for (const needle of [
      'helm install',
      'restartPolicy: Always',
      'terminationGracePeriodSeconds',
      'preStop',
      '__meta_kubernetes_pod_container_init',
      'kube_pod_init_container_',
      'stopline.sidecar',
    ]) {
      assert.ok(doc.includes(needle), `docs/kubernetes.md does not mention ${needle}`);
    }
    assert.match(doc, /10 \+ 30 \+ 30 \+ 5 = 75/);
  });

  it('names no machine-specific path', () => {
    for (const file of [doc, readme, readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')]) {
      assert.doesNotMatch(file, /\/(work|root|home)\/\w/);
    }
  });
});

describe('links', () => {
  for (const file of [join(repoRoot, 'docs', 'kubernetes.md'), join(chartDir, 'README.md')]) {
    it(`every relative link in ${file.slice(repoRoot.length + 1)} resolves`, () => {
      const text = readFileSync(file, 'utf8');
      const targets = [...text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t));
      assert.ok(targets.length > 0);
      for (const t of targets) assert.ok(existsSync(join(dirname(file), t)), `${t} does not exist`);
    });
  }
});
