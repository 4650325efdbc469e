// The processes of a benchmark run (redis-server, nginx, stopline replicas, the bench upstream) and what /proc says
// about them: CPU time (utime + stime) and resident memory (VmRSS).
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

const clkTck = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  return Number.isFinite(v) && v > 0 ? v : 100;
})();

/** CPU seconds (user + system) a process has used so far; 0 if it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, utime field 14, stime field 15 (1-based) -> indices 11, 12 here.
    return (Number(f[11]) + Number(f[12])) / clkTck;
  } catch {
    return 0;
  }
}

/** Resident set size in KiB (VmRSS); 0 if the process is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Direct children of a process (nginx workers of its master). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

/** Local TCP ports of a process's sockets connected to `remotePort` on loopback (its Redis connections). */
export function socketPortsTo(pid: number, remotePort: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const l = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(l);
        if (m) inodes.add(m[1]!);
      } catch { /* closed meanwhile */ }
    }
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10) continue;
      const local = c[1]!;
      const remote = c[2]!;
      const inode = c[9]!;
      if (!inodes.has(inode)) continue;
      if (parseInt(remote.slice(remote.lastIndexOf(':') + 1), 16) !== remotePort) continue;
      out.push(parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
    }
  }
  return out;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

/** Waits until something accepts TCP connections on the port (bounded). */
export async function waitForPort(port: number, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on port ${port} within ${timeoutMs} ms`);
}

/** Keeps the last lines a child printed, for an error message if it dies. */
export function tail(p: ChildProcess): () => string {
  let buf = '';
  const on = (d: Buffer) => { buf = (buf + d.toString()).slice(-4000); };
  p.stdout?.on('data', on);
  p.stderr?.on('data', on);
  return () => buf;
}

export async function stopChild(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = once(p, 'exit');
  p.kill('SIGCONT');
  p.kill(signal);
  const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

// ---- redis-server ----

export interface RedisProc {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisProc> {
  const port = await freePort();
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--maxclients', '10000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const last = tail(p);
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => { if (d.toString().includes('Ready to accept connections')) { p.stdout!.off('data', onData); resolve(); } };
    p.stdout!.on('data', onData);
    p.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${last()}`)));
    p.once('error', reject);
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: p.pid!,
    pause: () => void p.kill('SIGSTOP'),
    resume: () => void p.kill('SIGCONT'),
    stop: () => stopChild(p, 'SIGKILL'),
  };
}

// ---- the bench upstream ----

export interface UpstreamProc {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Streams in progress. */
  live(): Promise<number>;
  /** Ends every stream in progress (none is reported as aborted); resolves with how many there were. */
  cut(): Promise<number>;
  onAbort(fn: (a: { id: string; at: number; produced: number }) => void): void;
  stop(): Promise<void>;
}

export async function startUpstream(script: string): Promise<UpstreamProc> {
  const p = fork(script, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: ['--max-old-space-size=2048'] });
  const last = tail(p);
  const [msg] = await Promise.race([
    once(p, 'message') as Promise<[{ k: string; port: number }]>,
    once(p, 'exit').then(() => { throw new Error(`bench upstream exited: ${last()}`); }),
  ]);
  const port = msg.port;
  const abortHandlers: ((a: { id: string; at: number; produced: number }) => void)[] = [];
  // A question over IPC ('live', 'cut') is answered with a message of the same kind, carrying a count.
  const waiting = new Map<string, ((n: number) => void)[]>();
  const ask = (k: string) => new Promise<number>((resolve) => { waiting.set(k, [...(waiting.get(k) ?? []), resolve]); p.send({ k }); });
  p.on('message', (m: { k: string; id: string; at: number; produced: number; n: number }) => {
    if (m.k === 'abort') { for (const h of abortHandlers) h(m); return; }
    const w = waiting.get(m.k) ?? [];
    waiting.delete(m.k);
    for (const f of w) f(m.n);
  });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: p.pid!,
    live: () => ask('live'),
    cut: () => ask('cut'),
    onAbort: (fn) => void abortHandlers.push(fn),
    stop: async () => { p.disconnect(); await stopChild(p, 'SIGTERM', 2_000); },
  };
}

// ---- nginx as a plain relay ----

export interface NginxProc {
  readonly port: number;
  readonly url: string;
  readonly version: string;
  /** Master and workers. */
  pids(): number[];
  stop(): Promise<void>;
}

export function nginxVersion(bin: string): string {
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return (r.stderr || r.stdout || '').trim().replace(/^nginx version:\s*/, '');
}

export async function startNginx(bin: string, dir: string, upstreamPort: number): Promise<NginxProc> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const conf = `${user}worker_processes auto;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  upstream ai {
    server 127.0.0.1:${upstreamPort};
    keepalive 1024;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://ai;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
`;
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const p = spawn(bin, ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', confPath, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const last = tail(p);
  const died = once(p, 'exit').then(() => { throw new Error(`nginx exited: ${last()}`); });
  died.catch(() => {});
  await Promise.race([waitForPort(port, 'nginx'), died]);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    version: nginxVersion(bin),
    pids: () => [p.pid!, ...childPids(p.pid!)],
    stop: () => stopChild(p, 'SIGQUIT'),
  };
}

// ---- stopline replicas ----

/**
 * A private copy of dist/ (other work may rebuild dist/ while the benchmark runs): app/dist, app/package.json and a
 * link to the project's node_modules.
 */
export function snapshotApp(root: string, dir: string): string {
  const app = join(dir, 'app');
  mkdirSync(app, { recursive: true });
  cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module' }));
  if (!existsSync(join(app, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'));
  return join(app, 'dist', 'main.js');
}

export interface StoplineProc {
  readonly nodeId: string;
  readonly url: string;
  readonly adminUrl: string;
  readonly pid: number;
  metrics(): Promise<string>;
  /** SIGTERM, then wait for the exit (a drain with no live stream is immediate). */
  stop(): Promise<void>;
}

/** `adminPort`: a port chosen beforehand (replicas that name each other in STOPLINE_PEERS); a free one otherwise. */
export async function startStopline(main: string, env: Record<string, string>, nodeArgs: string[] = [], adminPort?: number): Promise<StoplineProc> {
  const port = await freePort();
  adminPort ??= await freePort();
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('OTEL_') && !k.startsWith('STOPLINE_')) clean[k] = v;
  const p = spawn(process.execPath, [...nodeArgs, main], {
    env: { ...clean, STOPLINE_LISTEN: `127.0.0.1:${port}`, STOPLINE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`, STOPLINE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const last = tail(p);
  const died = once(p, 'exit').then(() => { throw new Error(`stopline ${env.STOPLINE_NODE_ID} exited: ${last()}`); });
  died.catch(() => {});
  await Promise.race([Promise.all([waitForPort(port, 'stopline'), waitForPort(adminPort, 'stopline admin')]), died]);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  return {
    nodeId: env.STOPLINE_NODE_ID ?? '',
    url: `http://127.0.0.1:${port}`,
    adminUrl,
    pid: p.pid!,
    metrics: async () => (await fetch(`${adminUrl}/metrics`)).text(),
    stop: () => stopChild(p, 'SIGTERM', 10_000),
  };
}

/** The value of one sample in Prometheus text (0 when absent). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) { total += Number(m[4]); found = true; }
  }
  return found ? total : 0;
}

/** Every labelled sample of one metric, by the value of one label. */
export function metricBy(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const l = new RegExp(`${label}="([^"]*)"`).exec(m[2]!);
    if (l) out[l[1]!] = (out[l[1]!] ?? 0) + Number(m[3]);
  }
  return out;
}

// ---- the machine ----

export function machine(): Record<string, unknown> {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) model = m[1]!.trim();
  } catch { /* not Linux */ }
  const [l1, l5, l15] = loadavg();
  return {
    cores: cpus().length,
    cpu_model: model,
    memory_gib: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    kernel: release(),
    node: process.version,
    loadavg_at_start: [l1, l5, l15].map((v) => Math.round((v ?? 0) * 100) / 100),
  };
}

// ---- the inspector of a replica started with --inspect=127.0.0.1:<port> ----

/** One Chrome DevTools Protocol call to a process started with --inspect=127.0.0.1:<port>; resolves with its result. */
export async function inspectorCall(inspectPort: number, method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const list = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const url = list[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error('no inspector target');
  const ws = new WebSocket(url);
  try {
    return await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method}`)), 10_000);
      ws.onerror = () => { clearTimeout(timer); reject(new Error('inspector: connection failed')); };
      ws.onopen = () => ws.send(JSON.stringify({ id: 1, method, params }));
      ws.onmessage = (e: MessageEvent) => {
        const m = JSON.parse(String(e.data)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
        if (m.id !== 1) return;
        clearTimeout(timer);
        if (m.error !== undefined) reject(new Error(`inspector: ${m.error.message}`));
        else resolve(m.result ?? {});
      };
    });
  } finally {
    ws.close();
  }
}

/** Runs a full garbage collection in a process through its inspector (Chrome DevTools Protocol). */
export async function collectGarbage(inspectPort: number): Promise<void> {
  await inspectorCall(inspectPort, 'HeapProfiler.collectGarbage');
}

/** process.memoryUsage() of a process, read through its inspector (bytes). */
export async function memoryUsage(inspectPort: number): Promise<NodeJS.MemoryUsage> {
  const r = await inspectorCall(inspectPort, 'Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
  return JSON.parse(String((r.result as { value?: unknown } | undefined)?.value)) as NodeJS.MemoryUsage;
}

/** What /proc/<pid>/status says about a process's memory (KiB) and threads; zeros if it is gone. */
export function memStatus(pid: number): { rss: number; anon: number; file: number; threads: number } {
  try {
    const t = readFileSync(`/proc/${pid}/status`, 'utf8');
    const f = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? 0);
    return { rss: f('VmRSS'), anon: f('RssAnon'), file: f('RssFile') + f('RssShmem'), threads: f('Threads') };
  } catch {
    return { rss: 0, anon: 0, file: 0, threads: 0 };
  }
}

/** Open sockets of a process (its /proc/<pid>/fd entries that are sockets). */
export function socketCount(pid: number): number {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try { if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++; } catch { /* closed meanwhile */ }
    }
  } catch { /* gone */ }
  return n;
}

/**
 * Anonymous resident memory by where glibc and the threads put it (KiB), from /proc/<pid>/smaps: `brk` is the main
 * malloc arena (the `[heap]` mapping), `arenas` the other threads' malloc arenas (64 MiB-aligned reservations of
 * 64 MiB, the part in use read-write, the rest inaccessible), `other` every other anonymous mapping (V8's heap
 * pages, thread stacks, large malloc blocks mapped on their own).
 */
export function anonByKind(pid: number): { brk: number; arenas: number; other: number } {
  const out = { brk: 0, arenas: 0, other: 0 };
  let text = '';
  try { text = readFileSync(`/proc/${pid}/smaps`, 'utf8'); } catch { return out; }
  const maps: { start: bigint; end: bigint; perms: string; name: string; rss: number }[] = [];
  for (const line of text.split('\n')) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (h) { maps.push({ start: BigInt(`0x${h[1]}`), end: BigInt(`0x${h[2]}`), perms: h[3]!, name: h[4]!.trim(), rss: 0 }); continue; }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r && maps.length > 0) maps[maps.length - 1]!.rss = Number(r[1]);
  }
  const arena = 64n << 20n;
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i]!;
    if (m.name === '[heap]') { out.brk += m.rss; continue; }
    if (m.name !== '' || !m.perms.startsWith('rw')) continue;
    const next = maps[i + 1];
    const reservedTo = next !== undefined && next.start === m.end && next.name === '' && next.perms.startsWith('---') ? next.end : m.end;
    const isArena = m.start % arena === 0n && reservedTo - m.start === arena;
    if (isArena) out.arenas += m.rss;
    else out.other += m.rss;
  }
  return out;
}
