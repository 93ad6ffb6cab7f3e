// QueuePair: RC, UC or UD. Explicit state transitions (RESET → INIT → RTR → RTS) with the IB state
// machine checked, a raw post API for benchmarks, and promise-level operations that resolve on their
// completion. Every posted work request keeps its memory regions (and so their buffers) alive until
// it completes, even if the caller drops every reference.
import { codeError } from '../errors';
import { native } from '../native';
import { Opcode, OpcodeName, SendFlags } from './access';
import { completionError, WorkCompletion } from './completion';
import type { CompletionQueue } from './cq';
import { MemoryRegion, Sge, sgeOf } from './mr';
import type { ProtectionDomain } from './pd';

export type QpType = 'RC' | 'UC' | 'UD';
export type QpState = 'RESET' | 'INIT' | 'RTR' | 'RTS' | 'SQD' | 'SQE' | 'ERR' | 'CLOSED';

export interface QpInit {
  type: QpType;
  sendCq: CompletionQueue;
  recvCq?: CompletionQueue;
  maxSendWr?: number;
  maxRecvWr?: number;
  maxSendSge?: number;
  maxRecvSge?: number;
  maxInlineData?: number;
  /** Every send WR generates a completion (default: only those marked signaled). */
  sqSigAll?: boolean;
}

export interface QpAttributes {
  qpState?: Exclude<QpState, 'CLOSED'>;
  pkeyIndex?: number;
  portNum?: number;
  qkey?: number;
  qpAccessFlags?: number;
  pathMtu?: 256 | 512 | 1024 | 2048 | 4096;
  destQpNum?: number;
  rqPsn?: number;
  sqPsn?: number;
  maxRdAtomic?: number;
  maxDestRdAtomic?: number;
  minRnrTimer?: number;
  timeout?: number;
  retryCnt?: number;
  rnrRetry?: number;
  ahAttr?: { dlid?: number; sl?: number; srcPathBits?: number; portNum?: number; grh?: { dgid: string; sgidIndex?: number; hopLimit?: number; flowLabel?: number; trafficClass?: number } };
}

export interface SendWr {
  /** Caller's id, below 2^63 (ids at or above are the library's own). */
  wrId: bigint;
  opcode: OpcodeName;
  sgl?: Sge[];
  signaled?: boolean;
  inline?: boolean;
  fence?: boolean;
  solicited?: boolean;
  imm?: number;
  remoteAddr?: bigint;
  rkey?: number;
  compareAdd?: bigint;
  swap?: bigint;
}

export interface RecvWr {
  wrId: bigint;
  sgl?: Sge[];
}

/** Where a partner's QP is, for connecting an RC/UC QP by hand (the CM layer does this for you). */
export interface RemoteQp {
  qpNum: number;
  /** The partner's GID (RoCE: its IP-mapped GID, or an IPv4 address). */
  gid: string;
  psn?: number;
}

interface Posted {
  wrId: bigint;
  mrs: MemoryRegion[];
  settle?: (wc: WorkCompletion) => void;
}

const LIBRARY_IDS = 1n << 63n;
let nextId = LIBRARY_IDS;
function libraryId(): bigint {
  nextId = nextId + 1n >= 1n << 64n ? LIBRARY_IDS : nextId + 1n;
  return nextId;
}

function flagsOf(w: { signaled?: boolean; inline?: boolean; fence?: boolean; solicited?: boolean }): number {
  return (w.signaled ? SendFlags.SIGNALED : 0) | (w.inline ? SendFlags.INLINE : 0) | (w.fence ? SendFlags.FENCE : 0) | (w.solicited ? SendFlags.SOLICITED : 0);
}

export class QueuePair {
  /** @internal */
  readonly native: any;
  readonly pd: ProtectionDomain;
  readonly sendCq: CompletionQueue;
  readonly recvCq: CompletionQueue;
  readonly qpNum: number;
  readonly type: QpType;
  /** Send WRs in posting order (the send queue completes in order). */
  private readonly sq: Posted[] = [];
  private readonly rq: Posted[] = [];

  /** Prefer pd.createQp(). */
  constructor(pd: ProtectionDomain, init: QpInit, wrapped?: any) {
    if (!init || typeof init !== 'object') throw codeError('ERR_INVALID_ARG_TYPE', 'QP init attributes must be an object', 'TypeError');
    this.native = wrapped ?? new native.QueuePair(pd.native, { ...init, sendCq: init.sendCq?.native, recvCq: init.recvCq?.native });
    this.pd = pd;
    this.sendCq = init.sendCq;
    this.recvCq = init.recvCq ?? init.sendCq;
    const info = this.native.info();
    this.qpNum = info.qpNum;
    this.type = info.type;
    this.sendCq.qps.set(this.qpNum, this);
    this.recvCq.qps.set(this.qpNum, this);
  }

  get state(): QpState {
    return this.native.state;
  }

  get closed(): boolean {
    return this.native.closed;
  }

  /** ibv_modify_qp; an invalid state transition fails with ERR_QP_STATE before reaching the driver. */
  modify(attrs: QpAttributes): void {
    this.native.modify(attrs);
  }

  query(): Required<Pick<QpAttributes, 'qpState' | 'portNum' | 'qpAccessFlags'>> & QpAttributes & { cap: Record<string, number> } {
    return this.native.query();
  }

  /** RESET → INIT → RTR → RTS against a partner QP whose number and GID are known (RC/UC). */
  connectTo(remote: RemoteQp, o: { portNum?: number; sgidIndex: number; pathMtu?: 256 | 512 | 1024 | 2048 | 4096; access?: number; psn?: number; rdAtomic?: number }): void {
    const portNum = o.portNum ?? 1;
    this.modify({ qpState: 'INIT', pkeyIndex: 0, portNum, qpAccessFlags: o.access ?? 0 });
    const rtr: QpAttributes = { qpState: 'RTR', pathMtu: o.pathMtu ?? 1024, destQpNum: remote.qpNum, rqPsn: remote.psn ?? 0, ahAttr: { portNum, grh: { dgid: remote.gid, sgidIndex: o.sgidIndex, hopLimit: 64 } } };
    if (this.type === 'RC') Object.assign(rtr, { maxDestRdAtomic: o.rdAtomic ?? 16, minRnrTimer: 12 });
    this.modify(rtr);
    const rts: QpAttributes = { qpState: 'RTS', sqPsn: o.psn ?? 0 };
    if (this.type === 'RC') Object.assign(rts, { timeout: 14, retryCnt: 7, rnrRetry: 7, maxRdAtomic: o.rdAtomic ?? 16 });
    this.modify(rts);
  }

  // ---- raw API -------------------------------------------------------------------------------

  /** Posts send work requests in one call. Their regions stay alive until they complete. */
  postSend(wrs: SendWr[]): void {
    if (!Array.isArray(wrs)) throw codeError('ERR_INVALID_ARG_TYPE', 'wrs must be an array', 'TypeError');
    for (const w of wrs) if (typeof w?.wrId !== 'bigint' || w.wrId < 0n || w.wrId >= LIBRARY_IDS) throw codeError('ERR_OUT_OF_RANGE', 'wrId must be a bigint from 0 to 2^63-1', 'RangeError');
    this.postSends(wrs.map((w) => ({ w, settle: undefined })));
  }

  /**
   * Builds send work requests once, to post them many times with no per-post conversion (the fast
   * path benchmarks use). Their regions cannot be closed until the prepared requests are released.
   * Completions of prepared requests are raw: read them with cq.poll() / cq.pollCount().
   */
  prepareSend(wrs: SendWr[]): PreparedSend {
    if (!Array.isArray(wrs) || wrs.length === 0) throw codeError('ERR_INVALID_ARG_TYPE', 'wrs must be a non-empty array', 'TypeError');
    for (const w of wrs) if (typeof w?.wrId !== 'bigint' || w.wrId < 0n || w.wrId >= LIBRARY_IDS) throw codeError('ERR_OUT_OF_RANGE', 'wrId must be a bigint from 0 to 2^63-1', 'RangeError');
    const nativeWrs = wrs.map((w) => {
      const op = Opcode[w.opcode];
      if (op === undefined) throw codeError('ERR_UNKNOWN_OPCODE', `unknown opcode ${String(w.opcode)}`, 'RangeError');
      const sgl = (w.sgl ?? []).map((x, i) => sgeOf(x, `sgl[${i}]`));
      return { ...w, opcode: op, flags: flagsOf(w), sgl: sgl.map((x) => ({ mr: x.mr.native, offset: x.offset, length: x.length })), mrs: sgl.map((x) => x.mr) };
    });
    const handle: number = this.native.prepareSend(nativeWrs);
    return new PreparedSend(this, handle, nativeWrs.flatMap((w) => w.mrs));
  }

  /** Posts receive work requests in one call. */
  postRecv(wrs: RecvWr[]): void {
    if (!Array.isArray(wrs)) throw codeError('ERR_INVALID_ARG_TYPE', 'wrs must be an array', 'TypeError');
    for (const w of wrs) if (typeof w?.wrId !== 'bigint' || w.wrId < 0n || w.wrId >= LIBRARY_IDS) throw codeError('ERR_OUT_OF_RANGE', 'wrId must be a bigint from 0 to 2^63-1', 'RangeError');
    this.receive(wrs.map((w) => ({ w, settle: undefined })));
  }

  private postSends(items: { w: SendWr; settle?: (wc: WorkCompletion) => void }[]): void {
    const nativeWrs = items.map(({ w }) => {
      const op = Opcode[w.opcode];
      if (op === undefined) throw codeError('ERR_UNKNOWN_OPCODE', `unknown opcode ${String(w.opcode)}`, 'RangeError');
      const sgl = (w.sgl ?? []).map((s, i) => sgeOf(s, `sgl[${i}]`));
      return { ...w, opcode: op, flags: flagsOf(w), sgl: sgl.map((s) => ({ mr: s.mr.native, offset: s.offset, length: s.length })), mrs: sgl.map((s) => s.mr) };
    });
    this.native.postSend(nativeWrs);
    for (let i = 0; i < items.length; i++) this.track(this.sq, items[i].w.wrId, nativeWrs[i].mrs, items[i].settle, this.sendCq);
  }

  private receive(items: { w: RecvWr; settle?: (wc: WorkCompletion) => void }[]): void {
    const nativeWrs = items.map(({ w }) => {
      const sgl = (w.sgl ?? []).map((s, i) => sgeOf(s, `sgl[${i}]`));
      return { wrId: w.wrId, sgl: sgl.map((s) => ({ mr: s.mr.native, offset: s.offset, length: s.length })), mrs: sgl.map((s) => s.mr) };
    });
    this.native.postRecv(nativeWrs);
    for (let i = 0; i < items.length; i++) this.track(this.rq, items[i].w.wrId, nativeWrs[i].mrs, items[i].settle, this.recvCq);
  }

  private track(q: Posted[], wrId: bigint, mrs: MemoryRegion[], settle: ((wc: WorkCompletion) => void) | undefined, cq: CompletionQueue): void {
    for (const m of mrs) m.inflight++;
    q.push({ wrId, mrs, settle });
    cq._hold(1);
  }

  /** @internal Called by the CQ: retires this WR and any unsignaled ones posted before it. */
  _complete(wc: WorkCompletion, cq: CompletionQueue): boolean {
    const isRecv = wc.status === 'SUCCESS' ? wc.opcode === 'RECV' || wc.opcode === 'RECV_RDMA_WITH_IMM' : this.rq.some((p) => p.wrId === wc.wrId) && !this.sq.some((p) => p.wrId === wc.wrId);
    const q = isRecv ? this.rq : this.sq;
    const at = q.findIndex((p) => p.wrId === wc.wrId);
    if (at < 0) return false;
    const done = q.splice(0, at + 1);
    for (const p of done) {
      for (const m of p.mrs) m.inflight--;
      (isRecv ? this.recvCq : this.sendCq)._hold(-1);
    }
    const p = done[done.length - 1];
    if (p.settle) {
      p.settle(wc);
      return true;
    }
    return false;
  }

  // ---- promise API ---------------------------------------------------------------------------

  private op(w: Omit<SendWr, 'wrId' | 'signaled'>, what: string): Promise<WorkCompletion> {
    return new Promise((resolve, reject) => {
      const settle = (wc: WorkCompletion) => (wc.status === 'SUCCESS' ? resolve(wc) : reject(completionError(wc, what)));
      this.postSends([{ w: { ...w, wrId: libraryId(), signaled: true }, settle }]);
    });
  }

  /** RDMA READ of local.length bytes from the partner's remoteAddr into local. */
  read(o: { local: Sge; remoteAddr: bigint; rkey: number }): Promise<WorkCompletion> {
    return this.op({ opcode: 'RDMA_READ', sgl: [o.local], remoteAddr: o.remoteAddr, rkey: o.rkey }, 'RDMA READ');
  }

  /** RDMA WRITE of local to the partner's remoteAddr; with `imm`, WRITE_WITH_IMM (consumes a partner receive). */
  write(o: { local: Sge; remoteAddr: bigint; rkey: number; imm?: number; inline?: boolean }): Promise<WorkCompletion> {
    return this.op({ opcode: o.imm === undefined ? 'RDMA_WRITE' : 'RDMA_WRITE_WITH_IMM', sgl: [o.local], remoteAddr: o.remoteAddr, rkey: o.rkey, imm: o.imm, inline: o.inline }, 'RDMA WRITE');
  }

  /** SEND of local; with `imm`, SEND_WITH_IMM. Resolves when the partner's receive took it. */
  send(o: { local: Sge; imm?: number; inline?: boolean }): Promise<WorkCompletion> {
    return this.op({ opcode: o.imm === undefined ? 'SEND' : 'SEND_WITH_IMM', sgl: [o.local], imm: o.imm, inline: o.inline }, 'SEND');
  }

  /** Posts one receive into local; resolves when a message (or a WRITE_WITH_IMM) lands. */
  recv(o: { local?: Sge }): Promise<WorkCompletion> {
    return new Promise((resolve, reject) => {
      const settle = (wc: WorkCompletion) => (wc.status === 'SUCCESS' ? resolve(wc) : reject(completionError(wc, 'receive')));
      this.receive([{ w: { wrId: libraryId(), sgl: o?.local ? [o.local] : [] }, settle }]);
    });
  }

  /** Atomic compare-and-swap of the 8 bytes at remoteAddr; the old value lands in local. */
  compareSwap(o: { local: Sge; remoteAddr: bigint; rkey: number; compare: bigint; swap: bigint }): Promise<WorkCompletion> {
    return this.op({ opcode: 'ATOMIC_CMP_AND_SWP', sgl: [o.local], remoteAddr: o.remoteAddr, rkey: o.rkey, compareAdd: o.compare, swap: o.swap }, 'atomic compare-and-swap');
  }

  /** Atomic fetch-and-add on the 8 bytes at remoteAddr; the old value lands in local. */
  fetchAdd(o: { local: Sge; remoteAddr: bigint; rkey: number; add: bigint }): Promise<WorkCompletion> {
    return this.op({ opcode: 'ATOMIC_FETCH_AND_ADD', sgl: [o.local], remoteAddr: o.remoteAddr, rkey: o.rkey, compareAdd: o.add }, 'atomic fetch-and-add');
  }

  /** Destroys the QP; work still outstanding is rejected with ERR_WC_WR_FLUSH_ERR. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.native.close();
    this.sendCq.qps.delete(this.qpNum);
    this.recvCq.qps.delete(this.qpNum);
    for (const [q, cq] of [[this.sq, this.sendCq], [this.rq, this.recvCq]] as const) {
      for (const p of q.splice(0)) {
        for (const m of p.mrs) m.inflight--;
        cq._hold(-1);
        p.settle?.({ wrId: p.wrId, status: 'WR_FLUSH_ERR', statusCode: 5, opcode: 'UNKNOWN', byteLen: 0, srcQp: 0, qpNum: this.qpNum, vendorErr: 0 });
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Send work requests built once by qp.prepareSend(); post() posts them again. */
export class PreparedSend {
  private released = false;

  /** @internal */
  constructor(private readonly qp: QueuePair, private readonly handle: number, private readonly mrs: MemoryRegion[]) {
    for (const m of mrs) m.inflight++;
  }

  post(): void {
    if (this.released) throw codeError('ERR_CLOSED', 'the prepared work requests were released');
    this.qp.native.postPrepared(this.handle);
  }

  /** Idempotent; the regions may close afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const m of this.mrs) m.inflight--;
    if (!this.qp.closed) this.qp.native.releasePrepared(this.handle);
  }
}
