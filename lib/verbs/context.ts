// Context: an opened device, parent of every other verbs object.
import { native } from '../native';
import { CompletionQueue } from './cq';
import { ProtectionDomain } from './pd';

export interface DeviceAttributes {
  fwVer: string;
  nodeGuid: string;
  sysImageGuid: string;
  maxMrSize: bigint;
  pageSizeCap: bigint;
  vendorId: number;
  vendorPartId: number;
  hwVer: number;
  maxQp: number;
  maxQpWr: number;
  deviceCapFlags: number;
  maxSge: number;
  maxCq: number;
  maxCqe: number;
  maxMr: number;
  maxPd: number;
  maxQpRdAtom: number;
  maxQpInitRdAtom: number;
  atomicCap: 'NONE' | 'HCA' | 'GLOB' | 'UNKNOWN';
  maxMw: number;
  maxAh: number;
  maxSrq: number;
  maxSrqWr: number;
  maxSrqSge: number;
  maxPkeys: number;
  physPortCnt: number;
}

export type PortState = 'NOP' | 'DOWN' | 'INIT' | 'ARMED' | 'ACTIVE' | 'ACTIVE_DEFER' | 'UNKNOWN';

export interface PortAttributes {
  state: PortState;
  /** MTUs in bytes (256 … 4096). */
  maxMtu: number;
  activeMtu: number;
  gidTblLen: number;
  portCapFlags: number;
  maxMsgSz: number;
  pkeyTblLen: number;
  lid: number;
  smLid: number;
  lmc: number;
  activeWidth: number;
  activeSpeed: number;
  physState: number;
  linkLayer: 'InfiniBand' | 'Ethernet' | 'Unspecified';
}

export interface GidEntry {
  port: number;
  index: number;
  /** Eight groups of four hex digits, e.g. 0000:0000:0000:0000:0000:ffff:0a63:0001. */
  gid: string;
  type: 'IB' | 'RoCEv1' | 'RoCEv2' | 'UNKNOWN';
  /** Name of the network device the GID belongs to (RoCE), or null. */
  netdev: string | null;
  ifindex: number;
}

const wrappers = new WeakMap<object, Context>();

export class Context {
  /** @internal */
  readonly native: any;

  /** Opens the device with this name (see getDevices()); throws code ENODEV when there is none. */
  constructor(name: string, wrapped?: unknown) {
    this.native = wrapped ?? new native.Context(name);
  }

  /** @internal A Context over a native one (librdmacm's own device context: never closed by us). */
  static fromNative(n: unknown): Context {
    let c = wrappers.get(n as object);
    if (!c) {
      c = new Context('', n);
      wrappers.set(n as object, c);
    }
    return c;
  }

  static open(name: string): Context {
    return new Context(name);
  }

  get name(): string {
    return this.native.name;
  }

  get closed(): boolean {
    return this.native.closed;
  }

  queryDevice(): DeviceAttributes {
    return this.native.queryDevice();
  }

  queryPort(port = 1): PortAttributes {
    return this.native.queryPort(port);
  }

  queryGidTable(): GidEntry[] {
    return this.native.queryGidTable();
  }

  allocPd(): ProtectionDomain {
    return new ProtectionDomain(this);
  }

  /** A completion queue with its own completion channel, watched by the event loop. */
  createCq(opts: { cqe?: number } = {}): CompletionQueue {
    return new CompletionQueue(this, opts);
  }

  /** Fails with ERR_BUSY while PDs or CQs of this context are open. Idempotent. */
  close(): void {
    this.native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
