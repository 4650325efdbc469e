// A circuit breaker for Redis calls, as a small state machine: closed → (N failures in a row) → open for a back-off
// → half-open (one probe call let through) → closed on success, or open again with a doubled back-off.
export type BreakerState =
  | { readonly kind: 'closed'; readonly failures: number }
  | { readonly kind: 'open'; readonly until: number; readonly backoffMs: number }
  | { readonly kind: 'half-open'; readonly backoffMs: number; readonly probing: boolean };

export interface BreakerOptions {
  readonly failureThreshold: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly now?: () => number;
  readonly onChange?: (closed: boolean) => void;
}

export class Breaker {
  #state: BreakerState = { kind: 'closed', failures: 0 };
  readonly #o: BreakerOptions;
  readonly #now: () => number;

  constructor(options: BreakerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get state(): BreakerState { return this.#state; }
  get closed(): boolean { return this.#state.kind === 'closed'; }

  /** May a call go out now? In half-open state only one probe is let through at a time. */
  allow(): boolean {
    const s = this.#state;
    if (s.kind === 'closed') return true;
    if (s.kind === 'open') {
      if (this.#now() < s.until) return false;
      this.#state = { kind: 'half-open', backoffMs: s.backoffMs, probing: true };
      return true;
    }
    if (s.probing) return false;
    this.#state = { ...s, probing: true };
    return true;
  }

  success(): void {
    if (this.#state.kind === 'closed' && this.#state.failures === 0) return;
    const wasClosed = this.closed;
    this.#state = { kind: 'closed', failures: 0 };
    if (!wasClosed) this.#o.onChange?.(true);
  }

  failure(): void {
    const s = this.#state;
    if (s.kind === 'closed') {
      if (s.failures + 1 < this.#o.failureThreshold) { this.#state = { kind: 'closed', failures: s.failures + 1 }; return; }
      this.#open(this.#o.minBackoffMs);
      this.#o.onChange?.(false);
      return;
    }
    if (s.kind === 'half-open') this.#open(Math.min(s.backoffMs * 2, this.#o.maxBackoffMs));
  }

  /** Opens at once (the connection is known to be down). */
  trip(): void {
    if (this.#state.kind !== 'closed') return;
    this.#open(this.#o.minBackoffMs);
    this.#o.onChange?.(false);
  }

  #open(backoffMs: number): void {
    this.#state = { kind: 'open', until: this.#now() + backoffMs, backoffMs };
  }
}
