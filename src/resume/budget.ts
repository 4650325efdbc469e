// The replica's bound on resumable output held in memory (STOPLINE_RESUME_REPLICA_BYTES), over all its streams.
// A stream that appends past it trims its own oldest output first (tape.ts): the cost of a long stream falls on
// that stream's late resumes, never on another stream's followers.
export class Budget {
  readonly max: number;
  #held = 0;

  constructor(max: number) {
    this.max = max;
  }

  /** Bytes held by every tape of this replica (the buffer-bytes gauge). */
  get held(): number { return this.#held; }
  get over(): boolean { return this.#held > this.max; }
  /** Still over once `freed` more bytes are given back. */
  overBy(freed: number): boolean { return this.#held - freed > this.max; }

  add(n: number): void {
    this.#held += n;
  }
}
