// How a canceller learns that the owner really stopped a stream elsewhere: one strategy per mode, the same answer.
//  - push: the owner's `finish` script publishes a confirmation on the canceller's node channel (Pub/Sub);
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

interface Waiter {
  readonly results: Map<string, Confirmation>;
  pending: Set<string> | null; // null until the canceller knows what it waits for
  wake: () => void;
}

export class PubSubConfirmations implements Confirmations {
  readonly #waitMs: number;
  readonly #waiters = new Map<string, Waiter>();

  constructor(waitMs: number) { this.#waitMs = waitMs; }

  open(cancelId: string): Wait {
    const w: Waiter = { results: new Map(), pending: null, wake: () => {} };
    this.#waiters.set(cancelId, w);
    return {
      for: async (_sessionId, messageIds) => {
        w.pending = new Set(messageIds.filter((m) => !w.results.has(m)));
        if (w.pending.size > 0) {
          const { promise, resolve } = Promise.withResolvers<void>();
          w.wake = resolve;
          const timer = setTimeout(resolve, this.#waitMs);
          await promise;
          clearTimeout(timer);
        }
        return w.results;
      },
      end: () => { this.#waiters.delete(cancelId); w.wake(); },
    };
  }

  onConfirm(cancelId: string, messageId: string, c: Confirmation): void {
    const w = this.#waiters.get(cancelId);
    if (w === undefined) return;
    // Kept even when not (yet) expected: see the header.
    w.results.set(messageId, c);
    if (w.pending !== null && w.pending.delete(messageId) && w.pending.size === 0) w.wake();
  }

  close(): void {
    for (const w of this.#waiters.values()) w.wake();
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
        let pending = [...messageIds];
        const deadline = performance.now() + this.#waitMs;
        for (let delay = 10; pending.length > 0 && !this.#closed; delay = Math.min(delay * 2, 200)) {
          const left = deadline - performance.now();
          if (left <= 0) break;
          await sleep(Math.min(delay, left));
          try {
            const markers = await this.#store.outcomes(sessionId, pending);
            markers.forEach((m, i) => { if (m !== null) results.set(pending[i]!, m); });
            pending = pending.filter((m) => !results.has(m));
          } catch { /* a Redis hiccup: keep reading until the deadline */ }
        }
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
