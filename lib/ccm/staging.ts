// Local bounce memory for one link: READ targets and WRITE sources live in one registered region,
// handed out in FIFO order and reclaimed as operations complete, so no buffer is registered per op.
// Allocation never waits here: the link's queue of posts decides who goes next (rdma-transport.ts).
import { codeError } from '../errors';
export interface Chunk {
  offset: number;
  length: number;
  done: boolean;
}

export class Staging {
  private head = 0;
  private used = 0;
  private readonly live: Chunk[] = [];

  constructor(readonly size: number) {}

  /** No chunk is in use. */
  get idle(): boolean {
    return this.live.length === 0;
  }

  /** Reserves `length` contiguous bytes (8-byte aligned), or returns null while they are not free. */
  tryAlloc(length: number): Chunk | null {
    const len = Math.ceil(length / 8) * 8;
    if (len > this.size)
      throw codeError(
        'ERR_OUT_OF_RANGE',
        `operation of ${length} bytes exceeds the staging region (${this.size})`,
      );
    const skip = this.head + len > this.size ? this.size - this.head : 0;
    if (this.used + skip + len > this.size) return null;
    if (skip) {
      // The unused tail becomes a finished chunk, reclaimed in order like any other.
      this.live.push({ offset: this.head, length: skip, done: true });
      this.head = 0;
      this.used += skip;
    }
    const c: Chunk = { offset: this.head, length: len, done: false };
    this.head = (this.head + len) % this.size;
    this.used += len;
    this.live.push(c);
    return c;
  }

  free(c: Chunk): void {
    c.done = true;
    while (this.live.length > 0 && this.live[0].done) this.used -= this.live.shift()!.length;
    if (this.live.length === 0) this.head = 0;
  }
}
