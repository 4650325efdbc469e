// Free ports and small waits that are bounded and event-driven.
import { createServer } from 'node:net';
import { once } from 'node:events';

/** A port that was free a moment ago. Only for a peer that cannot bind port 0 and report what it got (redis-server:
 * its port 0 turns TCP off): start it with `onFreePort`, which tries another port when this one was taken meanwhile. */
export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

/** Calls `probe` until it returns true, at most `tries` times `everyMs` apart; throws with `what` if it never does. */
export async function until(what: string, probe: () => boolean | Promise<boolean>, tries = 200, everyMs = 25): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/** Starts a server that must be told its port: on a free one, and again on another should the port have been taken
 * between the pick and the bind (`taken(err)` says whether the start failed that way). */
export async function onFreePort<T>(start: (port: number) => Promise<T>, taken: (err: unknown) => boolean, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (i === tries || !taken(err)) throw err;
    }
  }
}

/** redis-server's message when its port is in use. */
export const redisPortTaken = (err: unknown): boolean => /Address already in use/.test(String(err));
