// Validates rendered Kubernetes objects against the schemas shipped in the npm packages `kubernetes-models`
// (Kubernetes core and apps APIs) and `@kubernetes-models/prometheus-operator` (monitoring.coreos.com CRDs). Their
// versions are pinned by package-lock.json; the Kubernetes schema is newer than 1.29 (it knows native sidecars'
// initContainers[].restartPolicy and the preStop sleep action), see the guard test in chart-render.test.ts.
//
// Two checks per object:
//  1. the model class's own validate(): types, enums, required fields (a compiled JSON schema);
//  2. unknown fields, which validate() lets through (Kubernetes' OpenAPI schemas do not forbid extra properties; the
//     API server drops or rejects them). Like `kubeconform -strict`, every field must be known to the schema: the
//     property lists are read from the packages' generated type declarations (.d.ts), one interface per file.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

type TypeExpr =
  | { readonly kind: 'ref'; readonly file: string }
  | { readonly kind: 'array'; readonly of: TypeExpr }
  | { readonly kind: 'map'; readonly of: TypeExpr }
  | { readonly kind: 'leaf' };
type Shape = ReadonlyMap<string, TypeExpr>;

const shapes = new Map<string, Shape | null>();

function resolveSpecifier(fromFile: string, spec: string): string {
  if (spec.startsWith('.')) return resolve(dirname(fromFile), spec.replace(/\.js$/, '') + '.d.ts');
  const js = fileURLToPath(import.meta.resolve(spec));
  return js.replace(/\.js$/, '.d.ts');
}

function matchingClose(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '<' || c === '(' || c === '[') depth++;
    else if (c === '}' || c === '>' || c === ')' || c === ']') {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw new Error(`unbalanced declaration at ${open}`);
}

function parseType(raw: string, imports: ReadonlyMap<string, string>, file: string): TypeExpr {
  const t = raw.trim().replace(/\s*\|\s*null$/, '');
  const arr = /^Array<([\s\S]*)>$/.exec(t);
  if (arr) return { kind: 'array', of: parseType(arr[1]!, imports, file) };
  const map = /^\{\s*\[key: string\]:\s*([\s\S]*?);?\s*\}$/.exec(t);
  if (map) return { kind: 'map', of: parseType(map[1]!, imports, file) };
  const spec = imports.get(t);
  if (spec !== undefined) return { kind: 'ref', file: resolveSpecifier(file, spec) };
  return { kind: 'leaf' };
}

/** Property map of the one interface a generated .d.ts file exports; null for plain type aliases (leaves). */
function loadShape(file: string): Shape | null {
  const cached = shapes.get(file);
  if (cached !== undefined) return cached;
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const part of m[1]!.split(',')) {
      const names = part.trim().split(/\s+as\s+/);
      const local = names[names.length - 1];
      if (local) imports.set(local, m[2]!);
    }
  }
  const head = /export interface \w+(?:\s+extends\s+[^{]+)?\s*\{/.exec(text);
  if (!head) {
    shapes.set(file, null);
    return null;
  }
  const open = head.index + head[0].length - 1;
  const body = text.slice(open + 1, matchingClose(text, open));
  const props = new Map<string, TypeExpr>();
  let i = 0;
  while (i < body.length) {
    const m = /^\s*"([^"]+)"\??:\s*/.exec(body.slice(i));
    if (!m) {
      if (body.slice(i).trim() === '') break;
      throw new Error(`cannot read the declaration in ${file} near: ${body.slice(i, i + 80)}`);
    }
    i += m[0].length;
    let j = i;
    let depth = 0;
    for (; j < body.length; j++) {
      const c = body[j];
      if (c === '{' || c === '<' || c === '(' || c === '[') depth++;
      else if (c === '}' || c === '>' || c === ')' || c === ']') depth--;
      else if (c === ';' && depth === 0) break;
    }
    props.set(m[1]!, parseType(body.slice(i, j), imports, file));
    i = j + 1;
  }
  shapes.set(file, props);
  return props;
}

function unknownFields(value: unknown, type: TypeExpr, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  switch (type.kind) {
    case 'leaf':
      return;
    case 'array':
      if (Array.isArray(value)) value.forEach((v, n) => unknownFields(v, type.of, `${path}[${n}]`, out));
      return;
    case 'map':
      if (typeof value === 'object' && !Array.isArray(value)) {
        for (const [k, v] of Object.entries(value)) unknownFields(v, type.of, `${path}.${k}`, out);
      }
      return;
    case 'ref': {
      const shape = loadShape(type.file);
      if (shape === null || typeof value !== 'object' || Array.isArray(value)) return;
      for (const [k, v] of Object.entries(value)) {
        const prop = shape.get(k);
        if (prop === undefined) out.push(`${path}.${k}: unknown field`);
        else unknownFields(v, prop, `${path}.${k}`, out);
      }
    }
  }
}

/** Module specifier of the model for an apiVersion + kind, or undefined when no pinned schema covers it. */
export function modelSpecifier(apiVersion: string, kind: string): string | undefined {
  if (apiVersion === 'monitoring.coreos.com/v1') return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  if (apiVersion === 'v1') return `kubernetes-models/v1/${kind}`;
  if (/^[a-z0-9.]+\/v[0-9a-z]+$/.test(apiVersion) && !apiVersion.includes('coreos')) return `kubernetes-models/${apiVersion}/${kind}`;
  return undefined;
}

type ModelClass = new (data: unknown) => { validate(): void };

/**
 * Validates one object; returns the problems found (empty when valid). An object whose kind has no pinned schema is
 * a problem too, so nothing the chart renders goes unchecked.
 */
export async function validateObject(obj: Record<string, unknown>): Promise<string[]> {
  const apiVersion = String(obj.apiVersion);
  const kind = String(obj.kind);
  const name = `${kind}/${(obj.metadata as { name?: string } | undefined)?.name ?? '?'}`;
  const spec = modelSpecifier(apiVersion, kind);
  if (spec === undefined) return [`${name}: no pinned schema for ${apiVersion} ${kind}`];
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (e) {
    return [`${name}: no pinned schema for ${apiVersion} ${kind} (${(e as Error).message})`];
  }
  const Model = mod[kind] as ModelClass | undefined;
  if (typeof Model !== 'function') return [`${name}: the schema package has no model ${kind}`];
  const problems: string[] = [];
  try {
    new Model(structuredClone(obj)).validate();
  } catch (e) {
    problems.push(`${name}: ${(e as Error).message}`);
  }
  const file = resolveSpecifier('', spec);
  unknownFields(obj, { kind: 'ref', file }, name, problems);
  return problems;
}
