// Runs exactly the image's command (ENTRYPOINT + CMD of the Dockerfile, with this Node.js in place of the image's)
// from the repository root, which holds the same dist/, node_modules/ and package.json as the image's WORKDIR.
// It must answer /healthz on the admin port and exit 0 on SIGTERM. Needs a build: `npm run build` runs before the
// tests in CI.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { repoRoot } from './lib/helm.ts';
import { imageArgv, imageEnv, readDockerfile } from './lib/dockerfile.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The environment of a fresh container: the image's ENV, no STOPLINE_*, OTEL_* or test-runner variables from this process. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(STOPLINE_|OTEL_|NODE_TEST|NODE_OPTIONS$|NODE_ENV$)/.test(k)) continue;
    env[k] = v;
  }
  // The image's own ENV (NODE_ENV, NODE_OPTIONS), as the container would have it.
  return { ...env, ...imageEnv(readDockerfile()), ...extra };
}

describe('the image command', () => {
  it('serves /healthz and /metrics on the admin port and exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
    const argv = imageArgv(readDockerfile());
    const script = argv.slice(1);
    for (const f of script.filter((a) => /\.js$/.test(a))) {
      assert.ok(existsSync(join(repoRoot, f)), `${f} is missing: build first with \`npm run build\` (CI builds before it tests)`);
    }
    const [data, admin, upstream] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, script, {
      cwd: repoRoot,
      env: cleanEnv({
        STOPLINE_LISTEN: `127.0.0.1:${data}`,
        STOPLINE_ADMIN_LISTEN: `127.0.0.1:${admin}`,
        STOPLINE_UPSTREAM: `http://127.0.0.1:${upstream}`,
        STOPLINE_DRAIN_TIMEOUT_S: '5',
        STOPLINE_LOG_LEVEL: 'warn',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let exitedEarly = false;
    void exited.then(() => (exitedEarly = true));

    try {
      // Poll /healthz until the process listens: bounded tries, stop at once if the process dies.
      let healthy: Response | undefined;
      for (let attempt = 0; attempt < 300 && !exitedEarly && healthy === undefined; attempt++) {
        try {
          healthy = await fetch(`http://127.0.0.1:${admin}/healthz`, { signal: AbortSignal.timeout(2_000) });
        } catch {
          await delay(50);
        }
      }
      assert.ok(!exitedEarly, `the process exited before answering /healthz:\n${output}`);
      assert.ok(healthy, `/healthz never answered on 127.0.0.1:${admin}:\n${output}`);
      assert.equal(healthy.status, 200, `/healthz answered ${healthy.status}`);
      await healthy.arrayBuffer();

      const metrics = await fetch(`http://127.0.0.1:${admin}/metrics`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^stopline_/m, 'no stopline_ series on /metrics (the helm test Pod checks for them too)');

      // The upstream is down: /readyz must say so without affecting liveness.
      const ready = await fetch(`http://127.0.0.1:${admin}/readyz`, { signal: AbortSignal.timeout(5_000) });
      await ready.arrayBuffer();
      assert.ok(ready.status === 200 || ready.status === 503, `/readyz answered ${ready.status}`);
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }

    assert.ok(child.kill('SIGTERM'));
    const [code, signal] = await exited;
    assert.equal(signal, null, `killed by ${signal}:\n${output}`);
    assert.equal(code, 0, `exit code ${code} after SIGTERM:\n${output}`);
  });
});
