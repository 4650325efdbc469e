// A circuit breaker for Redis calls, as a small state machine on a monotonic clock (a wall-clock step back must not
// keep it open):
//   closed    → N failures in a row, or trip()           → open for a back-off
//   open      → the back-off has passed, probe() is asked → half-open (the one probe call is out)
//   half-open → the probe succeeded                      → closed
//   half-open → the probe failed                         → open again, the back-off doubled (up to a maximum)
// Only a probe closes an open breaker: a late success of a call sent before it opened changes nothing.
export type BreakerState =
  | { readonly kind: 'closed'; readonly failures: number }
  | { readonly kind: 'open'; readonly until: number; readonly backoffMs: number }
  | { readonly kind: 'half-open'; readonly backoffMs: number };

export interface BreakerOptions {
  readonly failureThreshold: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Milliseconds on a monotonic clock; performance.now unless a test injects its own. */
  readonly now?: () => number;
  readonly onChange?: (closed: boolean) => void;
}

export class Breaker {
  #state: BreakerState = { kind: 'closed', failures: 0 };
  readonly #o: BreakerOptions;
  readonly #now: () => number;

  constructor(options: BreakerOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
  }

  get state(): BreakerState { return this.#state; }
  get closed(): boolean { return this.#state.kind === 'closed'; }

  /** May an ordinary call go out now? Only while closed. */
  allow(): boolean { return this.#state.kind === 'closed'; }

  /** Milliseconds until a probe may go out (0: now); undefined unless open. */
  get probeInMs(): number | undefined {
    const s = this.#state;
    return s.kind === 'open' ? Math.max(0, s.until - this.#now()) : undefined;
  }

  /**
   * Asks to send the probe: true (and half-open) when open and the back-off has passed, or at once with `early`
   * (a fresh connection is new evidence, worth a probe before the back-off ends). False otherwise.
   */
  probe(early = false): boolean {
    const s = this.#state;
    if (s.kind !== 'open' || (!early && this.#now() < s.until)) return false;
    this.#state = { kind: 'half-open', backoffMs: s.backoffMs };
    return true;
  }

  /** A call succeeded. Closed: the run of failures ends. Half-open: the probe succeeded, the breaker closes. */
  success(): void {
    const s = this.#state;
    if (s.kind === 'closed') { if (s.failures > 0) this.#state = { kind: 'closed', failures: 0 }; return; }
    if (s.kind === 'half-open') { this.#state = { kind: 'closed', failures: 0 }; this.#o.onChange?.(true); }
  }

  /** A call failed in a way that says Redis is unusable (not a client-side error). */
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
    const s = this.#state;
    if (s.kind === 'open') return;
    if (s.kind === 'half-open') { this.failure(); return; }
    this.#open(this.#o.minBackoffMs);
    this.#o.onChange?.(false);
  }

  #open(backoffMs: number): void {
    this.#state = { kind: 'open', until: this.#now() + backoffMs, backoffMs };
  }
}
