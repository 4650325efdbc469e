// rediss:// with certificate verification (on by default: a server whose CA is not trusted is never used), and an
// ACL user with a password.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startReplica, metric, subscribed } from '../helpers/stopline.ts';
import { postJson } from '../helpers/client.ts';
import { onFreePort, redisPortTaken } from '../helpers/net.ts';
import { crossReplicaStop } from '../helpers/scenarios.ts';

let up: Upstream;
let dir: string;
let redis: ChildProcess;
let port: number;

before(async () => {
  up = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'stopline-tls-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=stopline test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'redis.key', '-out', 'redis.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', 'redis.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'redis.crt', '-days', '1', '-extfile', 'san.ext');
  // redis-server cannot bind port 0 and report it: a free port, and another should it be taken before the bind.
  redis = await onFreePort(async (p) => {
    const proc = spawn('redis-server', ['--port', '0', '--tls-port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--tls-cert-file', join(dir, 'redis.crt'), '--tls-key-file', join(dir, 'redis.key'), '--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'no',
      '--user', 'default', 'off', '--user', 'stopline', 'on', '>s3cret-pass', '~*', '&*', '+@all'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => { out += d; if (out.includes('Ready to accept connections')) resolve(); });
      proc.once('exit', (code) => reject(new Error(`redis-server (tls) exited ${code}: ${out}`)));
    });
    port = p;
    return proc;
  }, redisPortTaken);
});
after(async () => {
  redis.kill('SIGKILL');
  await once(redis, 'exit');
  rmSync(dir, { recursive: true, force: true });
  await up.close();
});

test('rediss:// with the CA trusted and the ACL user: cross-replica cancel works', async () => {
  const env = { STOPLINE_UPSTREAM: up.url, STOPLINE_REDIS_URL: `rediss://stopline:s3cret-pass@127.0.0.1:${port}`, STOPLINE_REDIS_CA_FILE: join(dir, 'ca.crt'), STOPLINE_REDIS_TIMEOUT_MS: '1000' };
  const a = await startReplica({ ...env, STOPLINE_NODE_ID: 'tls-a' });
  const b = await startReplica({ ...env, STOPLINE_NODE_ID: 'tls-b' });
  try {
    await subscribed([a, b], 'connected over TLS');
    await crossReplicaStop(a, b, 'tls', 'm', 'pubsub');
  } finally {
    await a.close();
    await b.close();
  }
});

test('an untrusted certificate, or a wrong password, is never used: cancels answer degraded', async () => {
  for (const [what, env] of [
    ['no CA for a private certificate', { STOPLINE_REDIS_URL: `rediss://stopline:s3cret-pass@127.0.0.1:${port}` }],
    ['a wrong password', { STOPLINE_REDIS_URL: `rediss://stopline:wrong@127.0.0.1:${port}`, STOPLINE_REDIS_CA_FILE: join(dir, 'ca.crt') }],
  ] as const) {
    const r = await startReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_NODE_ID: 'untrusted', ...env });
    try {
      const answer = await postJson(`${r.url}/stopline/v1/cancel`, { session_id: 'nobody', message_id: 'm' });
      assert.equal(answer.status, 202, what);
      assert.equal(answer.json.outcome, 'accepted', what);
      assert.equal(answer.json.degraded, true, what);
      assert.equal(metric(await r.metrics(), 'stopline_redis_up'), 0, what);
    } finally {
      await r.close();
    }
  }
});
