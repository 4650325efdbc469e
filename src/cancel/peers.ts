// The Redis-independent cancel path: when Redis cannot take a cancel, the replica that received it asks its peers
// directly, over their admin ports (STOPLINE_PEERS: a static list, or dns:NAME:PORT for a headless Service whose A
// records are the pods). Requests are signed with STOPLINE_PEER_SECRET: an HMAC-SHA256 over a timestamp, the
// method, the path and the body; a peer refuses a signature that is stale (outside the replay window) or seen
// before, and compares in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'undici';
import type { Config, HostPort, Peers } from '../config.ts';
import { readBody, parseJson } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { Logger } from '../log.ts';
import type { Coordinator, PeerCancel } from './coordinator.ts';
import { isValidId } from './keys.ts';

export const peerCancelPath = '/stopline/v1/peer/cancel';
const replayWindowMs = 30_000; // a signature is valid 30 s either side of the receiver's clock
const maxSeen = 100_000; // signatures remembered within the window, to refuse replays

export function sign(secret: string, timestampMs: number, method: string, path: string, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampMs}\n${method}\n${path}\n${body}`).digest('hex');
  return `t=${timestampMs},v1=${mac}`;
}

export class PeerClient implements PeerCancel {
  readonly #peers: Peers;
  readonly #secret: string;
  readonly #nodeId: string;
  readonly #timeoutMs: number;
  readonly #log: Logger;

  constructor(config: Config, log: Logger) {
    this.#peers = config.peers;
    this.#secret = config.peerSecret ?? '';
    this.#nodeId = config.nodeId;
    this.#timeoutMs = config.cancelWaitMs;
    this.#log = log;
  }

  get enabled(): boolean { return this.#peers.kind !== 'none' && this.#secret !== ''; }

  /** The peers' admin addresses (a DNS name is looked up each time, bounded by `cancelWaitMs`). */
  addresses(): Promise<HostPort[]> { return this.#addresses(AbortSignal.timeout(this.#timeoutMs)); }

  /** The peers' addresses; a DNS lookup is bounded by the caller's deadline (getaddrinfo has none of its own). */
  async #addresses(signal: AbortSignal): Promise<HostPort[]> {
    const p = this.#peers;
    if (p.kind === 'static') return [...p.addresses];
    if (p.kind === 'dns') {
      const { promise: aborted, reject } = Promise.withResolvers<never>();
      const onAbort = () => reject(new Error(`DNS lookup of ${p.name} took longer than ${this.#timeoutMs} ms`));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const records = await Promise.race([lookup(p.name, { all: true }), aborted]);
        return records.map((r) => ({ host: r.address, port: p.port }));
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    }
    return [];
  }

  /** Asks every peer at once to stop the stream(s); resolves with the first that did, or null. Bounded in time. */
  async cancel(sessionId: string, messageId: string | undefined): Promise<{ owner: string; messageIds: string[] } | null> {
    // One deadline for the whole fan-out, the DNS lookup included.
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let addresses: HostPort[];
    try {
      addresses = await this.#addresses(signal);
    } catch (err) {
      this.#log.warn('peer lookup failed; no peer asked', { err });
      return null;
    }
    if (addresses.length === 0) return null;
    const body = JSON.stringify({ session_id: sessionId, ...(messageId !== undefined ? { message_id: messageId } : {}), from: this.#nodeId });
    const answers = await Promise.allSettled(addresses.map(async (a) => {
      const host = a.host.includes(':') ? `[${a.host}]` : a.host;
      const res = await request(`http://${host}:${a.port}${peerCancelPath}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-stopline-signature': sign(this.#secret, Date.now(), 'POST', peerCancelPath, body) },
        body,
        signal,
      });
      const json = await res.body.json() as { node?: string; stopped?: string[] };
      if (res.statusCode !== 200) throw new Error(`peer ${host}:${a.port} answered ${res.statusCode}`);
      return { owner: String(json.node ?? ''), messageIds: Array.isArray(json.stopped) ? json.stopped.map(String) : [] };
    }));
    const stopped = { owner: '', messageIds: [] as string[] };
    for (const a of answers) {
      if (a.status === 'rejected') { this.#log.debug('peer cancel failed', { err: a.reason }); continue; }
      if (a.value.messageIds.length > 0) {
        stopped.owner ||= a.value.owner;
        stopped.messageIds.push(...a.value.messageIds);
      }
    }
    return stopped.messageIds.length > 0 ? stopped : null;
  }
}

/**
 * Checks a peer request's signature (fresh, valid, never seen before: `seen` remembers them within the window);
 * answers 401 and returns false when it fails.
 */
export function verifyPeer(secret: string, seen: Map<string, number>, req: IncomingMessage, res: ServerResponse, target: string, body: string): boolean {
  const header = req.headers['x-stopline-signature'];
  const m = typeof header === 'string' ? /^t=(\d{1,16}),v1=([0-9a-f]{64})$/.exec(header) : null;
  const now = Date.now();
  const t = m ? Number(m[1]) : NaN;
  const expected = m ? Buffer.from(sign(secret, t, req.method ?? '', target, body)) : null;
  const ok = m !== null && expected !== null && Math.abs(now - t) <= replayWindowMs &&
    expected.length === Buffer.byteLength(header as string) && timingSafeEqual(expected, Buffer.from(header as string));
  if (!ok) { sendJson(res, 401, { error: 'unauthorized', message: 'Missing, invalid or expired peer signature' }); return false; }
  if (seen.has(m![2]!)) { sendJson(res, 401, { error: 'unauthorized', message: 'Replayed peer signature' }); return false; }
  for (const [k, exp] of seen) { if (exp > now && seen.size < maxSeen) break; seen.delete(k); }
  seen.set(m![2]!, t + replayWindowMs);
  return true;
}

/** The peer endpoint on the admin port: verifies the signature, then stops local streams only. */
export function peerEndpoint(config: Config, coordinator: Coordinator) {
  const secret = config.peerSecret;
  const seen = new Map<string, number>();
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    if (path !== peerCancelPath) return false;
    if (req.method !== 'POST') { res.setHeader('allow', 'POST'); sendJson(res, 405, { error: 'method_not_allowed', message: `Method ${req.method} is not allowed on ${path}` }); return true; }
    if (secret === undefined) { sendJson(res, 404, { error: 'not_found', message: 'The peer endpoint is off: no STOPLINE_PEER_SECRET' }); return true; }
    const body = (await readBody(req, 16 * 1024)).toString('utf8');
    if (!verifyPeer(secret, seen, req, res, peerCancelPath, body)) return true;
    const json = parseJson(Buffer.from(body)) as { session_id?: unknown; message_id?: unknown } | undefined;
    const sid = json?.session_id;
    const mid = json?.message_id;
    if (!isValidId(sid) || (mid !== undefined && !isValidId(mid))) { sendJson(res, 400, { error: 'bad_request', message: 'Invalid ids' }); return true; }
    const stopped = await coordinator.stopLocal(sid, mid);
    sendJson(res, 200, { node: config.nodeId, stopped });
    return true;
  };
}
