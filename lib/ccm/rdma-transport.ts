// The CCM's transport over the real stack: regions registered with the verbs layer on the device that
// owns the node's address, connections from the CM layer, and one-sided operations on their QPs.
//
// Isolation is the NIC's: each partner has a protection domain of its own, holding its slot (remote
// WRITE), its registration of the status block (remote READ) and the queue pairs of its connections. A
// queue pair can only reach regions of its own domain, so a partner's writes into another partner's
// slot, or anywhere else, fail on the wire with a remote access error, whatever rkey it tries.
import {
  connect,
  contextFor,
  createQueuePair,
  listen,
  type Connection,
  type ConnectRequest,
  type Listener,
} from '../cm';
import type { CompletionQueue } from '../verbs';
import {
  Access,
  Desc,
  descriptors,
  Wc,
  type MemoryRegion,
  type OpcodeName,
  type ProtectionDomain,
  type QueuePair,
  type SendWr,
} from '../verbs';
import { Chunk, Staging } from './staging';
import type {
  ConnectOptions,
  Endpoint,
  EndpointOptions,
  FlushPlacement,
  IncomingRequest,
  Link,
  Outgoing,
  Transport,
} from './transport';
import type { RegionCoords } from './wire/mailbox';
import { abortError, codeError } from '../errors';
import { native } from '../native';
import { completionError } from '../verbs/completion';

const { WITH_IMM } = native.constants.wcFlags;

/** Send work requests a link keeps in flight; more wait in the link's queue. */
const SEND_DEPTH = 128;
/**
 * Work requests posted in one call with one completion (the last is signaled): a quarter of the depth,
 * so that further chains are posted while one is in flight.
 */
const CHAIN_MAX = SEND_DEPTH / 4;
/** Receives kept posted for the partner's WRITE_WITH_IMM doorbells. */
const RECV_DEPTH = 256;
/** Of those, the ones posted before the connection is made (enough for the handshake's bells). */
const RECV_EARLY = 16;
/**
 * Links kept ready per partner (CQ, QP in INIT, receives posted) for the next connections, made before
 * the node listens: an accept or a connect then only moves the QP through RTR and RTS. Two, so that a
 * probe of the partner and the partner's own request can each find one.
 */
const SPARE_LINKS = 2;
/** RDMA READ/atomic depth requested of the CM (the handshake's READs need at least one). */
const RD_ATOMIC = 4;
/** Receive-not-ready NAK delay asked of partners (IB encoding: 0.01 ms) instead of rdma_cm's 655 ms. */
const MIN_RNR_TIMER = 1;
/** Staging room beyond the largest single message, so control writes do not queue behind a large record. */
const CONTROL_ROOM = 64 << 10;

const bytesOf = (mr: MemoryRegion) => new Uint8Array(mr.buffer.buffer, mr.buffer.byteOffset, mr.length);

/**
 * Registered staging regions kept for the next connection of one partner: a link takes one instead of
 * waiting for a registration, and gives it back when it ends.
 */
class StagingPool {
  private readonly spare: MemoryRegion[] = [];
  private closed = false;

  constructor(
    private readonly pd: ProtectionDomain,
    readonly bytes: number,
  ) {
    this.spare.push(this.alloc(bytes));
  }

  private alloc(bytes: number): MemoryRegion {
    return this.pd.allocMemory(bytes, Access.LOCAL_WRITE);
  }

  take(bytes = this.bytes): MemoryRegion {
    const i = this.spare.findIndex((m) => m.length >= bytes);
    return i >= 0 ? this.spare.splice(i, 1)[0] : this.alloc(Math.max(bytes, this.bytes));
  }

  give(mr: MemoryRegion): void {
    if (this.closed || this.spare.length > 0) mr.close();
    else this.spare.push(mr);
  }

  close(): void {
    this.closed = true;
    for (const mr of this.spare.splice(0)) mr.close();
  }
}

/** A READ, WRITE or FLUSH waiting in a link's queue for staging room and a send credit. */
interface Op {
  length: number;
  /** The work request, on its staging chunk (a WRITE copies its bytes in here). */
  wr: (mr: MemoryRegion, c: Chunk) => Omit<SendWr, 'wrId' | 'signaled'>;
  /** What the operation resolves with once it completed (a READ's bytes). */
  done?: (mr: MemoryRegion, c: Chunk) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** The access flags a FLUSH to `placement` needs, on a region and on the responder's QP (0 for none). */
function flushAccess(placement: FlushPlacement | undefined): number {
  return placement === 'persistent'
    ? Access.FLUSH_GLOBAL | Access.FLUSH_PERSISTENT
    : placement === 'global'
      ? Access.FLUSH_GLOBAL
      : 0;
}

/** One partner's protection domain: its slot, its registration of the status block, its links' queue pairs. */
class Domain {
  readonly slotMr: MemoryRegion;
  readonly staging: StagingPool;
  /** The FLUSH this domain's slot and QPs take, if its device places FLUSH. */
  readonly flush: FlushPlacement | undefined;
  readonly spares: RdmaLink[] = [];

  /**
   * Takes `statusMr` (and `pd`): if the domain cannot be made, they are closed with what it made. The
   * slot is new memory for link 0, unless `memory` is given (the node's NVRAM region); a further link
   * registers link 0's slot memory (`memory`) on its own device, so that the partner's writes over any
   * link land in the same bytes.
   */
  constructor(
    readonly address: string,
    readonly pd: ProtectionDomain,
    readonly statusMr: MemoryRegion,
    slotSize: number,
    memory?: Uint8Array,
  ) {
    let slotMr: MemoryRegion | null = null;
    try {
      const access = Access.LOCAL_WRITE | Access.REMOTE_WRITE;
      const register = (a: number) => (memory ? pd.registerMemory(memory, a) : pd.allocMemory(slotSize, a));
      // Where the device places FLUSH, the slot takes it: to persistence where its memory allows it
      // (rxe refuses a persistent registration of memory that is not pmem), else to global visibility.
      const caps = pd.context.queryDevice().capabilities;
      this.flush = caps.flushInThisBuild && caps.flushGlobal ? 'global' : undefined;
      if (this.flush && caps.flushPersistent) {
        try {
          slotMr = register(access | flushAccess('persistent'));
          this.flush = 'persistent';
        } catch {
          // not pmem: the slot takes FLUSH to global visibility only
        }
      }
      slotMr ??= register(access | flushAccess(this.flush));
      // Staging holds the largest record this node accepts (half its ring), plus room for control writes;
      // a session with a partner whose ring is larger grows its link's staging (Link.deepen).
      this.staging = new StagingPool(pd, Math.min(64 << 20, Math.max(256 << 10, slotSize + CONTROL_ROOM)));
    } catch (e) {
      slotMr?.close();
      statusMr.close();
      pd.close();
      throw e;
    }
    this.slotMr = slotMr;
  }

  close(): void {
    for (const l of this.spares.splice(0)) l.close();
    this.staging.close();
    this.slotMr.close();
    this.statusMr.close();
    this.pd.close();
  }
}

class RdmaLink implements Link {
  privateData: Uint8Array = new Uint8Array(0);
  private conn: Connection | null = null;
  private staging: Staging | null = null;
  private stagingMr: MemoryRegion | null = null;
  private readonly recvMr: MemoryRegion;
  /** RECV_DEPTH receive descriptors, all alike (a doorbell carries only its immediate): posted as they are. */
  private readonly recvDesc = descriptors(RECV_DEPTH);
  readonly cq: CompletionQueue;
  readonly qp: QueuePair;
  private readonly doorbells: ((imm: number) => void)[] = [];
  private readonly closers: ((reason: string) => void)[] = [];
  private credits = SEND_DEPTH;
  /** Every READ and WRITE, in call order: each is posted only when those before it were. */
  private readonly queue: Op[] = [];
  /** A larger staging region to move to once the current one is idle (deepen). */
  private growTo = 0;
  private ended: string | null = null;
  private deepened = false;

  /** Made before its connection: a CQ, a QP in INIT and the first doorbell receives; attach() adopts the connection. */
  constructor(
    private readonly domain: Domain,
    private readonly hooks: { ended: (l: RdmaLink) => void; settled: () => void },
  ) {
    const pd = domain.pd;
    this.recvMr = pd.allocMemory(64, Access.LOCAL_WRITE);
    let cq: CompletionQueue | null = null;
    try {
      cq = pd.context.createCq({ cqe: SEND_DEPTH + RECV_DEPTH });
      // A device that places FLUSH gets a QP that posts it too (through the extended API).
      const sendOps: OpcodeName[] | undefined = domain.flush
        ? ['RDMA_WRITE', 'RDMA_WRITE_WITH_IMM', 'RDMA_READ', 'FLUSH']
        : undefined;
      this.qp = createQueuePair({
        localAddress: domain.address,
        pd,
        sendCq: cq,
        qp: { maxSendWr: SEND_DEPTH, maxRecvWr: RECV_DEPTH, sendOps },
      });
    } catch (e) {
      cq?.close();
      this.recvMr.close();
      throw e;
    }
    this.cq = cq;
    for (let i = 0; i < RECV_DEPTH; i++) {
      const at = i * Desc.STRIDE;
      this.recvDesc[at + Desc.MR] = this.recvMr.id;
      this.recvDesc[at + Desc.LENGTH] = 64;
    }
    // Doorbell receives are the fast path's: their completions come raw, one call per drain (the
    // promise-level READs, WRITEs and FLUSHes on this CQ still settle their promises first).
    cq.onRing((ring, count) => this.received(ring, count));
    this.postRecvs(RECV_EARLY);
    if (domain.flush)
      this.flush = (remoteAddr, rkey, placement) =>
        this.enqueue(0, () => ({
          opcode: 'FLUSH',
          remoteAddr,
          rkey,
          flush: { placement, selectivity: 'region' },
        }));
  }

  readonly flush?: (remoteAddr: bigint, rkey: number, placement: FlushPlacement) => Promise<void>;

  /** Never connected, or refused before the QP left INIT: it can serve the next connection. */
  get reusable(): boolean {
    return !this.conn && !this.ended && this.qp.state === 'INIT';
  }

  get maxMessage(): number {
    return Math.max(this.staging?.size ?? 0, this.growTo);
  }

  attach(conn: Connection): this {
    this.conn = conn;
    this.privateData = new Uint8Array(conn.privateData);
    this.stagingMr = this.domain.staging.take();
    this.staging = new Staging(this.stagingMr.length);
    conn.on('disconnected', () => this.end('disconnected by the partner'));
    conn.on('device-removal', () => this.end('RDMA device removed'));
    return this;
  }

  /** The rest of the receives, and staging for the session's largest message, once the handshake is over. */
  deepen(maxMessage: number): void {
    if (this.deepened) return;
    this.deepened = true;
    const want = Math.min(1 << 30, Math.ceil(maxMessage / 8) * 8 + CONTROL_ROOM);
    if (this.staging && want > this.staging.size) {
      this.growTo = want;
      this.pump();
    }
    this.postRecvs(RECV_DEPTH - RECV_EARLY);
    this.hooks.settled();
  }

  private postRecvs(n: number): void {
    if (this.ended) return;
    try {
      this.qp.postRecvFast(this.recvDesc, n);
    } catch (e) {
      this.end(`receives not posted: ${(e as Error & { code?: string }).code ?? (e as Error).message}`);
    }
  }

  /**
   * One drain's receive completions: the receives are posted again in one call, then each doorbell goes
   * to the listeners, in order. A failed receive ends the link after the doorbells before it (one flushed
   * from a link never attached, a spare closed, ends nothing).
   */
  private received(ring: Uint32Array, count: number): void {
    if (this.ended) return;
    let ok = 0;
    while (ok < count && ring[ok * Wc.STRIDE + Wc.STATUS] === 0) ok++;
    // Read before any listener runs: the ring holds this drain only until the CQ is drained again.
    const failed = ok < count ? completionError(this.cq._objectAt(ok * Wc.STRIDE, true), 'receive') : null;
    if (!failed) this.postRecvs(count);
    for (let i = 0; i < ok && !this.ended; i++) {
      const at = i * Wc.STRIDE;
      if (ring[at + Wc.FLAGS] & WITH_IMM) for (const d of this.doorbells) d(ring[at + Wc.DATA]);
    }
    if (failed && this.conn) this.end(`receive failed: ${failed.code}`);
  }

  private closedError(): Error {
    return codeError('ERR_WC_WR_FLUSH_ERR', `link closed: ${this.ended}`);
  }

  /**
   * Queues one operation; it is posted once everything queued before it was posted and its room is
   * free. What is queued in one turn of the event loop is posted together (pump).
   */
  private enqueue<T>(length: number, wr: Op['wr'], done?: (mr: MemoryRegion, c: Chunk) => T): Promise<T> {
    if (this.ended || !this.staging) return Promise.reject(this.closedError());
    if (length > this.maxMessage)
      return Promise.reject(
        codeError(
          'ERR_OUT_OF_RANGE',
          `operation of ${length} bytes exceeds the link's staging (${this.maxMessage} bytes)`,
        ),
      );
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ length, wr, done, resolve: resolve as (v: unknown) => void, reject });
      if (this.pumpDue) return;
      this.pumpDue = true;
      queueMicrotask(() => {
        this.pumpDue = false;
        this.pump();
      });
    });
  }

  private pumpDue = false;

  /**
   * Posts what the queue's head can have now (credits, staging room) as chains: one ibv_post_send each,
   * only its last request signaled. A chain's operations settle together with that completion, which
   * also frees their staging and credits; a queue completes in order, so an earlier one is done by then.
   */
  private pump(): void {
    while (!this.ended && this.staging && this.stagingMr) {
      if (this.growTo > this.staging.size) {
        if (!this.staging.idle) return; // moves once what is in flight on the old region completes
        this.grow();
        continue;
      }
      const staging = this.staging;
      const mr = this.stagingMr;
      const chain: { op: Op; c: Chunk }[] = [];
      const wrs: Omit<SendWr, 'wrId' | 'signaled'>[] = [];
      while (chain.length < CHAIN_MAX && this.credits > 0 && this.queue.length > 0) {
        const op = this.queue[0];
        const c = staging.tryAlloc(op.length);
        if (!c) break;
        this.queue.shift();
        try {
          wrs.push(op.wr(mr, c));
        } catch (e) {
          staging.free(c);
          op.reject(e as Error);
          continue;
        }
        this.credits--;
        chain.push({ op, c });
      }
      if (chain.length === 0) return;
      this.qp
        .chain(wrs)
        .then(
          () => {
            for (const { op, c } of chain) {
              try {
                op.resolve(op.done?.(mr, c));
              } catch (e) {
                op.reject(e as Error);
              }
            }
          },
          (e: Error & { posted?: number }) => {
            // A post the device took only in part left its first requests on the wire, reading their
            // staging chunks and writing the partner's memory: the link ends first (its QP moves to the
            // error state and flushes them), so no later operation reuses those chunks or lands behind them.
            if ((e.posted ?? 0) > 0) this.end(`post accepted in part: ${e.message}`);
            for (const { op } of chain) op.reject(e);
          },
        )
        .finally(() => {
          this.credits += chain.length;
          for (const { c } of chain) staging.free(c);
          this.pump();
        });
    }
  }

  private grow(): void {
    const want = this.growTo;
    this.growTo = 0;
    try {
      const mr = this.domain.staging.take(want);
      this.domain.staging.give(this.stagingMr!);
      this.stagingMr = mr;
      this.staging = new Staging(mr.length);
    } catch {
      // Registration failed: the link keeps its region, and larger messages are refused (maxMessage).
    }
    for (const op of this.queue.splice(0).reverse()) {
      if (op.length <= this.staging!.size) this.queue.unshift(op);
      else
        op.reject(
          codeError(
            'ERR_OUT_OF_RANGE',
            `operation of ${op.length} bytes exceeds the link's staging (${this.staging!.size} bytes)`,
          ),
        );
    }
  }

  read(remoteAddr: bigint, rkey: number, length: number): Promise<Uint8Array> {
    return this.enqueue(
      length,
      (mr, c) => ({ opcode: 'RDMA_READ', sgl: [{ mr, offset: c.offset, length }], remoteAddr, rkey }),
      (mr, c) => mr.buffer.subarray(c.offset, c.offset + length).slice(),
    );
  }

  write(data: Outgoing, remoteAddr: bigint, rkey: number, imm?: number): Promise<void> {
    // Zero bytes (a bare doorbell) take an empty chunk: one path for every write.
    const length = data.byteLength;
    return this.enqueue(length, (mr, c) => {
      if (data instanceof Uint8Array) mr.buffer.set(data, c.offset);
      else data.fill(mr.buffer.subarray(c.offset, c.offset + length));
      return {
        opcode: imm === undefined ? 'RDMA_WRITE' : 'RDMA_WRITE_WITH_IMM',
        sgl: [{ mr, offset: c.offset, length }],
        remoteAddr,
        rkey,
        imm,
      };
    });
  }

  fence(remoteAddr: bigint, rkey: number): Promise<void> {
    // The persistence domain of the memory behind the partner's region is its platform's (docs: NVRAM).
    return this.read(remoteAddr, rkey, 8).then(() => undefined);
  }

  onDoorbell(listener: (imm: number) => void): void {
    this.doorbells.push(listener);
  }

  onClose(listener: (reason: string) => void): void {
    if (this.ended) queueMicrotask(() => listener(this.ended!));
    else this.closers.push(listener);
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = reason;
    for (const op of this.queue.splice(0)) op.reject(this.closedError());
    for (const c of this.closers.splice(0)) {
      try {
        c(reason);
      } catch {
        // A listener's failure must not keep the connection open.
      }
    }
    // The connection closes the QP it owns; a link never attached closes its own. Then its CQ.
    this.conn?.close();
    this.qp.close();
    this.cq.onRing(null);
    this.cq.close();
    if (this.stagingMr) this.domain.staging.give(this.stagingMr);
    this.recvMr.close();
    this.hooks.ended(this);
  }

  close(): void {
    this.end('closed locally');
  }
}

class RdmaEndpoint implements Endpoint {
  readonly status: Uint8Array;
  private readonly listeners: Listener[] = [];
  private readonly links = new Set<RdmaLink>();
  /** Connections being made: close() ends them first, so no domain is closed under them. */
  private readonly making = new Set<Promise<unknown>>();
  private readonly closing = new AbortController();
  private closed = false;

  /** `domains[link][slot]`: one protection domain per partner on each link's device. */
  readonly flush: FlushPlacement | undefined;

  constructor(private readonly domains: Domain[][]) {
    this.status = bytesOf(domains[0][0].statusMr);
    // What every slot on every link takes: a partner may use it whichever link carries its session.
    const all = domains.flat().map((d) => d.flush);
    this.flush = all.every((f) => f === 'persistent')
      ? 'persistent'
      : all.every((f) => f)
        ? 'global'
        : undefined;
  }

  slot(i: number): Uint8Array {
    return bytesOf(this.domains[0][i].slotMr);
  }

  regions(i: number, link = 0): RegionCoords {
    const d = this.domains[link][i];
    return {
      statusAddr: d.statusMr.addr,
      statusRkey: d.statusMr.rkey,
      statusLen: d.statusMr.length,
      slotAddr: d.slotMr.addr,
      slotRkey: d.slotMr.rkey,
      slotLen: d.slotMr.length,
    };
  }

  private newLink(d: Domain): RdmaLink {
    return new RdmaLink(d, { ended: (x) => this.links.delete(x), settled: () => this.fill(d) });
  }

  /** Makes a partner's spare links up to SPARE_LINKS; if the device cannot, connections make their own when they need one. */
  fill(d: Domain): void {
    try {
      while (!this.closed && d.spares.length < SPARE_LINKS) d.spares.push(this.newLink(d));
    } catch {
      // made on demand instead
    }
  }

  /** A link for partner `slot`'s connection on `link`, about to be made; `make` connects its QP, or the link goes back (or away). */
  private link(link: number, slot: number, make: (qp: QueuePair) => Promise<Connection>): Promise<RdmaLink> {
    const d = this.domains[link]?.[slot];
    if (this.closed || !d)
      return Promise.reject(
        codeError(
          this.closed ? 'ERR_CLOSED' : 'ERR_OUT_OF_RANGE',
          this.closed ? 'endpoint closed' : `no slot ${slot} on link ${link}`,
        ),
      );
    const made = (async () => {
      const l = d.spares.pop() ?? this.newLink(d);
      let conn: Connection;
      try {
        conn = await make(l.qp);
      } catch (e) {
        if (!this.closed && l.reusable && d.spares.length < SPARE_LINKS) d.spares.push(l);
        else {
          l.close();
          this.fill(d);
        }
        throw e;
      }
      try {
        l.attach(conn);
      } catch (e) {
        conn.close();
        l.close();
        throw e;
      }
      if (this.closed) {
        l.close();
        throw codeError('ERR_CLOSED', 'endpoint closed');
      }
      this.links.add(l);
      return l;
    })();
    this.making.add(made);
    void made.catch(() => {}).finally(() => this.making.delete(made));
    return made;
  }

  async listen(port: number, onRequest: (r: IncomingRequest) => void): Promise<void> {
    for (const [link, ds] of this.domains.entries()) {
      const listener = await listen({ address: ds[0].address, port, backlog: 16 });
      this.listeners.push(listener);
      void (async () => {
        try {
          for await (const req of listener) onRequest(this.request(req, link));
        } catch {
          // The listener ends when the endpoint closes (or its device goes away).
        }
      })();
    }
  }

  private request(req: ConnectRequest, link: number): IncomingRequest {
    return {
      privateData: new Uint8Array(req.privateData),
      remoteAddress: req.remoteAddress,
      link,
      accept: (privateData, slot) =>
        this.link(link, slot, (queuePair) =>
          req.accept({
            queuePair,
            privateData,
            responderResources: RD_ATOMIC,
            initiatorDepth: RD_ATOMIC,
            minRnrTimer: MIN_RNR_TIMER,
            remoteAccess: flushAccess(this.domains[link][slot].flush),
            signal: this.closing.signal,
          }),
        ),
      reject: (privateData) => req.reject(privateData),
    };
  }

  connect(o: ConnectOptions): Promise<Link> {
    const signal = o.signal ? AbortSignal.any([o.signal, this.closing.signal]) : this.closing.signal;
    return this.link(o.link, o.slot, (queuePair) =>
      connect({
        address: o.address,
        port: o.port,
        sourceAddress: this.domains[o.link][o.slot].address,
        queuePair,
        privateData: o.privateData,
        responderResources: RD_ATOMIC,
        initiatorDepth: RD_ATOMIC,
        retryCount: 3,
        rnrRetryCount: 7,
        timeoutMs: o.timeoutMs,
        signal,
        minRnrTimer: MIN_RNR_TIMER,
        remoteAccess: flushAccess(this.domains[o.link][o.slot].flush),
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(abortError('endpoint closing'));
    for (const l of this.listeners) l.close();
    await Promise.allSettled([...this.making]);
    for (const l of [...this.links]) l.close();
    // Registrations of the status block and the slots in later domains go before the allocations in the first.
    for (const d of this.domains.flat().reverse()) d.close();
  }
}

/**
 * Opens the node's endpoint on the RDMA devices that own its addresses (one per link): the exposed
 * regions come first. The status block and each partner's slot are allocated once, on link 0's
 * device, and registered again on every further link's device.
 */
export const rdmaTransport: Transport = async (o: EndpointOptions): Promise<Endpoint> => {
  const domains: Domain[][] = [];
  try {
    for (const [link, address] of o.addresses.entries()) {
      const context = await contextFor(address);
      const row: Domain[] = [];
      domains.push(row);
      for (let i = 0; i < o.slots; i++) {
        const pd = context.allocPd();
        let statusMr: MemoryRegion;
        try {
          const first = domains[0][0]?.statusMr;
          statusMr = first
            ? pd.registerMemory(first.buffer, Access.REMOTE_READ)
            : pd.allocMemory(o.statusSize, Access.REMOTE_READ);
        } catch (e) {
          pd.close();
          throw e;
        }
        row.push(
          new Domain(
            address,
            pd,
            statusMr,
            o.slotSize,
            link > 0 ? domains[0][i].slotMr.buffer : o.slotMemory?.(i),
          ),
        );
      }
    }
  } catch (e) {
    for (const d of domains.flat().reverse()) d.close();
    throw e;
  }
  const endpoint = new RdmaEndpoint(domains);
  for (const d of domains.flat()) endpoint.fill(d);
  return endpoint;
};
