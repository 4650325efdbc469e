// Real Redis topologies for tests: a master with a replica watched by sentinels, and a three-master cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { onFreePort, redisPortTaken, until } from './net.ts';

async function server(args: string[], ready = 'Ready to accept connections'): Promise<ChildProcess> {
  const p = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => { out += d; if (out.includes(ready)) { p.stdout!.off('data', onData); resolve(); } };
    p.stdout!.on('data', onData);
    p.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}): ${out}`)));
  });
  p.stdout!.resume();
  p.stderr!.resume();
  return p;
}

/** A server told its port (redis-server and redis-sentinel cannot bind port 0 and report it), on a free one. */
async function serverOnFreePort(args: (port: number) => string[], ready?: string): Promise<{ proc: ChildProcess; port: number }> {
  return onFreePort(async (port) => ({ proc: await server(args(port), ready), port }), redisPortTaken);
}

async function stopAll(procs: ChildProcess[]): Promise<void> {
  await Promise.all(procs.map(async (p) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGKILL');
    await once(p, 'exit');
  }));
}

const quiet = (r: Redis) => { r.on('error', () => {}); return r; };

export interface SentinelSet {
  readonly sentinels: string; // host:port,... for STOPLINE_REDIS_SENTINELS
  readonly name: string;
  /** The master's port now, as the sentinels see it. */
  masterPort(): Promise<number>;
  /** Asks the sentinels for a failover and waits until a new master is in place. */
  failover(): Promise<number>;
  /**
   * SIGKILLs the master once its replica is in sync, and waits until the sentinels have promoted the replica and it
   * takes writes; returns the new master's port and when the kill was sent (performance.now()).
   */
  killMaster(): Promise<{ port: number; killedAt: number }>;
  /**
   * SIGSTOPs the master (its connections stay open and silent) once its replica is in sync, and waits until the
   * sentinels have promoted the replica; returns the new master's port and `resume`, which wakes the old master (the
   * sentinels then make it a replica of the new one).
   */
  pauseMaster(): Promise<{ port: number; resume: () => void }>;
  stop(): Promise<void>;
}

export async function startSentinels(): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'stopline-sentinel-'));
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
  const byPort = new Map<number, ChildProcess>();
  const start = async (args: (port: number) => string[], ready?: string): Promise<number> => {
    const { proc, port } = await serverOnFreePort(args, ready);
    byPort.set(port, proc);
    return port;
  };
  // Each server's files in the set's own directory: a full resync writes an RDB even with saving off, and one left
  // in the working directory would be loaded by the next set started there, with an earlier test's keys.
  // A replica's full sync starts at once (diskless sync otherwise waits 5 s for more replicas to join).
  const files = (port: number) => ['--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--repl-diskless-sync-delay', '0'];
  const m = await start((port) => ['redis-server', '--port', String(port), ...common, ...files(port)]);
  const r = await start((port) => ['redis-server', '--port', String(port), '--replicaof', '127.0.0.1', String(m), ...common, ...files(port)]);
  const servers = [m, r];
  const name = 'stoplinemaster';
  // The second sentinel sees the master down half a second after the first, and by then has voted for it: one
  // election round, instead of a split vote retried after twice the failover timeout.
  const sentinelOn = (downAfterMs: number) => (port: number) => {
    const conf = join(dir, `sentinel-${port}.conf`);
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${m} 1`,
      `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
    ].join('\n') + '\n');
    return ['redis-sentinel', conf];
  };
  const s1 = await start(sentinelOn(1_000), 'Sentinel ID is');
  const s2 = await start(sentinelOn(1_500), 'Sentinel ID is');
  const sentinel = quiet(new Redis({ port: s1, host: '127.0.0.1' }));
  const masterPort = async () => Number(((await sentinel.call('SENTINEL', 'get-master-addr-by-name', name)) as string[])[1]);
  // The replica must be in sync and known to the sentinel before a failover can pick it.
  await until('replica known to sentinel', async () => ((await sentinel.call('SENTINEL', 'replicas', name)) as unknown[]).length > 0, 400, 50);
  const replica = quiet(new Redis({ port: r, host: '127.0.0.1' }));
  await until('replica in sync', async () => /master_link_status:up/.test(await replica.info('replication')), 400, 50);
  replica.disconnect();
  const promoted = async (before: number, tries = 400): Promise<number> => {
    await until('new master', async () => (await masterPort()) !== before, tries, 50);
    const now = await masterPort();
    const master = quiet(new Redis({ port: now, host: '127.0.0.1' }));
    await until('new master writable', async () => /role:master/.test(await master.info('replication')), 400, 50);
    master.disconnect();
    return now;
  };
  // The master's port, once a replica is online on it and the sentinels count that replica as a good one. After an
  // earlier failover the sentinels turn the old master into a replica only when they next ask it for its role (up to
  // 10 s later); the set does so itself at once, with the command they would send.
  const replicated = async (): Promise<number> => {
    const port = await masterPort();
    for (const p of servers) {
      const proc = byPort.get(p)!;
      if (p === port || proc.exitCode !== null || proc.signalCode !== null) continue;
      const old = quiet(new Redis({ port: p, host: '127.0.0.1' }));
      if (/role:master/.test(await old.info('replication'))) await old.call('REPLICAOF', '127.0.0.1', String(port));
      old.disconnect();
    }
    const master = quiet(new Redis({ port, host: '127.0.0.1' }));
    await until('a replica online', async () => /slave0:.*state=online/.test(await master.info('replication')), 400, 50);
    master.disconnect();
    await until('sentinel sees a good replica', async () => {
      const replicas = (await sentinel.call('SENTINEL', 'replicas', name)) as string[][];
      return replicas.some((f) => { const i = f.indexOf('flags'); return i >= 0 && f[i + 1] === 'slave'; });
    }, 400, 50);
    return port;
  };
  return {
    sentinels: `127.0.0.1:${s1},127.0.0.1:${s2}`,
    name,
    masterPort,
    async failover() {
      const before = await masterPort();
      await sentinel.call('SENTINEL', 'failover', name);
      return promoted(before);
    },
    async killMaster() {
      const before = await replicated();
      const proc = byPort.get(before)!;
      const killedAt = performance.now();
      proc.kill('SIGKILL');
      await once(proc, 'exit');
      // Election among two sentinels may take more than one round (failover-timeout 5 s, retried at twice that).
      return { port: await promoted(before, 1_200), killedAt };
    },
    async pauseMaster() {
      const before = await replicated();
      const proc = byPort.get(before)!;
      proc.kill('SIGSTOP');
      return { port: await promoted(before, 1_200), resume: () => { proc.kill('SIGCONT'); } };
    },
    async stop() {
      sentinel.disconnect();
      await stopAll([...byPort.values()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisCluster {
  readonly nodes: string; // host:port,... for STOPLINE_REDIS_CLUSTER_NODES
  readonly ports: number[];
  client(port: number): Redis;
  /** Moves one hash slot (with its keys) to the node on `toPort`; returns the port it was on. */
  moveSlot(slot: number, toPort: number): Promise<number>;
  /** The port of the node serving `slot`. */
  owner(slot: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'stopline-cluster-'));
  const ports: number[] = [];
  const procs: ChildProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const { proc, port } = await serverOnFreePort((port) => ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000', '--dir', dir]);
    procs.push(proc);
    ports.push(port);
  }
  const create = spawn('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  create.stdout.on('data', (d: Buffer) => { out += d; });
  create.stderr.on('data', (d: Buffer) => { out += d; });
  const [code] = await once(create, 'exit');
  if (code !== 0) throw new Error(`redis-cli --cluster create failed: ${out}`);
  const clients = new Map<number, Redis>();
  const client = (port: number) => {
    let c = clients.get(port);
    if (c === undefined) clients.set(port, (c = quiet(new Redis({ port, host: '127.0.0.1' }))));
    return c;
  };
  for (const p of ports) await until(`cluster ok on ${p}`, async () => /cluster_state:ok/.test(await client(p).call('CLUSTER', 'INFO') as string), 400, 50);
  const id = async (port: number) => (await client(port).call('CLUSTER', 'MYID')) as string;
  const owner = async (slot: number) => {
    const slots = (await client(ports[0]!).call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const range = slots.find(([a, b]) => slot >= a && slot <= b)!;
    return Number(range[2][1]);
  };
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    ports,
    client,
    owner,
    async moveSlot(slot, toPort) {
      const fromPort = await owner(slot);
      if (fromPort === toPort) return fromPort;
      const [fromId, toId] = [await id(fromPort), await id(toPort)];
      await client(toPort).call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId);
      await client(fromPort).call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId);
      for (;;) {
        const keys = (await client(fromPort).call('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[];
        if (keys.length === 0) break;
        await client(fromPort).call('MIGRATE', '127.0.0.1', String(toPort), '', '0', '5000', 'KEYS', ...keys);
      }
      for (const p of ports) await client(p).call('CLUSTER', 'SETSLOT', String(slot), 'NODE', toId);
      return fromPort;
    },
    async stop() {
      for (const c of clients.values()) c.disconnect();
      await stopAll(procs);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
