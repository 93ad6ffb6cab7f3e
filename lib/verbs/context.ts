// Context: an opened device, parent of every other verbs object.
import { EventEmitter } from 'node:events';
import { native, type NativeContext } from '../native';
import { codeError } from '../errors';
import { CompletionQueue, type CqOptions } from './cq';
import { normalizeGid } from './gid';
import { ProtectionDomain } from './pd';
import type { QueuePair } from './qp';
import type { SharedReceiveQueue } from './srq';
import { kernelDevices, providerMissing } from './provider';
import { wrapperOf } from './wrappers';

/** Capabilities and limits of a device, from ibv_query_device_ex(3) (its ibv_device_attr part). */
export interface DeviceAttributes {
  /** Firmware version text. */
  fwVer: string;
  /** Node GUID as four hex groups. */
  nodeGuid: string;
  /** System image GUID as four hex groups. */
  sysImageGuid: string;
  /** Largest region that can be registered, in bytes. */
  maxMrSize: bigint;
  /** Supported page sizes, as a bit mask of sizes in bytes. */
  pageSizeCap: bigint;
  /** IEEE vendor id. */
  vendorId: number;
  /** Vendor's part id. */
  vendorPartId: number;
  /** Hardware version. */
  hwVer: number;
  /** Maximum number of queue pairs. */
  maxQp: number;
  /** Maximum work requests per queue (QpInit.maxSendWr / maxRecvWr). */
  maxQpWr: number;
  /** Raw ibv_device_cap_flags bits. */
  deviceCapFlags: number;
  /** Maximum scatter/gather entries per work request. */
  maxSge: number;
  /** Maximum number of completion queues. */
  maxCq: number;
  /** Maximum entries per completion queue. */
  maxCqe: number;
  /** Maximum number of memory regions. */
  maxMr: number;
  /** Maximum number of protection domains. */
  maxPd: number;
  /** Maximum outstanding RDMA READs/atomics a QP accepts as the target (QpAttributes.maxDestRdAtomic). */
  maxQpRdAtom: number;
  /** Maximum outstanding RDMA READs/atomics a QP issues (QpAttributes.maxRdAtomic). */
  maxQpInitRdAtom: number;
  /** Atomic support: none, atomic against this device only (HCA), or also against the CPU and other devices (GLOB). */
  atomicCap: 'NONE' | 'HCA' | 'GLOB' | 'UNKNOWN';
  /** Maximum number of memory windows (0: no memory window support). */
  maxMw: number;
  /** Maximum number of address handles. */
  maxAh: number;
  /** Maximum number of shared receive queues. */
  maxSrq: number;
  /** Maximum work requests per shared receive queue. */
  maxSrqWr: number;
  /** Maximum scatter/gather entries per shared receive queue request. */
  maxSrqSge: number;
  /** P_Key table size. */
  maxPkeys: number;
  /** Number of physical ports (numbered from 1). */
  physPortCnt: number;
  /** Raw device_cap_flags_ex bits (ibv_query_device_ex(3)). */
  deviceCapFlagsEx: bigint;
  /** The bits of a completion timestamp (0n: completions carry none). */
  completionTimestampMask: bigint;
  /** The clock of completion timestamps, in kHz (0 when unknown). */
  hcaCoreClockKhz: number;
  /** What the device (and this build of the addon) can do beyond the base verbs: what is offered. */
  capabilities: DeviceCapabilities;
}

/** Capabilities that decide which extended operations a device is offered (else ERR_NOT_SUPPORTED). */
export interface DeviceCapabilities {
  /** ATOMIC_WRITE work requests (kernel 6.2 on for rxe). */
  atomicWrite: boolean;
  /** FLUSH to global visibility, and regions registered with Access.FLUSH_GLOBAL. */
  flushGlobal: boolean;
  /** FLUSH to persistence, and regions registered with Access.FLUSH_PERSISTENT. */
  flushPersistent: boolean;
  /** Completion timestamps. */
  completionTimestamps: boolean;
  /** This addon was built against an rdma-core with ibv_wr_flush (45 or later): without it FLUSH is refused. */
  flushInThisBuild: boolean;
}

/** Logical state of a port (ibv_port_state without the IBV_PORT_ prefix); work needs `ACTIVE`. */
export type PortState = 'NOP' | 'DOWN' | 'INIT' | 'ARMED' | 'ACTIVE' | 'ACTIVE_DEFER' | 'UNKNOWN';

/** Attributes of one port, from ibv_query_port(3). Numeric codes are the raw ibv_port_attr values. */
export interface PortAttributes {
  /** Logical port state. */
  state: PortState;
  /** Largest MTU the port supports, in bytes (256 … 4096; 0 if unknown). */
  maxMtu: number;
  /** MTU in use, in bytes (256 … 4096; 0 if unknown): the largest pathMtu for a QP on this port. */
  activeMtu: number;
  /** Number of entries in the port's GID table. */
  gidTblLen: number;
  /** Raw port capability flags. */
  portCapFlags: number;
  /** Largest message size, in bytes. */
  maxMsgSz: number;
  /** Number of entries in the port's P_Key table. */
  pkeyTblLen: number;
  /** The port's LID (InfiniBand; 0 on RoCE). */
  lid: number;
  /** LID of the subnet manager (InfiniBand). */
  smLid: number;
  /** LID mask control: the port answers to 2^lmc LIDs. */
  lmc: number;
  /** Link width code (1: 1x, 2: 4x, 4: 8x, 8: 12x, 16: 2x). */
  activeWidth: number;
  /** Link speed code per lane (1: SDR, 2: DDR, 4: QDR, 8: FDR10, 16: FDR, 32: EDR, 64: HDR, 128: NDR). */
  activeSpeed: number;
  /** Physical link state code (5: LinkUp). */
  physState: number;
  /** Link layer: InfiniBand, or Ethernet for RoCE. */
  linkLayer: 'InfiniBand' | 'Ethernet' | 'Unspecified';
}

/** One entry of a device's GID table, from ibv_query_gid_table(3). */
export interface GidEntry {
  /** Port number (from 1). */
  port: number;
  /** Index in the port's GID table: the `sgidIndex` to send from this GID. */
  index: number;
  /** Eight groups of four hex digits, e.g. 0000:0000:0000:0000:0000:ffff:0a63:0001. */
  gid: string;
  /** GID type: InfiniBand, RoCE v1, or RoCE v2 (routable, over UDP). */
  type: 'IB' | 'RoCEv1' | 'RoCEv2' | 'UNKNOWN';
  /** Name of the network device the GID belongs to (RoCE), or null. */
  netdev: string | null;
  /** Interface index of that network device, or 0. */
  ifindex: number;
}

/** Type of an async event: ibv_event_type without the IBV_EVENT_ prefix. */
export type AsyncEventType =
  | 'CQ_ERR'
  | 'QP_FATAL'
  | 'QP_REQ_ERR'
  | 'QP_ACCESS_ERR'
  | 'COMM_EST'
  | 'SQ_DRAINED'
  | 'PATH_MIG'
  | 'PATH_MIG_ERR'
  | 'DEVICE_FATAL'
  | 'PORT_ACTIVE'
  | 'PORT_ERR'
  | 'LID_CHANGE'
  | 'PKEY_CHANGE'
  | 'SM_CHANGE'
  | 'SRQ_ERR'
  | 'SRQ_LIMIT_REACHED'
  | 'QP_LAST_WQE_REACHED'
  | 'CLIENT_REREGISTER'
  | 'GID_CHANGE'
  | 'WQ_FATAL'
  | 'UNKNOWN';

/** An asynchronous event of the device (ibv_get_async_event), with the object it concerns. */
export interface AsyncEvent {
  /** What happened. */
  type: AsyncEventType;
  /** Port events. */
  portNum?: number;
  /** QP events: the QP's number, and the QP while it is open. */
  qpNum?: number;
  /** QP events: the queue pair, while it is open. */
  qp?: QueuePair;
  /** CQ_ERR: the completion queue. */
  cq?: CompletionQueue;
  /** SRQ_ERR and SRQ_LIMIT_REACHED: the shared receive queue. */
  srq?: SharedReceiveQueue;
}

/** The events of a Context, with their listeners' arguments. */
export interface ContextEvents {
  /**
   * The device's async events, one call per event. Adding the first listener starts watching; on a
   * context from the CM layer (librdmacm's own) it throws ERR_UNSUPPORTED.
   */
  'async-event': [e: AsyncEvent];
}

const wrappers = new WeakMap<object, Context>();

/** Opens device `name`; one the kernel has but no provider drives throws ERR_RDMA_PROVIDER_MISSING. */
function openContext(name: string): NativeContext {
  try {
    return new native.Context(name);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENODEV' && kernelDevices().includes(name))
      throw providerMissing(name);
    throw e;
  }
}

/**
 * An opened RDMA device (ibv_open_device(3)), the parent of protection domains and completion queues.
 * Emits 'async-event' with each AsyncEvent of the device.
 * @example
 * ```ts
 * import { Context, getDevices } from 'rdma-ccm/verbs';
 * console.log(getDevices().map((d) => d.name));       // e.g. [ 'rxe0', 'rxe1' ]
 * const ctx = new Context('rxe0');
 * const { gid, index } = ctx.findGid('10.99.0.1');     // the RoCE v2 GID of an address, and its index
 * ctx.on('async-event', (e) => console.log(e.type));  // PORT_ERR, PORT_ACTIVE, ...
 * const pd = ctx.allocPd();
 * const cq = ctx.createCq();
 * // ... queue pairs and memory on pd and cq; then close children first
 * cq.close();
 * pd.close();
 * ctx.close();
 * ```
 * A complete program: `examples/hello-verbs.mjs`.
 */
export class Context extends EventEmitter<ContextEvents> {
  /** @internal */
  readonly native: NativeContext;
  /** @internal Open queue pairs of this context by number, for naming them in async events. */
  readonly _qps = new Map<number, WeakRef<QueuePair>>();
  private watching = false;

  /**
   * Opens the device with this name (see getDevices()); throws code ENODEV when there is none.
   * Listening for 'async-event' starts watching the device's async events (on the event loop; it never
   * keeps the process alive).
   */
  constructor(name: string);
  /** @internal Over a native context someone else opened (librdmacm's): see fromNative(). */
  constructor(name: string, wrapped: NativeContext);
  constructor(name: string, wrapped?: NativeContext) {
    super();
    this.native = wrapped ?? openContext(name);
    // 'newListener' is EventEmitter's own event, outside the map.
    (this as EventEmitter).on('newListener', (event: string) => {
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
  static fromNative(n: NativeContext): Context {
    let c = wrappers.get(n);
    if (!c) {
      c = new Context('', n);
      wrappers.set(n, c);
    }
    return c;
  }

  /** Same as `new Context(name)`. */
  static open(name: string): Context {
    return new Context(name);
  }

  /** The device name. */
  get name(): string {
    return this.native.name;
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.native.closed;
  }

  /** The device's capabilities and limits (ibv_query_device_ex(3)). Throws ERR_CLOSED once closed. */
  queryDevice(): DeviceAttributes {
    return this.native.queryDevice();
  }

  /** Attributes of port `port` (1 … 255, default 1; ibv_query_port(3)). Throws ERR_CLOSED once closed. */
  queryPort(port = 1): PortAttributes {
    return this.native.queryPort(port);
  }

  /** The GID tables of all ports (ibv_query_gid_table(3)): where to find the `sgidIndex` of an address. */
  queryGidTable(): GidEntry[] {
    return this.native.queryGidTable();
  }

  /**
   * The GID table entry of an address (IPv4, IPv6 or a GID in any text form) of type `type` (default
   * RoCEv2, the routable one), on `port` if given: its `index` is the `sgidIndex` to send from it.
   * Throws ERR_NO_GID when the device has no such entry (the address is on another device, or not up).
   */
  findGid(address: string, o: { type?: GidEntry['type']; port?: number } = {}): GidEntry {
    const gid = normalizeGid(address);
    const type = o.type ?? 'RoCEv2';
    const entry = this.queryGidTable().find(
      (g) => g.gid === gid && g.type === type && (o.port === undefined || g.port === o.port),
    );
    if (!entry)
      throw codeError(
        'ERR_NO_GID',
        `${this.name} has no ${type} GID for ${address}${o.port === undefined ? '' : ` on port ${o.port}`}`,
      );
    return entry;
  }

  /** Allocates a protection domain (ibv_alloc_pd(3)); it keeps this context alive until it closes. */
  allocPd(): ProtectionDomain {
    return new ProtectionDomain(this);
  }

  /**
   * A completion queue with its own completion channel, watched by the event loop (ibv_create_cq(3)).
   * `cqe`: minimum number of entries, 1 … 2^22 (default 1024); the device may round it up. With
   * `extended` (or `timestamps`) it is made with ibv_create_cq_ex and read with the extended polling API.
   */
  createCq(opts: { cqe?: number } & CqOptions = {}): CompletionQueue {
    return new CompletionQueue(this, opts);
  }

  /**
   * Closes the device (ibv_close_device(3); a context of the CM layer is only detached, librdmacm keeps
   * the device). Fails with ERR_BUSY while PDs or CQs of this context are open. Idempotent.
   */
  close(): void {
    this.native.close();
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }
}
