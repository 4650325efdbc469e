// The cancel store: the six operations of the design stopline replaces (register / get / clear an active stream;
// set / check / clear a cancel flag), shaped so that each decision is one atomic step, plus the replica's own
// per-interval step (poll). Two implementations share this interface and one contract test suite:
// memory-store.ts (single node) and redis-store.ts.
//
// What a replica's poll costs does not depend on how many streams it holds: a cancel is handed to the owner's
// inbox by the canceller, so the poll reads only what was cancelled for this replica; liveness is one heartbeat
// per replica, not a TTL refresh per stream; a lost state (Redis restarted empty, evicted) shows as a missing
// marker, after which the replica registers its streams again, paced. A registration whose owner's heartbeat is
// gone is not live to any reader.
import type { StreamRef } from './keys.ts';

export type FinishOutcome = 'completed' | 'cancelled' | 'client_disconnected' | 'upstream_error' | 'shutdown';

export interface ActiveStream {
  readonly messageId: string;
  readonly owner: string;
  /** W3C traceparent of the stream's span, or '' */
  readonly trace: string;
}

/** What a finished stream left behind: its outcome, its owner, and how the stop reached the owner ('' if none). */
export interface DoneMarker {
  readonly outcome: string;
  readonly owner: string;
  readonly via: string;
}

export type CancelDecision =
  /** The stream is live on `owner`; the flag is set, the owner woken (push mode) and the cancel in its inbox. */
  | { readonly kind: 'live'; readonly stream: ActiveStream }
  /** The stream had already finished with this outcome. */
  | { readonly kind: 'done'; readonly outcome: string }
  /** No live stream (none yet, or its owner's heartbeat is gone): the flag is kept for the TTL and stops a stream
   *  that registers with these ids. */
  | { readonly kind: 'pending' };

/**
 * `registered`: live now; `cancel_waiting`: registered, but a cancel for these ids came first (stop it at once);
 * `already_stopped`: not registered, this message was cancelled before (a reconnect must not start it again);
 * `ended`: not registered, a registration written again found the stream's done marker (it finished).
 */
export type RegisterResult = 'registered' | 'cancel_waiting' | 'already_stopped' | 'ended';
export const registerResults: readonly RegisterResult[] = ['registered', 'cancel_waiting', 'already_stopped', 'ended'];

export interface Registration {
  readonly owner: string;
  readonly trace: string;
  /** When the stream started, in ms since the epoch (a session-wide cancel only stops streams started before it). */
  readonly startedAtMs: number;
  /**
   * Written again by the replica that registered it before (a refresh, or Redis lost it): never overrides a done
   * marker, so a registration that arrives late cannot bring back a stream that ended.
   */
  readonly again: boolean;
}

export interface PollResult {
  /** Redis no longer holds this replica's state (its marker is gone): register every live stream again. */
  readonly lost: boolean;
  /** Streams of this replica cancelled since the last poll (some may have ended here meanwhile). */
  readonly cancelled: readonly StreamRef[];
  /** To pass to the next poll: what this one has read. */
  readonly cursor: string;
}

/** The cursor of a replica that has read nothing yet. */
export const firstCursor = '0-0';

/** How long a replica's heartbeat outlives its last poll: three intervals, and never under 5 s (a busy event loop
 *  or a slow tick must not make live streams look orphaned). */
export const heartbeatTtlMs = (pollIntervalMs: number) => Math.max(3 * pollIntervalMs, 5_000);

export interface CancelStore {
  /** register_active_stream. */
  register(ref: StreamRef, r: Registration): Promise<RegisterResult>;
  /** get_active_stream: the live streams of a session (one, or none, when a message id is given). */
  get(sessionId: string, messageId?: string): Promise<ActiveStream[]>;
  /**
   * clear_active_stream + clear_cancel_flag: records the outcome in the done marker and confirms to waiters. A
   * `cancelled` marker stays: nothing that finishes later under these ids (a refused reconnect) overwrites it.
   * `via` says how the stop reached the owner (pubsub, poll, chunk, local, peer, pending, or '' when not stopped).
   */
  finish(ref: StreamRef, owner: string, outcome: FinishOutcome, via: string): Promise<void>;
  /** set_cancel_flag, decided atomically against the registration and the done marker, then handed to the owner. */
  cancel(ref: StreamRef, waiter: string): Promise<CancelDecision>;
  /**
   * set_cancel_flag for every live stream of a session that started by `beforeMs` (ms since the epoch; 0: all), handed to their
   * owners; resolves with those whose owner is live.
   */
  cancelSession(sessionId: string, waiter: string, beforeMs?: number): Promise<ActiveStream[]>;
  /** check_cancel_flag: one stream (the per-chunk design). */
  check(ref: StreamRef): Promise<boolean>;
  /**
   * The replica's step per interval, one round trip whatever the number of its streams: refreshes its heartbeat,
   * checks its state marker (`epoch`: this process's own value), reads its inbox past `cursor`.
   */
  poll(node: string, epoch: string, cursor: string): Promise<PollResult>;
  /** The done markers of some streams of one session (null: live or unknown), in order. */
  outcomes(sessionId: string, messageIds: readonly string[]): Promise<(DoneMarker | null)[]>;
}

/** "outcome\towner\tvia" (older markers hold the outcome alone). */
export function parseDone(value: string): DoneMarker {
  const [outcome = '', owner = '', via = ''] = value.split('\t');
  return { outcome, owner, via };
}
