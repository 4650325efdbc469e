// Failures a newcomer meets in the first hour, each said plainly. Regressions: on Node < 22.19 the bin died with a
// TypeError inside undici; `npm start` before `npm run build` gave Node's "Cannot find module"; a Redis that could
// not be reached was logged as "Connection is closed" (the real cause only at debug); an upstream that could not
// be reached was answered 502 and never logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeProblem } from '../../src/node-check.ts';
import { startReplica } from '../helpers/stopline.ts';
import { freePort, until } from '../helpers/net.ts';

const logs = () => {
  const lines: Record<string, any>[] = [];
  return { lines, write: (l: string) => { lines.push(JSON.parse(l) as Record<string, any>); } };
};

test('Node.js older than 22.19 is refused with one line naming both versions', () => {
  assert.match(nodeProblem('22.18.0') ?? '', /Node\.js 22\.19 or later is needed; this is Node\.js 22\.18\.0/);
  assert.match(nodeProblem('20.11.1') ?? '', /this is Node\.js 20\.11\.1/);
  for (const ok of ['22.19.0', '22.20.1', '23.0.0', '24.11.0']) assert.equal(nodeProblem(ok), null, ok);
});

test('the entry point imports nothing before the version check', () => {
  const main = readFileSync(new URL('../../src/main.ts', import.meta.url), 'utf8');
  const staticImports = [...main.matchAll(/^import\s.*from\s+'([^']+)'/gm)].map((m) => m[1]);
  assert.deepEqual(staticImports, ['./node-check.ts']);
  assert.ok(main.indexOf('requireNode()') < main.indexOf("await import('./lifecycle.ts')"));
});

test('npm start before npm run build says to build', () => {
  // npm runs `prestart` before `start`; here in a directory without dist/.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  const dir = mkdtempSync(join(tmpdir(), 'stopline-start-'));
  try {
    const r = spawnSync('sh', ['-c', pkg.scripts.prestart!], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'stopline: dist/ is not built; run: npm run build\n');
    mkdirSync(join(dir, 'dist'));
    writeFileSync(join(dir, 'dist', 'main.js'), '');
    assert.equal(spawnSync('sh', ['-c', pkg.scripts.prestart!], { cwd: dir }).status, 0, 'built: start goes on');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a Redis that cannot be reached is logged with its address and the real cause, once', async () => {
  const port = await freePort(); // nothing listens there
  const log = logs();
  const r = await startReplica({ STOPLINE_REDIS_URL: `redis://user:hunter2-secret@127.0.0.1:${port}`, STOPLINE_LOG_LEVEL: 'warn' }, log.write);
  try {
    await until('the failure logged', () => log.lines.some((l) => l.msg === 'redis connection failed'));
    const failed = log.lines.filter((l) => l.msg === 'redis connection failed');
    assert.equal(failed.length, 1, 'the retries are not logged at warn');
    assert.equal(failed[0]!.redis, `redis://127.0.0.1:${port}`);
    assert.equal(failed[0]!.err.code, 'ECONNREFUSED');
    assert.ok(!JSON.stringify(log.lines).includes('hunter2-secret'), 'no password in the logs');
  } finally {
    await r.close();
  }
});

test('an upstream that cannot be reached is logged when it happens, then at most once per interval', async () => {
  const port = await freePort(); // nothing listens there
  const log = logs();
  const r = await startReplica({ STOPLINE_UPSTREAM: `http://127.0.0.1:${port}`, STOPLINE_LOG_LEVEL: 'warn' }, log.write);
  try {
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${r.url}/v1/models`)).status, 502);
    const failed = log.lines.filter((l) => l.msg === 'upstream request failed');
    assert.equal(failed.length, 1, JSON.stringify(log.lines));
    assert.equal(failed[0]!.upstream, `http://127.0.0.1:${port}`);
    assert.equal(failed[0]!.error, 'upstream_unreachable');
    assert.equal(failed[0]!.err.code, 'ECONNREFUSED');
  } finally {
    await r.close();
  }
});
