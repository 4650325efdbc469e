// The cancel store: the six operations of the design stopline replaces (register / get / clear an active stream;
// set / check / clear a cancel flag), shaped so that each decision is one atomic step. Two implementations share
// this interface and one contract test suite: memory-store.ts (single node) and redis-store.ts.
import type { StreamRef } from './keys.ts';

export type FinishOutcome = 'completed' | 'cancelled' | 'client_disconnected' | 'upstream_error' | 'shutdown';

export interface ActiveStream {
  readonly messageId: string;
  readonly owner: string;
  /** W3C traceparent of the stream's span, or '' */
  readonly trace: string;
}

export type CancelDecision =
  /** The stream is live on `owner`; the flag is set and the owner has been woken (Redis: Pub/Sub). */
  | { readonly kind: 'live'; readonly stream: ActiveStream }
  /** The stream had already finished with this outcome. */
  | { readonly kind: 'done'; readonly outcome: string }
  /** No such stream yet: the flag is kept for the TTL and stops a stream that registers with these ids. */
  | { readonly kind: 'pending' };

/**
 * `registered`: live now; `cancel_waiting`: registered, but a cancel for these ids came first (stop it at once);
 * `already_stopped`: not registered, this message was cancelled before (a reconnect must not start it again).
 */
export type RegisterResult = 'registered' | 'cancel_waiting' | 'already_stopped';
export const registerResults: readonly RegisterResult[] = ['registered', 'cancel_waiting', 'already_stopped'];

export interface CancelStore {
  /** register_active_stream. */
  register(ref: StreamRef, owner: string, trace: string): Promise<RegisterResult>;
  /** get_active_stream: the live streams of a session (one, or none, when a message id is given). */
  get(sessionId: string, messageId?: string): Promise<ActiveStream[]>;
  /**
   * clear_active_stream + clear_cancel_flag: records the outcome in the done marker and confirms to waiters.
   * `via` says how the stop reached the owner (pubsub, poll, chunk, local, peer, pending, or '' when not stopped).
   */
  finish(ref: StreamRef, owner: string, outcome: FinishOutcome, via: string): Promise<void>;
  /** set_cancel_flag, decided atomically against the registration and the done marker. */
  cancel(ref: StreamRef, waiter: string): Promise<CancelDecision>;
  /** set_cancel_flag for every live stream of a session. */
  cancelSession(sessionId: string, waiter: string): Promise<ActiveStream[]>;
  /** check_cancel_flag: one stream (the per-chunk design). */
  check(ref: StreamRef): Promise<boolean>;
  /**
   * The batched safety poll: says which of the given live streams are cancelled; with `refresh`, also refreshes
   * their TTLs and says which registrations were lost.
   */
  poll(refs: readonly StreamRef[], refresh: boolean): Promise<{ cancelled: number[]; missing: number[] }>;
  /** Is the store there? (One PING for Redis.) */
  ping(): Promise<void>;
  /** The done marker's outcome, or null while the stream is live or unknown. */
  outcome(ref: StreamRef): Promise<string | null>;
}
