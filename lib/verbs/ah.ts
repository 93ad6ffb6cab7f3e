// AddressHandle: where a UD send goes (the partner's GID and port); UD work requests carry one.
import { native } from '../native';
import type { ProtectionDomain } from './pd';

export interface AhAttr {
  dlid?: number;
  sl?: number;
  srcPathBits?: number;
  portNum?: number;
  /** Needed on RoCE: the partner's GID (or IP address) and our GID index to send from. */
  grh?: { dgid: string; sgidIndex?: number; hopLimit?: number; flowLabel?: number; trafficClass?: number };
}

export class AddressHandle {
  /** @internal */
  readonly native: any;
  readonly pd: ProtectionDomain;
  readonly attr: AhAttr;
  /** @internal UD sends posted with this handle and not yet completed. */
  inflight = 0;

  /** Prefer pd.createAh(). */
  constructor(pd: ProtectionDomain, attr: AhAttr) {
    this.native = new native.AddressHandle(pd.native, attr);
    this.pd = pd;
    this.attr = attr;
  }

  get closed(): boolean {
    return this.native.closed;
  }

  /** Fails with ERR_BUSY while a send using it is in flight. Idempotent. */
  close(): void {
    if (this.closed) return;
    if (this.inflight > 0) throw Object.assign(new Error(`AddressHandle is used by ${this.inflight} work requests in flight`), { code: 'ERR_BUSY' });
    this.native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
