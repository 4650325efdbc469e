// Samples and their summaries. Values are kept whole (a growing Float64Array), so percentiles are exact.

export class Samples {
  #a = new Float64Array(1024);
  #n = 0;

  get size(): number { return this.#n; }

  push(v: number): void {
    if (this.#n === this.#a.length) {
      const b = new Float64Array(this.#a.length * 2);
      b.set(this.#a);
      this.#a = b;
    }
    this.#a[this.#n++] = v;
  }

  addAll(other: Samples): void {
    for (const v of other.values()) this.push(v);
  }

  values(): Float64Array {
    return this.#a.subarray(0, this.#n);
  }

  sorted(): Float64Array {
    return Float64Array.from(this.values()).sort();
  }
}

export interface Summary {
  n: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  min: number | null;
}

/** Nearest-rank percentile of sorted values (q in 0..1). */
export function pct(sorted: ArrayLike<number>, q: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const i = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  return sorted[i] ?? null;
}

export function summarize(values: ArrayLike<number> | Samples, scale = 1): Summary {
  const raw = values instanceof Samples ? values.values() : values;
  const s = Float64Array.from(raw).sort();
  const n = s.length;
  const f = (v: number | null) => (v === null ? null : round(v * scale));
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i]!;
  return {
    n,
    mean: n === 0 ? null : f(sum / n),
    p50: f(pct(s, 0.5)),
    p90: f(pct(s, 0.9)),
    p99: f(pct(s, 0.99)),
    p999: f(pct(s, 0.999)),
    max: n === 0 ? null : f(s[n - 1]!),
    min: n === 0 ? null : f(s[0]!),
  };
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Rounds to 4 significant decimals for the report (keeps small numbers readable). */
export function round(v: number, digits = 4): number {
  if (!Number.isFinite(v)) return v;
  if (v === 0) return 0;
  const mag = Math.floor(Math.log10(Math.abs(v)));
  const d = Math.max(0, digits - 1 - mag);
  const f = 10 ** Math.min(d, 9);
  return Math.round(v * f) / f;
}
