// CompletionQueue: completions arrive through the event loop (libuv watches the completion channel)
// and are routed to the queue pair that posted the work request; raw ones are emitted in batches.
import { EventEmitter } from 'node:events';
import { codeError } from '../errors';
import { native, type NativeCq } from '../native';
import { completionError, type WorkCompletion } from './completion';
import { completionAt, Wc } from './completion-ring';
import type { Context } from './context';
import type { QueuePair } from './qp';
import { registerWrapper } from './wrappers';
import { RECV_TAG, SEND_TAG, type WorkQueue } from './work-queue';
import { awake } from '../stall';

/** How a CQ is made: the extended API (ibv_create_cq_ex) and what its completions carry. */
export interface CqOptions {
  /** Made with ibv_create_cq_ex and read with ibv_start_poll / ibv_next_poll / ibv_end_poll. */
  extended?: boolean;
  /**
   * Completions carry the device's `timestamp` (an extended CQ). A device that stamps none (rxe) refuses
   * it with ERR_NOT_SUPPORTED (see DeviceAttributes.capabilities.completionTimestamps).
   */
  timestamps?: boolean;
}

/** The events of a CompletionQueue, with their listeners' arguments. */
export interface CompletionQueueEvents {
  /**
   * Raw completions (of postSend() / postRecv() / prepared requests), in batches, as the event loop
   * drains the queue. Completions of promise-level operations settle their promises instead.
   */
  completion: [batch: WorkCompletion[]];
}

/** What a CQ's drain hands raw completions to instead of 'completion' (see onRing()). */
export type RingHandler = (ring: Uint32Array, count: number) => void;

// cq.native.state's words (native/cq.h).
const BUSY = 0;
const HELD = 1;

/**
 * A completion queue (ibv_create_cq(3)) with its own completion channel, watched by the event loop:
 * completions are routed to the queue pair that posted them, and raw ones are emitted as 'completion'.
 * An idle CQ does not keep the process alive; one with posted work outstanding does (prepared requests
 * excepted). Keeps its context alive.
 * @example
 * ```ts
 * import { Context } from 'rdma-ccm/verbs';
 * const ctx = new Context('rxe0');
 * const cq = ctx.createCq({ cqe: 256 });
 * // promise-level work requests settle by themselves; raw ones (postSend, postRecv) arrive here
 * cq.on('completion', (batch) => batch.forEach((wc) => console.log(wc.wrId, wc.status, wc.opcode)));
 * // or poll explicitly, e.g. in a latency-critical loop: up to 16, spinning up to 200 µs for the first
 * const wcs = cq.poll(16);
 * ```
 */
export class CompletionQueue extends EventEmitter<CompletionQueueEvents> {
  /** @internal */
  readonly native: NativeCq;
  /** The device context the queue belongs to. */
  readonly context: Context;
  /**
   * @internal Queue pairs using this CQ, by QP number. Weakly: a QP keeps its CQ alive, not the other
   * way round, so a QP nobody uses any more can be collected (its finalizer destroys it).
   */
  readonly qps = new Map<number, WeakRef<QueuePair>>();
  /**
   * The completion ring: raw completions of a drain or a pollRing() call, Wc.STRIDE 32-bit words each
   * (offsets in Wc), read in place without a call. Valid until the next drain or poll of this CQ.
   */
  readonly ring: Uint32Array;
  /** Completions the ring holds. */
  readonly ringSize: number;
  /** The ring as 64-bit words (ids, timestamps). */
  private readonly wide: BigUint64Array;
  private readonly state: Int32Array;
  private readonly timestamps: boolean;
  private ringHandler: RingHandler | null = null;
  private draining = false;
  /** What has work outstanding on this CQ (queue pairs, shared receive queues), held until it completes. */
  private readonly busy = new Map<object, number>();
  /** The work queues with work outstanding on this CQ (each knows its place: no search, no hashing). */
  private readonly busyQueues: WorkQueue[] = [];

  /** @internal Made by context.createCq(). */
  constructor(context: Context, opts: { cqe?: number } & CqOptions = {}) {
    super();
    this.context = context;
    const { cqe, ...options } = opts ?? {};
    this.native = new native.CompletionQueue(
      context.native,
      cqe ?? 1024,
      (count: number) => this.deliver(count),
      options,
    );
    registerWrapper(this.native, this);
    this.ring = this.native.ring;
    this.ringSize = this.ring.length / Wc.STRIDE;
    this.wide = new BigUint64Array(this.ring.buffer, this.ring.byteOffset, this.ring.length / 2);
    this.state = this.native.state;
    this.timestamps = options.timestamps === true;
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.native.closed;
  }

  /**
   * Completions available now, without waiting (for latency-critical loops). Completions of the
   * promise-level operations are still routed to their promises; only raw ones are returned.
   * With `spinUs`, a CQ with nothing in it is polled again in native code for up to that many
   * microseconds (at most 1 000 000) until the first completion arrives: one call per completion
   * instead of one per empty poll. The event loop waits meanwhile, so keep it short.
   * `max`: 1 … 65536. Throws ERR_CLOSED once closed.
   */
  poll(max = 16, spinUs = 0): WorkCompletion[] {
    // Out-of-range arguments get the addon's own errors.
    if (!Number.isInteger(max) || max < 1 || max > 65536) return this.native.poll(max, spinUs);
    const out: WorkCompletion[] = [];
    let spin = spinUs;
    while (out.length < max) {
      const want = Math.min(max - out.length, this.ringSize);
      const n = this.native.pollRing(want, spin);
      spin = 0;
      const kept = this.route(n);
      for (let i = 0; i < kept; i++) out.push(this.objectAt(i * Wc.STRIDE));
      if (n < want) break;
    }
    return out;
  }

  /**
   * The fast path's poll: up to `max` (1 … ringSize) completions now (spinning up to `spinUs` µs for the
   * first, as poll()), left in `ring` as words rather than objects; how many. Completions of
   * promise-level operations among them still settle their promises and are left out. Throws
   * ERR_CLOSED once closed.
   */
  pollRing(max = this.ringSize, spinUs = 0): number {
    return this.route(this.native.pollRing(max, spinUs));
  }

  /**
   * Hands the raw completions of each drain to `handler` as words in `ring` (the first `count` of it),
   * one call per drain, instead of emitting 'completion' objects; null goes back to 'completion'.
   * While a handler is set the CQ keeps the event loop alive (fast-path requests are not tracked one
   * by one, so it cannot tell when they are all done): set null when done.
   */
  onRing(handler: RingHandler | null): void {
    if (handler !== null && typeof handler !== 'function')
      throw codeError('ERR_INVALID_ARG_TYPE', 'handler must be a function or null');
    if ((handler === null) !== (this.ringHandler === null)) this._hold(handler ? 1 : -1, this);
    this.ringHandler = handler;
  }

  /**
   * How many completions are available now (up to max), without making objects; a failed one throws
   * ERR_WC_<STATUS>. For CQs that carry only raw work (promise-level completions would be lost).
   * `max`: 1 … 4096; `spinUs` as for poll().
   */
  pollCount(max = 16, spinUs = 0): number {
    const n = this.native.pollCount(max, spinUs);
    if (typeof n !== 'number') throw completionError(n, 'work request');
    return n;
  }

  private deliver(count: number): void {
    awake();
    this.draining = true;
    let kept: number;
    try {
      kept = this.route(count);
    } finally {
      this.draining = false;
    }
    if (kept === 0) return;
    if (this.ringHandler) return this.ringHandler(this.ring, kept);
    const raw: WorkCompletion[] = [];
    for (let i = 0; i < kept; i++) raw.push(this.objectAt(i * Wc.STRIDE));
    this.emit('completion', raw);
  }

  // Settles the completions of the first `n` in the ring that queue pairs take, and moves the raw
  // ones to the front of the ring in their order: how many there are.
  private route(n: number): number {
    const r = this.ring;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const at = i * Wc.STRIDE;
      // The library's requests: their queue is among the busy ones (usually one or two, so searched
      // rather than looked up, and no weak reference is dereferenced).
      const tag = r[at + Wc.ID_HIGH];
      if (tag === SEND_TAG || tag === RECV_TAG) {
        const q = this.busyQueue(r[at + Wc.QP_NUM], tag);
        if (q !== undefined && q.complete(r[at + Wc.ID], at, this)) continue;
      }
      const qp = this.qps.get(r[at + Wc.QP_NUM])?.deref();
      if (qp !== undefined && qp._completeAt(r, at, this)) continue;
      if (kept !== i) r.copyWithin(kept * Wc.STRIDE, at, at + Wc.STRIDE);
      kept++;
    }
    return kept;
  }

  private busyQueue(qpNum: number, tag: number): WorkQueue | undefined {
    const list = this.busyQueues;
    for (let i = 0; i < list.length; i++) if (list[i].qpNum === qpNum && list[i].tag === tag) return list[i];
    return undefined;
  }

  /** @internal The completion at word `at` of the ring as an object; `connected`: of an RC or UC QP. */
  _objectAt(at: number, connected: boolean): WorkCompletion {
    return completionAt(this.ring, this.wide, at, this.timestamps, connected);
  }

  private objectAt(at: number): WorkCompletion {
    const qp = this.qps.get(this.ring[at + Wc.QP_NUM])?.deref();
    return this._objectAt(at, qp !== undefined && qp.type !== 'UD');
  }

  /**
   * @internal Keeps the event loop alive, and `owner` and this CQ from being collected, while work is
   * outstanding on this CQ. The loop is let go by the addon when a drain ends with nothing outstanding
   * (or here, outside a drain), so work that completes and starts more work never flips it.
   */
  _hold(delta: number, owner: object): void {
    const n = (this.busy.get(owner) ?? 0) + delta;
    if (n > 0) this.busy.set(owner, n);
    else this.busy.delete(owner);
    this.held();
  }

  /** @internal _hold() for a QP's work queue, which goes busy and idle once per request when awaited. */
  _holdQueue(q: WorkQueue, busy: boolean): void {
    const list = this.busyQueues;
    if (busy) {
      q.busyAt = list.length;
      list.push(q);
    } else {
      const last = list.pop()!;
      if (last !== q) list[(last.busyAt = q.busyAt)] = last;
      q.busyAt = -1;
    }
    this.held();
  }

  private held(): void {
    if (this.busy.size > 0 || this.busyQueues.length > 0) {
      this.state[BUSY] = 1;
      if (this.state[HELD] === 0) this.native.ref();
    } else {
      this.state[BUSY] = 0;
      if (!this.draining && this.state[HELD] !== 0) this.native.unref();
    }
  }

  /** Destroys the CQ and its channel (ibv_destroy_cq(3)). Fails with ERR_BUSY while queue pairs use this CQ. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.native.close();
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }
}
