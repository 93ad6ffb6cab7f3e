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
  private readonly posted: Posted[] = [];

  /** `owner` is what holds the CQ (its QP). */
  constructor(private readonly cq: CompletionQueue, private readonly owner: object) {}

  track(wrId: bigint, held: Held[], settle: ((wc: WorkCompletion) => void) | undefined): void {
    for (const h of held) h.inflight++;
    this.posted.push({ wrId, held, settle });
    this.cq._hold(1, this.owner);
  }

  has(wrId: bigint): boolean {
    return this.posted.some((p) => p.wrId === wrId);
  }

  /** Retires the request of `wc` and those before it; true when a promise took the completion. */
  retire(wc: WorkCompletion): boolean {
    const at = this.posted.findIndex((p) => p.wrId === wc.wrId);
    if (at < 0) return false;
    const done = this.posted.splice(0, at + 1);
    for (const p of done) this.release(p);
    const p = done[done.length - 1];
    if (!p.settle) return false;
    p.settle(wc);
    return true;
  }

  /** The queue's QP was destroyed: everything still posted completes as flushed. */
  flush(qpNum: number): void {
    for (const p of this.posted.splice(0)) {
      this.release(p);
      p.settle?.(flushedCompletion(p.wrId, qpNum));
    }
  }

  private release(p: Posted): void {
    for (const h of p.held) h.inflight--;
    this.cq._hold(-1, this.owner);
  }
}
