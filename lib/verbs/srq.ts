// SharedReceiveQueue: one pool of receive buffers that many queue pairs consume from. A posted
// receive keeps its memory alive until a message lands in it (through whichever QP) or the SRQ closes.
import { EventEmitter } from 'node:events';
import { codeError } from '../errors';
import { native, type NativeSrq } from '../native';
import { completionError, flushedCompletion, WorkCompletion } from './completion';
import type { CompletionQueue } from './cq';
import type { MemoryRegion, Sge } from './mr';
import type { ProtectionDomain } from './pd';
import { toNativeRecv, type RecvWr } from './work-request';
import { checkCallerIds, libraryId, posting } from './wr-id';
import { registerWrapper } from './wrappers';

/** Creation attributes of a shared receive queue (ibv_srq_init_attr); out of range: ERR_OUT_OF_RANGE. */
export interface SrqInit {
  /** Receives the queue holds (1 … 2^20, default 256; the device may round it up). */
  maxWr?: number;
  /** Scatter/gather entries per receive (1 … 64, default 1). */
  maxSge?: number;
  /** Arms the limit event at creation: 'limit-reached' fires once fewer receives than this remain. */
  srqLimit?: number;
}

interface Posted {
  mrs: MemoryRegion[];
  settle?: (wc: WorkCompletion) => void;
}

/** The events of a SharedReceiveQueue, with their listeners' arguments. */
export interface SharedReceiveQueueEvents {
  /**
   * Fewer receives than the armed limit remain (SRQ_LIMIT_REACHED, once per arming). Listening watches
   * the context's async events; on a context from the CM layer it throws ERR_UNSUPPORTED.
   */
  'limit-reached': [];
}

/**
 * A shared receive queue (ibv_create_srq(3)): one pool of receives that queue pairs created with it
 * consume from. A posted receive keeps its memory alive until a message lands in it or the SRQ closes.
 */
export class SharedReceiveQueue extends EventEmitter<SharedReceiveQueueEvents> {
  /** @internal */
  readonly native: NativeSrq;
  /** The protection domain of the SRQ and of the queue pairs that use it. */
  readonly pd: ProtectionDomain;
  private readonly posted = new Map<bigint, Posted>();
  /** @internal Receive CQs of the QPs attached: held while promise-level receives wait. */
  readonly cqs = new Set<CompletionQueue>();
  private waiting = 0;

  /** @internal Made by pd.createSrq(). */
  constructor(pd: ProtectionDomain, init: SrqInit = {}) {
    super();
    this.native = new native.SharedReceiveQueue(pd.native, init);
    this.pd = pd;
    registerWrapper(this.native, this);
    // 'newListener' is EventEmitter's own event, outside the map.
    (this as EventEmitter).on('newListener', (event: string) => {
      if (event === 'limit-reached') pd.context._watch();
    });
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.native.closed;
  }

  /** Receives posted and not yet consumed. */
  get outstanding(): number {
    return this.posted.size;
  }

  /**
   * Posts receive work requests in one call (ibv_post_srq_recv(3)); completions arrive on the consuming
   * QP's receive CQ. A wrId already posted on this SRQ fails with ERR_DUPLICATE_WR_ID.
   */
  postRecv(wrs: RecvWr[]): void {
    if (!Array.isArray(wrs)) throw codeError('ERR_INVALID_ARG_TYPE', 'wrs must be an array');
    checkCallerIds(wrs);
    this.post(wrs.map((w) => ({ w, settle: undefined })));
  }

  /** Posts one receive into local; resolves with the completion when a message lands in it. */
  recv(o: { local?: Sge } = {}): Promise<WorkCompletion> {
    return new Promise((resolve, reject) => {
      const settle = (wc: WorkCompletion) => {
        if (--this.waiting === 0) for (const cq of this.cqs) cq._hold(-1, this);
        if (wc.status === 'SUCCESS') resolve(wc);
        else reject(completionError(wc, 'shared receive'));
      };
      this.post([{ w: { wrId: libraryId(), sgl: o.local ? [o.local] : [] }, settle }]);
      if (this.waiting++ === 0) for (const cq of this.cqs) cq._hold(1, this);
    });
  }

  private post(items: { w: RecvWr; settle?: (wc: WorkCompletion) => void }[]): void {
    const built = items.map(({ w }) => {
      if (this.posted.has(w.wrId))
        throw codeError('ERR_DUPLICATE_WR_ID', `a receive with wrId ${w.wrId} is already posted on this SRQ`);
      return toNativeRecv(w);
    });
    posting(
      items.length,
      (n) => {
        for (let i = 0; i < n; i++) {
          for (const m of built[i].held) m.inflight++;
          this.posted.set(items[i].w.wrId, { mrs: built[i].held, settle: items[i].settle });
        }
      },
      () => this.native.postRecv(built.map((b) => b.wr)),
    );
  }

  /** @internal A receive of this SRQ completed on one of its QPs; true when a promise took it. */
  _complete(wc: WorkCompletion): boolean {
    const p = this.posted.get(wc.wrId);
    if (!p) return false;
    this.posted.delete(wc.wrId);
    for (const m of p.mrs) m.inflight--;
    if (!p.settle) return false;
    p.settle(wc);
    return true;
  }

  /** Arms the limit event: 'limit-reached' fires once when fewer than `srqLimit` receives remain. */
  arm(srqLimit: number): void {
    this.native.modify({ srqLimit });
  }

  /**
   * ibv_modify_srq(3): resizes (`maxWr`, where the device supports it) and/or arms the limit (`srqLimit`).
   * Neither given: ERR_OUT_OF_RANGE.
   */
  modify(attrs: { maxWr?: number; srqLimit?: number }): void {
    this.native.modify(attrs);
  }

  /** The SRQ's current attributes (ibv_query_srq(3)). */
  query(): {
    /** Receives the queue holds. */
    maxWr: number;
    /** Scatter/gather entries per receive. */
    maxSge: number;
    /** The armed limit (0: not armed). */
    srqLimit: number;
  } {
    return this.native.query();
  }

  /** Fails with ERR_BUSY while queue pairs use it; receives still posted are flushed. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.native.close();
    for (const [wrId, p] of this.posted) {
      for (const m of p.mrs) m.inflight--;
      p.settle?.(flushedCompletion(wrId, 0));
    }
    this.posted.clear();
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }
}
