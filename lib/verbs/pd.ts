// ProtectionDomain: groups memory regions and queue pairs that may be used together.
import { native, type NativePd } from '../native';
import { AddressHandle, type AhAttr } from './ah';
import type { Context } from './context';
import { MemoryRegion } from './mr';
import { MemoryWindow, type MwType } from './mw';
import { QueuePair, type QpInit } from './qp';
import { SharedReceiveQueue, type SrqInit } from './srq';
import { codeError } from '../errors';
import type { WorkCompletion } from './completion';

/**
 * A protection domain (ibv_alloc_pd(3)): regions, windows, address handles and SRQs can be used only by
 * queue pairs of the same domain. Keeps its context alive; its children keep it alive.
 * @example
 * ```ts
 * import { Access, Context } from 'rdma-ccm/verbs';
 * const ctx = new Context('rxe0');
 * const pd = ctx.allocPd();
 * const cq = ctx.createCq();
 * const mr = pd.allocMemory(4096, Access.LOCAL_WRITE | Access.REMOTE_READ);  // registered in pd
 * const qp = pd.createQp({ type: 'RC', sendCq: cq });                        // may use mr: same pd
 * ```
 */
export class ProtectionDomain {
  /** @internal */
  readonly native: NativePd;
  /** The device context the domain belongs to. */
  readonly context: Context;

  /** @internal Made by context.allocPd(). */
  constructor(context: Context) {
    this.native = new native.ProtectionDomain(context.native);
    this.context = context;
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.native.closed;
  }

  /**
   * Registers the caller's memory, zero-copy (ibv_reg_mr(3)). The region keeps the memory alive while it
   * exists. `access`: Access flags; REMOTE_WRITE and REMOTE_ATOMIC need LOCAL_WRITE too (else
   * ERR_INVALID_ACCESS). Zero bytes fail with ERR_OUT_OF_RANGE, a detached ArrayBuffer with ERR_DETACHED.
   */
  registerMemory(memory: ArrayBuffer | ArrayBufferView, access: number): MemoryRegion {
    return new MemoryRegion(this, memory, access);
  }

  /**
   * Allocates `length` bytes (1 … 2^34) of page-aligned, zeroed memory and registers it; the memory is
   * freed by the garbage collector once neither the region nor its buffer is referenced. `access` as for
   * registerMemory().
   */
  allocMemory(length: number, access: number): MemoryRegion {
    if (typeof length !== 'number')
      throw codeError('ERR_INVALID_ARG_TYPE', 'The "length" argument must be a number');
    return new MemoryRegion(this, length, access);
  }

  /**
   * Creates a queue pair in state RESET (ibv_create_qp(3)). Its CQs must belong to this domain's context
   * (else ERR_WRONG_CONTEXT), its SRQ to this domain (else ERR_WRONG_PD).
   */
  createQp(init: QpInit): QueuePair {
    return new QueuePair(this, init);
  }

  /** An address handle for UD sends to the port behind `attr` (on RoCE: grh.dgid and grh.sgidIndex; ibv_create_ah(3)). */
  createAh(attr: AhAttr): AddressHandle {
    return new AddressHandle(this, attr);
  }

  /**
   * The way back to the sender of a UD receive (ibv_create_ah_from_wc(3)): `wc` is its completion (it
   * must carry a GRH), `grh` the first 40 bytes of the receive buffer, copied before use. Fails with
   * ERR_OUT_OF_RANGE for a completion without GRH or a short `grh`.
   */
  createAhFromWc(wc: WorkCompletion, grh: Uint8Array, portNum = 1): AddressHandle {
    return new AddressHandle(this, { fromWc: { wc, grh, portNum } });
  }

  /** A shared receive queue that queue pairs of this domain can receive through (ibv_create_srq(3)). */
  createSrq(init: SrqInit = {}): SharedReceiveQueue {
    return new SharedReceiveQueue(this, init);
  }

  /**
   * A memory window (type 1 or 2, default 2; ibv_alloc_mw(3)) over regions of this domain registered with
   * Access.MW_BIND. A device without window support fails with a system error (e.g. EOPNOTSUPP).
   */
  allocMw(type: MwType = 2): MemoryWindow {
    return new MemoryWindow(this, type);
  }

  /** Fails with ERR_BUSY while regions, queue pairs, windows, handles or SRQs of this domain are open. Idempotent. */
  close(): void {
    this.native.close();
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }
}
