// A small static reader for the repository's Dockerfile: stages, instructions, ARG defaults, exec-form commands.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helm.ts';

export interface Instruction {
  readonly keyword: string; // upper case
  readonly args: string;
}

export interface Stage {
  readonly image: string; // ARG defaults substituted
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly stages: readonly Stage[];
}

export function readDockerfile(path = join(repoRoot, 'Dockerfile')): Dockerfile {
  const logical: string[] = [];
  let pending = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trimEnd();
    if (pending === '' && /^\s*#/.test(line)) continue; // comments and parser directives
    if (pending !== '' && /^\s*#/.test(line)) continue; // comment lines inside a continuation
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full !== '') logical.push(full);
  }
  const globalArgs = new Map<string, string>();
  const stages: Array<{ image: string; name: string | undefined; instructions: Instruction[] }> = [];
  const subst = (s: string) => s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, n: string) => globalArgs.get(n) ?? m);
  for (const l of logical) {
    const m = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(l);
    if (!m) continue;
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (keyword === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`cannot read FROM ${args}`);
      stages.push({ image: subst(f[1]!), name: f[2], instructions: [] });
    } else if (stages.length === 0) {
      if (keyword === 'ARG') {
        const a = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(args);
        if (a) globalArgs.set(a[1]!, (a[2] ?? '').replace(/^"(.*)"$/, '$1'));
      }
    } else {
      stages[stages.length - 1]!.instructions.push({ keyword, args });
    }
  }
  return { globalArgs, stages };
}

/** The JSON array of an exec-form instruction, or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) return undefined;
  return parsed;
}

/** argv of the final image: ENTRYPOINT followed by CMD (both exec form). */
export function imageArgv(df: Dockerfile): string[] {
  const final = df.stages[df.stages.length - 1];
  if (!final) throw new Error('the Dockerfile has no stage');
  const last = (k: string) => [...final.instructions].reverse().find((i) => i.keyword === k);
  const entrypoint = last('ENTRYPOINT');
  const cmd = last('CMD');
  if (!entrypoint) throw new Error('the final stage has no ENTRYPOINT');
  const ep = execForm(entrypoint.args);
  if (!ep) throw new Error(`ENTRYPOINT is not in exec form: ${entrypoint.args}`);
  const c = cmd ? execForm(cmd.args) : [];
  if (!c) throw new Error(`CMD is not in exec form: ${cmd?.args}`);
  return [...ep, ...c];
}

/** The environment the final stage sets (ENV KEY=value ..., quotes removed). */
export function imageEnv(df: Dockerfile): Record<string, string> {
  const final = df.stages[df.stages.length - 1];
  if (!final) throw new Error('the Dockerfile has no stage');
  const env: Record<string, string> = {};
  for (const i of final.instructions) {
    if (i.keyword !== 'ENV') continue;
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) env[m[1]!] = m[3] ?? m[2]!;
  }
  return env;
}
