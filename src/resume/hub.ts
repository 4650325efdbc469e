// The replica's resumable streams: the tape of each stream this replica owns, while it lives and for
// STOPLINE_RESUME_KEEP_MS after it ends (a client that comes back just after the end still gets the rest), and
// the detach rule: on a resume route a client that goes away does not abort the generation; it runs on, and is
// aborted only once it has had no follower for STOPLINE_RESUME_DETACH_MS.
import type { OutgoingHttpHeaders } from 'node:http';
import type { StreamRef } from '../cancel/keys.ts';
import type { StreamOutcome } from '../observability/metrics.ts';
import { streamKey } from '../streams/registry.ts';
import { Budget } from './budget.ts';
import type { DetachedEnd, ResumeMetrics } from './metrics.ts';
import type { ResumeSettings } from './settings.ts';
import { Tape } from './tape.ts';

export class Hub {
  readonly #s: ResumeSettings;
  readonly budget: Budget;
  #m: ResumeMetrics | null = null;
  /** By stream; a Map keeps insertion order, so a session's newest tape is its last. */
  readonly #tapes = new Map<string, Tape>();
  readonly #bySession = new Map<string, Set<Tape>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(settings: ResumeSettings) {
    this.#s = settings;
    this.budget = new Budget(settings.replicaBytes);
  }

  set metrics(m: ResumeMetrics) { this.#m = m; }

  /** A resumable stream's response started: its tape, from offset 0 (a kept tape with the same ids is replaced). */
  open(ref: StreamRef, status: number, headers: OutgoingHttpHeaders, trace: string): Tape {
    const t = new Tape(ref, status, headers, trace, this.budget, this.#s.streamBytes);
    const old = this.#tapes.get(streamKey(ref));
    if (old !== undefined) this.#forget(old);
    this.#tapes.set(streamKey(ref), t);
    let set = this.#bySession.get(ref.sessionId);
    if (set === undefined) this.#bySession.set(ref.sessionId, (set = new Set()));
    set.add(t);
    return t;
  }

  get(ref: StreamRef): Tape | undefined {
    return this.#tapes.get(streamKey(ref));
  }

  /** The session's newest stream that is still live here, if any. */
  live(sessionId: string): Tape | undefined {
    let newest: Tape | undefined;
    for (const t of this.#bySession.get(sessionId) ?? []) if (t.state === 'live') newest = t;
    return newest;
  }

  /**
   * The owner's client went away from a live stream. With a detach window, the tape is marked detached (the
   * exchange stops writing to the gone client) and `abort` runs once the stream has had no follower for the
   * window; returns false when there is no window (abort at once, as on other routes).
   */
  detach(t: Tape, abort: () => void): boolean {
    if (this.#s.detachMs === 0 || this.#closed || t.state !== 'live') return false;
    t.detached = true;
    this.#m?.detachedActive.inc();
    const check = (): void => {
      if (t.state !== 'live' || this.#closed) return;
      if (t.readers > 0) { this.#later(check, this.#s.detachMs); return; }
      t.abandoned = true;
      abort();
    };
    this.#later(check, this.#s.detachMs);
    return true;
  }

  /** The stream's outcome is decided: its tape is kept for late resumes, then released. */
  ended(t: Tape, outcome: StreamOutcome): void {
    if (t.detached) {
      this.#m?.detachedActive.dec();
      const end: DetachedEnd = t.abandoned ? 'aborted' : outcome === 'client_disconnected' ? 'aborted' : outcome;
      this.#m?.detached.inc({ end });
    }
    if (t.state === 'live') { if (outcome === 'upstream_error' || outcome === 'client_disconnected') t.fail(); else t.end(); }
    if (this.#s.keepMs === 0) this.#forget(t);
    else this.#later(() => this.#forget(t), this.#s.keepMs);
  }

  #forget(t: Tape): void {
    const k = streamKey(t.ref);
    if (this.#tapes.get(k) === t) this.#tapes.delete(k);
    const set = this.#bySession.get(t.ref.sessionId);
    set?.delete(t);
    if (set?.size === 0) this.#bySession.delete(t.ref.sessionId);
    t.release();
  }

  #later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => { this.#timers.delete(timer); fn(); }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  /** Shutdown: every timer stops, every tape is released (followers still reading are cut). */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const t of [...this.#tapes.values()]) this.#forget(t);
  }
}
