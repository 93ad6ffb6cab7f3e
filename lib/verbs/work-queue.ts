// The work requests posted on one queue of a QP (its send or its receive queue), in posting order. A
// queue completes in order: a completion retires its request and the unsignaled ones posted before
// it. Each request keeps what it uses in flight (regions, windows, handles stay open, their memory
// pinned) and its CQ referenced until it is retired or flushed.
import { flushedCompletion, type WorkCompletion } from './completion';
import type { CompletionQueue } from './cq';
import type { Held } from './work-request';

interface Posted {
  wrId: bigint;
  held: Held[];
  settle?: (wc: WorkCompletion) => void;
}

export class WorkQueue {
  // Posting order from `head` on; retired entries before it are cleared and dropped in bulk, so a
  // completion costs a look at the head (it is usually there) rather than a search and a splice.
  private posted: (Posted | undefined)[] = [];
  private head = 0;

  /** `owner` is what holds the CQ (its QP). */
  constructor(
    private readonly cq: CompletionQueue,
    private readonly owner: object,
  ) {}

  track(wrId: bigint, held: Held[], settle: ((wc: WorkCompletion) => void) | undefined): void {
    for (const h of held) h.inflight++;
    this.posted.push({ wrId, held, settle });
    this.cq._hold(1, this.owner);
  }

  has(wrId: bigint): boolean {
    return this.find(wrId) >= 0;
  }

  /** Retires the request of `wc` and those before it; true when a promise took the completion. */
  retire(wc: WorkCompletion): boolean {
    const at = this.find(wc.wrId);
    if (at < 0) return false;
    const p = this.posted[at]!;
    for (let i = this.head; i <= at; i++) {
      for (const h of this.posted[i]!.held) h.inflight--;
      this.posted[i] = undefined;
    }
    const retired = at + 1 - this.head;
    this.head = at + 1;
    if (this.head === this.posted.length) {
      this.posted.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= this.posted.length) {
      this.posted.splice(0, this.head);
      this.head = 0;
    }
    this.cq._hold(-retired, this.owner);
    if (!p.settle) return false;
    p.settle(wc);
    return true;
  }

  /** The queue's QP was destroyed: everything still posted completes as flushed. */
  flush(qpNum: number): void {
    const posted = this.posted.splice(this.head);
    this.posted.length = 0;
    this.head = 0;
    for (const p of posted) {
      for (const h of p!.held) h.inflight--;
      this.cq._hold(-1, this.owner);
      p!.settle?.(flushedCompletion(p!.wrId, qpNum));
    }
  }

  private find(wrId: bigint): number {
    for (let i = this.head; i < this.posted.length; i++) if (this.posted[i]!.wrId === wrId) return i;
    return -1;
  }
}

// Retired entries dropped from the front at once, when they are also half the array.
const COMPACT_AT = 1024;
