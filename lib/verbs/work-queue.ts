// The work requests posted on one queue of a QP (its send or its receive queue), in posting order. A
// queue completes in order: a completion retires its request and the unsignaled ones posted before
// it. Each request keeps what it uses in flight (regions, windows, handles stay open, their memory
// pinned) until it is retired or flushed; a queue with work outstanding holds its CQ.
//
// Requests are numbered in posting order (a 32-bit sequence) and kept in a ring indexed by that
// number: the library's own requests carry it in their id (see libraryWrId), so their completion
// finds them at once. Requests with a caller's id are found by that id.
import { flushedCompletion, type WorkCompletion } from './completion';
import type { CompletionQueue } from './cq';
import type { Held } from './work-request';

export type Settle = (wc: WorkCompletion) => void;

/** The high 32 bits of the ids the library gives its requests on a QP's send and receive queues. */
export const SEND_TAG = 0x80000000;
export const RECV_TAG = 0xc0000000;

/** The id of the library's request `seq` on the queue tagged `tag`. */
export function libraryWrId(tag: number, seq: number): bigint {
  return (BigInt(tag) << 32n) | BigInt(seq);
}

export class WorkQueue {
  private held: (Held | Held[] | undefined)[] = new Array(16).fill(undefined);
  private settles: (Settle | undefined)[] = new Array(16).fill(undefined);
  private ids: (bigint | undefined)[] = new Array(16).fill(undefined);
  private mask = 15;
  private head = 0; // the number of the oldest request outstanding
  private tail = 0; // the number of the next request
  /** Requests with a caller's id outstanding. */
  callers = 0;
  /** @internal Its place among the CQ's busy queues (-1: idle). */
  busyAt = -1;

  /**
   * `owner` (its QP, number `qpNum`) is kept alive while the queue has work (the CQ holds the queue,
   * which holds it); `tag` is the high word of the library's ids here; `connected`: an RC or UC QP's.
   */
  constructor(
    private readonly cq: CompletionQueue,
    readonly owner: object,
    readonly qpNum: number,
    readonly tag: number,
    readonly connected: boolean,
  ) {}

  /** Requests outstanding. */
  get size(): number {
    return (this.tail - this.head) >>> 0;
  }

  /** The number the next request tracked gets. */
  get next(): number {
    return this.tail;
  }

  /** Tracks a posted request (`wrId`: the caller's id, none for the library's own); its number. */
  track(wrId: bigint | undefined, held: Held | Held[] | undefined, settle: Settle | undefined): number {
    const size = this.size;
    if (size > this.mask) this.grow();
    const seq = this.tail;
    const i = seq & this.mask;
    this.held[i] = held;
    this.settles[i] = settle;
    this.ids[i] = wrId;
    if (wrId !== undefined) this.callers++;
    if (held !== undefined) hold(held, 1);
    this.tail = (seq + 1) >>> 0;
    if (size === 0) this.cq._holdQueue(this, true);
    return seq;
  }

  has(wrId: bigint): boolean {
    return this.find(wrId) >= 0;
  }

  /**
   * Retires request `seq` and those before it: its promise's settle function, undefined for a raw
   * request, null when no such request is outstanding.
   */
  retireSeq(seq: number): Settle | undefined | null {
    const k = (seq - this.head) >>> 0;
    if (k >= this.size) return null;
    const settle = this.settles[seq & this.mask];
    this.drop(k + 1);
    return settle;
  }

  /**
   * The completion at word `at` of `cq`'s ring of the library's request `seq`: retires it (and those
   * before it) and settles its promise; false when no such request is outstanding.
   */
  complete(seq: number, at: number, cq: CompletionQueue): boolean {
    const settle = this.retireSeq(seq);
    if (settle === null) return false;
    if (settle !== undefined) settle(cq._objectAt(at, this.connected));
    return true;
  }

  /** Retires the request of `wc` (a caller's id) and those before it; true when a promise took the completion. */
  retire(wc: WorkCompletion): boolean {
    const k = this.find(wc.wrId);
    if (k < 0) return false;
    const settle = this.settles[(this.head + k) & this.mask];
    this.drop(k + 1);
    if (!settle) return false;
    settle(wc);
    return true;
  }

  /** The queue's QP was destroyed: everything still posted completes as flushed. */
  flush(qpNum: number): void {
    const n = this.size;
    const list: { wrId: bigint; settle: Settle | undefined }[] = [];
    for (let j = 0; j < n; j++) {
      const seq = (this.head + j) >>> 0;
      const i = seq & this.mask;
      list.push({ wrId: this.ids[i] ?? libraryWrId(this.tag, seq), settle: this.settles[i] });
    }
    this.drop(n);
    for (const p of list) p.settle?.(flushedCompletion(p.wrId, qpNum));
  }

  // Lets go of the `n` oldest requests.
  private drop(n: number): void {
    for (let j = 0; j < n; j++) {
      const i = (this.head + j) & this.mask;
      const h = this.held[i];
      if (h !== undefined) hold(h, -1);
      if (this.ids[i] !== undefined) this.callers--;
      this.held[i] = undefined;
      this.settles[i] = undefined;
      this.ids[i] = undefined;
    }
    this.head = (this.head + n) >>> 0;
    if (n > 0 && this.size === 0) this.cq._holdQueue(this, false);
  }

  // The position from head of the request with the caller's id `wrId`, or -1.
  private find(wrId: bigint): number {
    if (this.callers === 0) return -1;
    const n = this.size;
    for (let j = 0; j < n; j++) if (this.ids[(this.head + j) & this.mask] === wrId) return j;
    return -1;
  }

  // Twice the room, the outstanding requests at the same numbers.
  private grow(): void {
    const size = this.size;
    const mask = this.mask * 2 + 1;
    const held = new Array(mask + 1).fill(undefined);
    const settles = new Array(mask + 1).fill(undefined);
    const ids = new Array(mask + 1).fill(undefined);
    for (let j = 0; j < size; j++) {
      const seq = (this.head + j) >>> 0;
      held[seq & mask] = this.held[seq & this.mask];
      settles[seq & mask] = this.settles[seq & this.mask];
      ids[seq & mask] = this.ids[seq & this.mask];
    }
    this.held = held;
    this.settles = settles;
    this.ids = ids;
    this.mask = mask;
  }
}

function hold(h: Held | Held[], delta: number): void {
  if (Array.isArray(h)) for (const x of h) x.inflight += delta;
  else h.inflight += delta;
}
