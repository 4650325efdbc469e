// The benchmark's targets (bench/README.md, "The targets"), judged against a run, and the Markdown report of the run.
/* eslint-disable @typescript-eslint/no-explicit-any */

// The result object written by bench.ts (see bench/README.md for its fields); read loosely here.
type Result = any;

const med = (xs: number[]): number | null => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};
const pctOf = (xs: number[], q: number): number | null => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? null : v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
};

/**
 * Round-robust figures, from the per-round rows: each round is a paired comparison (the designs ran one after the
 * other in that round), and the median over rounds keeps one round hit by a burst of other work on the machine from
 * deciding a target. Pooled percentiles (all rounds' samples together) stay in the tables.
 */
export function perRound(r: Result): Record<string, { added_p50_ms: number | null; added_p99_ms: number | null; p99_ms: number | null; cancel_p50_ms: number | null; cancel_p99_ms: number | null; each: { round: number; p99: number | null; added_p99: number | null; cancel_p50: number | null; cancel_p99: number | null }[] }> {
  const out: ReturnType<typeof perRound> = {};
  const load = r.raw.load as any[];
  const stop = r.raw.stop as any[];
  for (const name of Object.keys(r.summary.load)) {
    const each = load.filter((l) => l.design === name).map((l) => {
      const d = load.find((x) => x.design === 'direct' && x.round === l.round);
      const c = (stop.find((x) => x.design === name && x.round === l.round)?.cancels ?? []).map((x: any) => x.client_ms).filter((x: any) => typeof x === 'number');
      return {
        round: l.round,
        p50: l.delay.p50, p99: l.delay.p99,
        added_p50: d && name !== 'direct' ? l.delay.p50 - d.delay.p50 : null,
        added_p99: d && name !== 'direct' ? l.delay.p99 - d.delay.p99 : null,
        cancel_p50: pctOf(c, 0.5), cancel_p99: pctOf(c, 0.99),
      };
    });
    const m = (k: 'added_p50' | 'added_p99' | 'p99' | 'cancel_p50' | 'cancel_p99') => med(each.map((e) => e[k]).filter((x): x is number => typeof x === 'number'));
    out[name] = {
      added_p50_ms: m('added_p50'), added_p99_ms: m('added_p99'), p99_ms: m('p99'), cancel_p50_ms: m('cancel_p50'), cancel_p99_ms: m('cancel_p99'),
      each: each.map((e) => ({ round: e.round, p99: e.p99, added_p99: e.added_p99, cancel_p50: e.cancel_p50, cancel_p99: e.cancel_p99 })),
    };
  }
  return out;
}

export interface TargetRow { target: string; goal: string; value: string; verdict: 'met' | 'missed' | 'inconclusive' | 'not measured'; note: string }

const f = (v: unknown, unit = '', digits = 3): string => {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return 'n/a';
  if (typeof v !== 'number') return String(v);
  const abs = Math.abs(v);
  const s = abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : abs >= 1 ? v.toFixed(2) : v.toFixed(digits);
  return `${s}${unit}`;
};

function profileHint(r: Result, n = 4): string {
  const p = r.profile;
  if (!p) return '';
  const cats = (p.categories as { category: string; pct_busy: number }[]).slice(0, n).map((c) => `${c.category} ${c.pct_busy}%`).join(', ');
  const fns = (p.top_self as { fn: string; where: string; pct_busy: number }[]).slice(0, 3).map((t) => `\`${t.fn}\` ${t.pct_busy}%`).join(', ');
  return ` Profile of push under this load (busy time): ${cats}; top self time ${fns} (see "Profile").`;
}

function loadContext(r: Result): string {
  const L = r.summary.load;
  const la = r.machine.loadavg_at_start as number[];
  const d = L.direct?.delay_ms;
  const lag = L.direct?.client_loop_lag_p99_ms_median;
  const perRoundLoad = (r.raw?.load as any[] ?? []).filter((l) => l.design === 'push').map((l) => l.loadavg?.[0]);
  return `The machine was shared (load average ${la?.[0]} at start on ${r.machine.cores} cores${perRoundLoad.length ? `, ${perRoundLoad.join(' / ')} at the end of push's load window in each round` : ''}); direct's own per-event delay p99 was ${f(d?.p99, ' ms')} (pooled) and the client's event-loop lag p99 ${f(lag, ' ms')}, so part of every tail here is CPU contention between the client, the upstream, the relay and other work on the machine.`;
}

export function evaluateTargets(r: Result): TargetRow[] {
  const S = r.summary;
  const rows: TargetRow[] = [];
  const streams = r.params.streams as number;
  const v = (ok: boolean | null): TargetRow['verdict'] => (ok === null ? 'not measured' : ok ? 'met' : 'missed');

  // 1. Redis commands per stream, push.
  {
    const c = S.cost?.push;
    const ks = Object.keys(c ?? {});
    if (c && ks.length >= 2) {
      const lo = c[ks[0]!];
      const hi = c[ks[ks.length - 1]!];
      const flat = Math.abs(hi.round_trips_per_stream - lo.round_trips_per_stream) <= 0.5;
      const ok = flat && Math.max(hi.round_trips_per_stream, lo.round_trips_per_stream) <= 4;
      const pc = S.cost?.['per-chunk'];
      rows.push({
        target: 'Redis commands per stream, push', goal: '≤ 4, flat in the number of chunks',
        value: `${f(lo.round_trips_per_stream)} at ${ks[0]} chunks, ${f(hi.round_trips_per_stream)} at ${ks[ks.length - 1]} chunks (commands sent); ${f(lo.in_scripts_per_stream)} / ${f(hi.in_scripts_per_stream)} more run inside the Lua scripts`,
        verdict: v(ok),
        note: `Counted from SLOWLOG at threshold 0 (every command, with its client): commands stopline sends (register + finish scripts, plus each stream's share of the one batched poll per replica per second). Redis also executes the commands inside the scripts; those (${f(hi.in_scripts_per_stream)} per stream) are flat in chunks too but grow with a stream's lifetime: the poll refreshes 3 keys per live stream per second.${pc ? ` per-chunk for comparison: ${f(pc[ks[0]!]?.round_trips_per_stream)} and ${f(pc[ks[ks.length - 1]!]?.round_trips_per_stream)} commands sent per stream.` : ''}${ok ? '' : flat ? ' Missed: more than 4 per stream.' : ' Missed: not flat in the number of chunks.'}`,
      });
    } else rows.push({ target: 'Redis commands per stream, push', goal: '≤ 4, flat in the number of chunks', value: 'n/a', verdict: 'not measured', note: '' });
  }

  // 2. cancel-to-stop across replicas, push.
  {
    const s = S.stop?.push;
    const c = s?.client_cancel_to_stop_ms;
    const pr = perRound(r).push;
    if (c && c.n > 0 && pr) {
      const ok = (pr.cancel_p50_ms ?? Infinity) <= 1 && (pr.cancel_p99_ms ?? Infinity) <= 5;
      const why: string[] = [];
      if (!ok) {
        why.push(`Missed. The server-side part (cancel received on replica B → owner A confirmed over Pub/Sub, the API's cancel_to_stop_ms) was p50 ${f(s.api_cancel_to_stop_ms.p50, ' ms')} / p99 ${f(s.api_cancel_to_stop_ms.p99, ' ms')}. A cross-replica stop crosses at least four process wake-ups (client → replica B → Redis → replica A → client), and on this machine at this load one plain HTTP round trip to a replica (a 404, no Redis) took p50 ${f(s.hop_http_round_trip_ms?.p50, ' ms')} and one Redis PING from the client p50 ${f(s.hop_redis_ping_ms?.p50, ' ms')}: the floor of the path is already near or above the 1 ms goal here.`);
        why.push(loadContext(r));
      }
      rows.push({
        target: `cancel-to-stop across replicas, push, ${streams.toLocaleString('en-US')} live streams`, goal: 'p50 ≤ 1 ms, p99 ≤ 5 ms',
        value: `p50 ${f(pr.cancel_p50_ms, ' ms')}, p99 ${f(pr.cancel_p99_ms, ' ms')} (client side, median over rounds); all ${c.n} cancels pooled: p50 ${f(c.p50, ' ms')}, p99 ${f(c.p99, ' ms')}, max ${f(c.max, ' ms')}; API cancel_to_stop_ms p50 ${f(s.api_cancel_to_stop_ms.p50, ' ms')}; upstream noticed p50 ${f(s.upstream_noticed_after_cancel_ms.p50, ' ms')}`,
        verdict: v(ok),
        note: `Measured from the cancel request leaving the client (sent to the replica that does not own the stream) to the client seeing the stream end; per round: ${pr.each.map((e) => `p50 ${f(e.cancel_p50, ' ms')} / p99 ${f(e.cancel_p99, ' ms')}`).join(', ')}.${streams < 1000 ? ` Run at ${streams} streams, not 1,000 (see "Load").` : ''} ${why.join(' ')}`.trim(),
      });
    } else rows.push({ target: 'cancel-to-stop across replicas, push', goal: 'p50 ≤ 1 ms, p99 ≤ 5 ms', value: 'n/a', verdict: 'not measured', note: '' });
  }

  // 3. ratio against per-chunk.
  {
    const pr = perRound(r);
    const p = pr.push?.cancel_p50_ms;
    const c = pr['per-chunk']?.cancel_p50_ms;
    if (typeof p === 'number' && typeof c === 'number' && p > 0) {
      const ratio = c / p;
      rows.push({
        target: `cancel-to-stop ratio against per-chunk at ${r.params.rate} chunks/s`, goal: '≥ 20× faster at p50',
        value: `${f(ratio, '×')} (per-chunk p50 ${f(c, ' ms')}, push p50 ${f(p, ' ms')}, medians over rounds)`,
        verdict: v(ratio >= 20),
        note: ratio >= 20
          ? `per-chunk can only see the flag when the next chunk arrives (every ${f(1000 / r.params.rate, ' ms')} here) and then pays a Redis round trip; push is woken over Pub/Sub at once.`
          : `Missed: push's p50 (${f(p, ' ms')}) is too close to per-chunk's (${f(c, ' ms')}). ${loadContext(r)}`,
      });
    } else rows.push({ target: 'cancel-to-stop ratio against per-chunk', goal: '≥ 20× faster at p50', value: 'n/a', verdict: 'not measured', note: '' });
  }

  // 4. relay CPU per chunk against nginx.
  {
    const p = S.load?.push?.relay_cpu_ms_per_1k_chunks;
    const n = S.load?.nginx?.relay_cpu_ms_per_1k_chunks;
    if (typeof p === 'number' && typeof n === 'number' && n > 0) {
      const ratio = p / n;
      rows.push({
        target: 'relay CPU per chunk against nginx', goal: '≤ 1.5×',
        value: `${f(ratio, '×')} (push ${f(p, ' ms')} vs nginx ${f(n, ' ms')} CPU per 1,000 chunks; per-chunk ${f(S.load?.['per-chunk']?.relay_cpu_ms_per_1k_chunks, ' ms')}, poll ${f(S.load?.poll?.relay_cpu_ms_per_1k_chunks, ' ms')})`,
        verdict: v(ratio <= 1.5),
        note: ratio <= 1.5 ? 'CPU of both stopline replicas against nginx master + workers, from /proc utime + stime over the same window.'
          : `Missed: a chunk through Node costs more CPU than through nginx's C event loop (two HTTP parsers in JavaScript/WASM, chunked re-encoding, a JS write per chunk).${profileHint(r)}`,
      });
    } else rows.push({ target: 'relay CPU per chunk against nginx', goal: '≤ 1.5×', value: 'n/a', verdict: 'not measured', note: '' });
  }

  // 5. added inter-chunk latency p99.
  {
    const L = S.load?.push;
    const pr = perRound(r);
    const a99 = pr.push?.added_p99_ms;
    if (L && typeof a99 === 'number') {
      const ok = a99 <= 1;
      rows.push({
        target: `added inter-chunk latency p99 at ${streams.toLocaleString('en-US')} streams`, goal: '≤ 1 ms',
        value: `${f(a99, ' ms')} (median over rounds of push p99 − direct p99 in the same round; p50 added ${f(pr.push?.added_p50_ms, ' ms')}; nginx added p99 ${f(pr.nginx?.added_p99_ms, ' ms')}; all rounds pooled: push p99 ${f(L.delay_ms.p99, ' ms')} vs direct ${f(S.load.direct?.delay_ms?.p99, ' ms')})`,
        verdict: v(ok),
        note: (ok ? 'Per-event delay (upstream write → client read, same monotonic clock), relay minus direct.'
          : `Missed. Per round (push p99 − direct p99): ${pr.push?.each.map((e) => f(e.added_p99, ' ms')).join(', ')}. ${loadContext(r)} nginx, on the same machine in the same rounds, added ${f(pr.nginx?.added_p99_ms, ' ms')} at p99.${profileHint(r, 3)}`),
      });
    } else rows.push({ target: 'added inter-chunk latency p99', goal: '≤ 1 ms', value: 'n/a', verdict: 'not measured', note: '' });
  }

  // 6. end-to-end time added per 500-chunk answer.
  {
    const s = S.seed?.push?.seed;
    if (s && typeof s.added_pct_median === 'number') {
      const ok = s.added_pct_median <= 1;
      rows.push({
        target: `end-to-end time added per ${s.chunks}-chunk answer`, goal: "≤ 1% of the answer's time",
        value: `${f(s.added_pct_median, '%')} (${f(s.added_ms_median, ' ms')} of ${f(s.e2e_ms_median, ' ms')}; per-chunk ${f(S.seed?.['per-chunk']?.seed?.added_ms_median, ' ms')}, nginx ${f(S.seed?.nginx?.seed?.added_ms_median, ' ms')})`,
        verdict: v(ok),
        note: `One answer at a time, no other load; median over rounds of (design − direct) in the same round. Added time is measured on the path (request → upstream, plus the last event → end of the response at the client), which takes the upstream's own timer jitter out; the raw end-to-end difference was ${f(s.added_e2e_ms_median, ' ms')}. ${S.seed?.push?.long ? `The ${S.seed.push.long.chunks}-chunk answer: push adds ${f(S.seed.push.long.added_ms_median, ' ms')}, per-chunk ${f(S.seed?.['per-chunk']?.long?.added_ms_median, ' ms')}.` : ''}`,
      });
    } else rows.push({ target: 'end-to-end time added per 500-chunk answer', goal: "≤ 1% of the answer's time", value: 'n/a', verdict: 'not measured', note: '' });
  }

  // 7. RSS per live stream: from the memory pass (fresh replicas, half then all the streams); the load rounds' own
  // RSS growth only where no memory pass ran (older results).
  {
    const M = r.memory;
    const L = S.load?.push;
    // The goal is in kB (1,000 bytes), the measure in KiB (1,024 bytes): 30 kB is 29.3 KiB.
    if (M && typeof M.marginal_rss_per_stream_kib === 'number') {
      const ok = M.marginal_rss_per_stream_kib * 1024 <= 30_000;
      const h = M.marginal_heap_per_stream_kib;
      rows.push({
        target: 'RSS per live stream', goal: '≤ 30 KB',
        value: `${f(M.marginal_rss_per_stream_kib, ' KiB')} (${f(M.marginal_rss_per_stream_kib * 1.024, ' kB')}) per live stream, ${M.streams[0]} → ${M.streams[1]} streams on fresh replicas; ${f(M.from_idle_rss_per_stream_kib, ' KiB')} per stream counted from idle; nginx ${f(S.load.nginx?.rss_per_stream_kib_median, ' KiB')}`,
        verdict: v(ok),
        note: `${ok ? '' : 'Missed. '}Memory pass: two fresh push replicas, RSS with half the streams open and again with all of them; per live stream = the difference over the added streams (by stopline's own /metrics: V8 heap used +${f(h.heap_used, ' KiB')}, heap reserved +${f(h.heap_total, ' KiB')}, external +${f(h.external, ' KiB')}). Counted from the replicas' idle RSS instead, it is ${f(M.from_idle_rss_per_stream_kib, ' KiB')}: that includes one-off growth (compiled code, V8's young generation reaching its cap under the allocation rate: with semi-spaces of 4 MiB, up to 12 MiB per replica) which does not grow with streams. After a full GC the V8 heap retained per live stream was ${f(r.profile?.retained_heap_per_stream_kib, ' KiB')} (profiling pass).`,
      });
    } else if (L && typeof L.rss_per_stream_kib_median === 'number') {
      const ok = L.rss_per_stream_kib_median * 1024 <= 30_000;
      rows.push({
        target: 'RSS per live stream', goal: '≤ 30 KB',
        value: `${f(L.rss_per_stream_kib_median, ' KiB')} median over rounds (max ${f(L.rss_per_stream_kib_max, ' KiB')}); nginx ${f(S.load.nginx?.rss_per_stream_kib_median, ' KiB')}`,
        verdict: v(ok),
        note: 'VmRSS of both replicas during the load minus before it, over the live streams (a run without the memory pass).',
      });
    } else rows.push({ target: 'RSS per live stream', goal: '≤ 30 KB', value: 'n/a', verdict: 'not measured', note: '' });
  }

  // 8. inter-chunk latency with Redis hung.
  {
    const h = S.hung?.push;
    if (h && typeof h.p99_ratio_median === 'number') {
      const ok = h.p99_ratio_median <= 1.1;
      const each = (h.p99_ratio_each as (number | null)[]).filter((x): x is number => x !== null);
      // Rounds that disagree wildly (one half far better, another far worse) say the machine, not Redis, decided.
      const noisy = each.some((x) => x < 0.5) && each.some((x) => x > 2);
      rows.push({
        target: 'inter-chunk latency p99 with Redis hung', goal: 'within 10% of Redis healthy',
        value: `${f((h.p99_ratio_median - 1) * 100, '%')} (median over ${h.rounds} round(s) of p99 hung / p99 healthy in the same round; per half, median over rounds: p99 hung ${f(h.hung_ms.p99_median, ' ms')} vs healthy ${f(h.healthy_ms.p99_median, ' ms')}, p50 ${f(h.hung_ms.p50_median, ' ms')} vs ${f(h.healthy_ms.p50_median, ' ms')})`,
        verdict: noisy ? 'inconclusive' : v(ok),
        note: `${noisy ? 'Inconclusive on this run: the rounds disagree in both directions, so bursts of other work on the machine, not Redis, set the p99 of one half or the other. ' : ''}${ok ? 'Redis SIGSTOPped halfway through the window: no Redis call is on the chunk path, so streaming does not notice.' : "Missed: the hung half's p99 is more than 10% above the healthy half's."} Ratio hung / healthy per round: ${(h.p99_ratio_each as (number | null)[]).map((x) => f(x)).join(', ')}${(h.p99_ratio_each as (number | null)[]).some((x) => x !== null && (x < 0.5 || x > 2)) ? '; rounds far from 1 in either direction are bursts of other work on the machine during one half (the healthy half as often as the hung one), not Redis: read the verdict with them in mind' : ''}. ${ok ? '' : loadContext(r)}`.trim(),
      });
    } else rows.push({ target: 'inter-chunk latency p99 with Redis hung', goal: 'within 10% of Redis healthy', value: 'n/a', verdict: 'not measured', note: '' });
  }
  rows.push(...resumeTargets(r));
  return rows;
}

/** Per-stream commands a stream itself sends (register, finish, ...), apart from the per-replica poll and pings shared out over the streams. */
const perReplica = (cmd: string) => /^(evalsha poll|ping$)/.test(cmd);

/** Resume on against off: only in runs that had push-resume beside push. */
export function resumeTargets(r: Result): TargetRow[] {
  const S = r.summary;
  if (S.load?.['push-resume'] === undefined) return [];
  const rows: TargetRow[] = [];
  const streams = (r.params.streams as number).toLocaleString('en-US');
  // Relay CPU per chunk.
  {
    const on = S.load['push-resume']?.relay_cpu_ms_per_1k_chunks;
    const off = S.load.push?.relay_cpu_ms_per_1k_chunks;
    const target = `relay CPU per chunk, resume on against off, ${streams} live streams`;
    if (typeof on === 'number' && typeof off === 'number' && off > 0) {
      const ratio = on / off;
      const load = (r.raw?.load ?? []) as any[];
      const each = load.filter((l) => l.design === 'push-resume').map((l) => {
        const o = load.find((x) => x.design === 'push' && x.round === l.round);
        return o && o.relay_cpu_ms_per_1k_chunks > 0 ? l.relay_cpu_ms_per_1k_chunks / o.relay_cpu_ms_per_1k_chunks : null;
      });
      rows.push({
        target, goal: '≤ 1.2×',
        value: `${f(ratio, '×')} (push-resume ${f(on, ' ms')} vs push ${f(off, ' ms')} CPU per 1,000 chunks, all rounds summed; per round ${each.map((x) => f(x, '×')).join(', ')})`,
        verdict: ratio <= 1.2 ? 'met' : 'missed',
        note: `Both stopline replicas' CPU (/proc utime + stime) over the load window, per 1,000 chunks the client received; the two designs run in the same rounds, one after the other. Nobody resumes during the window: this is what keeping each stream's output for a resume costs the relay.${ratio <= 1.2 ? '' : ` Missed: resume adds more than a fifth to the relay's CPU per chunk. ${loadContext(r)}`}`,
      });
    } else rows.push({ target, goal: '≤ 1.2×', value: 'n/a', verdict: 'not measured', note: '' });
  }
  // Redis round trips per stream when nobody resumes.
  {
    const on = S.cost?.['push-resume'];
    const off = S.cost?.push;
    const target = 'Redis round trips per stream, resume on against off';
    const goal = 'unchanged when nobody resumes';
    const ks = Object.keys(on ?? {}).filter((k) => off?.[k] !== undefined);
    if (ks.length > 0) {
      // What each stream sends itself must be the same; the per-replica poll and pings, shared out over the streams
      // of a batch, move with timing (a poll more or less in a batch's lifetime), so the totals may differ by a little.
      const own = (c: any) => Object.fromEntries(Object.entries(c.round_trips_by_command as Record<string, number>).filter(([k]) => !perReplica(k)));
      const same = ks.every((k) => {
        const a = own(on[k]);
        const b = own(off[k]);
        const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
        return [...keys].every((c) => Math.abs((a[c] ?? 0) - (b[c] ?? 0)) <= 0.05) && Math.abs(on[k].round_trips_per_stream - off[k].round_trips_per_stream) <= 0.25;
      });
      const win = (n: string) => S.load?.[n]?.redis?.stopline_calls_per_live_stream_median;
      rows.push({
        target, goal,
        value: `${ks.map((k) => `${f(on[k].round_trips_per_stream)} vs ${f(off[k].round_trips_per_stream)} at ${k} chunks`).join(', ')} (push-resume vs push, commands sent per stream); in the load window, stopline's own Redis calls per live stream ${f(win('push-resume'))} vs ${f(win('push'))}`,
        verdict: same ? 'met' : 'missed',
        note: `Counted as in "Redis cost" (SLOWLOG at threshold 0, each command attributed to the replica that sent it), per stream over its whole life; judged met when the commands each stream sends itself (${ks.map((k) => Object.entries(own(on[k])).map(([c, v]) => `${c} ${f(v)}`).join(', ')).filter((x, i, xs) => xs.indexOf(x) === i).join('; ') || 'none'} with resume on) are the same in both designs and the totals are within 0.25 (the per-replica poll, shared out over a batch's streams, moves with timing). The load window's figure is every Redis call the design's two replicas made in it (their own stopline_redis_command_duration_seconds count) over the live streams: the poll's share, nothing per chunk (streams whose start fell late, in the window, add their registration to it: see "Stream start" under "Load").${same ? '' : ' Missed: resume on sends commands per stream that resume off does not.'}`,
      });
    } else rows.push({ target, goal, value: 'n/a', verdict: 'not measured', note: '' });
  }
  return rows;
}

// ---- Markdown ----

/** What each design is, in the words of a reader who has not seen the code. */
export const designWords: Record<string, string> = {
  direct: 'the client talks to the upstream itself, no relay: the floor every other design is measured against',
  nginx: 'nginx as a plain relay (`proxy_buffering off`, keep-alive to the upstream): it cannot stop a stream',
  haproxy: 'HAProxy as a plain relay: what many ingress set-ups run',
  'node-proxy': 'a Node reverse proxy on `http-proxy`: what teams write themselves in Node',
  'per-chunk': 'stopline checking Redis for a stop flag before every chunk (`STOPLINE_CANCEL_MODE=per-chunk`): the usual way to make a stream stoppable, the one stopline replaces',
  poll: 'stopline with only its batched poll (`STOPLINE_CANCEL_MODE=poll`): one Redis read per replica per interval',
  push: "stopline's default (`STOPLINE_CANCEL_MODE=push`): a cancel wakes the owner over Redis Pub/Sub, the batched poll catches a lost message",
  'push-resume': 'push with resume on for the stream route (`STOPLINE_RESUME_ROUTES`, default byte bounds, the peers path between the replicas): a client can come back on either replica',
  'push-traced': 'push with every stream traced (sampler ratio 1, OTLP/HTTP to a receiver on loopback)',
};

const esc = (s: string) => s.replace(/\|/g, '\\|');
function table(head: string[], rows: (string | number | null)[][]): string {
  const line = (cells: (string | number | null)[]) => `| ${cells.map((c) => esc(c === null ? 'n/a' : String(c))).join(' | ')} |`;
  return [line(head), `|${head.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

export function renderMarkdown(r: Result, chart: string | null): string {
  const S = r.summary;
  const m = r.machine;
  const P = r.params;
  const names = Object.keys(S.load);
  const out: string[] = [];
  out.push(`# stopline benchmark: ${r.mode} run of ${r.started_at.slice(0, 10)}`);
  out.push('');
  out.push(`The same workloads through each design, in one run on one machine, ${P.rounds} interleaved round(s), ${Math.round(r.duration_s / 60 * 10) / 10} min. The designs of this run:`);
  out.push('');
  for (const n of names) out.push(`- \`${n}\`: ${designWords[n] ?? n}`);
  out.push('');
  out.push(`Each stopline design runs as two replicas on one redis-server. How each figure is measured: [bench/README.md](../README.md). Raw numbers: [\`${r.files.json}\`](${r.files.json}).`);
  out.push('');
  out.push('## Machine');
  out.push('');
  out.push(table(['cores', 'CPU', 'memory', 'Node', 'Redis', 'nginx', 'HAProxy', 'Node proxy', 'kernel', 'load average at start (1/5/15 min)', 'at end'], [[
    m.cores, m.cpu_model, `${m.memory_gib} GiB`, m.node, m.redis, m.nginx, m.haproxy ?? '-', m['node-proxy'] ?? '-', m.kernel, (m.loadavg_at_start ?? []).join(' / '), (m.loadavg_at_end ?? []).join(' / '),
  ]]));
  out.push('');
  out.push(`stopline at commit \`${r.stopline.commit}\`${r.stopline.src_modified_since_commit ? ' (src/ had uncommitted changes; the benchmark ran the built dist/ as it was)' : ''}${r.stopline.dist ? `, dist/ built ${r.stopline.dist.built_at.slice(0, 16).replace('T', ' ')} UTC (fingerprint \`${r.stopline.dist.sha1}\`)` : ''}; replicas run with node options ${Array.isArray(P.nodeArgs) && P.nodeArgs.length > 0 ? `\`${(P.nodeArgs as string[]).join(' ')}\`` : 'none'}${Array.isArray(P.nodeArgs) ? '' : ' (not recorded)'}. The machine is shared with other work: absolute numbers are noisy, comparisons within a round are the point.`);
  out.push('');
  out.push('## Targets');
  out.push('');
  out.push(table(['target', 'goal', 'this run', 'verdict'], r.targets.map((t: TargetRow) => [t.target, t.goal, t.value, t.verdict === 'missed' || t.verdict === 'inconclusive' ? `**${t.verdict}**` : t.verdict])));
  out.push('');
  for (const t of r.targets as TargetRow[]) if (t.note) out.push(`- **${t.target}** (${t.verdict}): ${t.note}`);
  out.push('');
  const R = S.resume?.['push-resume'];
  if (R) {
    out.push(`Resume (no goal set; see section 6): time to the first replayed byte of a live stream resumed from offset 0, at ${P.streams.toLocaleString('en-US')} live streams, through its owner p50 ${f(R.owner.first_byte_ms.p50, ' ms')} / p99 ${f(R.owner.first_byte_ms.p99, ' ms')}, through the other replica p50 ${f(R.other.first_byte_ms.p50, ' ms')} / p99 ${f(R.other.first_byte_ms.p99, ' ms')} (${R.owner.resumes} and ${R.other.resumes} resumes).`);
    out.push('');
  }
  if (chart) { out.push(`![benchmark chart](${chart})`); out.push(''); }

  // Seed.
  out.push(`## 1. One answer at a time`);
  out.push('');
  out.push(`A ${P.seedChunks}-chunk answer streamed over ${P.seedMs} ms and a ${P.longChunks}-chunk answer over ${P.longMs} ms, one at a time, no other load. End-to-end (e2e) = request sent → response ended, at the client. Path = the part of it that is not the upstream's own pacing: (first event's upstream timestamp − request sent) + (response ended − last event's upstream timestamp). Added = design − direct in the same round, on the path (median over rounds); % is of direct's e2e. Raw e2e diff = the same on the whole e2e, which also carries the upstream's timer jitter.`);
  out.push('');
  out.push(table(['design', `${P.seedChunks} chunks: e2e`, 'path', 'added', 'added %', 'raw e2e diff', `${P.longChunks} chunks: e2e`, 'path', 'added', 'added %', 'raw e2e diff', `per-event delay p50 / p99 (${P.seedChunks}-chunk answer)`], names.map((n) => {
    const s = S.seed[n] ?? {};
    const d = n === 'direct';
    return [n, f(s.seed?.e2e_ms_median, ' ms'), f(s.seed?.path_ms_median, ' ms'), d ? '—' : f(s.seed?.added_ms_median, ' ms'), d ? '—' : f(s.seed?.added_pct_median, '%'), d ? '—' : f(s.seed?.added_e2e_ms_median, ' ms'),
      f(s.long?.e2e_ms_median, ' ms'), f(s.long?.path_ms_median, ' ms'), d ? '—' : f(s.long?.added_ms_median, ' ms'), d ? '—' : f(s.long?.added_pct_median, '%'), d ? '—' : f(s.long?.added_e2e_ms_median, ' ms'),
      `${f(s.seed?.event_delay_p50_ms_median, ' ms')} / ${f(s.seed?.event_delay_p99_ms_median, ' ms')}`];
  })));
  out.push('');

  // Load.
  out.push(`## 2. Load: ${P.streams.toLocaleString('en-US')} concurrent streams at ${P.rate} chunks/s`);
  out.push('');
  out.push(`Offered ${(P.streams * P.rate).toLocaleString('en-US')} chunks/s, opened over ${P.rampMs} ms, measured over ${P.measureMs} ms per round. Per-event delay = client read time − the upstream's write time stamped in the event (CLOCK_MONOTONIC); pooled over rounds, and per round (ms, in round order) with the median over rounds of the paired difference against direct in the same round (what the targets use: one round hit by a burst of other work on the machine does not decide them). Relay CPU from /proc (utime + stime) of the relay's processes (both replicas; nginx master + workers). RSS per stream = (VmRSS during − before) / live streams.${P.streams < 1000 ? ` The targets are set for 1,000 streams; on 2 cores the client and the upstream (about 0.9 of a core at 1,000) plus stopline's two replicas (about one core) leave the machine CPU-bound, so the default is ${P.streams} (see bench/README.md; \`--streams 1000\` runs it).` : ''}`);
  out.push('');
  const PR = perRound(r);
  out.push(table(['design', 'chunks/s delivered', 'delay p50', 'p90', 'p99', 'p99.9', 'max', 'added p50', 'added p99', 'p99 per round', 'added p99, median of rounds', 'relay CPU per 1k chunks', 'vs nginx', 'RSS growth per stream', 'client loop lag p99'], names.map((n) => {
    const L = S.load[n];
    const ng = S.load.nginx?.relay_cpu_ms_per_1k_chunks;
    return [n, f(L.events_per_s_median), f(L.delay_ms.p50, ' ms'), f(L.delay_ms.p90, ' ms'), f(L.delay_ms.p99, ' ms'), f(L.delay_ms.p999, ' ms'), f(L.delay_ms.max, ' ms'),
      n === 'direct' ? '—' : f(L.added_p50_ms, ' ms'), n === 'direct' ? '—' : f(L.added_p99_ms, ' ms'),
      (PR[n]?.each ?? []).map((e) => f(e.p99)).join(' / '), n === 'direct' ? '—' : f(PR[n]?.added_p99_ms, ' ms'),
      n === 'direct' ? '—' : f(L.relay_cpu_ms_per_1k_chunks, ' ms'), n === 'direct' || !ng ? '—' : f(L.relay_cpu_ms_per_1k_chunks / ng, '×'),
      n === 'direct' ? '—' : f(L.rss_per_stream_kib_median, ' KiB'), f(L.client_loop_lag_p99_ms_median, ' ms')];
  })));
  out.push('');
  out.push('RSS growth over a load window, per live stream (VmRSS during − before, over the live streams; median over rounds, and per round in round order). A replica that ran a load before keeps that memory for reuse (V8 and malloc rarely give pages back), so rounds after a design\'s first read low, and the first includes one-off growth; what a live stream holds is measured apart, in the memory pass below.');
  out.push('');
  out.push(table(['design', 'RSS growth per stream', 'per round', 'V8 heap used per stream', 'V8 heap reserved per stream', 'external per stream'], names.filter((n) => n !== 'direct').map((n) => {
    const L = S.load[n];
    const each = (r.raw.load as any[]).filter((x) => x.design === n).sort((x, y) => x.round - y.round).map((x) => f(x.rss_per_stream_kib)).join(' / ');
    return [n, f(L.rss_per_stream_kib_median, ' KiB'), each, f(L.heap_used_per_stream_kib_median, ' KiB'), f(L.heap_total_per_stream_kib_median, ' KiB'), f(L.external_per_stream_kib_median, ' KiB')];
  })));
  out.push('');
  const M = r.memory;
  if (M) {
    out.push(`**Memory pass** (push, two fresh replicas with the image's node options, after the rounds): ${M.streams[0]} streams opened, settled, RSS read; ${M.streams[1] - M.streams[0]} more opened, settled, RSS read again.`);
    out.push('');
    out.push(table(['idle RSS', `RSS at ${M.streams[0]} streams`, `RSS at ${M.streams[1]} streams`, 'per added stream', 'per stream from idle', 'V8 heap used per added stream', 'heap reserved', 'external'], [[
      f(M.rss_kib.idle / 1024, ' MiB'), f(M.rss_kib.half / 1024, ' MiB'), f(M.rss_kib.full / 1024, ' MiB'), f(M.marginal_rss_per_stream_kib, ' KiB'), f(M.from_idle_rss_per_stream_kib, ' KiB'),
      f(M.marginal_heap_per_stream_kib.heap_used, ' KiB'), f(M.marginal_heap_per_stream_kib.heap_total, ' KiB'), f(M.marginal_heap_per_stream_kib.external, ' KiB'),
    ]]));
    out.push('');
  }
  const SC = (r.scale ?? []) as { live_streams: number; window_s: number; redis_commands_per_replica_per_s: number; redis_cpu_ms_per_replica_per_s: number }[];
  if (SC.length > 0) {
    out.push(`**Scale** (push, two fresh replicas on a redis-server of their own, slow streams of one chunk per 2 s, a quiet window after they all opened; Redis' own counters, INFO stats and INFO cpu): what Redis does per replica per second for its background work (the poll, TTL refreshes, probes), by the number of live streams.`);
    out.push('');
    out.push(table(['live streams (both replicas)', 'window', 'Redis commands per replica per s', 'Redis CPU per replica per s'], SC.map((x) => [
      x.live_streams.toLocaleString('en-US'), f(x.window_s, ' s'), f(x.redis_commands_per_replica_per_s), f(x.redis_cpu_ms_per_replica_per_s, ' ms'),
    ])));
    out.push('');
  }
  out.push(`Stream start (request sent → response headers, during the ramp), p50 / p99: ${names.map((n) => `${n} ${f(S.load[n].stream_start_ms_p50_median, ' ms')} / ${f(S.load[n].stream_start_ms_p99_median, ' ms')}`).join(', ')}.${names.some((n) => (S.load[n].streams_started_in_window_max ?? 0) > 0) ? ` Streams whose headers arrived only after the measurement window had begun (the relay was behind): ${names.filter((n) => (S.load[n].streams_started_in_window_max ?? 0) > 0).map((n) => `${n} ${S.load[n].streams_started_in_window_max}`).join(', ')}.` : ''}`);
  out.push(`Upstream CPU per 1,000 chunks (the same work in every design): ${names.map((n) => `${n} ${f(S.load[n].upstream_cpu_ms_per_1k_chunks, ' ms')}`).join(', ')}.`);
  const short = names.filter((n) => S.load[n].streams_live_min < P.streams);
  if (short.length > 0) out.push(`Fewer than ${P.streams} streams live at the end of a window: ${short.map((n) => `${n} (${S.load[n].streams_live_min})`).join(', ')}.`);
  out.push('');

  // Stop.
  out.push(`## 3. Stop at that load`);
  out.push('');
  out.push(`Cancels sent to the replica that does **not** own the stream (\`POST /stopline/v1/cancel\`), ${P.cancelGapMs} ms apart, while the load runs. Client cancel-to-stop = cancel request leaves the client → the client sees the stream end. Upstream noticed = cancel sent → the bench upstream saw its client go away (and stopped generating). Tokens after cancel = events the upstream produced minus events the client had when it sent the cancel.`);
  out.push('');
  const stopNames = names.filter((n) => S.stop[n]?.cancels > 0);
  out.push(table(['mode', 'cancels', 'outcomes', 'client cancel-to-stop p50 / p99, median of rounds', 'pooled p50', 'p99', 'max', 'terminal event p50', 'upstream noticed p50', 'p99', 'max', 'tokens after cancel p50 / max', 'API cancel_to_stop_ms p50 / p99', 'API answer p50 / p99'], stopNames.map((n) => {
    const s = S.stop[n];
    return [n, s.cancels, Object.entries(s.outcomes).map(([k, v]) => `${k} ${v}`).join(', '), `${f(PR[n]?.cancel_p50_ms, ' ms')} / ${f(PR[n]?.cancel_p99_ms, ' ms')}`, f(s.client_cancel_to_stop_ms.p50, ' ms'), f(s.client_cancel_to_stop_ms.p99, ' ms'), f(s.client_cancel_to_stop_ms.max, ' ms'),
      f(s.client_cancel_to_terminal_event_ms.p50, ' ms'), f(s.upstream_noticed_after_cancel_ms.p50, ' ms'), f(s.upstream_noticed_after_cancel_ms.p99, ' ms'), f(s.upstream_noticed_after_cancel_ms.max, ' ms'),
      `${f(s.tokens_after_cancel.p50)} / ${f(s.tokens_after_cancel.max)}`, `${f(s.api_cancel_to_stop_ms.p50, ' ms')} / ${f(s.api_cancel_to_stop_ms.p99, ' ms')}`, `${f(s.api_answer_ms.p50, ' ms')} / ${f(s.api_answer_ms.p99, ' ms')}`];
  })));
  out.push('');
  out.push('For reference, a client that simply goes away (closes its connection) at that load: client disconnect → upstream noticed, in every design.');
  out.push('');
  const hopNames = names.filter((n) => S.stop[n]?.hop_http_round_trip_ms?.n > 0);
  if (hopNames.length > 0) {
    out.push(`What one hop costs here at that load (median over rounds of the p50 of 20 tries, taken just before the cancels): ${hopNames.map((n) => `${n}: HTTP round trip to a replica (404, no Redis) ${f(S.stop[n].hop_http_round_trip_ms.p50, ' ms')}, Redis PING from the client ${f(S.stop[n].hop_redis_ping_ms.p50, ' ms')}`).join('; ')}.`);
    out.push('');
  }
  out.push(table(['design', 'disconnects', 'upstream noticed within 3 s', 'p50', 'p99', 'max'], names.map((n) => {
    const s = S.stop[n].client_disconnect_to_upstream_ms;
    return [n, S.stop[n].client_disconnects, S.stop[n].client_disconnects_noticed ?? 'n/a', f(s.p50, ' ms'), f(s.p99, ' ms'), f(s.max, ' ms')];
  })));
  out.push('');
  const unnoticed = names.filter((n) => S.stop[n].client_disconnects > 0 && S.stop[n].client_disconnects_noticed === 0);
  if (unnoticed.length > 0) {
    out.push(`${unnoticed.join(', ')}: the upstream never learned that the client had gone; its generation ran on until the benchmark cut it at the end of the workload. ${unnoticed.includes('node-proxy') ? 'http-proxy aborts its upstream request on the incoming request\'s `aborted` event, which Node.js (since 15.5) no longer emits once the request body is complete (http-party/node-http-proxy pull request #1559, nodejs/node issue #46666).' : ''}`.trim());
    out.push('');
  }

  if (r.tracing) renderTracing(r.tracing, out);

  // Redis cost.
  out.push('## 4. Redis cost');
  out.push('');
  out.push(`Per stream: ${P.costStreams} streams per batch, each ${P.costMs} ms long, with ${P.costChunks.join(' and ')} chunks; SLOWLOG at threshold 0 records every command with its client, so commands stopline sends (attributed by the replicas' socket ports) and commands run inside its Lua scripts (client \`?:0\`) are counted apart. INFO commandstats counts both together (last column). Per replica per second: INFO commandstats over the load window (all commands, including inside scripts).`);
  out.push('');
  const costNames = Object.keys(S.cost);
  const rowsCost: (string | number | null)[][] = [];
  for (const n of costNames) for (const [chunks, c] of Object.entries(S.cost[n] as Record<string, any>)) {
    rowsCost.push([n, chunks, f(c.round_trips_per_stream), Object.entries(c.round_trips_by_command).map(([k, v]) => `${k} ${v}`).join(', '), f(c.in_scripts_per_stream), f(c.all_commands_per_stream_commandstats)]);
  }
  out.push(table(['mode', 'chunks', 'commands sent per stream', 'by command', 'inside scripts per stream', 'commandstats total per stream'], rowsCost));
  out.push('');
  out.push(table(['mode', `all commands per replica per s at ${P.streams} streams`, 'script calls per replica per s', 'stopline calls per replica per s (its own metrics)', 'Redis errors seen by stopline'], names.filter((n) => S.load[n].redis).map((n) => {
    const x = S.load[n].redis;
    return [n, f(x.all_commands_per_replica_s_median), f(x.script_calls_per_replica_s_median), Object.entries(x.stopline_calls_per_replica_s).map(([k, v]) => `${k} ${v}`).join(', ') || '—', x.stopline_errors_total];
  })));
  out.push('');

  // Hung.
  const h = S.hung?.push;
  out.push('## 5. Redis hung (SIGSTOP) halfway through the load, push');
  out.push('');
  if (h) {
    out.push(`${P.streams} streams; the first half of a ${P.hungMs} ms window with Redis healthy, then redis-server SIGSTOPped for the second half (SIGCONT at the end). ${P.hungCancels} cancels sent while Redis was hung.`);
    out.push('');
    out.push(table(['', 'per-event delay p50', 'p99', 'max', 'chunks/s'], [
      ['Redis healthy', f(h.healthy_ms.p50_median, ' ms'), f(h.healthy_ms.p99_median, ' ms'), f(h.healthy_ms.max, ' ms'), f(h.events_per_s_healthy_median)],
      ['Redis hung', f(h.hung_ms.p50_median, ' ms'), f(h.hung_ms.p99_median, ' ms'), f(h.hung_ms.max, ' ms'), f(h.events_per_s_hung_median)],
    ]));
    out.push('');
    out.push(`p99 ratio hung / healthy per round: ${h.p99_ratio_each.map((x: number | null) => f(x)).join(', ')}. Cancels while hung: ${Object.entries(h.cancels_while_hung).map(([k, v]) => `${v}× ${k}`).join(', ') || 'none'}, answered in p50 ${f(h.cancel_answer_ms_while_hung.p50, ' ms')} / max ${f(h.cancel_answer_ms_while_hung.max, ' ms')}. Replicas reported Redis up again ${h.recovered_s.map((x: number | null) => f(x, ' s')).join(', ')} after SIGCONT.`);
  } else out.push('Not run.');
  out.push('');

  if (S.load['push-resume'] !== undefined) renderResume(r, out);

  // Profile.
  out.push('## Profile: push under the load (node --cpu-prof)');
  out.push('');
  const p = r.profile;
  if (p) {
    out.push(`A separate pass after the rounds: two push replicas started with \`--cpu-prof\`, the same ${P.streams}-stream load (ramp, ${P.measureMs} ms window, teardown). ${p.files} profile(s); only the samples inside the ${f(p.window_ms, ' ms')} measurement window are counted (start-up, ramp and teardown left out): ${f(p.busy_ms / 1000, ' s')} busy over both replicas (idle excluded). During this pass: delay p99 ${f(p.load?.delay?.p99, ' ms')}, relay CPU ${f(p.load?.relay_cpu_ms_per_1k_chunks, ' ms')} per 1,000 chunks (the profiler adds its own cost). V8 heap retained per live stream after a full GC (through the inspector): ${f(p.retained_heap_per_stream_kib, ' KiB')}.`);
    out.push('');
    out.push(table(['category', 'self time', '% of busy'], p.categories.map((c: any) => [c.category, f(c.ms, ' ms'), `${c.pct_busy}%`])));
    out.push('');
    out.push('Top self time:');
    out.push('');
    out.push(table(['function', 'where', 'category', 'self time', '% of busy', 'called from (share of its self time)'], p.top_self.map((t: any) => [t.fn, t.where || '—', t.category, f(t.ms, ' ms'), `${t.pct_busy}%`,
      (t.callers ?? []).filter((c: any) => c.pct >= 5).map((c: any) => `${c.fn} (${c.where || 'native'}) ${c.pct}%`).join('; ') || '—'])));
    out.push('');
    out.push("stopline's own functions by inclusive time (dist/ paths map one to one to src/*.ts):");
    out.push('');
    out.push(table(['function', 'where', 'inclusive time', '% of busy'], p.top_inclusive_stopline.map((t: any) => [t.fn, t.where, f(t.ms, ' ms'), `${t.pct_busy}%`])));
  } else out.push('Not run (`--no-profile`, or push not among the designs).');
  out.push('');
  out.push('## Parameters');
  out.push('');
  out.push('```json');
  out.push(JSON.stringify(P));
  out.push('```');
  out.push('');
  return out.join('\n');
}

/** Push with resume off and on, the same rounds, interleaved; and resuming a live stream through either replica. */
export function renderResume(r: Result, out: string[]): void {
  const S = r.summary;
  const P = r.params;
  const PR = perRound(r);
  out.push('## 6. Resume on against off: push and push-resume');
  out.push('');
  out.push(`push-resume is push with \`STOPLINE_RESUME_ROUTES=POST /stream\` (the route the benchmark streams on), the default byte bounds (\`STOPLINE_RESUME_STREAM_BYTES\`, \`STOPLINE_RESUME_REPLICA_BYTES\`), \`STOPLINE_PEERS\` naming the two replicas' admin ports, and \`STOPLINE_RESUME_DETACH_MS=0\` (a client that goes away aborts at once, as with resume off, so both designs' disconnects and teardown behave alike). Both run in the same rounds, in the rotating order; nobody resumes during their load windows or their Redis cost batches.`);
  out.push('');
  const cell = (n: string, fn: (n: string) => string) => (S.load[n] === undefined ? 'n/a' : fn(n));
  const cpu = (n: string) => f(S.load[n].relay_cpu_ms_per_1k_chunks, ' ms');
  const ratio = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? f(a / b, '×') : '—');
  const costKs = Object.keys(S.cost?.push ?? {});
  const rowsT: (string | number | null)[][] = [
    ['relay CPU per 1,000 chunks', cell('push', cpu), cell('push-resume', cpu), ratio(S.load['push-resume']?.relay_cpu_ms_per_1k_chunks, S.load.push?.relay_cpu_ms_per_1k_chunks)],
    ['per-event delay p50 / p99 (pooled)', cell('push', (n) => `${f(S.load[n].delay_ms.p50, ' ms')} / ${f(S.load[n].delay_ms.p99, ' ms')}`), cell('push-resume', (n) => `${f(S.load[n].delay_ms.p50, ' ms')} / ${f(S.load[n].delay_ms.p99, ' ms')}`), '—'],
    ['added p50 / p99 against direct (median over rounds)', `${f(PR.push?.added_p50_ms, ' ms')} / ${f(PR.push?.added_p99_ms, ' ms')}`, `${f(PR['push-resume']?.added_p50_ms, ' ms')} / ${f(PR['push-resume']?.added_p99_ms, ' ms')}`, '—'],
    ...costKs.map((k) => [`Redis commands sent per stream, ${k} chunks`, f(S.cost?.push?.[k]?.round_trips_per_stream), f(S.cost?.['push-resume']?.[k]?.round_trips_per_stream), '—']),
    ["stopline's Redis calls per live stream in the load window", f(S.load.push?.redis?.stopline_calls_per_live_stream_median), f(S.load['push-resume']?.redis?.stopline_calls_per_live_stream_median), '—'],
    ['cancel-to-stop across replicas p50 / p99 (median over rounds)', `${f(PR.push?.cancel_p50_ms, ' ms')} / ${f(PR.push?.cancel_p99_ms, ' ms')}`, `${f(PR['push-resume']?.cancel_p50_ms, ' ms')} / ${f(PR['push-resume']?.cancel_p99_ms, ' ms')}`, '—'],
  ];
  out.push(table(['', 'push (resume off)', 'push-resume (resume on)', 'on / off'], rowsT));
  out.push('');
  const R = S.resume?.['push-resume'];
  if (R) {
    out.push(`**Resuming a live stream.** After the load window, with the ${P.streams} streams still running, ${P.resumes} live streams per round are each resumed from offset 0 (\`GET /stopline/v1/streams/{session_id}/{message_id}?offset=0\`, a new connection each, as a reconnecting client makes), once through the replica that owns the stream and once through the other one, one resume at a time, in an order that alternates. Time = request started → first body byte (the first replayed byte); the resume is then closed. Through the other replica, it finds the owner in Redis (one lookup) and follows the stream from the owner over the peers path.`);
    out.push('');
    const line = (label: string, x: any) => [label, x.resumes, Object.entries(x.statuses).map(([k, v]) => `${v} × ${k}`).join(', '), x.replayed_from_start, f(x.first_byte_ms.p50, ' ms'), f(x.first_byte_ms.p90, ' ms'), f(x.first_byte_ms.p99, ' ms'), f(x.first_byte_ms.max, ' ms'), (x.first_byte_p50_ms_each_round as (number | null)[]).map((v) => f(v)).join(' / '), f(x.headers_ms.p50, ' ms')];
    out.push(table(['resume through', 'resumes', 'answers', 'replayed from the first byte', 'first byte p50', 'p90', 'p99', 'max', 'p50 per round', 'headers p50'], [line('the owner', R.owner), line('the other replica', R.other)]));
    out.push('');
    out.push(`Redis calls stopline made during the resumes (its own count, both replicas, ${f(R.duration_s, ' s')} in all): ${Object.entries(R.stopline_redis_calls as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}; lookups (\`get\`) per resume through the other replica: ${f(R.lookups_per_other_resume)}. A resume through the owner makes no Redis call; the poll runs beside them, once per replica per second.`);
    out.push('');
  }
}

/** Push with tracing off against push with tracing on (sampler ratio 1), the same rounds, interleaved. */
function renderTracing(t: Result, out: string[]): void {
  out.push('## Tracing: push with tracing off and on');
  out.push('');
  out.push(`Both push designs start with the image's \`--import ./dist/tracing/preload.js\`; the traced one also has \`OTEL_TRACES_SAMPLER=${t.sampler}\`, \`OTEL_TRACES_SAMPLER_ARG=${t.ratio}\` and exports ${t.exporter}. Added = design − direct, pooled over rounds; cancel-to-stop is client side, cross-replica, every cancel pooled.`);
  out.push('');
  const row = (label: string, s: Result) => [label, f(s.relay_cpu_ms_per_1k_chunks, ' ms'), f(s.added_p50_ms, ' ms'), f(s.added_p99_ms, ' ms'), f(s.cancel_to_stop_p50_ms, ' ms'), f(s.cancel_to_stop_p99_ms, ' ms'), s.cancels];
  out.push(table(['push', 'relay CPU per 1,000 chunks', 'added p50', 'added p99', 'cancel-to-stop p50', 'cancel-to-stop p99', 'cancels'], [row('tracing off', t.off), row('tracing on (ratio 1)', t.on)]));
  out.push('');
  const byName = Object.entries(t.receiver.by_name as Record<string, number>).sort((x, y) => y[1] - x[1]).map(([n, c]) => `${n} ${c}`).join(', ');
  out.push(`Spans received: ${t.receiver.spans} in ${t.receiver.posts} OTLP requests (${f(t.receiver.bytes / 1024, ' KiB')}; ${t.receiver.rejected} not understood): ${byName || 'none'}.`);
  out.push('');
}
