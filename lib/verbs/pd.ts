// ProtectionDomain: groups memory regions and queue pairs that may be used together.
import { native } from '../native';
import { AddressHandle, type AhAttr } from './ah';
import type { Context } from './context';
import { MemoryRegion } from './mr';
import { MemoryWindow, type MwType } from './mw';
import { QueuePair, type QpInit } from './qp';
import { SharedReceiveQueue, type SrqInit } from './srq';

export class ProtectionDomain {
  /** @internal */
  readonly native: any;
  readonly context: Context;

  /** Prefer context.allocPd(). */
  constructor(context: Context) {
    this.native = new native.ProtectionDomain(context.native);
    this.context = context;
  }

  get closed(): boolean {
    return this.native.closed;
  }

  /**
   * Registers the caller's memory (zero-copy). The region keeps the memory alive while it exists.
   * REMOTE_WRITE and REMOTE_ATOMIC need LOCAL_WRITE too.
   */
  registerMemory(memory: ArrayBuffer | ArrayBufferView, access: number): MemoryRegion {
    return new MemoryRegion(this, memory, access);
  }

  /** Allocates `length` bytes of page-aligned, zeroed memory and registers it. */
  allocMemory(length: number, access: number): MemoryRegion {
    if (typeof length !== 'number') throw Object.assign(new TypeError('The "length" argument must be a number'), { code: 'ERR_INVALID_ARG_TYPE' });
    return new MemoryRegion(this, length, access);
  }

  createQp(init: QpInit): QueuePair {
    return new QueuePair(this, init);
  }

  /** An address handle for UD sends to the port behind `attr` (on RoCE: grh.dgid and grh.sgidIndex). */
  createAh(attr: AhAttr): AddressHandle {
    return new AddressHandle(this, attr);
  }

  /** A shared receive queue that queue pairs of this domain can receive through. */
  createSrq(init: SrqInit = {}): SharedReceiveQueue {
    return new SharedReceiveQueue(this, init);
  }

  /** A memory window (type 1 or 2) over regions of this domain registered with Access.MW_BIND. */
  allocMw(type: MwType = 2): MemoryWindow {
    return new MemoryWindow(this, type);
  }

  /** Fails with ERR_BUSY while regions, queue pairs, windows, handles or SRQs of this domain are open. Idempotent. */
  close(): void {
    this.native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
