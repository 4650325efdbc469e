// Writes that could not reach Redis, held until it is usable again: registrations, finishes, cancels (one stream's
// or a whole session's). Each write checks, when it runs, that it still applies (a registration only for a stream
// that is still live here), so holding never resurrects anything. A recovery writes them paced: a few at a time
// (bounded concurrency), so a Redis that just came back is not hit by tens of thousands of scripts at once, each
// with its own timer; the first write that fails again stops the flush, and the rest waits for the next one.
import { RedisUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';

export type HeldKind = 'registration' | 'finish' | 'cancel';

interface Held {
  readonly kind: HeldKind;
  readonly write: () => Promise<unknown>;
}

export interface HeldWritesOptions {
  /** Writes in flight at once during a flush. */
  readonly concurrency: number;
  /** Most writes held per kind; past it a new one is left to the TTLs (registrations: bounded by the registry). */
  readonly limits: Readonly<Record<HeldKind, number>>;
}

export const heldDefaults: HeldWritesOptions = {
  concurrency: 16,
  limits: { registration: Number.POSITIVE_INFINITY, finish: 10_000, cancel: 10_000 },
};

export class HeldWrites {
  readonly #held = new Map<string, Held>();
  readonly #counts: Record<HeldKind, number> = { registration: 0, finish: 0, cancel: 0 };
  readonly #o: HeldWritesOptions;
  readonly #log: Logger;
  #flushing: Promise<void> | null = null;
  #closed = false;

  constructor(log: Logger, options: HeldWritesOptions = heldDefaults) {
    this.#log = log;
    this.#o = options;
  }

  get size(): number { return this.#held.size; }
  count(kind: HeldKind): number { return this.#counts[kind]; }

  /** Holds a write under `key` (a later one with the same key replaces it); false when its kind is full. */
  hold(key: string, kind: HeldKind, write: () => Promise<unknown>): boolean {
    const had = this.#held.get(key);
    if (had === undefined && this.#counts[kind] >= this.#o.limits[kind]) return false;
    if (had !== undefined) this.#counts[had.kind]--;
    this.#held.set(key, { kind, write });
    this.#counts[kind]++;
    return true;
  }

  /** Forgets a held write (its stream ended: its registration no longer applies). */
  drop(key: string): void {
    const had = this.#held.get(key);
    if (had === undefined) return;
    this.#held.delete(key);
    this.#counts[had.kind]--;
  }

  #take(): [string, Held] | undefined {
    const next = this.#held.entries().next();
    if (next.done === true) return undefined;
    this.drop(next.value[0]);
    return next.value;
  }

  /** Writes what is held, oldest first, at most `concurrency` at a time; one flush at a time. */
  flush(): Promise<void> {
    if (this.#flushing !== null || this.#held.size === 0 || this.#closed) return this.#flushing ?? Promise.resolve();
    const written: Record<HeldKind, number> = { registration: 0, finish: 0, cancel: 0 };
    let failed = false;
    const worker = async () => {
      while (!failed && !this.#closed) {
        const next = this.#take();
        if (next === undefined) return;
        const [key, h] = next;
        try {
          await h.write();
          written[h.kind]++;
        } catch (err) {
          if (!(err instanceof RedisUnavailableError)) {
            // Not Redis being unusable: writing it again would fail again and hold up everything behind it.
            this.#log.warn('held write failed; dropped', { kind: h.kind, err });
            continue;
          }
          // Redis is unusable again: keep it (unless something newer took its place) and stop this flush.
          if (!this.#held.has(key)) this.hold(key, h.kind, h.write);
          failed = true;
        }
      }
    };
    const workers = Math.min(this.#o.concurrency, this.#held.size);
    this.#flushing = Promise.all(Array.from({ length: workers }, worker)).then(() => {
      this.#flushing = null;
      const total = written.registration + written.finish + written.cancel;
      if (total > 0) this.#log.info('redis usable: held state written', { registrations: written.registration, finishes: written.finish, cancels: written.cancel, left: this.#held.size });
    });
    return this.#flushing;
  }

  close(): void {
    this.#closed = true;
  }
}
