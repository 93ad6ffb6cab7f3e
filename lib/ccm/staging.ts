// Local bounce memory for one link: READ targets and WRITE sources live in one registered region,
// handed out in FIFO order and reclaimed as operations complete, so no buffer is registered per op.
export interface Chunk {
  offset: number;
  length: number;
  done: boolean;
}

export class Staging {
  private head = 0;
  private tail = 0;
  private used = 0;
  private readonly live: Chunk[] = [];
  private readonly waiters: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Reserves `length` contiguous bytes (8-byte aligned); waits while the region is full. */
  async alloc(length: number): Promise<Chunk> {
    const len = (length + 7) & ~7;
    if (len > this.size) throw Object.assign(new RangeError(`operation of ${length} bytes exceeds the staging region (${this.size})`), { code: 'ERR_OUT_OF_RANGE' });
    for (;;) {
      const skip = this.head + len > this.size ? this.size - this.head : 0;
      if (this.used + skip + len <= this.size) {
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
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  free(c: Chunk): void {
    c.done = true;
    while (this.live.length > 0 && this.live[0].done) {
      const f = this.live.shift()!;
      this.used -= f.length;
      this.tail = (f.offset + f.length) % this.size;
    }
    if (this.live.length === 0) {
      this.head = 0;
      this.tail = 0;
    }
    for (const w of this.waiters.splice(0)) w();
  }
}
