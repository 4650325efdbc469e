// Static checks of the Dockerfile and .dockerignore (no container engine is needed): hadolint with the project's
// .hadolint.yaml, then stages, base images, production-only dependencies in the image, numeric non-root user,
// exec-form entrypoint with the tracing preload.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './lib/helm.ts';
import { imageArgv, readDockerfile, type Stage } from './lib/dockerfile.ts';
import { toolPath } from './lib/tools.ts';

const df = readDockerfile();
const final = df.stages[df.stages.length - 1]!;
const runs = (s: Stage) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
const stageNamed = (name: string) => df.stages.find((s) => s.name === name);
const fullInstall = (cmd: string) => /\bnpm ci\b/.test(cmd) && !/--omit=dev\b/.test(cmd);
const prodInstall = (cmd: string) => /\bnpm ci\b/.test(cmd) && /--omit=dev\b/.test(cmd);

/** Stages whose files end up in the final image through COPY --from. */
function copiesFrom(stage: Stage): Array<{ from: string; src: string }> {
  const out: Array<{ from: string; src: string }> = [];
  for (const i of stage.instructions.filter((x) => x.keyword === 'COPY')) {
    const m = /--from=(\S+)\s+(\S+)/.exec(i.args);
    if (m) out.push({ from: m[1]!, src: m[2]! });
  }
  return out;
}

/** hadolint's findings (its JSON report) for a Dockerfile given as text, with the project's configuration. */
function hadolint(text: string): Array<{ code: string; level: string; line: number; message: string }> {
  const r = spawnSync(toolPath('bin/hadolint'), ['--config', join(repoRoot, '.hadolint.yaml'), '--format', 'json', '--no-fail', '-'], {
    cwd: repoRoot,
    input: text,
    encoding: 'utf8',
  });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('hadolint', () => {
  it('finds nothing in the Dockerfile, down to style level, inline ignores included', () => {
    const text = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    assert.doesNotMatch(text, /hadolint\s+ignore/, 'justify a finding in .hadolint.yaml, not inline');
    assert.deepEqual(hadolint(text), []);
  });

  it('reports what it is there for: untagged base, cd in RUN, root user, shell-form CMD, a missing OCI label', () => {
    const codes = hadolint('FROM node\nRUN cd /src && npm ci\nUSER root\nCMD npm start\n').map((f) => f.code).sort();
    assert.deepEqual(codes, ['DL3002', 'DL3003', 'DL3006', 'DL3025', 'DL3049', 'DL3049', 'DL3049', 'DL3049', 'DL3049', 'DL3066']);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage: a build stage with dev dependencies compiles, the runtime stage comes last', () => {
    assert.ok(df.stages.length >= 2, 'expected at least a build and a runtime stage');
    const build = df.stages.find((s) => runs(s).some(fullInstall) && runs(s).some((r) => /\bnpm run build\b/.test(r)));
    assert.ok(build, 'no stage runs `npm ci` (with dev dependencies) and then `npm run build`');
    const install = runs(build).findIndex(fullInstall);
    const compile = runs(build).findIndex((r) => /\bnpm run build\b/.test(r));
    assert.ok(install < compile, '`npm ci` must come before `npm run build`');
    assert.notEqual(build, final);
  });

  it('puts the non-TypeScript files of src/ (the Redis Lua scripts) into dist/, which tsc does not', () => {
    // npm run build runs scripts/build.sh, which the build stage must have, and which copies those files.
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    assert.match(dockerfile, /^COPY [^\n]*scripts\/build\.sh[^\n]*$/m, 'the build stage copies scripts/build.sh');
    const build = readFileSync(new URL('../../scripts/build.sh', import.meta.url), 'utf8');
    assert.match(build, /cd src && find \. -type f ! -name '\*\.ts'[^\n]*\.\.\/dist\//, 'scripts/build.sh copies the non-TypeScript files of src/ into dist/');
    assert.match(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).scripts.build, /scripts\/build\.sh/);
  });

  it('bases the runtime on Node.js 24 (LTS), slim or distroless, pinned by tag', () => {
    assert.match(final.image, /^(gcr\.io\/distroless\/nodejs24-debian1[2-9](:[\w.-]+)?|node:24[\w.-]*-slim)(@sha256:[a-f0-9]{64})?$/);
    assert.ok(/:[\w.-]+/.test(final.image.replace(/@sha256:.*/, '')), `runtime image ${final.image} has no tag`);
    assert.doesNotMatch(final.image, /:latest\b/);
    for (const s of df.stages) {
      assert.match(s.image, /(^node:24\b|nodejs24)/, `stage ${s.name ?? '?'} is not on Node.js 24: ${s.image}`);
    }
  });

  it('ships production dependencies only: node_modules comes from a stage that ran `npm ci --omit=dev`', () => {
    for (const cmd of runs(final)) assert.ok(!fullInstall(cmd), `the runtime stage installs dev dependencies: ${cmd}`);
    const modules = copiesFrom(final).filter((c) => /node_modules/.test(c.src));
    assert.ok(modules.length > 0 || runs(final).some(prodInstall), 'the runtime stage gets no node_modules');
    for (const { from } of modules) {
      const source = stageNamed(from);
      assert.ok(source, `COPY --from=${from}: no such stage`);
      assert.ok(runs(source).some(prodInstall), `node_modules comes from stage ${from}, which does not run \`npm ci --omit=dev\``);
      assert.ok(!runs(source).some(fullInstall), `stage ${from} also installs dev dependencies`);
    }
    const dist = copiesFrom(final).filter((c) => /dist/.test(c.src));
    assert.ok(dist.length > 0, 'the runtime stage does not copy dist/');
  });

  it('runs as a numeric non-root user', () => {
    const users = final.instructions.filter((i) => i.keyword === 'USER');
    assert.ok(users.length > 0, 'no USER in the runtime stage');
    const m = /^(\d+)(?::(\d+))?$/.exec(users[users.length - 1]!.args);
    assert.ok(m, `USER must be numeric (runAsNonRoot cannot check a name): ${users[users.length - 1]!.args}`);
    assert.notEqual(Number(m[1]), 0);
    if (m[2] !== undefined) assert.notEqual(Number(m[2]), 0);
  });

  it('starts node directly in exec form, preloading the tracing module (no npm, no shell)', () => {
    const argv = imageArgv(df);
    assert.match(argv[0]!, /(^|\/)node$/, `the entrypoint must be node itself, got ${argv[0]}`);
    assert.deepEqual(argv.slice(1), ['--import', './dist/tracing/preload.js', 'dist/main.js']);
    assert.ok(!argv.some((a) => /\b(npm|sh|bash)\b/.test(a)));
    // the same command as `npm start`
    const start = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
    assert.ok(start?.endsWith(`node ${argv.slice(1).join(' ')}`), `package.json start script differs from the image command: ${start}`);
  });

  it('sets the working directory, NODE_ENV, exposes both ports and carries OCI labels', () => {
    const get = (k: string) => final.instructions.filter((i) => i.keyword === k).map((i) => i.args);
    assert.ok(get('WORKDIR').length > 0);
    assert.ok(get('ENV').some((e) => /NODE_ENV=production/.test(e)));
    const exposed = get('EXPOSE').join(' ').split(/\s+/).map((p) => p.replace(/\/tcp$/, ''));
    assert.ok(exposed.includes('8080') && exposed.includes('9464'), `EXPOSE ${exposed.join(' ')}`);
    const labels = get('LABEL').join(' ');
    for (const l of ['title', 'source', 'version', 'revision', 'licenses']) {
      assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${l}=`), `no org.opencontainers.image.${l} label`);
    }
    assert.equal(get('HEALTHCHECK').length, 0, 'Kubernetes ignores HEALTHCHECK; the chart defines probes');
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const toRegex = (p: string) =>
    new RegExp(
      '^' +
        p
          .replace(/^\/+/, '')
          .replace(/\/+$/, '')
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*/g, '\u0000')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')
          .replace(/\u0000/g, '.*') +
        '(/.*)?$',
    );
  const ignored = (path: string) => {
    let out = false;
    for (const p of patterns) {
      if (p.startsWith('!')) {
        if (toRegex(p.slice(1)).test(path)) out = false;
      } else if (toRegex(p).test(path)) out = true;
    }
    return out;
  };

  it('keeps tests, VCS data, local builds and tooling out of the build context', () => {
    for (const p of ['test/ship/dockerfile.test.ts', '.git/config', 'node_modules/yaml/package.json', 'dist/main.js', 'bench/results/x.json', '.tools/node', 'helm/stopline/Chart.yaml', '.env']) {
      assert.ok(ignored(p), `${p} is not excluded by .dockerignore`);
    }
  });

  it('keeps every file the Dockerfile copies from the context', () => {
    for (const s of df.stages) {
      for (const i of s.instructions.filter((x) => x.keyword === 'COPY' && !/--from=/.test(x.args))) {
        const parts = i.args.replace(/--\S+\s+/g, '').split(/\s+/);
        for (const src of parts.slice(0, -1)) {
          assert.ok(!ignored(src.replace(/^\.\//, '')), `COPY ${src}: excluded by .dockerignore`);
        }
      }
    }
  });
});
