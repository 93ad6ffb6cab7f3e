// The addon, declared once: every class and function native/ exports, with the types its arguments and
// results have. The native layer validates every argument (it must: nothing unchecked is reachable
// from JS); these declarations keep the TypeScript side from passing what it would refuse.
import { loadAddon } from './addon-loader';
import type { AsyncEvent, DeviceAttributes, GidEntry, PortAttributes } from './verbs/context';
import type { WorkCompletion } from './verbs/completion';
import type { DeviceInfo } from './verbs/device';
import type { AhAttr } from './verbs/ah';
import type { QpAttributes, QpState } from './verbs/qp';
import type { FlushTarget } from './verbs/work-request';
import type { CqOptions } from './verbs/cq';
import type { RawCmEvent } from './cm/event-channel';

/** What every native object has: `closed`, and an idempotent `close()`. */
export interface NativeObject {
  readonly closed: boolean;
  close(): void;
}

export interface NativeContext extends NativeObject {
  readonly name: string;
  queryDevice(): DeviceAttributes;
  queryPort(port?: number): PortAttributes;
  queryGidTable(): GidEntry[];
  watchEvents(onEvents: (batch: AsyncEvent[]) => void): void;
}

export type NativePd = NativeObject;

export interface NativeMr extends NativeObject {
  info(): { addr: bigint; length: number; lkey: number; rkey: number; id: number };
  buffer(): ArrayBuffer | ArrayBufferView;
}

export interface NativeCq extends NativeObject {
  poll(max: number, spinUs?: number): WorkCompletion[];
  /** How many succeeded, or the first failed completion (the ones before it are consumed). */
  pollCount(max: number, spinUs?: number): number | WorkCompletion;
  /** Up to max completions written to `ring`; how many. */
  pollRing(max: number, spinUs?: number): number;
  /** The completion ring (completion-ring.ts). */
  readonly ring: Uint32Array;
  /** [work outstanding (JS writes it), the event loop held (the addon writes it)]. */
  readonly state: Int32Array;
  ref(): void;
  unref(): void;
}

export type NativeAh = NativeObject;

/** A scatter/gather entry as the addon reads it. */
export interface NativeSge {
  mr: NativeMr;
  offset: number;
  length: number;
}

export interface NativeRecvWr {
  wrId: bigint;
  sgl: NativeSge[];
}

/** A send work request as the addon reads it: the opcode by name, the flags as their ibv_* values. */
export interface NativeSendWr {
  wrId: bigint;
  /** A name of constants.wrOpcode (the addon refuses others with ERR_UNKNOWN_OPCODE). */
  opcode: string;
  flags: number;
  sgl: NativeSge[];
  imm?: number;
  remoteAddr?: bigint;
  rkey?: number;
  compareAdd?: bigint;
  swap?: bigint;
  invalidateRkey?: number;
  ah?: NativeAh;
  remoteQpn?: number;
  remoteQkey?: number;
  mw?: NativeMw;
  bind?: NativeBind;
  /** ATOMIC_WRITE: the 8 bytes written. */
  value?: bigint;
  /** FLUSH: what is made visible or persistent. */
  flush?: FlushTarget;
}

export interface NativeBind {
  mr: NativeMr;
  offset?: number;
  length: number;
  access: number;
}

export interface NativeSrq extends NativeObject {
  postRecv(wrs: NativeRecvWr[]): void;
  modify(attrs: { maxWr?: number; srqLimit?: number }): void;
  query(): { maxWr: number; maxSge: number; srqLimit: number };
}

export interface NativeMw extends NativeObject {
  readonly type: 1 | 2;
  readonly rkey: number;
  bind(qp: NativeQp, bind: { wrId: bigint; signaled?: boolean } & Partial<NativeBind>): number;
}

export interface NativeQpInit {
  type: 'RC' | 'UC' | 'UD';
  sendCq: NativeCq;
  recvCq?: NativeCq;
  srq?: NativeSrq;
  sqSigAll?: boolean;
  maxSendWr?: number;
  maxRecvWr?: number;
  maxSendSge?: number;
  maxRecvSge?: number;
  maxInlineData?: number;
  /** Names of constants.sendOps: the QP is made with ibv_create_qp_ex for postBatch(). */
  sendOps?: string[];
}

export interface NativeQp extends NativeObject {
  readonly state: QpState;
  info(): { qpNum: number; type: 'RC' | 'UC' | 'UD'; maxInlineData: number };
  modify(attrs: QpAttributes): void;
  query(): Required<Pick<QpAttributes, 'qpState' | 'portNum' | 'qpAccessFlags'>> &
    QpAttributes & { cap: Record<string, number> };
  postSend(wrs: NativeSendWr[]): void;
  postRecv(wrs: NativeRecvWr[]): void;
  prepareSend(wrs: NativeSendWr[]): number;
  postPrepared(handle: number): void;
  postPreparedPoll(handle: number, cq: NativeCq, spinUs: number): number | WorkCompletion;
  releasePrepared(handle: number): void;
  postBatch(wrs: NativeSendWr[]): void;
  /** `count` requests from descriptors (descriptor.ts); `library`: ids of the library's range allowed. */
  postFast(desc: Uint32Array, count: number, library: boolean): void;
  postRecvFast(desc: Uint32Array, count: number, library: boolean): void;
}

export interface NativeCmChannel extends NativeObject {
  ref(): void;
  unref(): void;
}

/** Connection parameters of connect() and accept(). */
export interface NativeConnParam {
  privateData?: Uint8Array;
  responderResources?: number;
  initiatorDepth?: number;
  retryCount?: number;
  rnrRetryCount?: number;
  qp?: NativeQp;
}

export interface NativeCmAddress {
  address: string;
  port: number;
}

export interface NativeCmId extends NativeObject {
  bindAddr(address: string, port: number): void;
  resolveAddr(source: string | null, address: string, port: number, timeoutMs: number): void;
  resolveRoute(timeoutMs: number): void;
  listen(backlog: number): void;
  connect(param: NativeConnParam): void;
  accept(param: NativeConnParam): void;
  reject(privateData?: Uint8Array): void;
  disconnect(): void;
  createQp(
    pd: NativePd,
    sendCq: NativeCq,
    recvCq: NativeCq,
    cap: Partial<Record<'maxSendWr' | 'maxRecvWr' | 'maxSendSge' | 'maxRecvSge' | 'maxInlineData', number>>,
  ): NativeQp;
  transitionQp(
    qp: NativeQp,
    state: 'INIT' | 'RTR' | 'RTS',
    overrides?: { maxDestRdAtomic?: number; maxRdAtomic?: number; minRnrTimer?: number },
  ): void;
  establish(): void;
  context(): NativeContext | null;
  addresses(): {
    local: NativeCmAddress | null;
    remote: NativeCmAddress | null;
    portNum: number;
    device: string | null;
    portSpace: CmPortSpace;
  };
  joinMulticast(group: string, sendOnly: boolean): void;
  leaveMulticast(group: string): void;
}

/** RDMA CM port spaces: TCP (reliable connections) and UDP (datagrams, multicast). */
export type CmPortSpace = 'TCP' | 'UDP';

type WrOpcodeName =
  | 'RDMA_WRITE'
  | 'RDMA_WRITE_WITH_IMM'
  | 'SEND'
  | 'SEND_WITH_IMM'
  | 'RDMA_READ'
  | 'ATOMIC_CMP_AND_SWP'
  | 'ATOMIC_FETCH_AND_ADD'
  | 'LOCAL_INV'
  | 'BIND_MW'
  | 'SEND_WITH_INV'
  | 'ATOMIC_WRITE'
  | 'FLUSH';

/** The verbs enumerations, name → value, as the addon was built with them (rdma-core's headers). */
export interface NativeConstants {
  access: Readonly<
    Record<
      | 'LOCAL_WRITE'
      | 'REMOTE_WRITE'
      | 'REMOTE_READ'
      | 'REMOTE_ATOMIC'
      | 'MW_BIND'
      | 'ZERO_BASED'
      | 'FLUSH_GLOBAL'
      | 'FLUSH_PERSISTENT',
      number
    >
  >;
  sendFlags: Readonly<Record<'FENCE' | 'SIGNALED' | 'SOLICITED' | 'INLINE', number>>;
  wrOpcode: Readonly<Record<WrOpcodeName, number>>;
  /** The IBV_QP_EX_WITH_* bit of each opcode an extended QP may be created for. */
  sendOps: Readonly<Record<WrOpcodeName, number>>;
  wcOpcode: Readonly<Record<string, number>>;
  wcStatus: Readonly<Record<string, number>>;
  wcFlags: Readonly<Record<'GRH' | 'WITH_IMM' | 'IP_CSUM_OK' | 'WITH_INV', number>>;
  qpState: Readonly<Record<string, number>>;
  portState: Readonly<Record<string, number>>;
  asyncEvent: Readonly<Record<string, number>>;
  /** The largest private data each CM message carries, in bytes. */
  privateData: Readonly<Record<'connect' | 'accept' | 'reject' | 'udConnect' | 'udAnswer', number>>;
}

type Ctor<A extends unknown[], T> = new (...args: A) => T;

export interface Addon {
  constants: NativeConstants;
  getDeviceList(): DeviceInfo[];
  Context: Ctor<[name: string], NativeContext>;
  ProtectionDomain: Ctor<[context: NativeContext], NativePd>;
  MemoryRegion: Ctor<
    [pd: NativePd, memory: ArrayBuffer | ArrayBufferView | number, access: number],
    NativeMr
  >;
  CompletionQueue: Ctor<
    [context: NativeContext, cqe: number, onCompletions: (count: number) => void, options?: CqOptions],
    NativeCq
  >;
  AddressHandle: Ctor<[pd: NativePd, attr: AhAttr], NativeAh> &
    Ctor<[pd: NativePd, wc: WorkCompletion, grh: Uint8Array, portNum: number], NativeAh>;
  SharedReceiveQueue: Ctor<
    [pd: NativePd, init: { maxWr?: number; maxSge?: number; srqLimit?: number }],
    NativeSrq
  >;
  MemoryWindow: Ctor<[pd: NativePd, type: 1 | 2], NativeMw>;
  QueuePair: Ctor<[pd: NativePd, init: NativeQpInit], NativeQp>;
  CmEventChannel: Ctor<[onEvents: (batch: RawCmEvent[]) => void], NativeCmChannel>;
  CmId: Ctor<[channel: NativeCmChannel, portSpace?: CmPortSpace], NativeCmId> & {
    /** The private-data check of connect(), accept() and reject(), made before anything is created. */
    checkPrivateData(data: unknown, kind: 'connect' | 'accept' | 'reject', portSpace?: CmPortSpace): void;
  };
  syncCmDevices(): number;
  sdNotify(socketPath: string, message: string): void;
  drainReaper(done: () => void): void;
  alignedBuffer(length: number): Buffer;
  /** Maps `length` bytes of a file (created or grown, unless `existing`: then it must be that large) or a device-DAX device, shared; unmapped when the Buffer is collected. */
  mapFile(
    path: string,
    length: number,
    existing?: boolean,
  ): { buffer: Buffer; sync: boolean; device: boolean };
  /** Makes `offset … offset + length` of a Buffer from mapFile() durable: with `dax` (the mapping was `sync`) by writing its CPU cache lines back, else by msync(MS_SYNC) of its pages. */
  syncMapped(buffer: Buffer, offset: number, length: number, dax?: boolean): void;
  /** CRC-32C of `view[start, end)` continuing from `crc` (0 to begin): the CPU's crc32 instruction where it has one. */
  crc32c(view: Uint8Array, start: number, end: number, crc: number): number;
  /** Executes the marker that opens (true) or closes (false) a window of bench/instructions' counter. */
  instructionMarker(start: boolean): void;
}

export const native = loadAddon<Addon>();
