// Summarizes V8 .cpuprofile files (node --cpu-prof): self time and inclusive time per function, and time per
// category (stopline's own code, undici, ioredis, prom-client, Node internals, GC, idle). Paths are reduced to
// dist/..., node_modules/... or node:..., so nothing machine-specific reaches a result file.
import { readFileSync } from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface FnTime { fn: string; where: string; category: string; ms: number; pct_busy: number; callers?: { fn: string; where: string; pct: number }[] }
export interface ProfileSummary {
  files: number;
  /** Only samples inside this window (µs, CLOCK_MONOTONIC like process.hrtime) were counted; null: all. */
  window_ms: number | null;
  total_ms: number;
  busy_ms: number;
  categories: { category: string; ms: number; pct_busy: number }[];
  top_self: FnTime[];
  top_inclusive_stopline: FnTime[];
}

export function cleanUrl(url: string): string {
  if (url === '') return '';
  if (url.startsWith('wasm://')) return `wasm:${url.slice(url.lastIndexOf('/') + 1)}`;
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 1);
  const di = u.lastIndexOf('/dist/');
  if (di >= 0) return u.slice(di + 1);
  if (u.startsWith('node:')) return u;
  return u.slice(u.lastIndexOf('/') + 1);
}

function category(fn: string, where: string): string {
  if (where === '') {
    if (fn === '(idle)') return 'idle';
    if (fn === '(garbage collector)') return 'gc';
    if (fn === '(program)') return 'program (native, not attributed)';
    return 'native';
  }
  if (where.startsWith('dist/')) return 'stopline';
  if (where.startsWith('wasm:')) return 'undici'; // the only WebAssembly here is undici's llhttp parser
  if (where.startsWith('node_modules/undici')) return 'undici';
  if (where.startsWith('node_modules/ioredis') || where.startsWith('node_modules/@ioredis') || where.startsWith('node_modules/redis-')) return 'ioredis';
  if (where.startsWith('node_modules/prom-client')) return 'prom-client';
  if (where.startsWith('node_modules/')) return 'other dependencies';
  if (where.startsWith('node:')) return 'node internals';
  return 'other';
}

export function summarizeProfiles(paths: string[], window: { from: number; to: number } | null = null, top = 20): ProfileSummary {
  const self = new Map<string, { fn: string; where: string; ms: number }>();
  /** Self time of each function split by its caller (the parent frame): function key -> caller key -> µs. */
  const byCaller = new Map<string, Map<string, { fn: string; where: string; us: number }>>();
  const incl = new Map<string, { fn: string; where: string; ms: number }>();
  let total = 0;
  for (const path of paths) {
    const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
    const byId = new Map<number, ProfileNode>();
    const parentOf = new Map<number, number>();
    for (const n of p.nodes) byId.set(n.id, n);
    for (const n of p.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
    const selfUs = new Map<number, number>();
    // timeDeltas[i] is the time before sample i; the time a sample stands for is the delta that follows it.
    // Sample times share the clock of process.hrtime (CLOCK_MONOTONIC, µs), so a window selects the steady state.
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i] ?? 0;
      if (window !== null && (t < window.from || t > window.to)) continue;
      const d = p.timeDeltas[i + 1] ?? 0;
      const id = p.samples[i]!;
      selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, d));
    }
    total += window === null ? (p.endTime - p.startTime) / 1000 : (Math.min(window.to, p.endTime) - Math.max(window.from, p.startTime)) / 1000;
    const key = (n: ProfileNode) => {
      const where = cleanUrl(n.callFrame.url);
      const fn = n.callFrame.functionName || '(anonymous)';
      return { k: `${fn}\t${where}:${n.callFrame.lineNumber + 1}`, fn, where: where === '' ? '' : `${where}:${n.callFrame.lineNumber + 1}` };
    };
    for (const [id, us] of selfUs) {
      const n = byId.get(id);
      if (n === undefined) continue;
      const { k, fn, where } = key(n);
      const e = self.get(k) ?? { fn, where, ms: 0 };
      e.ms += us / 1000;
      self.set(k, e);
      const parent = byId.get(parentOf.get(id) ?? -1);
      if (parent !== undefined) {
        const pk = key(parent);
        const m = byCaller.get(k) ?? new Map();
        const c = m.get(pk.k) ?? { fn: pk.fn, where: pk.where, us: 0 };
        c.us += us;
        m.set(pk.k, c);
        byCaller.set(k, m);
      }
    }
    // Inclusive time: a depth-first walk from the root, each function counted once per stack (recursion).
    const root = p.nodes[0];
    if (root === undefined) continue;
    const inclusiveOf = (n: ProfileNode, onStack: Set<string>): number => {
      const { k, fn, where } = key(n);
      let t = selfUs.get(n.id) ?? 0;
      const added = !onStack.has(k);
      if (added) onStack.add(k);
      for (const c of n.children ?? []) { const child = byId.get(c); if (child !== undefined) t += inclusiveOf(child, onStack); }
      if (added) {
        onStack.delete(k);
        const e = incl.get(k) ?? { fn, where, ms: 0 };
        e.ms += t / 1000;
        incl.set(k, e);
      }
      return t;
    };
    inclusiveOf(root, new Set());
  }
  const all = [...self.values()];
  const idle = all.filter((e) => e.fn === '(idle)').reduce((a, e) => a + e.ms, 0);
  const sampled = all.reduce((a, e) => a + e.ms, 0);
  const busy = Math.max(1e-9, sampled - idle);
  const cats = new Map<string, number>();
  for (const e of all) { const c = category(e.fn, e.where); cats.set(c, (cats.get(c) ?? 0) + e.ms); }
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const asFn = (e: { fn: string; where: string; ms: number }): FnTime => ({ fn: e.fn, where: e.where, category: category(e.fn, e.where), ms: r1(e.ms), pct_busy: r1((e.ms / busy) * 100) });
  return {
    files: paths.length,
    window_ms: window === null ? null : r1((window.to - window.from) / 1000),
    total_ms: r1(total),
    busy_ms: r1(busy),
    categories: [...cats].filter(([c]) => c !== 'idle').sort((a, b) => b[1] - a[1]).map(([c, ms]) => ({ category: c, ms: r1(ms), pct_busy: r1((ms / busy) * 100) })),
    top_self: [...self.entries()].filter(([, e]) => e.fn !== '(idle)').sort((a, b) => b[1].ms - a[1].ms).slice(0, top).map(([k, e]) => {
      const callers = [...(byCaller.get(k)?.values() ?? [])].sort((x, y) => y.us - x.us).slice(0, 4)
        .map((c) => ({ fn: c.fn, where: c.where, pct: r1((c.us / 1000 / Math.max(1e-9, e.ms)) * 100) }));
      return { ...asFn(e), callers };
    }),
    top_inclusive_stopline: [...incl.values()].filter((e) => e.where.startsWith('dist/')).sort((a, b) => b.ms - a.ms).slice(0, 12).map(asFn),
  };
}
