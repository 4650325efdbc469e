// How a canceller learns that the owner really stopped a stream elsewhere: one strategy per mode, the same answer.
//  - push: the owner's `finish` script publishes a confirmation on the canceller's node channel (Pub/Sub). If none
//    has come after one poll interval (this replica's subscriber may be reconnecting), the done markers are read too;
//  - poll and per-chunk: no Pub/Sub, so the canceller reads the streams' done markers, which `finish` writes with
//    the outcome, the owner and how the stop reached it (10 ms, 20 ms, ... capped at 200 ms apart).
// Both wait at most STOPLINE_CANCEL_WAIT_MS. A wait is opened before the cancel step runs: under load an owner's
// confirmation, on the other connection, can be read before the canceller reads its own step's reply.
import type { CancelStore } from './store.ts';

/** One confirmation: what the stream's finish step recorded. */
export interface Confirmation { readonly outcome: string; readonly owner: string; readonly via: string }

export interface Wait {
  /** Resolves with the confirmations of these streams of the session that came within the bound (maybe not all). */
  for(sessionId: string, messageIds: readonly string[]): Promise<ReadonlyMap<string, Confirmation>>;
  end(): void;
}

export interface Confirmations {
  open(cancelId: string): Wait;
  /** A confirmation heard on Pub/Sub (push mode; ignored by the other strategy). */
  onConfirm(cancelId: string, messageId: string, c: Confirmation): void;
  close(): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Reads the done markers of `messageIds` until each has one, `deadline` (performance.now()) passes or `stop()`
 * says so; each marker found goes to `found`.
 */
async function readMarkers(store: CancelStore, sessionId: string, messageIds: readonly string[], deadline: number, stop: () => boolean, found: (id: string, c: Confirmation) => void): Promise<void> {
  let pending = [...messageIds];
  for (let delay = 10; pending.length > 0 && !stop(); delay = Math.min(delay * 2, 200)) {
    const left = deadline - performance.now();
    if (left <= 0) return;
    await sleep(Math.min(delay, left));
    if (stop()) return;
    try {
      const markers = await store.outcomes(sessionId, pending);
      const next: string[] = [];
      markers.forEach((m, i) => { if (m !== null) found(pending[i]!, m); else next.push(pending[i]!); });
      pending = next;
    } catch { /* a Redis hiccup: keep reading until the deadline */ }
  }
}

interface Waiter {
  readonly results: Map<string, Confirmation>;
  pending: Set<string> | null; // null until the canceller knows what it waits for
  done: boolean;
  wake: () => void;
}

export class PubSubConfirmations implements Confirmations {
  readonly #store: CancelStore;
  readonly #waitMs: number;
  readonly #markersAfterMs: number;
  readonly #waiters = new Map<string, Waiter>();

  constructor(store: CancelStore, waitMs: number, markersAfterMs: number) {
    this.#store = store;
    this.#waitMs = waitMs;
    this.#markersAfterMs = markersAfterMs;
  }

  open(cancelId: string): Wait {
    const w: Waiter = { results: new Map(), pending: null, done: false, wake: () => {} };
    this.#waiters.set(cancelId, w);
    return {
      for: async (sessionId, messageIds) => {
        w.pending = new Set(messageIds.filter((m) => !w.results.has(m)));
        if (w.pending.size === 0) return w.results;
        const deadline = performance.now() + this.#waitMs;
        const { promise, resolve } = Promise.withResolvers<void>();
        w.wake = resolve;
        const timer = setTimeout(resolve, this.#waitMs);
        const late = setTimeout(() => {
          void readMarkers(this.#store, sessionId, [...w.pending!], deadline, () => w.done, (id, c) => this.#confirmed(w, id, c));
        }, Math.min(this.#markersAfterMs, this.#waitMs));
        await promise;
        w.done = true;
        clearTimeout(timer);
        clearTimeout(late);
        return w.results;
      },
      end: () => { this.#waiters.delete(cancelId); w.done = true; w.wake(); },
    };
  }

  onConfirm(cancelId: string, messageId: string, c: Confirmation): void {
    const w = this.#waiters.get(cancelId);
    // Kept even when not (yet) expected: see the header.
    if (w !== undefined) this.#confirmed(w, messageId, c);
  }

  #confirmed(w: Waiter, messageId: string, c: Confirmation): void {
    if (w.done) return;
    w.results.set(messageId, c);
    if (w.pending !== null && w.pending.delete(messageId) && w.pending.size === 0) w.wake();
  }

  close(): void {
    for (const w of this.#waiters.values()) { w.done = true; w.wake(); }
    this.#waiters.clear();
  }
}

export class DoneMarkerConfirmations implements Confirmations {
  readonly #store: CancelStore;
  readonly #waitMs: number;
  #closed = false;

  constructor(store: CancelStore, waitMs: number) {
    this.#store = store;
    this.#waitMs = waitMs;
  }

  open(_cancelId: string): Wait {
    return {
      for: async (sessionId, messageIds) => {
        const results = new Map<string, Confirmation>();
        await readMarkers(this.#store, sessionId, messageIds, performance.now() + this.#waitMs, () => this.#closed, (id, c) => results.set(id, c));
        return results;
      },
      end: () => {},
    };
  }

  onConfirm(): void {}

  close(): void {
    this.#closed = true;
  }
}
