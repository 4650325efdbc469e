// stopline's memory benchmark: what a replica holds idle, with live streams, and under connection churn (many
// clients connecting, streaming a short answer, closing), and what it gives back once the churn stops.
//   npm run bench:memory                 the full run (about 8 minutes on 2 cores)
//   npm run bench:memory -- --quick      a smoke run (about 2 minutes)
//   npm run bench:memory -- --help       every parameter
// Every case runs on a fresh replica (`node dist/main.js` with the image's NODE_OPTIONS, push mode, a real
// redis-server, the benchmark's upstream in a process of its own), so no case inherits another's memory. Writes
// bench/results/<stamp>-memory.json and .md, and latest-memory.md; see bench/README.md, "Memory under churn".
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { BenchStream } from './lib/client.ts';
import {
  anonByKind, collectGarbage, freePort, machine, memStatus, memoryUsage, metric, sleep, snapshotApp, socketCount, startRedis, startStopline, startUpstream,
  type RedisProc, type StoplineProc, type UpstreamProc,
} from './lib/procs.ts';
import { round } from './lib/stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
    levels: { type: 'string' },
    'keep-alive': { type: 'string' },
    variants: { type: 'string' },
    'churn-ms': { type: 'string' },
    'after-ms': { type: 'string' },
    'answer-chunks': { type: 'string' },
    'answer-ms': { type: 'string' },
    steady: { type: 'string' },
    rate: { type: 'string' },
    out: { type: 'string' },
  },
  allowPositionals: false,
});

if (a.help) {
  process.stdout.write(`npm run bench:memory -- [options]
  --quick                 smoke run (levels 50,200; keep-alive on; 4 s windows)
  --levels LIST           churn concurrency: clients connecting, streaming, closing at once (50,200,1000)
  --keep-alive LIST       on (clients reuse their connection) and/or off (one connection per answer) (on,off)
  --variants LIST         replica settings to compare (image,arena2):
                            image   the image's NODE_OPTIONS (Dockerfile), glibc's default malloc arenas
                            arena2  the same with MALLOC_ARENA_MAX=2
                            v8      no NODE_OPTIONS (V8's default young generation)
                            semi16  --max-semi-space-size=16 instead of the image's NODE_OPTIONS
                            semi16arena2  the same with MALLOC_ARENA_MAX=2
  --churn-ms N            churn window per case (10000; quick 4000)
  --after-ms N            quiet time after the churn before reading what stays (10000; quick 4000)
  --answer-chunks N       chunks per churned answer (10)
  --answer-ms N           duration of a churned answer (50)
  --steady N              live streams in the steady case (500; quick 200)
  --rate N                chunks per second per live stream in the steady case (25)
  --out DIR               results directory (bench/results)
`);
  process.exit(0);
}

function imageNodeOptions(): string {
  const m = /^ENV\s+NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  return m?.[1] ?? '';
}

const quick = a.quick === true;
const num = (v: string | undefined, full: number, q: number) => (v === undefined ? (quick ? q : full) : Number(v));
const list = (v: string | undefined, full: string, q: string) => (v ?? (quick ? q : full)).split(',').map((s) => s.trim()).filter(Boolean);
const P = {
  mode: quick ? 'memory-quick' : 'memory',
  levels: list(a.levels, '50,200,1000', '50,200').map(Number),
  keepAlive: list(a['keep-alive'], 'on,off', 'on'),
  variants: list(a.variants, 'image,arena2', 'image'),
  churnMs: num(a['churn-ms'], 10_000, 4_000),
  afterMs: num(a['after-ms'], 10_000, 4_000),
  answerChunks: num(a['answer-chunks'], 10, 10),
  answerMs: num(a['answer-ms'], 50, 50),
  steady: num(a.steady, 500, 200),
  rate: num(a.rate, 25, 25),
  imageNodeOptions: imageNodeOptions(),
};

interface Variant { readonly nodeArgs: string[]; readonly env: Record<string, string> }
const variants: Record<string, Variant> = {
  image: { nodeArgs: P.imageNodeOptions.split(' ').filter(Boolean), env: {} },
  arena2: { nodeArgs: P.imageNodeOptions.split(' ').filter(Boolean), env: { MALLOC_ARENA_MAX: '2' } },
  v8: { nodeArgs: [], env: {} },
  semi16: { nodeArgs: ['--max-semi-space-size=16'], env: {} },
  semi16arena2: { nodeArgs: ['--max-semi-space-size=16'], env: { MALLOC_ARENA_MAX: '2' } },
};
for (const v of P.variants) if (!(v in variants)) { process.stderr.write(`bench:memory: unknown variant ${v}\n`); process.exit(2); }
for (const k of P.keepAlive) if (k !== 'on' && k !== 'off') { process.stderr.write(`bench:memory: --keep-alive takes on and/or off, not ${k}\n`); process.exit(2); }

const t0 = performance.now();
const log = (s: string) => process.stderr.write(`[memory ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);
const startedAt = new Date();
const machineInfo: Record<string, unknown> = machine();
const tmp = mkdtempSync(join(tmpdir(), 'stopline-memory-'));
let redis: RedisProc | null = null;
let upstream: UpstreamProc | null = null;
const running = new Set<StoplineProc>();

// ---- one reading of a replica ----

/** KiB everywhere: the kernel's view (/proc) and V8's (process.memoryUsage(), /metrics). */
interface Reading {
  rss: number;
  anon: number;
  file: number;
  heap_used: number;
  heap_total: number;
  external: number;
  array_buffers: number;
  /** V8's young generation (new space) as reserved, from /metrics (nodejs_heap_space_size_total_bytes{space="new"}) */
  new_space: number;
  /** RSS minus V8's heap and external memory: malloc arenas, code, stacks, the binary's pages */
  other: number;
  /** anonymous RSS by kind (/proc/<pid>/smaps): the main malloc arena, the other threads' arenas, the rest */
  malloc_brk: number;
  malloc_arenas: number;
  sockets: number;
  threads: number;
}

async function read(r: StoplineProc, inspectPort: number): Promise<Reading> {
  const [mu, m] = await Promise.all([memoryUsage(inspectPort), r.metrics()]);
  const st = memStatus(r.pid);
  const byKind = anonByKind(r.pid);
  const kib = (b: number) => Math.round(b / 1024);
  return {
    rss: st.rss, anon: st.anon, file: st.file,
    heap_used: kib(mu.heapUsed), heap_total: kib(mu.heapTotal), external: kib(mu.external), array_buffers: kib(mu.arrayBuffers),
    new_space: kib(metric(m, 'nodejs_heap_space_size_total_bytes', { space: 'new' })),
    other: st.rss - kib(mu.heapTotal) - kib(mu.external),
    malloc_brk: byKind.brk, malloc_arenas: byKind.arenas,
    sockets: socketCount(r.pid), threads: st.threads,
  };
}

const fields = ['rss', 'anon', 'file', 'heap_used', 'heap_total', 'external', 'array_buffers', 'new_space', 'other', 'malloc_brk', 'malloc_arenas', 'sockets', 'threads'] as const;
function maxOf(rs: Reading[]): Reading {
  const out = {} as Reading;
  for (const f of fields) out[f] = Math.max(...rs.map((x) => x[f]));
  return out;
}
function meanOf(rs: Reading[]): Reading {
  const out = {} as Reading;
  for (const f of fields) out[f] = Math.round(rs.reduce((s, x) => s + x[f], 0) / rs.length);
  return out;
}

// ---- a fresh replica per case ----

let seq = 0;
async function replica(variant: string): Promise<{ r: StoplineProc; inspect: number; stop: () => Promise<void> }> {
  const v = variants[variant]!;
  const inspect = await freePort();
  const id = `mem-${variant}-${++seq}`;
  const r = await startStopline(mainJs, {
    STOPLINE_UPSTREAM: upstream!.url,
    STOPLINE_REDIS_URL: redis!.url,
    STOPLINE_NODE_ID: id,
    STOPLINE_REDIS_PREFIX: `bench:${id}:`,
    ...v.env,
  }, [...v.nodeArgs, `--inspect=127.0.0.1:${inspect}`]);
  running.add(r);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const m = await r.metrics().catch(() => '');
    if (metric(m, 'stopline_redis_up') === 1 && metric(m, 'stopline_redis_subscriber_up') === 1) break;
    await sleep(100);
  }
  return { r, inspect, stop: async () => { await r.stop(); running.delete(r); } };
}

/** Idle: 3 s after the replica is ready, then a full GC and a reading (the cases' baseline: start-up garbage gone). */
async function idle(r: StoplineProc, inspect: number): Promise<Reading> {
  await sleep(3_000);
  await collectGarbage(inspect);
  await sleep(200);
  return read(r, inspect);
}

/** What stays: the quiet time after the load, a reading; then a full GC and another. */
async function after(r: StoplineProc, inspect: number): Promise<{ quiet: Reading; gc: Reading }> {
  await sleep(P.afterMs);
  const quiet = await read(r, inspect);
  await collectGarbage(inspect);
  await sleep(500);
  return { quiet, gc: await read(r, inspect) };
}

// ---- churn: C clients, each opening a request, reading a short answer, closing, again ----

export interface ChurnRow {
  variant: string;
  keep_alive: boolean;
  concurrency: number;
  answers: number;
  answers_per_s: number;
  failed: number;
  /** readings: idle, during churn (the mean over its second half, and the peak of each figure), after, after a GC */
  idle: Reading;
  churn_mean: Reading;
  churn_peak: Reading;
  after: Reading;
  after_gc: Reading;
  /** RSS every 0.5 s during the churn (KiB): whether it levels off or keeps growing */
  rss_series: number[];
}

async function churnCase(variant: string, keepAlive: boolean, concurrency: number): Promise<ChurnRow> {
  const { r, inspect, stop } = await replica(variant);
  const base = await idle(r, inspect);
  const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: Infinity }) : false;
  const ivUs = Math.round((P.answerMs * 1000) / P.answerChunks);
  let answers = 0;
  let failed = 0;
  let go = true;
  const start = performance.now();
  const worker = async (w: number) => {
    for (let k = 0; go; k++) {
      const id = `c${concurrency}-${w}-${k}`;
      const s = new BenchStream({ base: r.url, id, session: `s-${id}`, n: P.answerChunks, ivUs, agent });
      await s.ended;
      if (s.complete && s.status === 200) answers++;
      else failed++;
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  const samples: Reading[] = [];
  const half = start + P.churnMs / 2;
  const second: Reading[] = [];
  while (performance.now() - start < P.churnMs) {
    await sleep(500);
    const x = await read(r, inspect);
    samples.push(x);
    if (performance.now() > half) second.push(x);
  }
  go = false;
  await Promise.all(workers);
  const elapsed = (performance.now() - start) / 1000;
  if (agent !== false) agent.destroy(); // the clients go away: their idle connections close
  const rest = await after(r, inspect);
  await stop();
  const row: ChurnRow = {
    variant, keep_alive: keepAlive, concurrency, answers, answers_per_s: Math.round(answers / elapsed), failed,
    idle: base, churn_mean: meanOf(second.length > 0 ? second : samples), churn_peak: maxOf(samples), after: rest.quiet, after_gc: rest.gc,
    rss_series: samples.map((x) => x.rss),
  };
  log(`churn ${variant} keep-alive ${keepAlive ? 'on ' : 'off'} ×${concurrency}: ${row.answers_per_s} answers/s (${failed} failed); RSS idle ${base.rss}, churn ${row.churn_mean.rss} (peak ${row.churn_peak.rss}), after ${rest.quiet.rss}, after GC ${rest.gc.rss} KiB; heap total ${base.heap_total} → ${row.churn_mean.heap_total} → ${rest.gc.heap_total} KiB`);
  return row;
}

// ---- steady: N live streams at the given rate ----

export interface SteadyRow {
  variant: string;
  streams: number;
  idle: Reading;
  half: Reading;
  full: Reading;
  after: Reading;
  after_gc: Reading;
  /** (RSS with all streams − RSS with half of them) / streams added, KiB */
  rss_per_stream: number;
}

async function steadyCase(variant: string): Promise<SteadyRow> {
  const { r, inspect, stop } = await replica(variant);
  const base = await idle(r, inspect);
  const ivUs = Math.round(1e6 / P.rate);
  const open = async (tag: string, n: number) => {
    const out: BenchStream[] = [];
    for (let k = 0; k < n; k++) {
      out.push(new BenchStream({ base: r.url, id: `${tag}-${k}`, session: `s-${tag}-${k}`, n: 10_000_000, ivUs, agent: false }));
      if (k % 50 === 49) await sleep(100);
    }
    return out;
  };
  const half = Math.floor(P.steady / 2);
  const sa = await open(`st${seq}a`, half);
  await sleep(4_000);
  const h = await read(r, inspect);
  const sb = await open(`st${seq}b`, P.steady - half);
  await sleep(4_000);
  const f = await read(r, inspect);
  const liveN = [...sa, ...sb].filter((s) => s.status === 200 && s.endAt === 0).length;
  for (const s of [...sa, ...sb]) s.destroy();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && metric(await r.metrics(), 'stopline_streams_active') !== 0) await sleep(200);
  const rest = await after(r, inspect);
  await stop();
  const row: SteadyRow = {
    variant, streams: liveN, idle: base, half: h, full: f, after: rest.quiet, after_gc: rest.gc,
    rss_per_stream: round((f.rss - h.rss) / Math.max(1, P.steady - half)),
  };
  log(`steady ${variant} ${liveN} live streams: RSS idle ${base.rss}, half ${h.rss}, full ${f.rss} KiB (${row.rss_per_stream} KiB per added stream), after ${rest.quiet.rss}, after GC ${rest.gc.rss} KiB`);
  return row;
}

/** Idle RSS of a replica without the inspector (which the other cases need for their GC and readings). */
async function plainIdle(variant: string): Promise<{ variant: string; rss: number; anon: number; file: number }> {
  const v = variants[variant]!;
  const id = `mem-plain-${variant}`;
  const r = await startStopline(mainJs, { STOPLINE_UPSTREAM: upstream!.url, STOPLINE_REDIS_URL: redis!.url, STOPLINE_NODE_ID: id, STOPLINE_REDIS_PREFIX: `bench:${id}:`, ...v.env }, v.nodeArgs);
  running.add(r);
  await sleep(5_000);
  const st = memStatus(r.pid);
  await r.stop();
  running.delete(r);
  log(`idle ${variant} (no inspector): RSS ${st.rss} KiB (anonymous ${st.anon}, file-backed ${st.file})`);
  return { variant, rss: st.rss, anon: st.anon, file: st.file };
}

// ---- the report ----

const mib = (k: number) => (k / 1024).toFixed(1);
const signed = (k: number) => `${k >= 0 ? '+' : '−'}${mib(Math.abs(k))}`;

function markdown(result: { machine: Record<string, unknown>; params: typeof P; idle: Awaited<ReturnType<typeof plainIdle>>[]; steady: SteadyRow[]; churn: ChurnRow[]; started_at: string; stopline: Record<string, unknown> }): string {
  const m = result.machine;
  const out: string[] = [];
  out.push(`# stopline memory: idle, live streams, connection churn (${result.started_at})`, '');
  out.push(`Machine: ${m.cores} cores, ${m.cpu_model}, ${m.memory_gib} GiB, kernel ${m.kernel}, Node ${m.node}, Redis ${m.redis}; load average ${(m.loadavg_at_start as number[]).join(' / ')} at start, ${(m.loadavg_at_end as number[]).join(' / ')} at end. stopline ${result.stopline.commit}. Replica node options: \`${result.params.imageNodeOptions}\` (image) unless the variant says otherwise. All figures MiB (RSS from /proc/<pid>/status; heap and external from process.memoryUsage() in the replica).`, '');
  out.push('## Idle (no inspector attached)', '', '| variant | RSS | anonymous | file-backed |', '|---|---|---|---|');
  for (const i of result.idle) out.push(`| ${i.variant} | ${mib(i.rss)} | ${mib(i.anon)} | ${mib(i.file)} |`);
  out.push('', '## Live streams', '', `Fresh replica, half the streams, 4 s, reading; the rest, 4 s, reading; streams closed, ${result.params.afterMs / 1000} s, reading; full GC, reading. ${result.params.rate} chunks/s per stream.`, '');
  out.push('| variant | live streams | RSS idle | half | all | per added stream (KiB) | after | after GC | heap total idle → all → after GC | young gen (all) |', '|---|---|---|---|---|---|---|---|---|---|');
  for (const s of result.steady) out.push(`| ${s.variant} | ${s.streams} | ${mib(s.idle.rss)} | ${mib(s.half.rss)} | ${mib(s.full.rss)} | ${s.rss_per_stream} | ${mib(s.after.rss)} | ${mib(s.after_gc.rss)} | ${mib(s.idle.heap_total)} → ${mib(s.full.heap_total)} → ${mib(s.after_gc.heap_total)} | ${mib(s.full.new_space)} |`);
  out.push('', '## Connection churn', '', `Fresh replica per row. Concurrency C: C clients, each in a loop: a request with session and message ids (registered in Redis, finished), a ${result.params.answerChunks}-chunk answer over ${result.params.answerMs} ms, the end; with keep-alive the client reuses its connection, without it every answer is a new TCP connection. ${result.params.churnMs / 1000} s of churn (readings every 0.5 s; "churn" is the mean over its second half), then the clients close their connections, ${result.params.afterMs / 1000} s of quiet, a reading, a full GC, a reading. Δ is against the row's own idle reading.`, '');
  out.push('| variant | keep-alive | C | answers/s | RSS idle | churn (Δ) | peak | sockets at churn | heap total Δ | young gen | external Δ | rest Δ (RSS − heap − external) | malloc Δ: main arena / thread arenas | after (Δ) | after GC (Δ) | malloc Δ after GC: main / threads |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const c of result.churn) {
    const d = (x: Reading, f: keyof Reading) => x[f] - c.idle[f];
    out.push(`| ${c.variant} | ${c.keep_alive ? 'on' : 'off'} | ${c.concurrency} | ${c.answers_per_s}${c.failed > 0 ? ` (${c.failed} failed)` : ''} | ${mib(c.idle.rss)} | ${mib(c.churn_mean.rss)} (${signed(d(c.churn_mean, 'rss'))}) | ${mib(c.churn_peak.rss)} | ${c.churn_mean.sockets} | ${signed(d(c.churn_mean, 'heap_total'))} | ${mib(c.churn_mean.new_space)} | ${signed(d(c.churn_mean, 'external'))} | ${signed(d(c.churn_mean, 'other'))} | ${signed(d(c.churn_mean, 'malloc_brk'))} / ${signed(d(c.churn_mean, 'malloc_arenas'))} | ${mib(c.after.rss)} (${signed(d(c.after, 'rss'))}) | ${mib(c.after_gc.rss)} (${signed(d(c.after_gc, 'rss'))}) | ${signed(d(c.after_gc, 'malloc_brk'))} / ${signed(d(c.after_gc, 'malloc_arenas'))} |`);
  }
  out.push('');
  return out.join('\n');
}

// ---- the run ----

let mainJs = '';

async function main(): Promise<void> {
  mainJs = snapshotApp(root, tmp);
  redis = await startRedis();
  const rc = new Redis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: 1 });
  rc.on('error', () => {});
  machineInfo.redis = /redis_version:(\S+)/.exec(await rc.info('server'))?.[1] ?? 'unknown';
  rc.disconnect();
  upstream = await startUpstream(join(here, 'upstream.ts'));
  log(`levels ${P.levels.join(', ')}; keep-alive ${P.keepAlive.join(', ')}; variants ${P.variants.join(', ')}; load average ${machineInfo.loadavg_at_start}`);
  const idleRows = [];
  const steady: SteadyRow[] = [];
  const churn: ChurnRow[] = [];
  for (const v of P.variants) idleRows.push(await plainIdle(v));
  for (const v of P.variants) steady.push(await steadyCase(v));
  // Variants alternate within each level, so that drift of the machine falls on both alike.
  for (const ka of P.keepAlive) for (const c of P.levels) for (const v of P.variants) churn.push(await churnCase(v, ka === 'on', c));
  machineInfo.loadavg_at_end = loadavg().map((x) => Math.round(x * 100) / 100);
  const result = {
    schema: 1, mode: P.mode, started_at: startedAt.toISOString(), finished_at: new Date().toISOString(),
    machine: machineInfo, stopline: { commit: git(['rev-parse', '--short', 'HEAD']), src_modified_since_commit: git(['status', '--porcelain', '--', 'src']) !== '', dist_sha1: distSha(mainJs) }, params: P,
    idle: idleRows, steady, churn,
  };
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const outDir = resolve(a.out ?? join(here, 'results'));
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `${stamp}-${P.mode}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const md = markdown(result);
  writeFileSync(join(outDir, `${stamp}-${P.mode}.md`), md);
  writeFileSync(join(outDir, quick ? 'latest-memory-quick.md' : 'latest-memory.md'), md);
  log(`wrote ${stamp}-${P.mode}.json and .md in ${outDir}`);
}

function git(args: string[]): string {
  const r = spawnSync('git', ['--no-optional-locks', ...args], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}
function distSha(main: string): string {
  return createHash('sha1').update(readFileSync(main)).digest('hex').slice(0, 12);
}

async function cleanup(): Promise<void> {
  await Promise.allSettled([...running].map((r) => r.stop()));
  await Promise.allSettled([upstream?.stop(), redis?.stop()]);
  try { rmSync(tmp, { recursive: true, force: true }); } catch { /* best effort */ }
}
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });

try {
  await main();
} finally {
  await cleanup();
}
