// Following a stream held by another replica, over the peers path (the admin ports, requests signed with
// STOPLINE_PEER_SECRET): the replica the client reached asks the owner for the stream from the client's offset and
// relays the answer as it comes, with TCP's backpressure all the way (a slow client fills its replica's socket,
// then the owner's, and only that follower on the owner waits). The owner's node id comes from Redis; its address
// is learned from the peers' answers (each names its node) and kept, so a resume after the first goes straight there.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request, type Dispatcher } from 'undici';
import type { StreamRef } from '../cancel/keys.ts';
import { isValidId } from '../cancel/keys.ts';
import { sign, verifyPeer, type PeerClient } from '../cancel/peers.ts';
import type { Config, HostPort } from '../config.ts';
import { sendJson } from '../http/respond.ts';
import type { Logger } from '../log.ts';

export const peerStreamsPath = '/stopline/v1/peer/streams/';

/** Where a follow starts and how it is framed; `ids`: add `id:` blocks for an EventSource client. */
export interface FollowAt { readonly offset: number; readonly ids: boolean }

/** The owner's side: serves one of its tapes to a peer (resume-api.ts decides what the answer is). */
export type ServeLocal = (req: IncomingMessage, res: ServerResponse, ref: StreamRef, at: FollowAt) => void;

export function peerFollowEndpoint(config: Config, serve: ServeLocal) {
  const secret = config.peerSecret;
  const seen = new Map<string, number>();
  return (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    if (!path.startsWith(peerStreamsPath)) return false;
    res.setHeader('x-stopline-node', config.nodeId);
    if (req.method !== 'GET') { res.setHeader('allow', 'GET'); sendJson(res, 405, { error: 'method_not_allowed', message: `Method ${req.method} is not allowed on ${path}` }); return true; }
    if (secret === undefined) { sendJson(res, 404, { error: 'not_found', message: 'The peer endpoint is off: no STOPLINE_PEER_SECRET' }); return true; }
    if (!verifyPeer(secret, seen, req, res, req.url ?? path, '')) return true;
    // Asked of every peer while the owner's address is not known yet: the others say who they are, at once.
    if (req.headers['x-stopline-owner'] !== config.nodeId) { sendJson(res, 421, { error: 'not_owner', message: `This replica is ${config.nodeId}` }); return true; }
    const [sessionId, messageId] = path.slice(peerStreamsPath.length).split('/');
    const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const offset = Number(q.get('offset') ?? '0');
    if (!isValidId(sessionId) || !isValidId(messageId) || !Number.isSafeInteger(offset) || offset < 0) {
      sendJson(res, 400, { error: 'bad_request', message: 'Invalid ids or offset' });
      return true;
    }
    serve(req, res, { sessionId, messageId }, { offset, ids: q.get('ids') === '1' });
    return true;
  };
}

export class PeerStreams {
  readonly #peers: PeerClient;
  readonly #secret: string;
  readonly #headersTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #log: Logger;
  /** Owner node id → its admin address, as the peers named themselves. */
  readonly #nodes = new Map<string, HostPort>();

  constructor(config: Config, peers: PeerClient, log: Logger) {
    this.#peers = peers;
    this.#secret = config.peerSecret ?? '';
    this.#headersTimeoutMs = config.cancelWaitMs;
    this.#idleTimeoutMs = config.upstreamIdleTimeoutMs;
    this.#log = log;
  }

  get enabled(): boolean { return this.#peers.enabled; }

  /**
   * The owner's answer for the stream from `at` (its head; the body streams), or null when no peer is that owner or
   * none answered in time. `signal` is the client's: aborting it ends the request to the owner.
   */
  async open(owner: string, ref: StreamRef, at: FollowAt, signal: AbortSignal): Promise<Dispatcher.ResponseData | null> {
    const known = this.#nodes.get(owner);
    if (known !== undefined) {
      const r = await this.#ask(known, owner, ref, at, signal).catch(() => null);
      if (r !== null && r.statusCode !== 421) return r;
      void r?.body.dump().catch(() => {});
      this.#nodes.delete(owner);
    }
    // Every peer at once; the owner's answer is taken as soon as it comes (a dead peer delays nothing).
    const addresses = await this.#peers.addresses().catch(() => []);
    const found = Promise.withResolvers<Dispatcher.ResponseData | null>();
    let taken = false;
    void Promise.all(addresses.map(async (a) => {
      const r = await this.#ask(a, owner, ref, at, signal).catch((err: unknown) => { this.#log.debug('peer follow failed', { err }); return null; });
      if (r === null) return;
      const node = r.headers['x-stopline-node'];
      if (typeof node === 'string') this.#nodes.set(node, a);
      if (r.statusCode === 421 || taken) { void r.body.dump().catch(() => {}); return; }
      taken = true;
      found.resolve(r);
    })).then(() => found.resolve(null));
    return found.promise;
  }

  #ask(a: HostPort, owner: string, ref: StreamRef, at: FollowAt, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const host = a.host.includes(':') ? `[${a.host}]` : a.host;
    const target = `${peerStreamsPath}${ref.sessionId}/${ref.messageId}?offset=${at.offset}${at.ids ? '&ids=1' : ''}`;
    return request(`http://${host}:${a.port}${target}`, {
      method: 'GET',
      headers: { 'x-stopline-owner': owner, 'x-stopline-signature': sign(this.#secret, Date.now(), 'GET', target, '') },
      signal,
      headersTimeout: this.#headersTimeoutMs,
      bodyTimeout: this.#idleTimeoutMs,
    });
  }
}
