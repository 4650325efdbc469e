// Resume, as clients ask for it on the data port:
//  - GET /stopline/v1/streams/{session_id}/{message_id}, from `Last-Event-ID` or `?offset=` (bytes of the stream
//    body the client already has; 0 when neither is given);
//  - the configured active-stream route (the AI SDK's `GET /api/chat/:id/stream`): the session's live stream from
//    its start, or 204 when there is none;
//  - an EventSource reconnect on a resume route (relay.ts hands it here).
// This replica holds the stream: served from its tape. Another does: Redis names the owner (one lookup; a
// finished stream's done marker names it too) and the peers path brings the stream from there. When the owner
// cannot be found or reached, 503 with Retry-After: never a partial stream passed off as whole.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { isValidId, type StreamRef } from '../cancel/keys.ts';
import type { CancelStore } from '../cancel/store.ts';
import type { Config } from '../config.ts';
import { RedisUnavailableError, StoplineError } from '../errors.ts';
import { clientResponseHeaders } from '../http/headers.ts';
import { sendJson } from '../http/respond.ts';
import type { Logger } from '../log.ts';
import { framingOf } from '../relay/framing.ts';
import type { Tracing } from '../tracing/spans.ts';
import { Follower, type FollowEnd } from './follower.ts';
import type { Hub } from './hub.ts';
import type { ResumeMetrics, ResumeOutcome, ResumePath } from './metrics.ts';
import type { FollowAt, PeerStreams } from './peer-follow.ts';

export const streamsPath = '/stopline/v1/streams/';

export class Resumer {
  readonly #c: Config;
  readonly #hub: Hub;
  readonly #store: CancelStore;
  readonly #peers: PeerStreams | null;
  readonly #m: ResumeMetrics;
  readonly #log: Logger;
  tracing: Tracing | null = null;

  constructor(config: Config, hub: Hub, store: CancelStore, peers: PeerStreams | null, metrics: ResumeMetrics, log: Logger) {
    this.#c = config;
    this.#hub = hub;
    this.#store = store;
    this.#peers = peers;
    this.#m = metrics;
    this.#log = log;
  }

  /** GET /stopline/v1/streams/{session_id}/{message_id}. */
  async streams(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      throw new StoplineError('method_not_allowed', `Method ${req.method} is not allowed on ${path}; use GET`);
    }
    const [sessionId, messageId, rest] = path.slice(streamsPath.length).split('/');
    if (!isValidId(sessionId) || !isValidId(messageId) || rest !== undefined) {
      this.#count('bad_request', 'local');
      throw new StoplineError('bad_request', 'Expected /stopline/v1/streams/{session_id}/{message_id} with ids of 1-128 characters of A-Za-z0-9._:-');
    }
    await this.follow(req, res, { sessionId, messageId }, position(req, query));
  }

  /** The active-stream route: the session's live stream from its start, or 204. */
  async active(req: IncomingMessage, res: ServerResponse, sessionId: string): Promise<void> {
    if (!isValidId(sessionId)) { res.writeHead(204).end(); return; }
    const local = this.#hub.live(sessionId);
    if (local !== undefined) { this.#serve(req, res, local.ref, { offset: 0, ids: eventSource(req) }, 'local'); return; }
    const s = (await this.#lookup(() => this.#store.get(sessionId))).at(-1);
    if (s === undefined || s.owner === this.#c.nodeId) { res.writeHead(204).end(); return; }
    await this.#remote(req, res, s.owner, { sessionId, messageId: s.messageId }, { offset: 0, ids: eventSource(req) });
  }

  /** The stream from `offset`, from wherever it is held. */
  async follow(req: IncomingMessage, res: ServerResponse, ref: StreamRef, offset: number): Promise<void> {
    const at = { offset, ids: eventSource(req) };
    if (this.#hub.get(ref) !== undefined) { this.#serve(req, res, ref, at, 'local'); return; }
    const owner = await this.#lookup(() => this.#owner(ref));
    if (owner === null || owner === this.#c.nodeId) {
      this.#count('not_found', 'local');
      throw new StoplineError('not_found', `No resumable stream with session "${ref.sessionId}" and message "${ref.messageId}"`);
    }
    await this.#remote(req, res, owner, ref, at);
  }

  /** A lookup in Redis; Redis unusable: 503 with Retry-After (the owner cannot be found). */
  async #lookup<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      this.#count('unavailable', 'peer');
      throw new StoplineError('owner_unavailable', 'Redis cannot be reached to find the replica holding this stream; retry', { cause: err });
    }
  }

  /** One Redis round trip for a live stream (its registration names the owner), one more for a finished one. */
  async #owner(ref: StreamRef): Promise<string | null> {
    const [live] = await this.#store.get(ref.sessionId, ref.messageId);
    if (live !== undefined) return live.owner;
    const [done] = await this.#store.outcomes(ref.sessionId, [ref.messageId]);
    return done?.owner || null;
  }

  /** Serves one of this replica's tapes (to its own client, or to a peer asking for its client). */
  serve = (req: IncomingMessage, res: ServerResponse, ref: StreamRef, at: FollowAt): void => this.#serve(req, res, ref, at, null);

  #serve(_req: IncomingMessage, res: ServerResponse, ref: StreamRef, at: FollowAt, path: ResumePath | null): void {
    const tape = this.#hub.get(ref);
    const count = (o: ResumeOutcome) => { if (path !== null) this.#count(o, path); };
    if (tape === undefined) {
      count('not_found');
      sendJson(res, 404, { error: 'not_found', message: `No resumable stream with session "${ref.sessionId}" and message "${ref.messageId}" on this replica` });
      return;
    }
    if (at.offset > tape.length) {
      count('bad_request');
      sendJson(res, 400, { error: 'bad_request', message: `Offset ${at.offset} is past the stream's ${tape.length} bytes` });
      return;
    }
    if (at.offset < tape.start) {
      count('window_passed');
      sendJson(res, 410, { error: 'resume_window_passed', message: `The stream's output before byte ${tape.start} is no longer held (STOPLINE_RESUME_STREAM_BYTES, STOPLINE_RESUME_REPLICA_BYTES)`, start: tape.start });
      return;
    }
    const span = this.tracing?.resume(ref.sessionId, ref.messageId);
    span?.link(tape.trace);
    const ids = at.ids && framingOf(String(tape.headers['content-type'] ?? '')) === 'sse';
    if (path !== null) this.#m.followers.inc({ path });
    new Follower(tape, res, at.offset, {
      ids,
      headers: { 'x-stopline-offset': String(at.offset), 'x-stopline-owner': this.#c.nodeId },
      ended: (how) => {
        span?.end(how);
        if (path === null) return;
        this.#m.followers.dec({ path });
        this.#count(how, path);
      },
    }).start();
  }

  /** Relays the owner's answer for the stream; the owner's own answer (404, 410) passes through as it is. */
  async #remote(_req: IncomingMessage, res: ServerResponse, owner: string, ref: StreamRef, at: FollowAt): Promise<void> {
    if (this.#peers === null || !this.#peers.enabled) {
      this.#count('unavailable', 'peer');
      throw new StoplineError('owner_unavailable', `The stream is held by replica "${owner}" and no peers path is configured (STOPLINE_PEERS) to reach it`);
    }
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose);
    const r = await this.#peers.open(owner, ref, at, gone.signal);
    if (r === null) {
      res.off('close', onClose);
      this.#count('unavailable', 'peer');
      throw new StoplineError('owner_unavailable', `Replica "${owner}" holding the stream cannot be reached; retry`);
    }
    if (r.statusCode !== 200) {
      const o: ResumeOutcome = r.statusCode === 410 ? 'window_passed' : r.statusCode === 404 ? 'not_found' : 'unavailable';
      this.#count(o, 'peer');
    } else {
      this.#m.followers.inc({ path: 'peer' });
    }
    const headers = clientResponseHeaders(r.headers);
    delete headers['x-stopline-node'];
    res.writeHead(r.statusCode, headers);
    if (r.statusCode === 200) res.flushHeaders();
    let how: FollowEnd = 'whole';
    try {
      await pipeline(r.body, res);
    } catch (err) {
      how = gone.signal.aborted ? 'left' : 'cut';
      this.#log.debug('resume through a peer ended early', { err, owner, how });
    } finally {
      res.off('close', onClose);
    }
    if (r.statusCode === 200) {
      this.#m.followers.dec({ path: 'peer' });
      this.#count(how, 'peer');
    }
  }

  #count(outcome: ResumeOutcome, path: ResumePath): void {
    this.#m.resumes.inc({ outcome, path });
  }
}

/** Where a resume starts: `Last-Event-ID` (the offsets stopline gives as ids), else `?offset=`, else 0. */
export function position(req: IncomingMessage, query: string): number {
  const last = req.headers['last-event-id'];
  const raw = typeof last === 'string' && last !== '' ? last : new URLSearchParams(query).get('offset') ?? '0';
  const n = Number(raw);
  if (!/^\d{1,15}$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new StoplineError('bad_request', `Resume position "${raw.slice(0, 64)}" is not a byte offset (Last-Event-ID or ?offset= as stopline gives them)`);
  }
  return n;
}

/** A browser EventSource (or a client like it): only it needs `id:` blocks to resume by itself. */
export function eventSource(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.headers.accept ?? '').includes('text/event-stream');
}

