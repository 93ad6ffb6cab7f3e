// CompletionQueue: completions arrive through the event loop (libuv watches the completion channel)
// and are routed to the queue pair that posted the work request; raw ones are emitted in batches.
import { EventEmitter } from 'node:events';
import { native, type NativeCq } from '../native';
import { completionError, type WorkCompletion } from './completion';
import type { Context } from './context';
import type { QueuePair } from './qp';
import { registerWrapper } from './wrappers';
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
  /** What has work outstanding on this CQ (queue pairs, shared receive queues), held until it completes. */
  private readonly busy = new Map<object, number>();

  /** @internal Made by context.createCq(). */
  constructor(context: Context, opts: { cqe?: number } & CqOptions = {}) {
    super();
    this.context = context;
    const { cqe, ...options } = opts ?? {};
    this.native = new native.CompletionQueue(
      context.native,
      cqe ?? 1024,
      (batch: WorkCompletion[]) => this.deliver(batch),
      options,
    );
    registerWrapper(this.native, this);
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
    return this.route(this.native.poll(max, spinUs));
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

  private deliver(batch: WorkCompletion[]): void {
    awake();
    const raw = this.route(batch);
    if (raw.length > 0) this.emit('completion', raw);
  }

  private route(batch: WorkCompletion[]): WorkCompletion[] {
    const raw: WorkCompletion[] = [];
    for (const wc of batch) {
      const qp = this.qps.get(wc.qpNum)?.deref();
      if (!qp || !qp._complete(wc)) raw.push(wc);
    }
    return raw;
  }

  /**
   * @internal Keeps the event loop alive, and `owner` and this CQ from being collected, while work is
   * outstanding on this CQ.
   */
  _hold(delta: number, owner: object): void {
    const idle = this.busy.size === 0;
    const n = (this.busy.get(owner) ?? 0) + delta;
    if (n > 0) this.busy.set(owner, n);
    else this.busy.delete(owner);
    if (idle && this.busy.size > 0) this.native.ref();
    else if (!idle && this.busy.size === 0) this.native.unref();
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
