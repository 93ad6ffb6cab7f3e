// MemoryWindow: grants a partner remote access to part of a memory region, and revokes it, without
// re-registering memory. Type 1 windows are bound with qp.bindWindow() (ibv_bind_mw); type 2 windows
// with a BIND_MW work request and revoked with LOCAL_INV (or by the partner's SEND_WITH_INV).
import { native, type NativeMw } from '../native';
import type { MemoryRegion } from './mr';
import type { ProtectionDomain } from './pd';
import { codeError } from '../errors';

/** Memory window type: 1 is bound with qp.bindWindow() (ibv_bind_mw), 2 with a BIND_MW work request. */
export type MwType = 1 | 2;

/**
 * A memory window (ibv_alloc_mw(3)): remote access to part of a region, granted by a bind and revoked
 * without re-registering. A window holds the region it was last bound over, and its protection domain.
 */
export class MemoryWindow {
  /** @internal */
  readonly native: NativeMw;
  /** The protection domain of the window (and of the regions it can be bound over). */
  readonly pd: ProtectionDomain;
  /** Window type. */
  readonly type: MwType;
  /** @internal Binds and invalidations posted and not yet completed. */
  inflight = 0;
  /**
   * @internal The region the window was last bound over: held (never read) for as long as the window
   * exists, so that the region (and its memory) is never collected while a partner may still reach it.
   */
  region: MemoryRegion | null = null;

  /** @internal Made by pd.allocMw(). */
  constructor(pd: ProtectionDomain, type: MwType = 2) {
    this.native = new native.MemoryWindow(pd.native, type);
    this.pd = pd;
    this.type = type;
  }

  /** The key a partner uses to access the window (changes with each bind). Throws ERR_CLOSED once closed. */
  get rkey(): number {
    return this.native.rkey;
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.native.closed;
  }

  /** @internal A bind completed over `mr` (a zero-length unbind keeps nothing). */
  hold(mr: MemoryRegion | undefined): void {
    this.region = mr ?? null;
  }

  /** Deallocates the window (ibv_dealloc_mw(3)). Fails with ERR_BUSY while a bind or invalidation is in flight. Idempotent. */
  close(): void {
    // Already closed natively (a type 2 window goes with the QP it was bound through): drop the region too.
    if (this.closed) {
      this.region = null;
      return;
    }
    if (this.inflight > 0)
      throw codeError('ERR_BUSY', `MemoryWindow is used by ${this.inflight} work requests in flight`);
    this.native.close();
    this.region = null;
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }
}
