// Context: an opened device, parent of every other verbs object.
import { native } from '../native';

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

export class Context {
  /** @internal */
  readonly native: any;

  /** Opens the device with this name (see getDevices()); throws code ENODEV when there is none. */
  constructor(name: string) {
    this.native = new native.Context(name);
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

  close(): void {
    this.native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
