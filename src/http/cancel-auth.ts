// Who may cancel (STOPLINE_CANCEL_AUTH):
//  - none: anyone who reaches the cancel routes (only when they are reachable from trusted callers alone);
//  - token: each tracked stream's response carries x-stopline-cancel-token (scoped to its session and message) and
//    x-stopline-session-cancel-token (scoped to its session), HMAC-SHA256 with STOPLINE_CANCEL_SECRET over the ids
//    and an expiry; a cancel must present a valid token for exactly its ids (header x-stopline-cancel-token, or
//    "cancel_token" in the JSON body). Two secrets (comma-separated) allow rotation: tokens are made with the first
//    and accepted with either. Comparisons are constant-time.
//  - forward: the cancel request's Authorization and Cookie are sent to the AI service's authorization path
//    (STOPLINE_CANCEL_AUTH_PATH); a 2xx allows the cancel.
// And how often: a token bucket per client address (STOPLINE_CANCEL_RATE_PER_S), 429 beyond it.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Pool } from 'undici';
import type { Config } from '../config.ts';

export type AuthResult = 'allowed' | 'forbidden' | 'unavailable';

const enc = (b: Buffer) => b.toString('base64url');

function mac(secret: string, scope: 'm' | 's', sessionId: string, messageId: string, exp: number): Buffer {
  return createHmac('sha256', secret).update(`${scope}\n${sessionId}\n${messageId}\n${exp}`).digest();
}

export class CancelAuth {
  readonly #c: Config;
  readonly #upstream: Pool;
  constructor(config: Config, upstream: Pool) {
    this.#c = config;
    this.#upstream = upstream;
  }

  get mode(): Config['cancelAuth'] { return this.#c.cancelAuth; }

  /** The token headers a tracked stream's response carries (token mode only). */
  streamHeaders(sessionId: string, messageId: string): Record<string, string> {
    if (this.#c.cancelAuth !== 'token') return {};
    const exp = Math.floor(Date.now() / 1000) + this.#c.cancelTokenTtlS;
    const key = this.#c.cancelSecrets[0]!;
    return {
      'x-stopline-cancel-token': `${exp}.${enc(mac(key, 'm', sessionId, messageId, exp))}`,
      'x-stopline-session-cancel-token': `${exp}.${enc(mac(key, 's', sessionId, '', exp))}`,
    };
  }

  /** Checks a token for exactly these ids: a message cancel needs a message token, a session cancel a session one. */
  verifyToken(token: unknown, sessionId: string, messageId: string | undefined): boolean {
    if (typeof token !== 'string') return false;
    const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (m === null) return false;
    const exp = Number(m[1]);
    if (exp < Date.now() / 1000) return false;
    const given = Buffer.from(m[2]!, 'base64url');
    let ok = false;
    for (const key of this.#c.cancelSecrets) {
      const want = messageId !== undefined ? mac(key, 'm', sessionId, messageId, exp) : mac(key, 's', sessionId, '', exp);
      // Every key is tried (no early exit), each comparison constant-time.
      ok = (given.length === want.length && timingSafeEqual(given, want)) || ok;
    }
    return ok;
  }

  async check(req: IncomingMessage, bodyToken: unknown, sessionId: string, messageId: string | undefined): Promise<AuthResult> {
    switch (this.#c.cancelAuth) {
      case 'none':
        return 'allowed';
      case 'token': {
        const header = req.headers['x-stopline-cancel-token'];
        return this.verifyToken(typeof header === 'string' ? header : bodyToken, sessionId, messageId) ? 'allowed' : 'forbidden';
      }
      case 'forward': {
        const headers: Record<string, string> = { 'content-type': 'application/json', 'x-session-id': sessionId };
        if (messageId !== undefined) headers['x-message-id'] = messageId;
        if (typeof req.headers.authorization === 'string') headers.authorization = req.headers.authorization;
        if (typeof req.headers.cookie === 'string') headers.cookie = req.headers.cookie;
        try {
          const r = await this.#upstream.request({
            path: this.#c.cancelAuthPath!,
            method: 'POST',
            headers,
            body: JSON.stringify({ session_id: sessionId, ...(messageId !== undefined ? { message_id: messageId } : {}) }),
            headersTimeout: this.#c.cancelWaitMs,
            bodyTimeout: this.#c.cancelWaitMs,
          });
          await r.body.dump();
          return r.statusCode >= 200 && r.statusCode < 300 ? 'allowed' : 'forbidden';
        } catch {
          return 'unavailable';
        }
      }
    }
  }
}

/** A token bucket per client address: `ratePerS` tokens a second, bursts up to that many. Bounded in memory. */
export class RateLimiter {
  readonly #rate: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #max: number;
  constructor(ratePerS: number, maxClients = 100_000) {
    this.#rate = ratePerS;
    this.#max = maxClients;
  }

  /** true when the client may go on; false: answer 429. */
  take(client: string, now = performance.now()): boolean {
    if (this.#rate <= 0) return true;
    let b = this.#buckets.get(client);
    if (b === undefined) {
      if (this.#buckets.size >= this.#max) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { tokens: this.#rate, at: now };
      this.#buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.#rate, b.tokens + ((now - b.at) / 1000) * this.#rate);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
