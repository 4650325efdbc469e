// The live streams of this replica, by stream and by session. The cancel path looks here first: a cancel that
// reaches the owner itself never needs Redis. A stream leaves at the moment its outcome is decided (it completed, was
// stopped, failed or lost its client), not when the client's socket closes: what is here is live.
import type { StreamRef } from '../cancel/keys.ts';

/** What a stop did: `stopped` the stream, or found it `already_completed` (ended some other way first). */
export type StopResult = 'stopped' | 'already_completed';

export interface LiveStream {
  readonly ref: StreamRef | null;
  readonly trace: string;
  readonly startedAt: number;
  stopVia: string;
  /** Resolves with what it did, once the stream's response is closed (at once when it had already ended). */
  stop(reason: 'cancelled' | 'shutdown'): Promise<StopResult>;
}

export const streamKey = (ref: StreamRef) => `${ref.sessionId}\n${ref.messageId}`;

export class Registry<S extends LiveStream = LiveStream> {
  readonly #byKey = new Map<string, S>();
  readonly #bySession = new Map<string, Set<S>>();
  /** One waiter for "empty", however many streams: the drain waits on it, never on each stream. */
  #empty: PromiseWithResolvers<void> | null = null;

  get size(): number { return this.#byKey.size; }

  /** Resolves once no stream is live (at once when none is). */
  idle(): Promise<void> {
    if (this.#byKey.size === 0) return Promise.resolve();
    return (this.#empty ??= Promise.withResolvers<void>()).promise;
  }

  get(ref: StreamRef): S | undefined {
    return this.#byKey.get(streamKey(ref));
  }

  session(sessionId: string): readonly S[] {
    const set = this.#bySession.get(sessionId);
    return set === undefined ? [] : [...set];
  }

  /** Adds a stream; a stream already live with the same ids is returned instead (the caller refuses the new one). */
  add(s: S & { ref: StreamRef }): S | undefined {
    const k = streamKey(s.ref);
    const existing = this.#byKey.get(k);
    if (existing !== undefined) return existing;
    this.#byKey.set(k, s);
    let set = this.#bySession.get(s.ref.sessionId);
    if (set === undefined) this.#bySession.set(s.ref.sessionId, (set = new Set()));
    set.add(s);
    return undefined;
  }

  remove(s: S & { ref: StreamRef }): boolean {
    const k = streamKey(s.ref);
    if (this.#byKey.get(k) !== s) return false;
    this.#byKey.delete(k);
    const set = this.#bySession.get(s.ref.sessionId);
    set?.delete(s);
    if (set?.size === 0) this.#bySession.delete(s.ref.sessionId);
    if (this.#byKey.size === 0 && this.#empty !== null) { this.#empty.resolve(); this.#empty = null; }
    return true;
  }

  all(): IterableIterator<S> {
    return this.#byKey.values();
  }
}
