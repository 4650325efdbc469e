// The live streams of this replica, by stream and by session. The cancel path looks here first: a cancel that
// reaches the owner itself never needs Redis.
import type { StreamRef } from '../cancel/keys.ts';

export interface LiveStream {
  readonly ref: StreamRef | null;
  readonly trace: string;
  readonly startedAt: number;
  stopVia: string;
  stop(reason: 'cancelled' | 'shutdown'): Promise<void>;
}

export const streamKey = (ref: StreamRef) => `${ref.sessionId}\n${ref.messageId}`;

export class Registry<S extends LiveStream = LiveStream> {
  readonly #byKey = new Map<string, S>();
  readonly #bySession = new Map<string, Set<S>>();

  get size(): number { return this.#byKey.size; }

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
    return true;
  }

  all(): IterableIterator<S> {
    return this.#byKey.values();
  }
}
