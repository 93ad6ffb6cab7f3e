// ProtectionDomain: groups memory regions and queue pairs that may be used together.
import { native } from '../native';
import type { Context } from './context';
import { MemoryRegion } from './mr';
import { QueuePair, type QpInit } from './qp';

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

  /** Fails with ERR_BUSY while regions or queue pairs of this domain are open. Idempotent. */
  close(): void {
    this.native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
