// QueuePair: RC, UC or UD. Explicit state transitions (RESET → INIT → RTR → RTS) with the IB state
// machine checked, a raw post API for benchmarks, and promise-level operations that resolve on their
// completion. Every posted work request keeps its memory regions (and so their buffers) alive until
// it completes, even if the caller drops every reference.
import { codeError } from '../errors';
import { native, type NativeQp } from '../native';
import type { AddressHandle } from './ah';
import { completionError, WorkCompletion } from './completion';
import type { CompletionQueue } from './cq';
import { MemoryRegion, Sge } from './mr';
import type { MemoryWindow } from './mw';
import type { ProtectionDomain } from './pd';
import type { SharedReceiveQueue } from './srq';
import { libraryWrId, RECV_TAG, SEND_TAG, type Settle, WorkQueue } from './work-queue';
import {
  FlushTarget,
  Held,
  libraryWr,
  recvWr,
  RecvWr,
  SendWr,
  toNative,
  toNativeRecv,
  WindowBind,
} from './work-request';
import { Opcode, SendFlags, type OpcodeName } from './access';
import { Desc, descriptors } from './descriptor';
import { checkCallerIds, posting } from './wr-id';

/** Transport of a queue pair: reliable connected, unreliable connected, or unreliable datagram. */
export type QpType = 'RC' | 'UC' | 'UD';
/** State of a queue pair (ibv_qp_state without the IBV_QPS_ prefix), or `CLOSED` once it is destroyed. */
export type QpState = 'RESET' | 'INIT' | 'RTR' | 'RTS' | 'SQD' | 'SQE' | 'ERR' | 'CLOSED';

/**
 * Creation attributes of a queue pair (ibv_qp_init_attr), for pd.createQp(). Out-of-range values fail
 * with ERR_OUT_OF_RANGE; the device may round capacities up (query().cap reports them).
 */
export interface QpInit {
  /** Transport type. */
  type: QpType;
  /** CQ that send completions arrive on. */
  sendCq: CompletionQueue;
  /** CQ that receive completions arrive on (default: sendCq). */
  recvCq?: CompletionQueue;
  /** Send queue depth (1 … 2^20, default 128). */
  maxSendWr?: number;
  /** Receive queue depth (1 … 2^20, default 128). */
  maxRecvWr?: number;
  /** Scatter/gather entries per send (1 … 64, default 1). */
  maxSendSge?: number;
  /** Scatter/gather entries per receive (1 … 64, default 1). */
  maxRecvSge?: number;
  /** Bytes a send may carry inline (0 … 65536, default 0). */
  maxInlineData?: number;
  /** Every send WR generates a completion (default: only those marked signaled). */
  sqSigAll?: boolean;
  /** Receive through this shared receive queue instead of the QP's own. */
  srq?: SharedReceiveQueue;
  /**
   * The operations of the extended send API this QP posts (qp.postBatch()): it is made with
   * ibv_create_qp_ex. Operations the device, provider or this build lacks (ATOMIC_WRITE, FLUSH) fail
   * with ERR_NOT_SUPPORTED naming the capability; UC and UD QPs take only what they can do.
   */
  sendOps?: OpcodeName[];
}

/**
 * Queue pair attributes (ibv_qp_attr) for qp.modify() and from qp.query(). Only the attributes given are
 * set; out-of-range values fail with ERR_OUT_OF_RANGE.
 */
export interface QpAttributes {
  /** Target state; a transition the IB state machine forbids fails with ERR_QP_STATE. */
  qpState?: Exclude<QpState, 'CLOSED'>;
  /** Index in the port's P_Key table (usually 0). */
  pkeyIndex?: number;
  /** Local port (1 … 255). */
  portNum?: number;
  /** UD: the Q_Key that incoming datagrams must carry (32 bits). */
  qkey?: number;
  /** What partners may do through this QP: Access.REMOTE_WRITE | REMOTE_READ | REMOTE_ATOMIC. */
  qpAccessFlags?: number;
  /** Path MTU in bytes (at most the port's activeMtu). */
  pathMtu?: 256 | 512 | 1024 | 2048 | 4096;
  /** The partner QP's number (24 bits). */
  destQpNum?: number;
  /** First PSN expected from the partner, i.e. its sqPsn (24 bits). */
  rqPsn?: number;
  /** First PSN of this side's sends (24 bits). */
  sqPsn?: number;
  /** RC: RDMA READs/atomics this side may have outstanding (up to DeviceAttributes.maxQpInitRdAtom). */
  maxRdAtomic?: number;
  /** RC: RDMA READs/atomics from the partner this side accepts at once (up to DeviceAttributes.maxQpRdAtom). */
  maxDestRdAtomic?: number;
  /** RC: RNR NAK timer code sent to a partner that finds no receive posted (0 … 31; 12 is 0.64 ms). */
  minRnrTimer?: number;
  /** RC: local ACK timeout, 4.096 µs × 2^timeout (0 … 31; 0 waits forever). */
  timeout?: number;
  /** RC: retries after a timeout before the request fails with RETRY_EXC_ERR (0 … 7). */
  retryCnt?: number;
  /** RC: retries after an RNR NAK before RNR_RETRY_EXC_ERR (0 … 7; 7 retries forever). */
  rnrRetry?: number;
  /** RC/UC: the path to the partner (as AhAttr); on RoCE grh.dgid and grh.sgidIndex are needed. */
  ahAttr?: {
    /** Destination LID (InfiniBand; 0 … 65535). */
    dlid?: number;
    /** Service level (0 … 15). */
    sl?: number;
    /** Source path bits (0 … 127). */
    srcPathBits?: number;
    /** Local port (1 … 255, default 1). */
    portNum?: number;
    /** Global route header: the partner's GID and our source GID index. */
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
  };
}

/** Where a partner's QP is, for connecting an RC/UC QP by hand (the CM layer does this for you). */
export interface RemoteQp {
  /** The partner QP's number. */
  qpNum: number;
  /** The partner's GID (RoCE: its IP-mapped GID, or an IPv4 address). */
  gid: string;
  /** The partner's first send PSN (default 0). */
  psn?: number;
}

// The opcodes a fast-path descriptor carries, by name.
const FAST_OPCODES: Partial<Record<OpcodeName, number>> = {
  RDMA_WRITE: Opcode.RDMA_WRITE,
  RDMA_WRITE_WITH_IMM: Opcode.RDMA_WRITE_WITH_IMM,
  SEND: Opcode.SEND,
  SEND_WITH_IMM: Opcode.SEND_WITH_IMM,
  SEND_WITH_INV: Opcode.SEND_WITH_INV,
  RDMA_READ: Opcode.RDMA_READ,
};
const U64_END = 1n << 64n;
const OFFSET_END = 2 ** 40;
const TWO_32 = 2 ** 32;

const isU32 = (x: unknown): x is number => typeof x === 'number' && x >>> 0 === x;

/**
 * Writes `s` (one scatter/gather entry, or none) into descriptor `at` of `d`; false when the entry is
 * not one the fast path takes as it is (the object path then reports what is wrong with it).
 */
function writeLocal(d: Uint32Array, at: number, s: Sge | undefined, pd: ProtectionDomain): boolean {
  if (s === undefined) {
    d[at + Desc.MR] = Desc.NO_MR;
    d[at + Desc.LENGTH] = 0;
    return true;
  }
  const mr = s?.mr;
  if (!(mr instanceof MemoryRegion) || mr.pd !== pd || mr._closed) return false;
  const offset = s.offset ?? 0;
  const length = s.length ?? mr.length - offset;
  if (!Number.isInteger(offset) || offset < 0 || offset > OFFSET_END || !isU32(length)) return false;
  d[at + Desc.MR] = mr.id;
  d[at + Desc.OFFSET] = offset % TWO_32;
  d[at + Desc.OFFSET_HIGH] = offset / TWO_32;
  d[at + Desc.LENGTH] = length;
  return true;
}

/** Settles a promise-level work request on its completion: resolved on success, else a named error. */
function settler(
  resolve: (wc: WorkCompletion) => void,
  reject: (e: Error) => void,
  what: string,
): (wc: WorkCompletion) => void {
  return (wc) => (wc.status === 'SUCCESS' ? resolve(wc) : reject(completionError(wc, what)));
}

// The promise API's READ, WRITE and SEND as work requests, for the object path.
type ReadArgs = { local: Sge; remoteAddr: bigint; rkey: number };
type WriteArgs = ReadArgs & { imm?: number; inline?: boolean };
type SendArgs = { local: Sge; imm?: number; inline?: boolean };
const asRead = (o: ReadArgs): Omit<SendWr, 'wrId' | 'signaled'> => ({
  opcode: 'RDMA_READ',
  sgl: [o.local],
  remoteAddr: o.remoteAddr,
  rkey: o.rkey,
});
const asWrite = (o: WriteArgs): Omit<SendWr, 'wrId' | 'signaled'> => ({
  opcode: o.imm === undefined ? 'RDMA_WRITE' : 'RDMA_WRITE_WITH_IMM',
  sgl: [o.local],
  remoteAddr: o.remoteAddr,
  rkey: o.rkey,
  imm: o.imm,
  inline: o.inline,
});
const asSend = (o: SendArgs): Omit<SendWr, 'wrId' | 'signaled'> => ({
  opcode: o.imm === undefined ? 'SEND' : 'SEND_WITH_IMM',
  sgl: [o.local],
  imm: o.imm,
  inline: o.inline,
});

/**
 * A queue pair (ibv_create_qp(3)): RC, UC or UD, with explicit state transitions, a raw post API and
 * promise-level operations that resolve with their completion (or reject with a CompletionError).
 * Keeps its protection domain, CQs and SRQ alive; its posted work keeps the memory it uses alive.
 * @example
 * A fragment of `examples/hello-verbs.mjs` (the complete program): `a` and `b` are two ends, each a
 * context, GID, protection domain, completion queue, region `mr` and RC queue pair `qp`.
 * ```ts
 * const access = Access.REMOTE_WRITE | Access.REMOTE_READ;
 * // RESET → INIT → RTR → RTS, each towards the other (the CM's connect() does this for you)
 * a.qp.connectTo({ qpNum: b.qp.qpNum, gid: b.gid.gid }, { sgidIndex: a.gid.index, access });
 * b.qp.connectTo({ qpNum: a.qp.qpNum, gid: a.gid.gid }, { sgidIndex: b.gid.index, access });
 * // WRITE a's bytes into b's memory, then READ b's bytes back
 * await a.qp.write({ local: { mr: a.mr, offset: 0, length: 5 }, remoteAddr: b.mr.addr, rkey: b.mr.rkey });
 * await a.qp.read({ local: { mr: a.mr, offset: 2048, length: 5 }, remoteAddr: b.mr.addr + 1024n, rkey: b.mr.rkey });
 * ```
 */
export class QueuePair {
  /** @internal */
  readonly native: NativeQp;
  /** The protection domain the QP was created in. */
  readonly pd: ProtectionDomain;
  /** CQ of send completions. */
  readonly sendCq: CompletionQueue;
  /** CQ of receive completions (the sendCq when none was given). */
  readonly recvCq: CompletionQueue;
  /** The QP number partners address (destQpNum, remoteQpn). */
  readonly qpNum: number;
  /** Transport type. */
  readonly type: QpType;
  /** The shared receive queue the QP receives through, if it was created with one. */
  readonly srq?: SharedReceiveQueue;
  private readonly sq: WorkQueue;
  private readonly rq: WorkQueue;
  // The promise API's descriptors, reused from post to post, and the same memory as 64-bit words.
  private desc = descriptors(1);
  private wide = new BigUint64Array(this.desc.buffer);

  /** @internal Made by pd.createQp() (and by the CM layer). */
  constructor(pd: ProtectionDomain, init: QpInit, wrapped?: NativeQp) {
    if (!init || typeof init !== 'object')
      throw codeError('ERR_INVALID_ARG_TYPE', 'QP init attributes must be an object');
    this.native =
      wrapped ??
      new native.QueuePair(pd.native, {
        ...init,
        sendCq: init.sendCq?.native,
        recvCq: init.recvCq?.native,
        srq: init.srq?.native,
      });
    this.pd = pd;
    this.sendCq = init.sendCq;
    this.recvCq = init.recvCq ?? init.sendCq;
    const info = this.native.info();
    this.qpNum = info.qpNum;
    this.type = info.type;
    this.sq = new WorkQueue(this.sendCq, this, this.qpNum, SEND_TAG, this.type !== 'UD');
    this.rq = new WorkQueue(this.recvCq, this, this.qpNum, RECV_TAG, this.type !== 'UD');
    this.sendCq.qps.set(this.qpNum, new WeakRef(this));
    this.recvCq.qps.set(this.qpNum, new WeakRef(this));
    pd.context._qps.set(this.qpNum, new WeakRef(this));
    if (init.srq) {
      this.srq = init.srq;
      init.srq.cqs.add(this.recvCq);
    }
  }

  /** The current state, asked of the driver (it sees the device's own moves to ERR); `CLOSED` once closed. */
  get state(): QpState {
    return this.native.state;
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.native.closed;
  }

  /** ibv_modify_qp(3); an invalid state transition fails with ERR_QP_STATE before reaching the driver. */
  modify(attrs: QpAttributes): void {
    this.native.modify(attrs);
  }

  /**
   * The QP's attributes (ibv_query_qp(3)): those of its type, `ahAttr` once connected (RC/UC from RTR on).
   * Throws ERR_CLOSED once closed.
   */
  query(): Required<Pick<QpAttributes, 'qpState' | 'portNum' | 'qpAccessFlags'>> &
    QpAttributes & {
      /** Actual capacities: maxSendWr, maxRecvWr, maxSendSge, maxRecvSge, maxInlineData. */
      cap: Record<string, number>;
    } {
    return this.native.query();
  }

  /**
   * RESET → INIT → RTR → RTS against a partner QP whose number and GID are known (RC/UC). Defaults: port 1,
   * pathMtu 1024, no remote access, PSN 0, rdAtomic 16 (RC); RC also gets timeout 14, retryCnt 7,
   * rnrRetry 7 (forever) and minRnrTimer 12. `sgidIndex`: our GID index (see Context.queryGidTable()).
   */
  connectTo(
    remote: RemoteQp,
    o: {
      portNum?: number;
      sgidIndex: number;
      pathMtu?: 256 | 512 | 1024 | 2048 | 4096;
      access?: number;
      psn?: number;
      rdAtomic?: number;
    },
  ): void {
    const portNum = o.portNum ?? 1;
    this.modify({ qpState: 'INIT', pkeyIndex: 0, portNum, qpAccessFlags: o.access ?? 0 });
    const rtr: QpAttributes = {
      qpState: 'RTR',
      pathMtu: o.pathMtu ?? 1024,
      destQpNum: remote.qpNum,
      rqPsn: remote.psn ?? 0,
      ahAttr: { portNum, grh: { dgid: remote.gid, sgidIndex: o.sgidIndex, hopLimit: 64 } },
    };
    if (this.type === 'RC') Object.assign(rtr, { maxDestRdAtomic: o.rdAtomic ?? 16, minRnrTimer: 12 });
    this.modify(rtr);
    const rts: QpAttributes = { qpState: 'RTS', sqPsn: o.psn ?? 0 };
    if (this.type === 'RC')
      Object.assign(rts, { timeout: 14, retryCnt: 7, rnrRetry: 7, maxRdAtomic: o.rdAtomic ?? 16 });
    this.modify(rts);
  }

  // ---- raw API -------------------------------------------------------------------------------

  /**
   * Posts send work requests in one call (ibv_post_send(3), at most 4096). Their regions stay alive until
   * they complete; completions are raw (the CQ's 'completion' event, or cq.poll()). A post the device
   * accepts only in part throws with `posted` set to the number accepted, which are then in flight.
   */
  postSend(wrs: SendWr[]): void {
    if (!Array.isArray(wrs)) throw codeError('ERR_INVALID_ARG_TYPE', 'wrs must be an array');
    checkCallerIds(wrs);
    this.postSends(wrs.map((w) => ({ w, settle: undefined })));
  }

  /**
   * The fast path's post: the first `count` send requests of `desc` (fixed-shape descriptors, see
   * Desc and descriptors()), in one call into the addon and one ibv_post_send. Each request has at most
   * one local entry, named by its region's `id`; opcodes RDMA_WRITE(_WITH_IMM), SEND(_WITH_IMM),
   * SEND_WITH_INV and RDMA_READ on RC and UC queue pairs (others: postSend()). Ids are numbers of up to
   * 63 bits in two words. Every descriptor is checked before any is posted; a bad one throws with a
   * `code` naming what is wrong. Completions are raw (cq.pollRing(), cq.onRing() or 'completion').
   * Unlike postSend(), nothing is tracked per request: the regions named must stay open until their
   * requests complete, and the requests do not keep the event loop alive.
   */
  postFast(desc: Uint32Array, count: number): void {
    this.native.postFast(desc, count, false);
  }

  /** The fast path's receives: the first `count` descriptors of `desc` (id and local memory), as postFast(). */
  postRecvFast(desc: Uint32Array, count: number): void {
    this.native.postRecvFast(desc, count, false);
  }

  /**
   * Builds send work requests once, to post them many times with no per-post conversion (the fast
   * path benchmarks use). Their regions cannot be closed until the prepared requests are released.
   * Completions of prepared requests are raw: read them with cq.poll() / cq.pollCount().
   */
  prepareSend(wrs: SendWr[]): PreparedSend {
    if (!Array.isArray(wrs) || wrs.length === 0)
      throw codeError('ERR_INVALID_ARG_TYPE', 'wrs must be a non-empty array');
    checkCallerIds(wrs);
    const built = wrs.map(toNative);
    const handle: number = this.native.prepareSend(built.map((b) => b.wr));
    return new PreparedSend(
      this,
      handle,
      built.flatMap((b) => b.held),
    );
  }

  /**
   * Posts receive work requests in one call (ibv_post_recv(3), at most 4096), with raw completions and
   * partial posts as for postSend(). A QP with an SRQ fails with ERR_UNSUPPORTED.
   */
  postRecv(wrs: RecvWr[]): void {
    if (!Array.isArray(wrs)) throw codeError('ERR_INVALID_ARG_TYPE', 'wrs must be an array');
    checkCallerIds(wrs);
    this.receive(wrs.map((w) => ({ w, settle: undefined })));
  }

  /**
   * Posts send work requests as one batch of the extended send API (ibv_wr_start, an ibv_wr_* call per
   * request, ibv_wr_complete) on a QP created with `sendOps` naming each opcode used; ATOMIC_WRITE and
   * FLUSH are posted this way only. Regions stay alive until completion and completions are raw, as
   * with postSend(); every request is checked first, and a batch the provider refuses posts none.
   */
  postBatch(wrs: SendWr[]): void {
    if (!Array.isArray(wrs)) throw codeError('ERR_INVALID_ARG_TYPE', 'wrs must be an array');
    checkCallerIds(wrs);
    this.postSends(
      wrs.map((w) => ({ w, settle: undefined })),
      true,
    );
  }

  // The object path; `library`: the requests carry the library's ids (libraryWrId of this queue's
  // next numbers), not the caller's.
  private postSends(
    items: { w: SendWr; settle?: (wc: WorkCompletion) => void }[],
    batch = false,
    library = false,
  ): void {
    const built = items.map(({ w }) => toNative(w));
    const wrs = built.map((b) => b.wr);
    posting(
      items.length,
      (n) => {
        for (let i = 0; i < n; i++)
          this.sq.track(library ? undefined : items[i].w.wrId, built[i].held, items[i].settle);
      },
      () => (batch ? this.native.postBatch(wrs) : this.native.postSend(wrs)),
    );
  }

  private receive(items: { w: RecvWr; settle?: (wc: WorkCompletion) => void }[], library = false): void {
    const built = items.map(({ w }) => toNativeRecv(w));
    if (this.srq)
      throw codeError('ERR_UNSUPPORTED', 'this queue pair receives through its shared receive queue');
    posting(
      items.length,
      (n) => {
        for (let i = 0; i < n; i++)
          this.rq.track(library ? undefined : items[i].w.wrId, built[i].held, items[i].settle);
      },
      () => this.native.postRecv(built.map((b) => b.wr)),
    );
  }

  /**
   * @internal Called by the CQ for the completion at word `at` of its ring: retires its request (and
   * the unsignaled ones before it) and settles its promise; false when the completion stays raw.
   */
  _completeAt(ring: Uint32Array, at: number, cq: CompletionQueue): boolean {
    const tag = ring[at + 1];
    if (tag === SEND_TAG || tag === RECV_TAG) {
      return (tag === SEND_TAG ? this.sq : this.rq).complete(ring[at], at, cq);
    }
    // Requests posted with the caller's ids (postSend, postRecv) are found by id; the fast path's are raw.
    if (this.sq.callers === 0 && this.rq.callers === 0 && this.srq === undefined) return false;
    const wc = cq._objectAt(at, this.type !== 'UD');
    // A failed completion has no valid opcode: which queue posted its wrId tells.
    const isRecv =
      wc.status === 'SUCCESS'
        ? wc.opcode === 'RECV' || wc.opcode === 'RECV_RDMA_WITH_IMM'
        : !this.sq.has(wc.wrId) && (this.srq !== undefined || this.rq.has(wc.wrId));
    if (isRecv && this.srq) return this.srq._complete(wc);
    return (isRecv ? this.rq : this.sq).retire(wc);
  }

  // ---- fast path of the promise API ----------------------------------------------------------

  /** Room for `n` descriptors in this.desc. */
  private descFor(n: number): Uint32Array {
    if (this.desc.length < n * Desc.STRIDE) {
      this.desc = descriptors(n);
      this.wide = new BigUint64Array(this.desc.buffer);
    }
    return this.desc;
  }

  /**
   * Writes the library's send request `seq` into descriptor i of this.desc (`imm`: the immediate data,
   * or SEND_WITH_INV's rkey); false when the fast path does not take it as it is.
   */
  private writeSend(
    i: number,
    op: number | undefined,
    local: Sge | undefined,
    remoteAddr: unknown,
    rkey: unknown,
    imm: unknown,
    flags: number,
    seq: number,
  ): boolean {
    if (op === undefined || this.type === 'UD') return false;
    const d = this.desc;
    const at = i * Desc.STRIDE;
    if (!writeLocal(d, at, local, this.pd)) return false;
    if (op === Opcode.RDMA_WRITE || op === Opcode.RDMA_WRITE_WITH_IMM || op === Opcode.RDMA_READ) {
      if (typeof remoteAddr !== 'bigint' || remoteAddr < 0n || remoteAddr >= U64_END || !isU32(rkey))
        return false;
      this.wide[(at + Desc.REMOTE) >> 1] = remoteAddr;
      d[at + Desc.RKEY] = rkey;
    }
    if (op === Opcode.RDMA_WRITE_WITH_IMM || op === Opcode.SEND_WITH_IMM || op === Opcode.SEND_WITH_INV) {
      if (!isU32(imm)) return false;
      d[at + Desc.IMM] = imm;
    }
    d[at + Desc.ID] = seq;
    d[at + Desc.ID_HIGH] = SEND_TAG;
    d[at + Desc.OPCODE] = op;
    d[at + Desc.FLAGS] = flags;
    return true;
  }

  /** writeSend() of a SendWr. */
  private writeWr(i: number, w: Omit<SendWr, 'wrId' | 'signaled'>, seq: number, signaled: boolean): boolean {
    const op = FAST_OPCODES[w?.opcode];
    const sgl = w?.sgl;
    if (op === undefined || (sgl !== undefined && (!Array.isArray(sgl) || sgl.length > 1))) return false;
    const flags =
      (signaled ? SendFlags.SIGNALED : 0) |
      (w.inline ? SendFlags.INLINE : 0) |
      (w.fence ? SendFlags.FENCE : 0) |
      (w.solicited ? SendFlags.SOLICITED : 0);
    const imm = op === Opcode.SEND_WITH_INV ? w.invalidateRkey : w.imm;
    return this.writeSend(i, op, sgl?.[0], w.remoteAddr, w.rkey, imm, flags, seq);
  }

  /**
   * Posts `wrs` through the fast path with only the last one signaled, settle[i] taking request i's
   * completion; false (nothing posted) when one of them is not for the fast path.
   */
  private postFastChain(wrs: Omit<SendWr, 'wrId' | 'signaled'>[], settle: Settle[]): boolean {
    const n = wrs.length;
    this.descFor(n);
    const first = this.sq.next;
    for (let i = 0; i < n; i++) if (!this.writeWr(i, wrs[i], (first + i) >>> 0, i === n - 1)) return false;
    posting(
      n,
      (accepted) => {
        for (let i = 0; i < accepted; i++) this.sq.track(undefined, wrs[i].sgl?.[0]?.mr, settle[i]);
      },
      () => this.native.postFast(this.desc, n, true),
    );
    return true;
  }

  /**
   * One signaled request of the promise API, from its operands: through the fast path, or, when it
   * does not take them as they are, as `w()` through the object path (which reports what is wrong).
   */
  private postOne<O>(
    op: number,
    local: Sge | undefined,
    remoteAddr: unknown,
    rkey: unknown,
    imm: unknown,
    inline: unknown,
    settle: Settle,
    o: O,
    asWr: (o: O) => Omit<SendWr, 'wrId' | 'signaled'>,
  ): void {
    const flags = inline ? SendFlags.SIGNALED | SendFlags.INLINE : SendFlags.SIGNALED;
    if (local !== undefined && this.writeSend(0, op, local, remoteAddr, rkey, imm, flags, this.sq.next)) {
      this.native.postFast(this.desc, 1, true);
      this.sq.track(undefined, local?.mr, settle);
    } else {
      this.postSends(
        [{ w: libraryWr(asWr(o), true, libraryWrId(SEND_TAG, this.sq.next)), settle }],
        false,
        true,
      );
    }
  }

  /** Receives into `locals` through the fast path; false (nothing posted) when one is not for it. */
  private postFastRecv(locals: (Sge | undefined)[], settle: Settle[]): boolean {
    if (this.srq) return false;
    const n = locals.length;
    const d = this.descFor(n);
    const first = this.rq.next;
    for (let i = 0; i < n; i++) {
      const at = i * Desc.STRIDE;
      if (!writeLocal(d, at, locals[i], this.pd)) return false;
      d[at + Desc.ID] = (first + i) >>> 0;
      d[at + Desc.ID_HIGH] = RECV_TAG;
    }
    posting(
      n,
      (accepted) => {
        for (let i = 0; i < accepted; i++) this.rq.track(undefined, locals[i]?.mr, settle[i]);
      },
      () => this.native.postRecvFast(d, n, true),
    );
    return true;
  }

  // ---- promise API ---------------------------------------------------------------------------

  /**
   * Posts `wrs` numbered by the library with only the last one signaled: resolves with its completion,
   * rejects with the first failure, whichever request it was (`what(i)` names it in the error).
   */
  private signalLast(
    wrs: Omit<SendWr, 'wrId' | 'signaled'>[],
    what: (i: number) => string,
    batch: boolean,
  ): Promise<WorkCompletion> {
    return new Promise((resolve, reject) => {
      // An unsignaled request completes only when it fails (or on a QP that signals all): a failure rejects.
      const last = wrs.length - 1;
      const settle = wrs.map(
        (_w, i) => (wc: WorkCompletion) =>
          wc.status !== 'SUCCESS' ? reject(completionError(wc, what(i))) : i === last && resolve(wc),
      );
      if (!batch && this.postFastChain(wrs, settle)) return;
      const first = this.sq.next;
      const items = wrs.map((w, i) => ({
        w: libraryWr(w, i === last, libraryWrId(SEND_TAG, (first + i) >>> 0)),
        settle: settle[i],
      }));
      this.postSends(items, batch, true);
    });
  }

  private op(w: Omit<SendWr, 'wrId' | 'signaled'>, what: string, batch = false): Promise<WorkCompletion> {
    if (batch) return this.signalLast([w], () => what, batch);
    return new Promise((resolve, reject) => {
      const settle = settler(resolve, reject, what);
      if (this.writeWr(0, w, this.sq.next, true)) {
        this.native.postFast(this.desc, 1, true);
        this.sq.track(undefined, w.sgl?.[0]?.mr, settle);
      } else {
        this.postSends([{ w: libraryWr(w, true, libraryWrId(SEND_TAG, this.sq.next)), settle }], false, true);
      }
    });
  }

  /**
   * One batch of the extended send API (see postBatch()) with the promise API's completions: every
   * request is signaled and numbered by the library. Resolves with the completions in the requests'
   * order once all have completed; rejects with the first failure (a refused batch posts nothing).
   */
  batch(wrs: Omit<SendWr, 'wrId' | 'signaled'>[]): Promise<WorkCompletion[]> {
    if (!Array.isArray(wrs) || wrs.length === 0)
      return Promise.reject(codeError('ERR_INVALID_ARG_TYPE', 'wrs must be a non-empty array'));
    const done: Promise<WorkCompletion>[] = [];
    const first = this.sq.next;
    const items = wrs.map((w, i) => {
      let settle!: (wc: WorkCompletion) => void;
      done.push(
        new Promise((resolve, reject) => (settle = settler(resolve, reject, `batch[${i}] ${w?.opcode}`))),
      );
      return { w: libraryWr(w, true, libraryWrId(SEND_TAG, (first + i) >>> 0)), settle };
    });
    try {
      this.postSends(items, true, true);
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.all(done);
  }

  /**
   * Posts requests in one call with only the last one signaled (selective signaling: one completion,
   * one CQ event, for the whole chain). Resolves with the last one's completion, by which time every
   * request before it has completed too (a send queue completes in order); rejects with the first
   * failure, whichever request it was. A chain with ATOMIC_WRITE or FLUSH is posted as a batch of the
   * extended send API (see postBatch()); any other with ibv_post_send. The device's send queue must
   * have room for the whole chain.
   */
  chain(wrs: Omit<SendWr, 'wrId' | 'signaled'>[]): Promise<WorkCompletion> {
    if (!Array.isArray(wrs) || wrs.length === 0)
      return Promise.reject(codeError('ERR_INVALID_ARG_TYPE', 'wrs must be a non-empty array'));
    return this.signalLast(
      wrs,
      (i) => `chain[${i}] ${wrs[i].opcode}`,
      wrs.some((w) => w?.opcode === 'ATOMIC_WRITE' || w?.opcode === 'FLUSH'),
    );
  }

  /**
   * ATOMIC_WRITE: `value`'s 8 bytes placed at the partner's 8-byte aligned remoteAddr as one write, which
   * no reader sees in part (a QP created with sendOps including ATOMIC_WRITE).
   */
  atomicWrite(o: { remoteAddr: bigint; rkey: number; value: bigint }): Promise<WorkCompletion> {
    return this.op(
      { opcode: 'ATOMIC_WRITE', remoteAddr: o.remoteAddr, rkey: o.rkey, value: o.value },
      'ATOMIC_WRITE',
      true,
    );
  }

  /**
   * FLUSH: resolves once every earlier write of this QP to the partner's memory at remoteAddr is placed
   * as `placement` asks (a QP created with sendOps including FLUSH).
   */
  flush(o: { remoteAddr: bigint; rkey: number } & FlushTarget): Promise<WorkCompletion> {
    return this.op(
      {
        opcode: 'FLUSH',
        remoteAddr: o.remoteAddr,
        rkey: o.rkey,
        flush: { placement: o.placement, selectivity: o.selectivity, length: o.length },
      },
      'FLUSH',
      true,
    );
  }

  /** RDMA READ of local.length bytes from the partner's remoteAddr into local. */
  read(o: { local: Sge; remoteAddr: bigint; rkey: number }): Promise<WorkCompletion> {
    return new Promise((resolve, reject) =>
      this.postOne(
        Opcode.RDMA_READ,
        o?.local,
        o?.remoteAddr,
        o?.rkey,
        0,
        false,
        settler(resolve, reject, 'RDMA READ'),
        o,
        asRead,
      ),
    );
  }

  /** RDMA WRITE of local to the partner's remoteAddr; with `imm`, WRITE_WITH_IMM (consumes a partner receive). */
  write(o: {
    local: Sge;
    remoteAddr: bigint;
    rkey: number;
    imm?: number;
    inline?: boolean;
  }): Promise<WorkCompletion> {
    return new Promise((resolve, reject) =>
      this.postOne(
        o?.imm === undefined ? Opcode.RDMA_WRITE : Opcode.RDMA_WRITE_WITH_IMM,
        o?.local,
        o?.remoteAddr,
        o?.rkey,
        o?.imm,
        o?.inline,
        settler(resolve, reject, 'RDMA WRITE'),
        o,
        asWrite,
      ),
    );
  }

  /** SEND of local; with `imm`, SEND_WITH_IMM. Resolves when the partner's receive took it. */
  send(o: { local: Sge; imm?: number; inline?: boolean }): Promise<WorkCompletion> {
    return new Promise((resolve, reject) =>
      this.postOne(
        o?.imm === undefined ? Opcode.SEND : Opcode.SEND_WITH_IMM,
        o?.local,
        undefined,
        undefined,
        o?.imm,
        o?.inline,
        settler(resolve, reject, 'SEND'),
        o,
        asSend,
      ),
    );
  }

  /** Posts one receive into local; resolves when a message (or a WRITE_WITH_IMM) lands. */
  recv(o: { local?: Sge }): Promise<WorkCompletion> {
    return new Promise((resolve, reject) => {
      const settle = settler(resolve, reject, 'receive');
      if (this.postFastRecv([o?.local], [settle])) return;
      this.receive([{ w: recvWr(o, libraryWrId(RECV_TAG, this.rq.next)), settle }], true);
    });
  }

  /** Posts many receives in one call; one promise per receive, in order. */
  recvBatch(list: { local?: Sge }[]): Promise<WorkCompletion>[] {
    if (!Array.isArray(list)) throw codeError('ERR_INVALID_ARG_TYPE', 'list must be an array');
    const promises: Promise<WorkCompletion>[] = [];
    const settle = list.map(() => {
      let s!: Settle;
      promises.push(new Promise((resolve, reject) => (s = settler(resolve, reject, 'receive'))));
      return s;
    });
    if (
      list.length === 0 ||
      this.postFastRecv(
        list.map((o) => o?.local),
        settle,
      )
    )
      return promises;
    const first = this.rq.next;
    const items = list.map((o, i) => ({
      w: recvWr(o, libraryWrId(RECV_TAG, (first + i) >>> 0)),
      settle: settle[i],
    }));
    this.receive(items, true);
    return promises;
  }

  /** UD: SEND of local to the QP `remoteQpn` behind `ah`; with `imm`, SEND_WITH_IMM. */
  sendTo(o: {
    ah: AddressHandle;
    remoteQpn: number;
    remoteQkey: number;
    local: Sge;
    imm?: number;
    inline?: boolean;
  }): Promise<WorkCompletion> {
    return this.op(
      {
        opcode: o.imm === undefined ? 'SEND' : 'SEND_WITH_IMM',
        sgl: [o.local],
        imm: o.imm,
        inline: o.inline,
        ah: o.ah,
        remoteQpn: o.remoteQpn,
        remoteQkey: o.remoteQkey,
      },
      'UD SEND',
    );
  }

  /** SEND that also revokes the partner's memory window `rkey` (type 2) once the message lands. */
  sendWithInvalidate(o: { local: Sge; rkey: number }): Promise<WorkCompletion> {
    return this.op(
      { opcode: 'SEND_WITH_INV', sgl: [o.local], invalidateRkey: o.rkey },
      'SEND with invalidate',
    );
  }

  /**
   * Binds a memory window to a range of a region (RC, RTS): resolves with the rkey partners use once
   * the bind has completed. Type 1 windows rebind in place (length 0, still naming the region, revokes);
   * type 2 windows are revoked with invalidateWindow() or the partner's SEND_WITH_INV.
   */
  bindWindow(mw: MemoryWindow, bind: WindowBind): Promise<number> {
    return new Promise((resolve, reject) => {
      if (mw?.type === 1) {
        const wrId = libraryWrId(SEND_TAG, this.sq.next);
        if (!(bind?.mr instanceof MemoryRegion))
          throw codeError(
            'ERR_INVALID_ARG_TYPE',
            'bind.mr must be a MemoryRegion (also for a zero-length unbind)',
          );
        const held: Held[] = [mw, bind.mr];
        const rkey: number = mw.native.bind(this.native, {
          wrId,
          signaled: true,
          ...bind,
          mr: bind.mr.native,
        });
        this.sq.track(undefined, held, (wc) =>
          wc.status === 'SUCCESS'
            ? (mw.hold(bind.length > 0 ? bind.mr : undefined), resolve(rkey))
            : reject(completionError(wc, 'memory window bind')),
        );
        return;
      }
      const settle = (wc: WorkCompletion) =>
        wc.status === 'SUCCESS'
          ? (mw.hold(bind?.length ? bind.mr : undefined), resolve(mw.rkey))
          : reject(completionError(wc, 'memory window bind'));
      const wrId = libraryWrId(SEND_TAG, this.sq.next);
      this.postSends([{ w: { wrId, opcode: 'BIND_MW', signaled: true, mw, bind }, settle }], false, true);
    });
  }

  /** Revokes a type 2 window locally (LOCAL_INV): partners' accesses with its rkey fail from then on. */
  invalidateWindow(mw: MemoryWindow): Promise<WorkCompletion> {
    return this.op({ opcode: 'LOCAL_INV', invalidateRkey: mw.rkey, mw }, 'LOCAL_INV');
  }

  /** Atomic compare-and-swap of the 8 bytes at remoteAddr; the old value lands in local. */
  compareSwap(o: {
    local: Sge;
    remoteAddr: bigint;
    rkey: number;
    compare: bigint;
    swap: bigint;
  }): Promise<WorkCompletion> {
    return this.op(
      {
        opcode: 'ATOMIC_CMP_AND_SWP',
        sgl: [o.local],
        remoteAddr: o.remoteAddr,
        rkey: o.rkey,
        compareAdd: o.compare,
        swap: o.swap,
      },
      'atomic compare-and-swap',
    );
  }

  /** Atomic fetch-and-add on the 8 bytes at remoteAddr; the old value lands in local. */
  fetchAdd(o: { local: Sge; remoteAddr: bigint; rkey: number; add: bigint }): Promise<WorkCompletion> {
    return this.op(
      {
        opcode: 'ATOMIC_FETCH_AND_ADD',
        sgl: [o.local],
        remoteAddr: o.remoteAddr,
        rkey: o.rkey,
        compareAdd: o.add,
      },
      'atomic fetch-and-add',
    );
  }

  /**
   * @internal Runs before the QP is destroyed: the CM's datagram endpoint detaches it from its
   * multicast groups here, as a device refuses to destroy a QP still attached to one.
   */
  beforeClose: (() => void) | null = null;

  /** Destroys the QP; work still outstanding is rejected with ERR_WC_WR_FLUSH_ERR. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.beforeClose?.();
    this.native.close();
    this.sendCq.qps.delete(this.qpNum);
    this.recvCq.qps.delete(this.qpNum);
    this.pd.context._qps.delete(this.qpNum);
    this.sq.flush(this.qpNum);
    this.rq.flush(this.qpNum);
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Send work requests built once by qp.prepareSend(); post() posts them again. */
export class PreparedSend {
  private released = false;

  /** @internal */
  constructor(
    private readonly qp: QueuePair,
    private readonly handle: number,
    private readonly held: Held[],
  ) {
    for (const h of held) h.inflight++;
  }

  /**
   * Posts the prepared requests again (ibv_post_send(3)); their completions are raw. Throws ERR_CLOSED
   * after release() or once the QP is closed.
   */
  post(): void {
    if (this.released) throw codeError('ERR_CLOSED', 'the prepared work requests were released');
    this.qp.native.postPrepared(this.handle);
  }

  /**
   * post(), then `cq.pollCount(1, spinUs)`, in one call into the addon (the fast path of a loop that
   * posts and waits for each completion): 1 when a completion arrived within `spinUs` µs (0 … 1,000,000),
   * 0 when none did; a failed completion throws its ERR_WC_<STATUS>. `cq` is the CQ to poll (usually the
   * QP's send CQ), and must carry only raw work, as for pollCount().
   */
  postAndPoll(cq: CompletionQueue, spinUs = 0): number {
    if (this.released) throw codeError('ERR_CLOSED', 'the prepared work requests were released');
    const n = this.qp.native.postPreparedPoll(this.handle, cq.native, spinUs);
    if (typeof n !== 'number') throw completionError(n, 'work request');
    return n;
  }

  /** Idempotent; the regions may close afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const h of this.held) h.inflight--;
    if (!this.qp.closed) this.qp.native.releasePrepared(this.handle);
  }
}
