// A real redis-server per test file, on a free port, that the test can kill, pause (SIGSTOP), resume and restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { onFreePort, redisPortTaken } from './net.ts';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** A plain client for assertions (commandstats, keys). */
  client(): Redis;
  pause(): void;
  resume(): void;
  kill(): Promise<void>;
  /** Starts again on the same port, empty. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function launch(port: number, extra: string[]): Promise<ChildProcess> {
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) { p.stdout!.off('data', onData); resolve(); }
    };
    p.stdout!.on('data', onData);
    p.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
    p.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    p.once('error', reject);
  });
  p.stdout!.resume();
  p.stderr!.resume();
  return p;
}

export async function startRedis(extra: string[] = []): Promise<RedisServer> {
  let port = 0;
  let proc = await onFreePort(async (p) => { const started = await launch(p, extra); port = p; return started; }, redisPortTaken);
  const clients: Redis[] = [];
  const kill = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await once(proc, 'exit');
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    client() {
      const c = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 3 });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    pause: () => void proc.kill('SIGSTOP'),
    resume: () => void proc.kill('SIGCONT'),
    kill,
    async restart() {
      await kill();
      proc = await launch(port, extra);
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await kill();
    },
  };
}

/** Sum of `calls` over INFO commandstats, per command (lower case), counting commands run inside scripts too. */
export async function commandStats(c: Redis): Promise<Map<string, number>> {
  const info = await c.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}
