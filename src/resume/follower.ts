// A follower: one client reading a stream's tape from its own position, then live, with its own backpressure. It
// writes while its socket takes more and, when it does not, waits for 'drain' reading nothing: the owner, its
// client and the other followers never wait for it. A follower that falls behind the window is cut (its client
// sees a truncated body, the truth), never handed a gap.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Framer } from '../relay/framing.ts';
import type { Tape, TapeReader } from './tape.ts';

/** How a follower ended: it read the `whole` stream, was `cut` (window passed, stream failed) or its client `left`. */
export type FollowEnd = 'whole' | 'cut' | 'left';

export interface FollowOptions {
  /** Adds an `id: <offset>` block after each piece that ends at an event boundary (EventSource clients only). */
  readonly ids: boolean;
  readonly headers: OutgoingHttpHeaders;
  ended(how: FollowEnd): void;
}

export class Follower implements TapeReader {
  readonly #tape: Tape;
  readonly #res: ServerResponse;
  readonly #o: FollowOptions;
  readonly #framer: Framer | null;
  #pos: number;
  #waiting = false;
  #done = false;

  constructor(tape: Tape, res: ServerResponse, offset: number, o: FollowOptions) {
    this.#tape = tape;
    this.#res = res;
    this.#pos = offset;
    this.#o = o;
    this.#framer = o.ids ? new Framer('sse') : null;
  }

  /** Writes the response head and what the tape holds from the offset, then follows it live. */
  start(): void {
    const res = this.#res;
    res.on('close', this.#onClose);
    res.on('drain', this.#onDrain);
    res.writeHead(this.#tape.status, { ...this.#tape.headers, ...this.#o.headers });
    res.flushHeaders();
    this.#tape.follow(this);
    this.more();
  }

  more(): void {
    if (this.#waiting || this.#done) return;
    const tape = this.#tape;
    const res = this.#res;
    for (;;) {
      if (this.#pos < tape.start) { this.#finish('cut'); res.destroy(); return; }
      const piece = tape.at(this.#pos);
      if (piece === null) {
        if (tape.state === 'ended') { this.#finish('whole'); res.end(); } else if (tape.state === 'failed') { this.#finish('cut'); res.destroy(); }
        return;
      }
      this.#pos += piece.length;
      let ok = res.write(piece);
      const f = this.#framer;
      if (f !== null && f.boundary(piece) === piece.length) ok = res.write(`id: ${this.#pos}\n\n`, 'latin1') && ok;
      if (!ok) { this.#waiting = true; return; }
    }
  }

  #onDrain = (): void => {
    this.#waiting = false;
    this.more();
  };

  #onClose = (): void => {
    this.#finish('left');
  };

  #finish(how: FollowEnd): void {
    if (this.#done) return;
    this.#done = true;
    this.#tape.unfollow(this);
    this.#res.off('drain', this.#onDrain);
    this.#o.ended(how);
  }
}
