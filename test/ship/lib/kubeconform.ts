// `kubeconform -strict` over rendered manifests, offline, against the schemas scripts/install-ship-tools.sh vendors:
// the Kubernetes JSON schemas of the PyPI package kubernetes-validate for each supported minor version, and the
// prometheus-operator CRDs converted with kubeconform's own openapi2jsonschema.py. A kind without a schema is an
// error (no -ignore-missing-schemas), so nothing the chart renders goes unchecked.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { toolPath, toolsDir } from './tools.ts';

/** Kubernetes versions the chart supports (Chart.yaml kubeVersion >=1.29) that the vendored schemas cover. */
export const supportedKubeVersions = ['1.29.0', '1.30.0', '1.31.0', '1.32.0', '1.33.0', '1.34.0', '1.35.0', '1.36.0', '1.37.0'] as const;

export interface Finding {
  readonly kind: string;
  readonly name: string;
  readonly status: string; // statusValid, statusInvalid, statusError, statusSkipped
  readonly msg: string;
}

/** Validates a multi-document YAML text for one Kubernetes version; returns every resource's result. */
export function kubeconform(manifests: string, kubeVersion: string): Promise<Finding[]> {
  toolPath(`schemas/kubernetes/v${kubeVersion}-standalone-strict/_definitions.json`, false);
  toolPath('schemas/crds/monitoring.coreos.com/podmonitor_v1.json', false);
  const args = [
    '-strict',
    '-output', 'json',
    '-verbose',
    '-kubernetes-version', kubeVersion,
    '-schema-location', join(toolsDir, 'schemas', 'kubernetes', '{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}', '{{ .ResourceKind }}{{ .KindSuffix }}.json'),
    '-schema-location', join(toolsDir, 'schemas', 'crds', '{{ .Group }}', '{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'),
    '-',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(toolPath('bin/kubeconform'), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', reject);
    child.on('close', () => {
      try {
        const report = JSON.parse(out) as { resources?: Finding[] };
        resolve(report.resources ?? []);
      } catch {
        reject(new Error(`kubeconform printed no JSON report:\n${out}\n${err}`));
      }
    });
    child.stdin.end(manifests);
  });
}

/** The findings that are not "valid", as readable lines (empty: every resource validated). */
export function problems(findings: readonly Finding[]): string[] {
  return findings.filter((f) => f.status !== 'statusValid').map((f) => `${f.kind}/${f.name}: ${f.status} ${f.msg}`);
}
