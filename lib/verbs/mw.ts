// MemoryWindow: grants a partner remote access to part of a memory region, and revokes it, without
// re-registering memory. Type 1 windows are bound with qp.bindWindow() (ibv_bind_mw); type 2 windows
// with a BIND_MW work request and revoked with LOCAL_INV (or by the partner's SEND_WITH_INV).
import { native } from '../native';
import type { MemoryRegion } from './mr';
import type { ProtectionDomain } from './pd';

export type MwType = 1 | 2;

export class MemoryWindow {
  /** @internal */
  readonly native: any;
  readonly pd: ProtectionDomain;
  readonly type: MwType;
  /** @internal Binds and invalidations posted and not yet completed. */
  inflight = 0;
  /**
   * The region the window was last bound over: held for as long as the window exists, so that the
   * region (and its memory) is never collected while a partner may still reach it through the window.
   */
  private region: MemoryRegion | null = null;

  /** Prefer pd.allocMw(). Regions bound into a window need Access.MW_BIND. */
  constructor(pd: ProtectionDomain, type: MwType = 2) {
    this.native = new native.MemoryWindow(pd.native, type);
    this.pd = pd;
    this.type = type;
  }

  /** The key a partner uses to access the window (changes with each bind). */
  get rkey(): number {
    return this.native.rkey;
  }

  get closed(): boolean {
    return this.native.closed;
  }

  /** @internal A bind completed over `mr` (a zero-length unbind keeps nothing). */
  hold(mr: MemoryRegion | undefined): void {
    this.region = mr ?? null;
  }

  /** Fails with ERR_BUSY while a bind or invalidation is in flight. Idempotent. */
  close(): void {
    if (this.closed) return;
    if (this.inflight > 0) throw Object.assign(new Error(`MemoryWindow is used by ${this.inflight} work requests in flight`), { code: 'ERR_BUSY' });
    this.native.close();
    this.region = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
