// stopline's benchmark: plain relays and stopline's designs side by side, in one run on one machine.
//   npm run bench                 the full run (about 8-9 minutes on 2 cores)
//   npm run bench -- --quick      a smoke run (about a minute)
//   npm run bench -- --help       every parameter
// Designs: direct to the upstream (the floor); nginx, HAProxy and a Node proxy as plain relays; stopline with a
// Redis check per chunk (per-chunk: the usual way to make a stream stoppable, which stopline replaces), with the
// batched poll only (poll), with Pub/Sub + poll (push, the default), and push with resume on (push-resume); two real
// replicas each, on one real redis-server. Rounds are interleaved (every workload runs every design in turn, in a
// rotating order), so machine drift hits all alike. Writes bench/results/<stamp>-<full|quick>.json, a Markdown
// report and a PNG chart; see bench/README.md for what each figure means and how it is measured.
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get as httpGet, type Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { BenchStream, keepAliveAgent, postJson, recorder } from './lib/client.ts';
import {
  collectGarbage, cpuSeconds, freePort, machine, metric, metricBy, nginxVersion, nowUs, rssKiB, sleep, snapshotApp, socketPortsTo, startNginx,
  startRedis, startStopline, startUpstream, type NginxProc, type RedisProc, type StoplineProc, type UpstreamProc,
} from './lib/procs.ts';
import { summarizeProfiles, type ProfileSummary } from './lib/profile.ts';
import { startOtlpSink, type OtlpSink } from './lib/otlp-sink.ts';
import { startHaproxy, startNodeProxy, type RelayProc } from './lib/relays.ts';
import { renderMarkdown, evaluateTargets } from './lib/report.ts';
import { median, round, Samples, summarize, type Summary } from './lib/stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

// ---- parameters ----

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    designs: { type: 'string' },
    streams: { type: 'string' },
    rate: { type: 'string' },
    'ramp-ms': { type: 'string' },
    'settle-ms': { type: 'string' },
    'measure-ms': { type: 'string' },
    cancels: { type: 'string' },
    'cancel-gap-ms': { type: 'string' },
    aborts: { type: 'string' },
    'seed-chunks': { type: 'string' },
    'seed-ms': { type: 'string' },
    'long-chunks': { type: 'string' },
    'long-ms': { type: 'string' },
    'seed-reps': { type: 'string' },
    'cost-streams': { type: 'string' },
    'cost-chunks': { type: 'string' },
    'cost-ms': { type: 'string' },
    'hung-ms': { type: 'string' },
    'hung-rounds': { type: 'string' },
    'hung-cancels': { type: 'string' },
    resumes: { type: 'string' },
    profile: { type: 'boolean' },
    'no-profile': { type: 'boolean', default: false },
    'no-plot': { type: 'boolean', default: false },
    nginx: { type: 'string', default: '/usr/sbin/nginx' },
    haproxy: { type: 'string', default: '/usr/sbin/haproxy' },
    scale: { type: 'string' },
    'scale-window-ms': { type: 'string' },
    out: { type: 'string' },
    'report-only': { type: 'string' },
    'profile-dir': { type: 'string' },
    'node-args': { type: 'string' },
    tracing: { type: 'boolean', default: false },
  },
  allowPositionals: false,
});

if (a.help) {
  process.stdout.write(`npm run bench -- [options]
  --quick                 smoke run (1 round, 200 streams, short windows, no profile; about a minute)
  --rounds N              interleaved rounds (3)
  --designs LIST          direct,nginx,haproxy,node-proxy,per-chunk,poll,push,push-resume
                          (push-resume brings push and direct along: it is compared with them)
  --streams N             concurrent slow streams in the load workload (500; see bench/README.md)
  --rate N                chunks per second per stream (25)
  --ramp-ms N             time over which the streams are opened (2000)
  --settle-ms N           wait after the ramp before measuring (1000)
  --measure-ms N          measurement window (8000)
  --cancels N             cross-replica cancels per stopline mode per round, at load (60)
  --cancel-gap-ms N       time between two cancels (25)
  --aborts N              client disconnects per design per round, at load (20)
  --seed-chunks N --seed-ms N     the short answer (500 chunks over 2000 ms)
  --long-chunks N --long-ms N     the long answer (1000 chunks over 4000 ms)
  --seed-reps N           answers of each kind per design per round (1)
  --cost-streams N        streams per batch in the Redis cost workload (40)
  --cost-chunks A,B       chunk counts of the two cost batches (20,500)
  --cost-ms N             duration of each cost stream (2000)
  --hung-ms N             Redis-hung window (healthy half, then SIGSTOP half) (8000)
  --hung-rounds N         rounds that run the Redis-hung workload (all)
  --hung-cancels N        cancels sent while Redis is hung (5)
  --resumes N             resumes per path (owner, other replica) per round in push-resume, at load (300)
  --profile / --no-profile  the profiling pass (node --cpu-prof on push replicas under the load; on in full runs)
  --no-plot               skip the PNG chart
  --nginx PATH            nginx binary (/usr/sbin/nginx)
  --haproxy PATH          haproxy binary (/usr/sbin/haproxy)
  --scale LIST            live streams for the scale row (1000,10000; quick 100,200; empty: skipped)
  --scale-window-ms N     the scale row's quiet window (5000; quick 2000)
  --out DIR               results directory (bench/results)
  --report-only FILE      re-render the Markdown and the chart of an existing result JSON, run nothing
  --profile-dir DIR       keep the .cpuprofile files there (default: a temporary directory, deleted at the end)
  --node-args=ARGS        node options for the stopline replicas, space-separated (default: the image's
                          NODE_OPTIONS from the Dockerfile; --node-args= runs them with none)
  --tracing               also run push with tracing on (sampler ratio 1, OTLP/HTTP to a receiver on loopback),
                          interleaved with push (tracing off) and direct, and compare the two
`);
  process.exit(0);
}

/** The node options the image runs stopline with (the Dockerfile's ENV NODE_OPTIONS): the replicas here get the same. */
function imageNodeOptions(): string {
  const m = /^ENV\s+NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(join(here, '..', 'Dockerfile'), 'utf8'));
  return m?.[1] ?? '';
}

const quick = a.quick === true;
const num = (v: string | undefined, full: number, q: number) => (v === undefined ? (quick ? q : full) : Number(v));
const P = {
  mode: quick ? 'quick' : 'full',
  rounds: num(a.rounds, 3, 1),
  designs: (a.designs ?? 'direct,nginx,haproxy,node-proxy,per-chunk,poll,push,push-resume').split(',').map((s) => s.trim()).filter(Boolean) as DesignName[],
  streams: num(a.streams, 500, 200),
  rate: num(a.rate, 25, 25),
  rampMs: num(a['ramp-ms'], 2000, 500),
  settleMs: num(a['settle-ms'], 1000, 300),
  measureMs: num(a['measure-ms'], 8000, 2000),
  cancels: num(a.cancels, 60, 15),
  cancelGapMs: num(a['cancel-gap-ms'], 25, 25),
  aborts: num(a.aborts, 20, 8),
  seedChunks: num(a['seed-chunks'], 500, 500),
  seedMs: num(a['seed-ms'], 2000, 2000),
  longChunks: num(a['long-chunks'], 1000, 1000),
  longMs: num(a['long-ms'], 4000, 1000),
  seedReps: num(a['seed-reps'], 1, 1),
  costStreams: num(a['cost-streams'], 40, 10),
  costChunks: (a['cost-chunks'] ?? '20,500').split(',').map(Number),
  costMs: num(a['cost-ms'], 2000, 600),
  hungMs: num(a['hung-ms'], 8000, 2000),
  hungRounds: num(a['hung-rounds'], Number.MAX_SAFE_INTEGER, 1),
  hungCancels: num(a['hung-cancels'], 5, 3),
  resumes: num(a.resumes, 300, 60),
  scaleLevels: (a.scale ?? (quick ? '100,200' : '1000,10000')).split(',').map(Number).filter((x) => x > 0),
  scaleWindowMs: num(a['scale-window-ms'], 5000, 2000),
  profile: a['no-profile'] === true ? false : (a.profile ?? !quick),
  plot: a['no-plot'] !== true,
  nodeArgs: (a['node-args'] ?? imageNodeOptions()).split(' ').filter(Boolean),
  tracing: a.tracing === true,
};
// The tracing comparison needs push (tracing off) and direct (the floor of "added" latency) beside the traced push.
if (P.tracing) for (const d of ['push', 'direct'] as const) if (!P.designs.includes(d)) P.designs.unshift(d);
// So does resume: push-resume is judged against push (resume off) in the same rounds.
if (P.designs.includes('push-resume')) for (const d of ['push', 'direct'] as const) if (!P.designs.includes(d)) P.designs.unshift(d);
const outDir = resolve(a.out ?? join(here, 'results'));
const validDesigns = ['direct', 'nginx', 'haproxy', 'node-proxy', 'per-chunk', 'poll', 'push', 'push-resume'];
for (const d of P.designs) if (!validDesigns.includes(d)) { process.stderr.write(`bench: unknown design ${d}\n`); process.exit(2); }

type DesignName = 'direct' | 'nginx' | 'haproxy' | 'node-proxy' | 'per-chunk' | 'poll' | 'push' | 'push-resume' | 'push-traced';
interface Design {
  readonly name: DesignName | 'push (profiled)' | 'push (memory)' | 'push (scale)';
  readonly kind: 'direct' | 'relay' | 'stopline';
  readonly urls: string[];
  readonly replicas: StoplineProc[];
  readonly prefix: string;
  pids(): number[];
  readonly agent: Agent;
}

const log = (s: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);
const t0 = performance.now();
const startedAt = new Date();
const machineInfo: Record<string, unknown> = machine();
const tmp = mkdtempSync(join(tmpdir(), 'stopline-bench-'));

// ---- the processes ----

let redis: RedisProc | null = null;
let upstream: UpstreamProc | null = null;
let nginx: NginxProc | null = null;
const relays: RelayProc[] = [];
let rc: Redis | null = null;
let otlp: OtlpSink | null = null;
const replicas: StoplineProc[] = [];
const aborts = new Map<string, { at: number; produced: number }>();
/** What push-resume adds to push: resume on the route the bench streams on. */
const resumeEnv = { STOPLINE_RESUME_ROUTES: 'POST /stream', STOPLINE_RESUME_DETACH_MS: '0' };

async function cleanup(): Promise<void> {
  recorder.sink = null;
  redis?.resume();
  rc?.disconnect();
  await Promise.allSettled(replicas.map((r) => r.stop()));
  await Promise.allSettled([otlp?.stop(), nginx?.stop(), ...relays.map((x) => x.stop()), upstream?.stop(), redis?.stop()]);
  try { rmSync(tmp, { recursive: true, force: true }); } catch { /* best effort */ }
}
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });

function ensureBuilt(): void {
  if (existsSync(join(root, 'dist', 'main.js'))) return;
  log('dist/ is missing: npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed');
}

/** A fingerprint of the dist/ that ran: sha1 over its .js and .lua files, and when it was built. */
function distFingerprint(main: string): { sha1: string; built_at: string } {
  const dir = dirname(main);
  const h = createHash('sha1');
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : /\.(js|lua)$/.test(e.name) ? [join(d, e.name)] : []));
  for (const f of walk(dir).sort()) { h.update(f.slice(dir.length)); h.update(readFileSync(f)); }
  return { sha1: h.digest('hex').slice(0, 12), built_at: statSync(join(root, 'dist', 'main.js')).mtime.toISOString() };
}

function git(args: string[]): string {
  const r = spawnSync('git', ['--no-optional-locks', ...args], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try { if (await probe()) return true; } catch { /* not yet */ }
    await sleep(everyMs);
  }
  log(`warning: timed out waiting for ${what}`);
  return false;
}

/**
 * Two replicas of one stopline design. `peers`: they name each other's admin ports in STOPLINE_PEERS (with a
 * secret of this run), the path a resume through the replica that does not own the stream takes to the owner.
 */
async function stoplineDesign(name: DesignName | 'push (profiled)' | 'push (memory)' | 'push (scale)', mode: string, main: string, nodeArgs: (side: string) => string[] = () => [], redisUrl = redis!.url, env: Record<string, string> = {}, peers = false): Promise<Design> {
  const tag = name === 'push (profiled)' ? 'push-prof' : name === 'push (memory)' ? 'push-mem' : name === 'push (scale)' ? 'push-scale' : name;
  const prefix = `bench:${tag}:`;
  const admin = peers ? [await freePort(), await freePort()] : [];
  const peerEnv: Record<string, string> = peers
    ? { STOPLINE_PEERS: admin.map((p) => `127.0.0.1:${p}`).join(','), STOPLINE_PEER_SECRET: randomBytes(24).toString('hex') }
    : {};
  const reps = await Promise.all(['a', 'b'].map((side, i) => startStopline(main, {
    STOPLINE_UPSTREAM: upstream!.url,
    STOPLINE_REDIS_URL: redisUrl,
    STOPLINE_CANCEL_MODE: mode,
    STOPLINE_NODE_ID: `bench-${tag}-${side}`,
    STOPLINE_REDIS_PREFIX: prefix,
    ...peerEnv,
    ...env,
  }, nodeArgs(side), admin[i])));
  replicas.push(...reps);
  await waitUntil(`${name} replicas ready`, async () => {
    for (const r of reps) {
      const m = await r.metrics();
      if (metric(m, 'stopline_redis_up') !== 1) return false;
      if (mode === 'push' && metric(m, 'stopline_redis_subscriber_up') !== 1) return false;
    }
    return true;
  }, 15_000);
  return { name, kind: 'stopline', urls: reps.map((r) => r.url), replicas: reps, prefix, pids: () => reps.map((r) => r.pid), agent: keepAliveAgent() };
}

// ---- helpers shared by workloads ----

async function commandStats(): Promise<Record<string, number>> {
  const info = await rc!.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

const ownCommands = new Set(['info', 'config', 'slowlog', 'client', 'hello', 'select', 'command']);
function statsDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    if (ownCommands.has(k.split('|')[0]!)) continue;
    const x = v - (before[k] ?? 0);
    if (x > 0) d[k] = x;
  }
  return d;
}

async function scrape(d: Design): Promise<string[]> {
  if (d.kind !== 'stopline') return [];
  return Promise.all(d.replicas.map((r) => r.metrics().catch(() => '')));
}

/** Opens `n` slow streams over the ramp, round-robin over the design's entry points. */
async function openStreams(d: Design, tag: string, n: number, ivUs: number, rampMs: number): Promise<BenchStream[]> {
  const streams: BenchStream[] = [];
  const start = Date.now();
  for (let k = 0; k < n; k++) {
    const due = start + (k * rampMs) / n;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
    streams.push(new BenchStream({ base: d.urls[k % d.urls.length]!, id: `${tag}-${k}`, session: `s-${tag}-${k}`, n: 10_000_000, ivUs, agent: false }));
  }
  return streams;
}

export interface MemoryRow {
  streams: [number, number];
  rss_kib: { idle: number; half: number; full: number };
  /** RSS added per live stream between half and full load: what one more stream costs */
  marginal_rss_per_stream_kib: number;
  /** (RSS at full load − idle RSS of the fresh replicas) / streams: the marginal cost plus one-off growth */
  from_idle_rss_per_stream_kib: number;
  /** the same split by stopline's own /metrics, between half and full load */
  marginal_heap_per_stream_kib: { heap_used: number; heap_total: number; external: number };
}

/**
 * Memory per live stream on fresh push replicas. RSS taken during a round's load is not it: replicas that ran a load
 * before keep that memory for reuse (V8 and malloc rarely give pages back), so a later round's growth reads near
 * zero, and a fresh replica's growth includes one-off costs (compiled code, V8's young generation growing to its cap
 * with the allocation rate) that do not scale with streams. Here half the streams open, the replicas settle, RSS is
 * read; the other half open, RSS is read again: the difference over the second half is what a live stream holds.
 */
async function memoryPass(mainJs: string): Promise<MemoryRow | null> {
  const d = await stoplineDesign('push (memory)', 'push', mainJs, () => P.nodeArgs);
  const pids = d.pids();
  const rss = () => pids.reduce((x, p) => x + rssKiB(p), 0);
  const heap = async () => {
    const ms = await scrape(d);
    const sum = (name: string) => ms.reduce((x, m) => x + metric(m, name), 0);
    return { used: sum('nodejs_heap_size_used_bytes'), total: sum('nodejs_heap_size_total_bytes'), external: sum('nodejs_external_memory_bytes') };
  };
  const ivUs = Math.round(1e6 / P.rate);
  const half = Math.floor(P.streams / 2);
  await sleep(300);
  const idle = rss();
  const a = await openStreams(d, 'M-a', half, ivUs, P.rampMs / 2);
  await sleep(P.settleMs + 2_000);
  const liveA = live(a).length;
  const rssA = rss();
  const hA = await heap();
  const b = await openStreams(d, 'M-b', P.streams - half, ivUs, P.rampMs / 2);
  await sleep(P.settleMs + 2_000);
  const liveAll = live(a).length + live(b).length;
  const rssB = rss();
  const hB = await heap();
  await teardown(d, [...a, ...b]);
  for (const rp of d.replicas) await rp.stop();
  const added = liveAll - liveA;
  if (added <= 0 || liveAll === 0) return null;
  const row: MemoryRow = {
    streams: [liveA, liveAll],
    rss_kib: { idle, half: rssA, full: rssB },
    marginal_rss_per_stream_kib: round((rssB - rssA) / added),
    from_idle_rss_per_stream_kib: round((rssB - idle) / liveAll),
    marginal_heap_per_stream_kib: {
      heap_used: round((hB.used - hA.used) / 1024 / added), heap_total: round((hB.total - hA.total) / 1024 / added), external: round((hB.external - hA.external) / 1024 / added),
    },
  };
  log(`memory pass: ${liveA} -> ${liveAll} live streams, RSS ${idle} / ${rssA} / ${rssB} KiB (idle / half / full): ${row.marginal_rss_per_stream_kib} KiB per added stream, ${row.from_idle_rss_per_stream_kib} KiB per stream from idle`);
  return row;
}

export interface ScaleRow {
  live_streams: number;
  window_s: number;
  /** commands Redis processed per replica per second (each one a round trip, or part of a pipelined one) */
  redis_commands_per_replica_per_s: number;
  /** Redis CPU (user + sys) per replica per second, in milliseconds */
  redis_cpu_ms_per_replica_per_s: number;
}

/**
 * Redis work per replica at scale: two fresh push replicas on a redis-server of their own (so that no other
 * design's idle replicas are counted), N live slow streams between them, then a quiet window in which only the
 * background work runs (poll, refresh, probes). Redis' own counters: INFO stats and INFO cpu, before and after.
 */
async function scalePass(mainJs: string, levels: number[]): Promise<ScaleRow[]> {
  const own = await startRedis();
  const oc = new Redis({ host: '127.0.0.1', port: own.port, maxRetriesPerRequest: 1 });
  oc.on('error', () => {});
  const rows: ScaleRow[] = [];
  const read = async () => {
    const info = await oc.info();
    const n = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
    return { cmds: n('total_commands_processed'), cpu: n('used_cpu_user') + n('used_cpu_sys'), at: performance.now() };
  };
  try {
    for (const n of levels) {
      const d = await stoplineDesign('push (scale)', 'push', mainJs, () => P.nodeArgs, `redis://127.0.0.1:${own.port}`);
      const streams = await openStreams(d, `S${n}`, n, 2_000_000, Math.max(P.rampMs, n)); // one chunk per 2 s each
      await sleep(P.settleMs + 3_000);
      const liveN = live(streams).length;
      const b = await read();
      await sleep(P.scaleWindowMs);
      const e = await read();
      const s = (e.at - b.at) / 1000;
      const row: ScaleRow = {
        live_streams: liveN,
        window_s: round(s),
        redis_commands_per_replica_per_s: round((e.cmds - b.cmds - 1) / s / d.replicas.length),
        redis_cpu_ms_per_replica_per_s: round(((e.cpu - b.cpu) * 1000) / s / d.replicas.length),
      };
      rows.push(row);
      log(`scale pass: ${liveN} live streams, ${row.redis_commands_per_replica_per_s} Redis commands and ${row.redis_cpu_ms_per_replica_per_s} ms Redis CPU per replica per second`);
      await teardown(d, streams);
      for (const rp of d.replicas) await rp.stop();
      await oc.flushall();
    }
  } finally {
    oc.disconnect();
    await own.stop();
  }
  return rows;
}

async function teardown(d: Design, streams: BenchStream[]): Promise<void> {
  for (const s of streams) s.destroy();
  // A relay that does not abort its upstream when the client goes away (http-proxy on Node >= 15.5: it listens for
  // `aborted`, which a request whose body is complete no longer emits) leaves generations running: they are cut here,
  // so that they do not load the next workloads.
  if (!await waitUntil('the upstream to see every stream end', async () => (await upstream!.live()) === 0, 10_000, 200)) {
    log(`warning: ${d.name} left ${await upstream!.cut()} upstream streams running after their clients went away: cut`);
  }
  if (d.kind === 'stopline') {
    await waitUntil(`${d.name} replicas to have no live stream`, async () => {
      for (const r of d.replicas) if (metric(await r.metrics(), 'stopline_streams_active') !== 0) return false;
      return true;
    }, 20_000, 200);
  }
  await sleep(300);
}

const live = (streams: BenchStream[]) => streams.filter((s) => s.status === 200 && s.endAt === 0);
const ms = (us: number) => us / 1000;

// ---- workload 1: the seed scenario ----

interface SeedRow { round: number; design: string; answer: string; chunks: number; planned_ms: number; e2e_ms: number; path_ms: number; first_event_ms: number; events: number; complete: boolean; status: number; delay: Summary }

async function runSeed(d: Design, rnd: number): Promise<SeedRow[]> {
  const rows: SeedRow[] = [];
  // Warm-up: connections, JIT, upstream pools.
  const w = new BenchStream({ base: d.urls[0]!, id: `warm-${rnd}-${d.name.replace(/\W/g, '')}`, session: `warm-${rnd}`, n: 50, ivUs: 2000, agent: d.agent });
  await w.ended;
  for (const [answer, n, dur] of [['seed', P.seedChunks, P.seedMs], ['long', P.longChunks, P.longMs]] as const) {
    for (let rep = 0; rep < P.seedReps; rep++) {
      const samples = new Samples();
      recorder.sink = samples;
      const id = `seed-${rnd}-${rep}-${answer}-${d.name.replace(/\W/g, '')}`;
      const s = new BenchStream({ base: d.urls[(rnd + rep) % d.urls.length]!, id, session: `s-${id}`, n, ivUs: Math.round((dur * 1000) / n), agent: d.agent });
      await s.ended;
      recorder.sink = null;
      rows.push({
        round: rnd, design: d.name, answer, chunks: n, planned_ms: dur,
        e2e_ms: round3(ms(s.endAt - s.sentAt)),
        // The path's share of the answer time: request to the upstream + the last event back to the end at the client
        // (the upstream's own pacing between its first and last event, with its timer jitter, taken out).
        path_ms: round3(ms(s.endAt - s.tLast + (s.tFirst - s.sentAt))),
        first_event_ms: round3(ms(s.firstEventAt - s.sentAt)),
        events: s.events, complete: s.complete, status: s.status, delay: summarize(samples, 1 / 1000),
      });
      await sleep(200);
    }
  }
  return rows;
}
const round3 = (v: number) => Math.round(v * 1000) / 1000;

// ---- workloads 2 and 3: load, then stop at that load ----

interface LoadRow {
  round: number; design: string; streams_opened: number; streams_live: number; window_s: number; events: number; events_per_s: number;
  delay: Summary;
  /** Request sent → response headers, for the streams of the ramp; and how many got theirs only after the window began. */
  stream_start_ms: Summary; streams_started_in_window: number;
  relay_cpu_s: number | null; relay_cpu_ms_per_1k_chunks: number | null; upstream_cpu_s: number; client_cpu_s: number;
  client_loop_lag_ms: { p50: number; p99: number; max: number };
  rss_before_kib: number | null; rss_during_kib: number | null; rss_per_stream_kib: number | null;
  /** stopline only, from its own /metrics (prom-client's Node metrics): growth per live stream, before → during. */
  heap_per_stream_kib: null | { heap_used: number; heap_total: number; external: number; rss_metric: number };
  /** stopline_calls_per_live_stream: every Redis call the design's replicas made in the window (their own count), over the live streams. */
  redis: null | { all_commands_per_replica_s: number; script_calls_per_replica_s: number; by_command_per_replica_s: Record<string, number>; stopline_calls_per_replica_s: Record<string, number>; stopline_calls_per_live_stream: number | null; stopline_errors: number };
  loadavg: number[];
}
interface CancelRow { id: string; status: number; outcome: string; path: string; api_ms: number | null; answer_ms: number; client_ms: number | null; terminal_ms: number | null; terminal: boolean; upstream_ms: number | null; tokens_after: number | null }
interface StopRow { round: number; design: string; cancels: CancelRow[]; aborts: { id: string; upstream_ms: number | null }[]; hops: Hops | null }
/** What one hop costs on this machine at this load: an HTTP round trip to a replica (answered without Redis) and a Redis PING from the client. */
interface Hops { http_404_ms: Summary; redis_ping_ms: Summary }

async function calibrateHops(d: Design): Promise<Hops> {
  const http: number[] = [];
  const ping: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await postJson(`${d.urls[i % d.urls.length]}/stopline/v1/not-a-route`, {}, d.agent);
    http.push(ms(r.answeredAt - r.sentAt));
    const t = nowUs();
    await rc!.ping();
    ping.push(ms(nowUs() - t));
    await sleep(10);
  }
  return { http_404_ms: summarize(http), redis_ping_ms: summarize(ping) };
}

async function runLoad(d: Design, rnd: number, withStop: boolean, samplesOut: Map<string, Samples>, afterWindow?: (liveStreams: number) => Promise<void>): Promise<{ load: LoadRow; stop: StopRow; resume: ResumeRow | null; window: { from: number; to: number } }> {
  const tag = `L${rnd}-${d.name.replace(/\W/g, '')}`;
  const ivUs = Math.round(1e6 / P.rate);
  const pids = d.pids();
  await sleep(300);
  const rssBefore = d.kind === 'direct' ? null : pids.reduce((x, p) => x + rssKiB(p), 0);
  const mBefore = await scrape(d);
  const streams = await openStreams(d, tag, P.streams, ivUs, P.rampMs);
  await sleep(P.settleMs);

  const samples = new Samples();
  const m0 = await scrape(d);
  const cs0 = d.kind === 'stopline' ? await commandStats() : {};
  const cpu0 = pids.reduce((x, p) => x + cpuSeconds(p), 0);
  const up0 = cpuSeconds(upstream!.pid);
  const me0 = process.cpuUsage();
  const ev0 = recorder.events;
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  const w0 = nowUs();
  recorder.sink = samples;
  await sleep(P.measureMs);
  recorder.sink = null;
  const w1 = nowUs();
  lag.disable();
  const ev1 = recorder.events;
  const cpu1 = pids.reduce((x, p) => x + cpuSeconds(p), 0);
  const up1 = cpuSeconds(upstream!.pid);
  const me = process.cpuUsage(me0);
  const rssDuring = d.kind === 'direct' ? null : pids.reduce((x, p) => x + rssKiB(p), 0);
  const cs1 = d.kind === 'stopline' ? await commandStats() : {};
  const m1 = await scrape(d);
  const windowS = (w1 - w0) / 1e6;
  const events = ev1 - ev0;
  const liveNow = live(streams).length;
  const memGrowth = (name: string) => {
    let sum = 0;
    for (let i = 0; i < mBefore.length; i++) sum += metric(m1[i] ?? '', name) - metric(mBefore[i] ?? '', name);
    return liveNow === 0 ? 0 : round(sum / 1024 / liveNow);
  };
  samplesOut.set(`${d.name}\t${rnd}`, samples);

  let redisRow: LoadRow['redis'] = null;
  if (d.kind === 'stopline') {
    const delta = statsDelta(cs0, cs1);
    const reps = d.replicas.length;
    const per = (v: number) => round(v / reps / windowS);
    const all = Object.values(delta).reduce((x, v) => x + v, 0);
    const scripts = (delta.evalsha ?? 0) + (delta.eval ?? 0);
    const calls: Record<string, number> = {};
    let errors = 0;
    for (let i = 0; i < reps; i++) {
      const c0 = metricBy(m0[i] ?? '', 'stopline_redis_command_duration_seconds_count', 'command');
      const c1 = metricBy(m1[i] ?? '', 'stopline_redis_command_duration_seconds_count', 'command');
      for (const [k, v] of Object.entries(c1)) calls[k] = (calls[k] ?? 0) + v - (c0[k] ?? 0);
      errors += metric(m1[i] ?? '', 'stopline_redis_errors_total') - metric(m0[i] ?? '', 'stopline_redis_errors_total');
    }
    redisRow = {
      all_commands_per_replica_s: per(all),
      script_calls_per_replica_s: per(scripts),
      by_command_per_replica_s: Object.fromEntries(Object.entries(delta).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, per(v)])),
      stopline_calls_per_replica_s: Object.fromEntries(Object.entries(calls).filter(([, v]) => v > 0).map(([k, v]) => [k, per(v)])),
      stopline_calls_per_live_stream: liveNow === 0 ? null : round(Object.values(calls).reduce((x, v) => x + v, 0) / liveNow),
      stopline_errors: errors,
    };
  }
  const relayCpu = d.kind === 'direct' ? null : cpu1 - cpu0;
  const load: LoadRow = {
    round: rnd, design: d.name, streams_opened: streams.filter((s) => s.status === 200).length, streams_live: liveNow,
    window_s: round3(windowS), events, events_per_s: Math.round(events / windowS),
    delay: summarize(samples, 1 / 1000),
    stream_start_ms: summarize(streams.filter((s) => s.headersAt > 0).map((s) => ms(s.headersAt - s.sentAt))),
    streams_started_in_window: streams.filter((s) => s.headersAt > w0).length,
    relay_cpu_s: relayCpu === null ? null : round3(relayCpu),
    relay_cpu_ms_per_1k_chunks: relayCpu === null || events === 0 ? null : round((relayCpu * 1000) / (events / 1000)),
    upstream_cpu_s: round3(up1 - up0),
    client_cpu_s: round3((me.user + me.system) / 1e6),
    client_loop_lag_ms: { p50: round(lag.percentile(50) / 1e6), p99: round(lag.percentile(99) / 1e6), max: round(lag.max / 1e6) },
    rss_before_kib: rssBefore, rss_during_kib: rssDuring,
    rss_per_stream_kib: rssBefore === null || rssDuring === null || liveNow === 0 ? null : round((rssDuring - rssBefore) / liveNow),
    heap_per_stream_kib: d.kind !== 'stopline' ? null : {
      heap_used: memGrowth('nodejs_heap_size_used_bytes'), heap_total: memGrowth('nodejs_heap_size_total_bytes'),
      external: memGrowth('nodejs_external_memory_bytes'), rss_metric: memGrowth('process_resident_memory_bytes'),
    },
    redis: redisRow,
    loadavg: loadavg().map((v) => Math.round(v * 100) / 100),
  };
  log(`load ${d.name.padEnd(15)} round ${rnd + 1}: ${load.events_per_s} ev/s, delay p50 ${load.delay.p50} ms p99 ${load.delay.p99} ms, relay CPU ${load.relay_cpu_ms_per_1k_chunks ?? '-'} ms/1k chunks, RSS/stream ${load.rss_per_stream_kib ?? '-'} KiB`);

  const stop: StopRow = { round: rnd, design: d.name, cancels: [], aborts: [], hops: null };
  if (afterWindow !== undefined) await afterWindow(liveNow);
  // Resumes come after the window (they are not part of its CPU or delay) and before the cancels (all streams live).
  const resume = withStop && d.name === 'push-resume' ? await runResumes(d, streams, rnd) : null;
  if (withStop && d.kind === 'stopline') {
    stop.hops = await calibrateHops(d);
    stop.cancels = await runCancels(d, streams);
  }
  stop.aborts = await runAborts(streams);
  await teardown(d, streams);
  return { load, stop, resume, window: { from: w0, to: w1 } };
}

/** Pre-opens keep-alive connections to each replica's data port, so no cancel pays for a TCP handshake. */
async function warmAgent(d: Design, n: number): Promise<void> {
  await Promise.all(d.urls.flatMap((u) => Array.from({ length: n }, () => postJson(`${u}/stopline/v1/not-a-route`, {}, d.agent))));
}

async function runCancels(d: Design, streams: BenchStream[]): Promise<CancelRow[]> {
  const candidates = live(streams);
  const k = Math.min(P.cancels, candidates.length);
  if (k === 0) return [];
  await warmAgent(d, Math.min(64, Math.ceil(k / 2)));
  const step = Math.floor(candidates.length / k);
  const pending: Promise<{ s: BenchStream; r: Awaited<ReturnType<typeof postJson>>; eventsAt: number }>[] = [];
  for (let j = 0; j < k; j++) {
    const s = candidates[j * step]!;
    const owner = d.urls.indexOf(s.base);
    const other = d.urls[(owner + 1) % d.urls.length]!;
    s.watchTerminal = true;
    const eventsAt = s.events;
    pending.push(postJson(`${other}/stopline/v1/cancel`, { session_id: s.session, message_id: s.id }, d.agent).then((r) => ({ s, r, eventsAt })));
    await sleep(P.cancelGapMs);
  }
  const answers = await Promise.all(pending);
  await Promise.race([Promise.all(answers.map((x) => x.s.ended)), sleep(5_000)]);
  await waitUntil('upstream aborts of the cancelled streams', () => answers.every((x) => aborts.has(x.s.id)), 3_000, 50);
  const rows = answers.map(({ s, r, eventsAt }): CancelRow => {
    const ab = aborts.get(s.id);
    const j = r.json ?? {};
    return {
      id: s.id,
      status: r.status,
      outcome: String(j.outcome ?? (r.error || 'no answer')),
      path: String(j.path ?? ''),
      api_ms: typeof j.cancel_to_stop_ms === 'number' ? j.cancel_to_stop_ms : null,
      answer_ms: round3(ms(r.answeredAt - r.sentAt)),
      client_ms: s.endAt === 0 ? null : round3(ms(s.endAt - r.sentAt)),
      terminal_ms: s.terminalAt === 0 ? null : round3(ms(s.terminalAt - r.sentAt)),
      terminal: s.terminalAt !== 0,
      upstream_ms: ab === undefined ? null : round3(ms(ab.at - r.sentAt)),
      tokens_after: ab === undefined ? null : ab.produced - eventsAt,
    };
  });
  const c = summarize(rows.filter((x) => x.client_ms !== null).map((x) => x.client_ms!));
  log(`stop ${d.name.padEnd(15)}: ${rows.length} cancels, client cancel-to-stop p50 ${c.p50} ms p99 ${c.p99} ms max ${c.max} ms; outcomes ${JSON.stringify(countBy(rows.map((x) => x.outcome)))}`);
  return rows;
}

async function runAborts(streams: BenchStream[]): Promise<{ id: string; upstream_ms: number | null }[]> {
  const candidates = live(streams).filter((s) => !s.watchTerminal);
  const k = Math.min(P.aborts, candidates.length);
  if (k === 0) return [];
  const step = Math.floor(candidates.length / k);
  const picked: BenchStream[] = [];
  for (let j = 0; j < k; j++) {
    const s = candidates[j * step]!;
    s.destroy();
    picked.push(s);
    await sleep(P.cancelGapMs);
  }
  await waitUntil('upstream aborts of the disconnected streams', () => picked.every((s) => aborts.has(s.id)), 3_000, 50);
  return picked.map((s) => { const ab = aborts.get(s.id); return { id: s.id, upstream_ms: ab === undefined ? null : round3(ms(ab.at - s.destroyedAt)) }; });
}

// ---- push-resume: resuming a live stream, through its owner and through the other replica ----

type ResumePathName = 'owner' | 'other';
interface ResumeTry {
  path: ResumePathName;
  status: number;
  /** Request started (a new connection, as a reconnecting client makes) → response headers / first body byte. */
  headers_ms: number | null;
  first_byte_ms: number | null;
  /** The first bytes are the upstream's first event: the replay starts at offset 0, as asked. */
  from_start: boolean;
  error: string;
}
interface ResumeRow { round: number; design: string; streams_live: number; tries: ResumeTry[]; duration_s: number; stopline_redis_calls: Record<string, number> }

/**
 * `--resumes` resumes per path from offset 0 (`GET /stopline/v1/streams/{session}/{message}`), one at a time, while
 * the load's streams run: for each of `--resumes` live streams, one through its owner and one through the other
 * replica (which finds the owner in Redis and follows the stream from it over the peers path), in an order that
 * alternates. Each is closed at its first body byte. stopline's own count of its Redis calls over the pass says
 * what the resumes cost in Redis (the batched poll runs beside them, once per replica per second).
 */
async function runResumes(d: Design, streams: BenchStream[], rnd: number): Promise<ResumeRow> {
  const candidates = live(streams);
  const m0 = await scrape(d);
  const started = performance.now();
  const tries: ResumeTry[] = [];
  for (let j = 0; j < P.resumes && candidates.length > 0; j++) {
    const s = candidates[Math.floor((j * candidates.length) / P.resumes) % candidates.length]!;
    const owner = s.base;
    const other = d.urls[(d.urls.indexOf(owner) + 1) % d.urls.length]!;
    const order: ResumePathName[] = j % 2 === 0 ? ['owner', 'other'] : ['other', 'owner'];
    for (const path of order) tries.push(await resumeOnce(path === 'owner' ? owner : other, s, path));
  }
  const durationS = (performance.now() - started) / 1000;
  const m1 = await scrape(d);
  const calls: Record<string, number> = {};
  for (let i = 0; i < m1.length; i++) {
    const c0 = metricBy(m0[i] ?? '', 'stopline_redis_command_duration_seconds_count', 'command');
    for (const [k, v] of Object.entries(metricBy(m1[i] ?? '', 'stopline_redis_command_duration_seconds_count', 'command'))) calls[k] = (calls[k] ?? 0) + v - (c0[k] ?? 0);
  }
  const row: ResumeRow = { round: rnd, design: d.name, streams_live: candidates.length, tries, duration_s: round3(durationS), stopline_redis_calls: Object.fromEntries(Object.entries(calls).filter(([, v]) => v > 0)) };
  const fb = (p: ResumePathName) => summarize(tries.filter((t) => t.path === p && t.first_byte_ms !== null).map((t) => t.first_byte_ms!));
  const o = fb('owner');
  const x = fb('other');
  log(`resume ${d.name.padEnd(15)}: ${tries.length} resumes, first replayed byte through the owner p50 ${o.p50} ms p99 ${o.p99} ms, through the other replica p50 ${x.p50} ms p99 ${x.p99} ms; statuses ${JSON.stringify(countBy(tries.map((t) => `${t.path} ${t.status || t.error}`)))}`);
  return row;
}

/** One resume from offset 0 on a new connection, closed at its first body byte (bounded: 5 s). */
function resumeOnce(base: string, s: BenchStream, path: ResumePathName): Promise<ResumeTry> {
  return new Promise((resolve) => {
    const out: ResumeTry = { path, status: 0, headers_ms: null, first_byte_ms: null, from_start: false, error: '' };
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(out);
    };
    const timer = setTimeout(() => { out.error ||= 'no first byte within 5 s'; done(); }, 5_000);
    const t0 = nowUs();
    const req = httpGet(`${base}/stopline/v1/streams/${encodeURIComponent(s.session)}/${encodeURIComponent(s.id)}?offset=0`, { agent: false }, (res) => {
      out.headers_ms = round3(ms(nowUs() - t0));
      out.status = res.statusCode ?? 0;
      let body = '';
      res.on('data', (b: Buffer) => {
        if (out.status !== 200) { body += b.toString('utf8'); return; }
        out.first_byte_ms = round3(ms(nowUs() - t0));
        out.from_start = b.toString('latin1').startsWith('data: {"i":0,');
        done();
      });
      res.on('end', () => { if (out.status !== 200) out.error ||= body.slice(0, 160); done(); });
      res.on('error', (e) => { out.error ||= e.message; done(); });
    });
    req.setNoDelay(true);
    req.on('error', (e) => { out.error ||= e.message; done(); });
  });
}

function summarizeResumes(rows: ResumeRow[]): Record<string, unknown> {
  if (rows.length === 0) return {};
  const tries = rows.flatMap((r) => r.tries);
  const side = (p: ResumePathName) => {
    const mine = tries.filter((t) => t.path === p);
    const ok = mine.filter((t) => t.status === 200 && t.first_byte_ms !== null);
    return {
      resumes: mine.length,
      statuses: countBy(mine.map((t) => (t.status === 0 ? t.error || 'no answer' : String(t.status)))),
      replayed_from_start: ok.filter((t) => t.from_start).length,
      first_byte_ms: summarize(ok.map((t) => t.first_byte_ms!)),
      headers_ms: summarize(ok.map((t) => t.headers_ms!)),
      first_byte_p50_ms_each_round: rows.map((r) => summarize(r.tries.filter((t) => t.path === p && t.first_byte_ms !== null).map((t) => t.first_byte_ms!)).p50),
    };
  };
  const calls: Record<string, number> = {};
  for (const r of rows) for (const [k, v] of Object.entries(r.stopline_redis_calls)) calls[k] = (calls[k] ?? 0) + v;
  const other = tries.filter((t) => t.path === 'other').length;
  return {
    'push-resume': {
      rounds: rows.length,
      owner: side('owner'),
      other: side('other'),
      duration_s: rows.reduce((x, r) => x + r.duration_s, 0),
      stopline_redis_calls: calls,
      /** Redis lookups (the store's `get`) per resume through the other replica; a resume through the owner makes none. */
      lookups_per_other_resume: other === 0 ? null : round((calls.get ?? 0) / other),
    },
  };
}

function countBy(xs: string[]): Record<string, number> {
  const o: Record<string, number> = {};
  for (const x of xs) o[x] = (o[x] ?? 0) + 1;
  return o;
}

// ---- workload 4: Redis commands per stream (SLOWLOG at threshold 0: every command, with its client) ----

interface CostRow { round: number; design: string; chunks: number; streams: number; completed: number; round_trips_per_stream: number; in_scripts_per_stream: number; round_trips_by_command: Record<string, number>; in_scripts_by_command: Record<string, number>; all_commands_per_stream_commandstats: number }

function scriptNames(main: string): Map<string, string> {
  const dir = join(dirname(main), 'cancel', 'lua');
  const m = new Map<string, string>();
  for (const f of readdirSync(dir)) if (f.endsWith('.lua')) m.set(createHash('sha1').update(readFileSync(join(dir, f), 'utf8')).digest('hex'), f.replace(/-\d+\.lua$/, '').replace(/\.lua$/, ''));
  return m;
}

async function runCost(d: Design, rnd: number, shas: Map<string, string>): Promise<CostRow[]> {
  const rows: CostRow[] = [];
  const ports = new Set<number>();
  for (const p of d.pids()) for (const port of socketPortsTo(p, redis!.port)) ports.add(port);
  for (const chunks of P.costChunks) {
    await rc!.config('SET', 'slowlog-max-len', '1000000');
    await rc!.slowlog('RESET');
    const cs0 = await commandStats();
    await rc!.config('SET', 'slowlog-log-slower-than', '0');
    const tag = `C${rnd}-${d.name}-${chunks}`;
    const streams: BenchStream[] = [];
    for (let k = 0; k < P.costStreams; k++) {
      streams.push(new BenchStream({ base: d.urls[k % d.urls.length]!, id: `${tag}-${k}`, session: `s-${tag}-${k}`, n: chunks, ivUs: Math.round((P.costMs * 1000) / chunks), agent: d.agent }));
      await sleep(5);
    }
    await Promise.race([Promise.all(streams.map((s) => s.ended)), sleep(P.costMs * 5 + 5_000)]);
    // Each stream's finish step runs after its response ends: let them land.
    await waitUntil('finish steps', async () => {
      for (const r of d.replicas) if (metric(await r.metrics(), 'stopline_streams_active') !== 0) return false;
      return true;
    }, 5_000, 50);
    await sleep(200);
    await rc!.config('SET', 'slowlog-log-slower-than', '10000');
    const cs1 = await commandStats();
    const entries = (await rc!.call('SLOWLOG', 'GET', '-1')) as unknown[];
    await rc!.slowlog('RESET');
    const top: Record<string, number> = {};
    const inner: Record<string, number> = {};
    let pendingInner: string[] = [];
    const parsed = entries.map((e) => {
      const x = e as [number, number, number, string[], string, string];
      return { id: Number(x[0]), args: (x[3] ?? []).map(String), client: String(x[4] ?? '') };
    }).sort((p, q) => p.id - q.id);
    for (const e of parsed) {
      const cmd = (e.args[0] ?? '').toLowerCase();
      if (e.client === '?:0' || e.client === '') { pendingInner.push(cmd); continue; }
      const port = Number(e.client.slice(e.client.lastIndexOf(':') + 1));
      const mine = ports.has(port);
      if (mine) {
        const name = cmd === 'evalsha' ? `evalsha ${shas.get((e.args[1] ?? '').toLowerCase()) ?? '?'}` : cmd;
        top[name] = (top[name] ?? 0) + 1;
        for (const c of pendingInner) inner[c] = (inner[c] ?? 0) + 1;
      }
      pendingInner = [];
    }
    const sum = (o: Record<string, number>) => Object.values(o).reduce((x, v) => x + v, 0);
    const n = P.costStreams;
    const perStream = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, round(v / n)]));
    const row: CostRow = {
      round: rnd, design: d.name, chunks, streams: n, completed: streams.filter((s) => s.complete && s.events === chunks).length,
      round_trips_per_stream: round(sum(top) / n), in_scripts_per_stream: round(sum(inner) / n),
      round_trips_by_command: perStream(top), in_scripts_by_command: perStream(inner),
      all_commands_per_stream_commandstats: round(sum(statsDelta(cs0, cs1)) / n),
    };
    rows.push(row);
    log(`cost ${d.name.padEnd(15)} ${String(chunks).padStart(4)} chunks: ${row.round_trips_per_stream} round trips/stream, ${row.in_scripts_per_stream} commands inside scripts/stream`);
    await sleep(200);
  }
  return rows;
}

// ---- workload 5: Redis hung (SIGSTOP) halfway through the load, push mode ----

interface HungRow { round: number; design: string; streams_live: number; healthy: Summary; hung: Summary; events_per_s_healthy: number; events_per_s_hung: number; cancels_while_hung: { status: number; outcome: string; degraded: boolean; answer_ms: number }[]; recovered_s: number | null; loadavg: number[] }

async function runHung(d: Design, rnd: number): Promise<HungRow> {
  const tag = `H${rnd}`;
  const streams = await openStreams(d, tag, P.streams, Math.round(1e6 / P.rate), P.rampMs);
  await sleep(P.settleMs);
  await warmAgent(d, 4);
  const healthy = new Samples();
  const hung = new Samples();
  const e0 = recorder.events;
  recorder.sink = healthy;
  await sleep(P.hungMs / 2);
  const e1 = recorder.events;
  redis!.pause();
  const stoppedAt = Date.now();
  recorder.sink = hung;
  // A few cancels while Redis is hung: they must answer (degraded), not hang.
  const cands = live(streams);
  const cancels: HungRow['cancels_while_hung'] = [];
  for (let j = 0; j < Math.min(P.hungCancels, cands.length); j++) {
    const s = cands[Math.floor((j * cands.length) / P.hungCancels)]!;
    const other = d.urls[(d.urls.indexOf(s.base) + 1) % d.urls.length]!;
    const r = await postJson(`${other}/stopline/v1/cancel`, { session_id: s.session, message_id: s.id }, d.agent);
    cancels.push({ status: r.status, outcome: String(r.json?.outcome ?? r.error), degraded: r.json?.degraded === true, answer_ms: round3(ms(r.answeredAt - r.sentAt)) });
  }
  await sleep(Math.max(0, P.hungMs / 2 - (Date.now() - stoppedAt)));
  recorder.sink = null;
  const e2 = recorder.events;
  const liveN = live(streams).length;
  redis!.resume();
  const resumed = Date.now();
  const ok = await waitUntil('replicas to report Redis up again', async () => {
    for (const r of replicas) if (metric(await r.metrics(), 'stopline_redis_up') !== 1) return false;
    return true;
  }, 20_000, 100);
  const recovered = ok ? round3((Date.now() - resumed) / 1000) : null;
  const row: HungRow = {
    round: rnd, design: d.name, streams_live: liveN, healthy: summarize(healthy, 1 / 1000), hung: summarize(hung, 1 / 1000),
    events_per_s_healthy: Math.round((e1 - e0) / (P.hungMs / 2000)), events_per_s_hung: Math.round((e2 - e1) / (P.hungMs / 2000)),
    cancels_while_hung: cancels, recovered_s: recovered, loadavg: loadavg().map((v) => Math.round(v * 100) / 100),
  };
  log(`hung ${d.name}: p99 healthy ${row.healthy.p99} ms, hung ${row.hung.p99} ms; cancels while hung ${JSON.stringify(countBy(cancels.map((c) => c.outcome)))}`);
  await teardown(d, streams);
  return row;
}

// ---- the run ----

async function main(): Promise<void> {
  ensureBuilt();
  log(`mode ${P.mode}; ${P.rounds} round(s); designs ${P.designs.join(', ')}; ${P.streams} streams at ${P.rate} chunks/s; load average ${machineInfo.loadavg_at_start}`);
  const builtAt = distFingerprint(join(root, 'dist', 'main.js')).built_at;
  const mainJs = snapshotApp(root, tmp);
  const dist = { ...distFingerprint(mainJs), built_at: builtAt };
  const shas = scriptNames(mainJs);
  redis = await startRedis();
  rc = new Redis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: 1 });
  rc.on('error', () => {});
  const info = await rc.info('server');
  machineInfo.redis = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  machineInfo.nginx = existsSync(a.nginx!) ? nginxVersion(a.nginx!) : 'not installed';
  upstream = await startUpstream(join(here, 'upstream.ts'));
  upstream.onAbort((x) => aborts.set(x.id, { at: x.at, produced: x.produced }));

  // With --tracing, both push designs start as the image starts stopline (the tracing preload first): only OTEL_* differs.
  const pushArgs = P.tracing ? ['--import', join(dirname(mainJs), 'tracing', 'preload.js'), ...P.nodeArgs] : P.nodeArgs;
  const designs: Design[] = [];
  for (const name of P.designs) {
    if (name === 'direct') {
      designs.push({ name, kind: 'direct', urls: [upstream.url], replicas: [], prefix: '', pids: () => [], agent: keepAliveAgent() });
    } else if (name === 'nginx') {
      if (!existsSync(a.nginx!)) { log(`nginx not found at ${a.nginx}: skipped`); continue; }
      nginx = await startNginx(a.nginx!, join(tmp, 'nginx'), upstream.port);
      const n = nginx;
      designs.push({ name, kind: 'relay', urls: [n.url], replicas: [], prefix: '', pids: () => n.pids(), agent: keepAliveAgent() });
    } else if (name === 'haproxy' || name === 'node-proxy') {
      if (name === 'haproxy' && !existsSync(a.haproxy!)) { log(`haproxy not found at ${a.haproxy}: skipped (Debian package haproxy)`); continue; }
      const n = name === 'haproxy' ? await startHaproxy(a.haproxy!, join(tmp, 'haproxy'), upstream.port) : await startNodeProxy(join(here, 'node-proxy.ts'), upstream.port);
      relays.push(n);
      machineInfo[name] = n.version;
      designs.push({ name, kind: 'relay', urls: [n.url], replicas: [], prefix: '', pids: () => n.pids(), agent: keepAliveAgent() });
    } else if (name === 'push-resume') {
      // push with resume on for the bench's stream route, the default byte bounds, and the peers path (a resume
      // through the replica that does not own the stream is served from the owner over it). Detach is off: a client
      // that goes away aborts at once, as with resume off, so the disconnects of the workloads and their teardown
      // behave alike in both designs (a detach window costs nothing per chunk; it only keeps a generation alive).
      designs.push(await stoplineDesign(name, 'push', mainJs, () => pushArgs, redis.url, resumeEnv, true));
    } else {
      designs.push(await stoplineDesign(name, name, mainJs, () => (name === 'push' ? pushArgs : P.nodeArgs)));
    }
  }
  if (P.tracing) {
    otlp = await startOtlpSink();
    designs.push(await stoplineDesign('push-traced', 'push', mainJs, () => pushArgs, redis.url, {
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '1',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${otlp.url}/v1/traces`,
      OTEL_SERVICE_NAME: 'stopline-bench',
    }));
  }
  log(`started: redis ${machineInfo.redis}, nginx ${machineInfo.nginx}, ${replicas.length} stopline replicas`);

  const seed: SeedRow[] = [];
  const load: LoadRow[] = [];
  const stop: StopRow[] = [];
  const cost: CostRow[] = [];
  const hung: HungRow[] = [];
  const resumes: ResumeRow[] = [];
  const pooled = new Map<string, Samples>();
  const push = designs.find((d) => d.name === 'push');
  for (let r = 0; r < P.rounds; r++) {
    const order = designs.map((_, i) => designs[(i + r) % designs.length]!);
    log(`round ${r + 1}/${P.rounds}: order ${order.map((d) => d.name).join(', ')}`);
    for (const d of order) seed.push(...await runSeed(d, r));
    for (const d of order) {
      const x = await runLoad(d, r, true, pooled);
      load.push(x.load);
      stop.push(x.stop);
      if (x.resume !== null) resumes.push(x.resume);
    }
    for (const d of order) if (d.kind === 'stopline') cost.push(...await runCost(d, r, shas));
    if (push !== undefined && r < P.hungRounds) hung.push(await runHung(push, r));
  }

  // The traced replicas stop first (SIGTERM flushes their span queue), so the receiver has everything they exported.
  let receiver: ReturnType<OtlpSink['counts']> | null = null;
  if (otlp !== null) {
    for (const rp of designs.find((d) => d.name === 'push-traced')!.replicas) await rp.stop();
    receiver = otlp.counts();
    log(`tracing: ${receiver.spans} spans received in ${receiver.posts} OTLP requests`);
  }

  let memory: MemoryRow | null = null;
  if (P.designs.includes('push')) {
    log('memory pass: two fresh push replicas, half the streams, then all of them');
    memory = await memoryPass(mainJs);
  }

  let scale: ScaleRow[] = [];
  if (P.designs.includes('push') && P.scaleLevels.length > 0) {
    log(`scale pass: Redis work per replica at ${P.scaleLevels.join(', ')} live streams`);
    scale = await scalePass(mainJs, P.scaleLevels);
  }

  let profile: ProfileSummary | null = null;
  let profileLoad: LoadRow | null = null;
  let retainedHeap: number | null = null;
  if (P.profile && P.designs.includes('push')) {
    log('profiling pass: two push replicas under node --cpu-prof, same load');
    const dir = a['profile-dir'] !== undefined ? resolve(a['profile-dir']) : join(tmp, 'cpuprof');
    mkdirSync(dir, { recursive: true });
    const inspect = [await freePort(), await freePort()];
    const d = await stoplineDesign('push (profiled)', 'push', mainJs, (side) => [...P.nodeArgs, '--cpu-prof', `--cpu-prof-dir=${dir}`, `--inspect=127.0.0.1:${inspect[side === 'a' ? 0 : 1]}`]);
    // Retained heap per live stream: a full GC (through the inspector) before the streams and again during them.
    const heapUsed = async () => {
      await Promise.all(inspect.map((p) => collectGarbage(p)));
      await sleep(200);
      return (await scrape(d)).reduce((x, m) => x + metric(m, 'nodejs_heap_size_used_bytes'), 0);
    };
    let retained: number | null = null;
    let h0 = 0;
    try { h0 = await heapUsed(); } catch (err) { log(`warning: no GC through the inspector: ${(err as Error).message}`); }
    const x = await runLoad(d, P.rounds, false, new Map(), async (n) => {
      if (h0 === 0 || n === 0) return;
      try { retained = round((await heapUsed() - h0) / 1024 / n); } catch { /* reported as null */ }
    });
    profileLoad = x.load;
    retainedHeap = retained;
    log(`retained V8 heap per live stream after a full GC: ${retained ?? 'n/a'} KiB`);
    for (const rp of d.replicas) await rp.stop();
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
    if (files.length > 0) profile = summarizeProfiles(files, x.window);
    log(`profile: ${files.length} file(s), busy ${profile?.busy_ms ?? 0} ms`);
  }

  // ---- summaries ----
  machineInfo.loadavg_at_end = loadavg().map((v) => Math.round(v * 100) / 100);
  const summary = summarizeAll(designs.map((d) => d.name), seed, load, stop, cost, hung, pooled);
  summary.resume = summarizeResumes(resumes);
  const finishedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const base = `${stamp}-${P.mode}`;
  const result = {
    schema: 1,
    mode: P.mode,
    started_at: startedAt.toISOString(),
    finished_at: finishedAt.toISOString(),
    duration_s: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    machine: machineInfo,
    stopline: { commit: git(['rev-parse', '--short', 'HEAD']), src_modified_since_commit: git(['status', '--porcelain', '--', 'src']) !== '', dist },
    params: P,
    summary,
    targets: [] as ReturnType<typeof evaluateTargets>,
    memory,
    scale,
    tracing: receiver === null ? null : tracingComparison(summary, receiver),
    profile: profile === null ? null : { load: profileLoad, retained_heap_per_stream_kib: retainedHeap, ...profile },
    raw: { seed, load, stop, cost, hung, resume: resumes },
    files: { json: `${base}.json`, markdown: `${base}.md`, chart: `${base}.png` },
  };
  result.targets = evaluateTargets(result);
  mkdirSync(outDir, { recursive: true });
  const jsonPath = join(outDir, result.files.json);
  writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
  render(jsonPath, true);
  for (const t of result.targets) log(`target ${t.verdict.padEnd(12)} ${t.target}: ${t.value}`);
}

/** Writes <stamp>-<mode>.md and .png beside a result JSON; for the newest run also latest(-quick).md and .png. */
function render(jsonPath: string, latest: boolean): void {
  const result = JSON.parse(readFileSync(jsonPath, 'utf8')) as { mode: string; files: { json: string; markdown: string; chart: string }; targets: ReturnType<typeof evaluateTargets> };
  result.targets = evaluateTargets(result);
  const dir = dirname(jsonPath);
  const base = basename(jsonPath).replace(/\.json$/, '');
  result.files = { json: `${base}.json`, markdown: `${base}.md`, chart: `${base}.png` };
  let chart: string | null = null;
  if (P.plot) chart = plot(jsonPath, join(dir, result.files.chart)) ? result.files.chart : null;
  writeFileSync(join(dir, result.files.markdown), renderMarkdown(result, chart));
  const written = [result.files.json, result.files.markdown, ...(chart ? [chart] : [])];
  if (latest) {
    const l = result.mode === 'full' ? 'latest' : 'latest-quick';
    writeFileSync(join(dir, `${l}.md`), renderMarkdown(result, chart === null ? null : `${l}.png`));
    if (chart !== null) copyFileSync(join(dir, chart), join(dir, `${l}.png`));
    written.push(`${l}.md`, ...(chart ? [`${l}.png`] : []));
  }
  log(`wrote ${written.map((f) => relative(join(dir, f))).join(', ')}`);
}

const relative = (p: string) => (p.startsWith(root) ? p.slice(root.length + 1) : p);

function summarizeAll(names: string[], seed: SeedRow[], load: LoadRow[], stop: StopRow[], cost: CostRow[], hung: HungRow[], pooled: Map<string, Samples>) {
  const out: Record<string, Record<string, unknown>> = { seed: {}, load: {}, stop: {}, cost: {}, hung: {} };
  // Seed: per answer kind, the paired difference against direct in the same round and repetition.
  for (const name of names) {
    const mine = seed.filter((s) => s.design === name);
    const perAnswer: Record<string, unknown> = {};
    for (const answer of ['seed', 'long']) {
      const rows = mine.filter((s) => s.answer === answer);
      const added: number[] = [];
      const addedPath: number[] = [];
      const addedPathPct: number[] = [];
      for (const row of rows) {
        const base = seed.find((s) => s.design === 'direct' && s.answer === answer && s.round === row.round);
        if (base === undefined) continue;
        added.push(row.e2e_ms - base.e2e_ms);
        addedPath.push(row.path_ms - base.path_ms);
        addedPathPct.push(((row.path_ms - base.path_ms) / base.e2e_ms) * 100);
      }
      perAnswer[answer] = {
        chunks: rows[0]?.chunks ?? null, planned_ms: rows[0]?.planned_ms ?? null, answers: rows.length,
        e2e_ms_median: roundN(median(rows.map((x) => x.e2e_ms))),
        path_ms_median: roundN(median(rows.map((x) => x.path_ms))),
        added_ms_median: roundN(median(addedPath)), added_pct_median: roundN(median(addedPathPct)),
        added_ms_each: addedPath.map(round3),
        added_e2e_ms_median: roundN(median(added)), added_e2e_ms_each: added.map(round3),
        event_delay_p50_ms_median: roundN(median(rows.map((x) => x.delay.p50 ?? 0))),
        event_delay_p99_ms_median: roundN(median(rows.map((x) => x.delay.p99 ?? 0))),
        all_complete: rows.every((x) => x.complete && x.events === x.chunks),
      };
    }
    out.seed![name] = perAnswer;
  }
  // Load: per-event delay pooled over rounds; CPU and chunks summed over rounds.
  const direct = pooledSummary('direct', pooled);
  for (const name of names) {
    const rows = load.filter((l) => l.design === name);
    const s = pooledSummary(name, pooled);
    const cpu = rows.reduce((x, l) => x + (l.relay_cpu_s ?? 0), 0);
    const events = rows.reduce((x, l) => x + l.events, 0);
    const rss = rows.map((l) => l.rss_per_stream_kib).filter((v): v is number => v !== null);
    out.load![name] = {
      rounds: rows.length,
      streams_live_min: Math.min(...rows.map((l) => l.streams_live)),
      events_per_s_median: roundN(median(rows.map((l) => l.events_per_s))),
      delay_ms: s,
      stream_start_ms_p50_median: roundN(median(rows.map((l) => l.stream_start_ms.p50 ?? 0))),
      stream_start_ms_p99_median: roundN(median(rows.map((l) => l.stream_start_ms.p99 ?? 0))),
      streams_started_in_window_max: Math.max(0, ...rows.map((l) => l.streams_started_in_window)),
      added_p50_ms: s.p50 !== null && direct.p50 !== null && name !== 'direct' ? round(s.p50 - direct.p50) : null,
      added_p99_ms: s.p99 !== null && direct.p99 !== null && name !== 'direct' ? round(s.p99 - direct.p99) : null,
      relay_cpu_ms_per_1k_chunks: name === 'direct' || events === 0 ? null : round((cpu * 1000) / (events / 1000)),
      upstream_cpu_ms_per_1k_chunks: events === 0 ? null : round((rows.reduce((x, l) => x + l.upstream_cpu_s, 0) * 1000) / (events / 1000)),
      client_loop_lag_p99_ms_median: roundN(median(rows.map((l) => l.client_loop_lag_ms.p99))),
      rss_per_stream_kib_max: rss.length ? Math.max(...rss) : null,
      rss_per_stream_kib_median: roundN(median(rss)),
      heap_used_per_stream_kib_median: roundN(median(rows.map((l) => l.heap_per_stream_kib?.heap_used ?? NaN).filter(Number.isFinite))),
      heap_total_per_stream_kib_median: roundN(median(rows.map((l) => l.heap_per_stream_kib?.heap_total ?? NaN).filter(Number.isFinite))),
      external_per_stream_kib_median: roundN(median(rows.map((l) => l.heap_per_stream_kib?.external ?? NaN).filter(Number.isFinite))),
      redis: rows[0]?.redis === null || rows[0] === undefined ? null : {
        all_commands_per_replica_s_median: roundN(median(rows.map((l) => l.redis!.all_commands_per_replica_s))),
        script_calls_per_replica_s_median: roundN(median(rows.map((l) => l.redis!.script_calls_per_replica_s))),
        stopline_calls_per_replica_s: rows[rows.length - 1]!.redis!.stopline_calls_per_replica_s,
        stopline_calls_per_live_stream_median: roundN(median(rows.map((l) => l.redis!.stopline_calls_per_live_stream ?? NaN).filter(Number.isFinite))),
        stopline_errors_total: rows.reduce((x, l) => x + (l.redis?.stopline_errors ?? 0), 0),
      },
    };
  }
  // Stop: every cancel of every round pooled.
  for (const name of names) {
    const rows = stop.filter((s) => s.design === name);
    const cancels = rows.flatMap((s) => s.cancels);
    const ab = rows.flatMap((s) => s.aborts);
    const pick = (f: (c: CancelRow) => number | null) => summarize(cancels.map(f).filter((v): v is number => v !== null));
    out.stop![name] = {
      cancels: cancels.length,
      outcomes: countBy(cancels.map((c) => c.outcome)),
      paths: countBy(cancels.map((c) => c.path || '-')),
      stream_ended: cancels.filter((c) => c.client_ms !== null).length,
      with_terminal_event: cancels.filter((c) => c.terminal).length,
      client_cancel_to_stop_ms: pick((c) => c.client_ms),
      client_cancel_to_terminal_event_ms: pick((c) => c.terminal_ms),
      upstream_noticed_after_cancel_ms: pick((c) => c.upstream_ms),
      tokens_after_cancel: pick((c) => c.tokens_after),
      api_cancel_to_stop_ms: pick((c) => c.api_ms),
      api_answer_ms: pick((c) => c.answer_ms),
      client_disconnect_to_upstream_ms: summarize(ab.map((x) => x.upstream_ms).filter((v): v is number => v !== null)),
      client_disconnects: ab.length,
      client_disconnects_noticed: ab.filter((x) => x.upstream_ms !== null).length,
      hop_http_round_trip_ms: summarize(rows.flatMap((s) => (s.hops ? [s.hops.http_404_ms.p50 ?? 0] : []))),
      hop_redis_ping_ms: summarize(rows.flatMap((s) => (s.hops ? [s.hops.redis_ping_ms.p50 ?? 0] : []))),
    };
  }
  // Cost: per design and chunk count, median over rounds.
  for (const name of names) {
    const rows = cost.filter((c) => c.design === name);
    if (rows.length === 0) continue;
    const byChunks: Record<string, unknown> = {};
    for (const chunks of P.costChunks) {
      const r = rows.filter((c) => c.chunks === chunks);
      byChunks[String(chunks)] = {
        round_trips_per_stream: roundN(median(r.map((c) => c.round_trips_per_stream))),
        in_scripts_per_stream: roundN(median(r.map((c) => c.in_scripts_per_stream))),
        all_commands_per_stream_commandstats: roundN(median(r.map((c) => c.all_commands_per_stream_commandstats))),
        round_trips_by_command: r[r.length - 1]?.round_trips_by_command ?? {},
        in_scripts_by_command: r[r.length - 1]?.in_scripts_by_command ?? {},
      };
    }
    out.cost![name] = byChunks;
  }
  if (hung.length > 0) {
    const pool = (f: (h: HungRow) => Summary) => ({
      p50_median: roundN(median(hung.map((h) => f(h).p50 ?? 0))),
      p99_median: roundN(median(hung.map((h) => f(h).p99 ?? 0))),
      max: Math.max(...hung.map((h) => f(h).max ?? 0)),
    });
    const healthy = pool((h) => h.healthy);
    const hungS = pool((h) => h.hung);
    out.hung!.push = {
      rounds: hung.length,
      healthy_ms: healthy,
      hung_ms: hungS,
      p99_ratio_each: hung.map((h) => (h.healthy.p99 ? round((h.hung.p99 ?? 0) / h.healthy.p99) : null)),
      p99_ratio_median: roundN(median(hung.map((h) => (h.healthy.p99 ? (h.hung.p99 ?? 0) / h.healthy.p99 : 0)))),
      events_per_s_healthy_median: roundN(median(hung.map((h) => h.events_per_s_healthy))),
      events_per_s_hung_median: roundN(median(hung.map((h) => h.events_per_s_hung))),
      cancels_while_hung: countBy(hung.flatMap((h) => h.cancels_while_hung.map((c) => `${c.status} ${c.outcome}${c.degraded ? ' (degraded)' : ''}`))),
      cancel_answer_ms_while_hung: summarize(hung.flatMap((h) => h.cancels_while_hung.map((c) => c.answer_ms))),
      recovered_s: hung.map((h) => h.recovered_s),
    };
  }
  return out;
}

/** Push with tracing off and on (ratio 1), from the same rounds' summaries, and what the receiver got. */
function tracingComparison(summary: ReturnType<typeof summarizeAll>, receiver: ReturnType<OtlpSink['counts']>) {
  const side = (name: string) => {
    const l = summary.load![name] as { relay_cpu_ms_per_1k_chunks: number | null; added_p50_ms: number | null; added_p99_ms: number | null; delay_ms: Summary };
    const c = (summary.stop![name] as { client_cancel_to_stop_ms: Summary; cancels: number });
    return {
      relay_cpu_ms_per_1k_chunks: l.relay_cpu_ms_per_1k_chunks, added_p50_ms: l.added_p50_ms, added_p99_ms: l.added_p99_ms,
      delay_p50_ms: l.delay_ms.p50, delay_p99_ms: l.delay_ms.p99,
      cancels: c.cancels, cancel_to_stop_p50_ms: c.client_cancel_to_stop_ms.p50, cancel_to_stop_p99_ms: c.client_cancel_to_stop_ms.p99,
    };
  };
  return {
    sampler: 'parentbased_traceidratio', ratio: 1, exporter: 'OTLP/HTTP protobuf to a receiver on loopback (default batch span processor)',
    off: side('push'), on: side('push-traced'), receiver,
  };
}

function pooledSummary(name: string, pooled: Map<string, Samples>): Summary {
  const all = new Samples();
  for (const [k, s] of pooled) if (k.split('\t')[0] === name) all.addAll(s);
  return summarize(all, 1 / 1000);
}

const roundN = (v: number | null) => (v === null ? null : round(v));

/** The chart: bench/plot.py with matplotlib, in a venv under bench/.venv (created on first use). */
function plot(jsonPath: string, pngPath: string): boolean {
  const venv = join(here, '.venv');
  const py = join(venv, 'bin', 'python');
  const ok = () => spawnSync(py, ['-c', 'import matplotlib'], { stdio: 'ignore' }).status === 0;
  if (!existsSync(py) || !ok()) {
    log('setting up bench/.venv with matplotlib (pip, from PyPI)');
    const v = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    const p = v.status === 0 ? spawnSync(join(venv, 'bin', 'pip'), ['install', '--quiet', 'matplotlib'], { stdio: 'inherit' }) : v;
    if (p.status !== 0 || !ok()) { log('warning: no matplotlib; chart skipped'); return false; }
  }
  const r = spawnSync(py, [join(here, 'plot.py'), jsonPath, pngPath], { stdio: 'inherit', env: { ...process.env, MPLBACKEND: 'Agg' } });
  if (r.status !== 0) { log('warning: plot.py failed; chart skipped'); return false; }
  return true;
}

try {
  if (a['report-only'] !== undefined) render(resolve(a['report-only']), false);
  else await main();
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
