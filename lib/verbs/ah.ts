// AddressHandle: where a UD send goes (the partner's GID and port); UD work requests carry one.
import { native, type NativeAh } from '../native';
import type { ProtectionDomain } from './pd';
import type { WorkCompletion } from './completion';
import { codeError } from '../errors';

/** Address vector of a UD destination (ibv_ah_attr). Out-of-range values fail with ERR_OUT_OF_RANGE. */
export interface AhAttr {
  /** Destination LID (InfiniBand; 0 … 65535, default 0). */
  dlid?: number;
  /** Service level (0 … 15, default 0). */
  sl?: number;
  /** Source path bits (0 … 127, default 0). */
  srcPathBits?: number;
  /** Static rate limit (an ibv_rate value, 0 = port rate, the default). */
  staticRate?: number;
  /** Local port to send from (1 … 255, default 1). */
  portNum?: number;
  /** Needed on RoCE: the partner's GID (or IP address) and our GID index to send from. */
  grh?: {
    /** The partner's GID, or an IP address (IPv4 becomes its IPv4-mapped GID). */
    dgid: string;
    /** Index of our source GID in the port's GID table (see Context.queryGidTable(); default 0). */
    sgidIndex?: number;
    /** IP TTL / hop limit (0 … 255, default 64). */
    hopLimit?: number;
    /** IPv6 flow label (20 bits, default 0). */
    flowLabel?: number;
    /** Traffic class (on RoCE v2 the IP ToS byte; 0 … 255, default 0). */
    trafficClass?: number;
  };
}

/** Where UD sends go (ibv_create_ah(3)): UD work requests carry one. Keeps its protection domain alive. */
export class AddressHandle {
  /** @internal */
  readonly native: NativeAh;
  /** The protection domain of the handle (the sending QP must be in it, else ERR_WRONG_PD). */
  readonly pd: ProtectionDomain;
  /** The attributes the handle was created with, as given; for one made from a completion, only its port. */
  readonly attr: AhAttr;
  /** @internal UD sends posted with this handle and not yet completed. */
  inflight = 0;

  /** @internal Made by pd.createAh() or pd.createAhFromWc(). */
  constructor(
    pd: ProtectionDomain,
    source: AhAttr | { fromWc: { wc: WorkCompletion; grh: Uint8Array; portNum: number } },
  ) {
    if ('fromWc' in source) {
      const { wc, grh, portNum } = source.fromWc;
      this.native = new native.AddressHandle(pd.native, wc, grh, portNum);
      this.attr = { portNum };
    } else {
      this.native = new native.AddressHandle(pd.native, source);
      this.attr = source;
    }
    this.pd = pd;
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.native.closed;
  }

  /** Destroys the handle (ibv_destroy_ah(3)). Fails with ERR_BUSY while a send using it is in flight. Idempotent. */
  close(): void {
    if (this.closed) return;
    if (this.inflight > 0)
      throw codeError('ERR_BUSY', `AddressHandle is used by ${this.inflight} work requests in flight`);
    this.native.close();
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }
}
