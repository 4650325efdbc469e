// Runs the real helm CLI against helm/stopline. helm is found through $HELM, then `$(go env GOPATH)/bin/helm`
// (where scripts/install-helm.sh puts it), then PATH. A missing helm is a test failure, never a skip.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
export const chartDir = join(repoRoot, 'helm', 'stopline');
export const valuesDir = join(repoRoot, 'test', 'ship', 'values');
/** Kubernetes version the chart is rendered for unless a test says otherwise (>= 1.30: preStop sleep action). */
export const kubeVersion = '1.33.0';
export const namespace = 'ai';
export const release = 'rel';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let found: string | undefined;

export function helmPath(): string {
  if (found !== undefined) return found;
  const fromEnv = process.env.HELM;
  if (fromEnv) {
    if (!executable(fromEnv)) throw new Error(`HELM=${fromEnv} is not an executable file`);
    return (found = fromEnv);
  }
  const candidates: string[] = [];
  for (const go of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(go, ['env', 'GOBIN', 'GOPATH'], { encoding: 'utf8' });
    if (r.status === 0) {
      const [gobin, gopath] = r.stdout.split('\n');
      if (gobin) candidates.push(join(gobin, 'helm'));
      for (const p of (gopath ?? '').split(delimiter)) if (p) candidates.push(join(p, 'bin', 'helm'));
      break;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'helm'));
  const hit = candidates.find(executable);
  if (hit === undefined) {
    throw new Error(
      'helm not found (looked at $HELM, $(go env GOPATH)/bin/helm and PATH). ' +
        'Install it with `sh scripts/install-helm.sh` (builds it with Go, a few minutes the first time) or set HELM=/path/to/helm.',
    );
  }
  return (found = hit);
}

// helm keeps caches and configuration under these; a private temporary home keeps runs independent of the machine.
const helmHome = mkdtempSync(join(tmpdir(), 'stopline-helm-'));
process.on('exit', () => rmSync(helmHome, { recursive: true, force: true }));
const helmEnv = {
  ...process.env,
  HELM_CACHE_HOME: join(helmHome, 'cache'),
  HELM_CONFIG_HOME: join(helmHome, 'config'),
  HELM_DATA_HOME: join(helmHome, 'data'),
  NO_COLOR: '1',
};

export interface HelmResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(args: readonly string[], cwd = repoRoot, env: Record<string, string> = {}): HelmResult {
  const r = spawnSync(helmPath(), args, { cwd, env: { ...helmEnv, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface RenderOptions {
  readonly values?: readonly string[]; // file names in test/ship/values/
  readonly set?: readonly string[]; // --set expressions
  readonly kubeVersion?: string;
  readonly chart?: string;
}

export function templateArgs(o: RenderOptions = {}): string[] {
  const args = ['template', release, o.chart ?? chartDir, '--namespace', namespace, '--kube-version', o.kubeVersion ?? kubeVersion];
  for (const v of o.values ?? []) args.push('--values', join(valuesDir, v));
  for (const s of o.set ?? []) args.push('--set', s);
  return args;
}

export type K8sObject = Record<string, any> & { apiVersion: string; kind: string; metadata: Record<string, any> };

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS({ maxAliasCount: -1 }) as unknown;
    if (value !== null && value !== undefined) out.push(value as K8sObject);
  }
  return out;
}

/** `helm template` that must succeed; returns the parsed objects. */
export function render(o: RenderOptions = {}): K8sObject[] {
  const r = helm(templateArgs(o));
  if (r.status !== 0) throw new Error(`helm ${templateArgs(o).join(' ')} failed (${r.status}):\n${r.stderr}`);
  return parseManifests(r.stdout);
}

/** `helm template` that must fail; returns its error output. */
export function renderFails(o: RenderOptions = {}): string {
  const r = helm(templateArgs(o));
  if (r.status === 0) throw new Error(`helm ${templateArgs(o).join(' ')} succeeded but was expected to fail`);
  return r.stderr;
}

export function find(objs: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const hit = objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (hit === undefined) throw new Error(`no ${kind}${name ? `/${name}` : ''} among ${objs.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return hit;
}

/** The stopline container and its place (initContainers or containers) in a pod spec. */
export function stoplineContainer(podSpec: Record<string, any>, name = 'stopline'): { container: Record<string, any>; list: 'initContainers' | 'containers' } {
  for (const list of ['initContainers', 'containers'] as const) {
    const c = (podSpec[list] ?? []).find((x: { name: string }) => x.name === name);
    if (c) return { container: c, list };
  }
  throw new Error(`no container named ${name} in the pod spec`);
}
