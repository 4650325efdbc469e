// The shape every dialect shares: how it is told from a stream's first event, and the ending it writes for a stopped
// stream. Nothing here runs per chunk: the relay keeps references to bytes it already wrote (see ending.ts), and a
// dialect parses them once, when the stream is stopped.
import type { FramingKind } from '../framing.ts';
import type { WireEvent } from './wire.ts';

export const dialectNames = ['openai-chat', 'openai-responses', 'anthropic', 'ai-sdk', 'ollama', 'sse', 'ndjson', 'none'] as const;
export type DialectName = (typeof dialectNames)[number];
export type StopReason = 'cancelled' | 'shutdown';

/** stopline's own record of a stop, carried inside every dialect's final JSON event. */
export interface StopRecord {
  readonly reason: StopReason;
  readonly session_id: string;
  readonly message_id: string;
}

/** What the request says about the stream it asks for, read once before the upstream is called. */
export interface RequestShape {
  /** The dialect the path and body imply (`"stream": true` on /v1/chat/completions, ...), null when nothing does. */
  readonly dialect: DialectName | null;
  readonly model: string | undefined;
  /** Choices asked for (OpenAI's `n`), at least 1. */
  readonly choices: number;
  /** Ollama's /api/generate (a `response` field) rather than /api/chat (a `message`). */
  readonly generate: boolean;
}

/** The events a stopped stream had written: its first ones, and its last write's or all of them where kept. */
export interface Seen {
  readonly first: readonly WireEvent[];
  readonly last: readonly WireEvent[];
  /** Every event, for a dialect that keeps them all; otherwise empty. */
  readonly all: readonly WireEvent[];
}

export interface Dialect {
  readonly name: DialectName;
  readonly framing: FramingKind;
  /** The content type of a stream that is stopped before the upstream answered. */
  readonly contentType: string;
  /** Headers such a stream also needs for its clients to accept it. */
  readonly earlyHeaders?: Readonly<Record<string, string>>;
  /**
   * What the ending needs beyond the first event (always kept, parsed): `last`, the last piece written (a reference);
   * `all`, every piece (references; its final event is a whole snapshot); `none`. Every kept reference outlives a
   * young-generation GC, so only the dialects that need one keep it.
   */
  readonly keeps: 'none' | 'last' | 'all';
  /** Whether a stream whose first event (with data) is `first` speaks this dialect. */
  claims(first: WireEvent): boolean;
  /** The bytes a stopped stream ends with. `seen` is empty for a stop before the first event. */
  ending(seen: Seen, request: RequestShape, record: StopRecord): string;
}
