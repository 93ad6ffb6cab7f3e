// Context: an opened device, parent of every other verbs object.
import { EventEmitter } from 'node:events';
import { native } from '../native';
import { CompletionQueue } from './cq';
import { ProtectionDomain } from './pd';
import type { QueuePair } from './qp';
import type { SharedReceiveQueue } from './srq';
import { wrapperOf } from './wrappers';

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

export type AsyncEventType =
  | 'CQ_ERR' | 'QP_FATAL' | 'QP_REQ_ERR' | 'QP_ACCESS_ERR' | 'COMM_EST' | 'SQ_DRAINED' | 'PATH_MIG' | 'PATH_MIG_ERR'
  | 'DEVICE_FATAL' | 'PORT_ACTIVE' | 'PORT_ERR' | 'LID_CHANGE' | 'PKEY_CHANGE' | 'SM_CHANGE' | 'SRQ_ERR'
  | 'SRQ_LIMIT_REACHED' | 'QP_LAST_WQE_REACHED' | 'CLIENT_REREGISTER' | 'GID_CHANGE' | 'WQ_FATAL' | 'UNKNOWN';

/** An asynchronous event of the device (ibv_get_async_event), with the object it concerns. */
export interface AsyncEvent {
  type: AsyncEventType;
  /** Port events. */
  portNum?: number;
  /** QP events: the QP's number, and the QP while it is open. */
  qpNum?: number;
  qp?: QueuePair;
  cq?: CompletionQueue;
  srq?: SharedReceiveQueue;
}

export interface Context {
  on(event: 'async-event', listener: (e: AsyncEvent) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

const wrappers = new WeakMap<object, Context>();

export class Context extends EventEmitter {
  /** @internal */
  readonly native: any;
  /** @internal Open queue pairs of this context by number, for naming them in async events. */
  readonly _qps = new Map<number, WeakRef<QueuePair>>();
  private watching = false;

  /**
   * Opens the device with this name (see getDevices()); throws code ENODEV when there is none.
   * Listening for 'async-event' starts watching the device's async events (on the event loop; it never
   * keeps the process alive).
   */
  constructor(name: string, wrapped?: unknown) {
    super();
    this.native = wrapped ?? new native.Context(name);
    this.on('newListener', (event: string) => {
      if (event === 'async-event') this._watch();
    });
  }

  /** @internal Starts delivering async events (idempotent). */
  _watch(): void {
    if (this.watching) return;
    this.native.watchEvents((batch: AsyncEvent[]) => this.deliver(batch));
    this.watching = true;
  }

  private deliver(batch: AsyncEvent[]): void {
    for (const e of batch) {
      if (e.qpNum !== undefined) {
        const qp = this._qps.get(e.qpNum)?.deref();
        if (qp && !qp.closed) e.qp = qp;
      }
      if (e.cq) e.cq = wrapperOf<CompletionQueue>(e.cq);
      if (e.srq) {
        e.srq = wrapperOf<SharedReceiveQueue>(e.srq);
        if (e.type === 'SRQ_LIMIT_REACHED') e.srq?.emit('limit-reached');
      }
      this.emit('async-event', e);
    }
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
