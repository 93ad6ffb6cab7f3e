// The CCM's transport over the real stack: regions registered with the verbs layer on the device
// that owns the node's address, connections from the CM layer, and one-sided operations on their QPs.
import { connect, contextFor, createQueuePair, listen, type Connection, type ConnectRequest, type Listener } from '../cm';
import type { CompletionQueue, WorkCompletion } from '../verbs';
import { Access, type MemoryRegion, type ProtectionDomain, type QueuePair } from '../verbs';
import { Staging } from './staging';
import type { ConnectOptions, Endpoint, EndpointOptions, ExposedMemory, IncomingRequest, Link, Transport } from './transport';

/** Send work requests a link keeps in flight; more wait in the link's queue. */
const SEND_DEPTH = 128;
/** Receives kept posted for the partner's WRITE_WITH_IMM doorbells. */
const RECV_DEPTH = 256;
/** Of those, the ones posted before the connection is made (enough for the handshake's bells). */
const RECV_EARLY = 16;
/**
 * Links kept ready (CQ, QP in INIT, receives posted) for the next connections, made before the node
 * listens: an accept or a connect then only moves the QP through RTR and RTS. Two, so that a probe of
 * the partner and the partner's own request can each find one.
 */
const SPARE_LINKS = 2;
/** RDMA READ/atomic depth requested of the CM (the handshake's READs need at least one). */
const RD_ATOMIC = 4;

function exposed(mr: MemoryRegion): ExposedMemory {
  return { bytes: new Uint8Array(mr.buffer.buffer, mr.buffer.byteOffset, mr.length), addr: mr.addr, rkey: mr.rkey };
}

/** Receive-not-ready NAK delay asked of partners (IB encoding: 0.01 ms) instead of rdma_cm's 655 ms. */
const MIN_RNR_TIMER = 1;

/**
 * Registered staging regions kept for the next connection: a link takes one instead of waiting for a
 * registration, and gives it back when it ends.
 */
class StagingPool {
  private readonly spare: MemoryRegion[] = [];
  private closed = false;

  constructor(private readonly pd: ProtectionDomain, readonly bytes: number) {
    this.spare.push(this.alloc());
  }

  private alloc(): MemoryRegion {
    return this.pd.allocMemory(this.bytes, Access.LOCAL_WRITE);
  }

  take(): MemoryRegion {
    return this.spare.pop() ?? this.alloc();
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

class RdmaLink implements Link {
  privateData: Uint8Array = new Uint8Array(0);
  private conn: Connection | null = null;
  private staging: Staging | null = null;
  private stagingMr: MemoryRegion | null = null;
  private readonly recvMr: MemoryRegion;
  readonly cq: CompletionQueue;
  readonly qp: QueuePair;
  private readonly doorbells: ((imm: number) => void)[] = [];
  private readonly closers: ((reason: string) => void)[] = [];
  private credits = SEND_DEPTH;
  private readonly creditWaiters: (() => void)[] = [];
  private ended: string | null = null;
  private deepened = false;

  /** Made before its connection: a CQ, a QP in INIT and the first doorbell receives; attach() adopts the connection. */
  constructor(
    address: string,
    pd: ProtectionDomain,
    private readonly pool: StagingPool,
    private readonly hooks: { ended: (l: RdmaLink) => void; settled: () => void },
  ) {
    this.recvMr = pd.allocMemory(64, Access.LOCAL_WRITE);
    let cq: CompletionQueue | null = null;
    try {
      cq = pd.context.createCq({ cqe: SEND_DEPTH + RECV_DEPTH });
      this.qp = createQueuePair({ localAddress: address, pd, sendCq: cq, qp: { maxSendWr: SEND_DEPTH, maxRecvWr: RECV_DEPTH } });
    } catch (e) {
      cq?.close();
      this.recvMr.close();
      throw e;
    }
    this.cq = cq;
    this.postRecvs(RECV_EARLY);
  }

  /** Never connected, or refused before the QP left INIT: it can serve the next connection. */
  get reusable(): boolean {
    return !this.conn && !this.ended && this.qp.state === 'INIT';
  }

  attach(conn: Connection): this {
    this.conn = conn;
    this.privateData = new Uint8Array(conn.privateData);
    this.stagingMr = this.pool.take();
    this.staging = new Staging(this.pool.bytes);
    conn.on('disconnected', () => this.end('disconnected by the partner'));
    conn.on('device-removal', () => this.end('RDMA device removed'));
    return this;
  }

  /** The rest of the receives, once the handshake is over (posting them costs time it should not wait for). */
  deepen(): void {
    if (this.deepened) return;
    this.deepened = true;
    this.postRecvs(RECV_DEPTH - RECV_EARLY);
    this.hooks.settled();
  }

  private postRecvs(n: number): void {
    if (this.ended) return;
    const local = { mr: this.recvMr, offset: 0, length: 64 };
    for (const p of this.qp.recvBatch(Array.from({ length: n }, () => ({ local })))) {
      p.then(
        (wc: WorkCompletion) => {
          if (this.ended) return;
          this.postRecvs(1);
          if (wc.immData !== undefined) for (const d of this.doorbells) d(wc.immData >>> 0);
        },
        (e: Error & { code?: string }) => {
          // Receives flushed from a link that was never attached (a spare closed) end nothing.
          if (this.conn) this.end(`receive failed: ${e.code ?? e.message}`);
        },
      );
    }
  }

  private async credit(): Promise<void> {
    while (this.credits === 0) await new Promise<void>((r) => this.creditWaiters.push(r));
    this.credits--;
  }

  private release(): void {
    this.credits++;
    this.creditWaiters.shift()?.();
  }

  private staged(): [Staging, MemoryRegion] {
    if (!this.staging || !this.stagingMr) throw this.closedError();
    return [this.staging, this.stagingMr];
  }

  private closedError(): Error {
    return Object.assign(new Error(`link closed: ${this.ended}`), { code: 'ERR_WC_WR_FLUSH_ERR' });
  }

  async read(remoteAddr: bigint, rkey: number, length: number): Promise<Uint8Array> {
    if (this.ended) throw this.closedError();
    const [staging, mr] = this.staged();
    const c = await staging.alloc(length);
    await this.credit();
    try {
      await this.qp.read({ local: { mr, offset: c.offset, length }, remoteAddr, rkey });
      return mr.buffer.subarray(c.offset, c.offset + length).slice();
    } finally {
      this.release();
      staging.free(c);
    }
  }

  async write(bytes: Uint8Array, remoteAddr: bigint, rkey: number, imm?: number): Promise<void> {
    if (this.ended) throw this.closedError();
    const [staging, mr] = this.staged();
    // Zero bytes (a bare doorbell) take an empty chunk: one path for every write.
    const c = await staging.alloc(bytes.byteLength);
    await this.credit();
    try {
      mr.buffer.set(bytes, c.offset);
      await this.qp.write({ local: { mr, offset: c.offset, length: bytes.byteLength }, remoteAddr, rkey, imm });
    } finally {
      this.release();
      staging.free(c);
    }
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
    for (const c of this.closers.splice(0)) c(reason);
    // The connection closes the QP it owns; a link never attached closes its own. Then its CQ.
    this.conn?.close();
    this.qp.close();
    this.cq.close();
    if (this.stagingMr) this.pool.give(this.stagingMr);
    this.recvMr.close();
    this.hooks.ended(this);
  }

  close(): void {
    this.end('closed locally');
  }
}

class RdmaEndpoint implements Endpoint {
  readonly status: ExposedMemory;
  readonly mailbox: ExposedMemory;
  private listener: Listener | null = null;
  private readonly links = new Set<RdmaLink>();
  private readonly spares: RdmaLink[] = [];
  private closed = false;

  constructor(
    private readonly address: string,
    private readonly pd: ProtectionDomain,
    private readonly statusMr: MemoryRegion,
    private readonly mailboxMr: MemoryRegion,
    private readonly staging: StagingPool,
  ) {
    this.status = exposed(statusMr);
    this.mailbox = exposed(mailboxMr);
  }

  private newLink(): RdmaLink {
    return new RdmaLink(this.address, this.pd, this.staging, { ended: (x) => this.links.delete(x), settled: () => this.fill() });
  }

  /** Makes spare links up to SPARE_LINKS; if the device cannot, connections make their own when they need one. */
  fill(): void {
    try {
      while (!this.closed && this.spares.length < SPARE_LINKS) this.spares.push(this.newLink());
    } catch {
      // made on demand instead
    }
  }

  /** A link for a connection about to be made; `make` connects its QP, or the link goes back (or away) if that failed. */
  private async link(make: (qp: QueuePair) => Promise<Connection>): Promise<RdmaLink> {
    const l = this.spares.pop() ?? this.newLink();
    let conn: Connection;
    try {
      conn = await make(l.qp);
    } catch (e) {
      if (!this.closed && l.reusable && this.spares.length < SPARE_LINKS) this.spares.push(l);
      else {
        l.close();
        this.fill();
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
    this.links.add(l);
    return l;
  }

  async listen(port: number, onRequest: (r: IncomingRequest) => void): Promise<void> {
    this.listener = await listen({ address: this.address, port, backlog: 16 });
    void (async () => {
      try {
        for await (const req of this.listener!) onRequest(this.request(req));
      } catch {
        // The listener ends when the endpoint closes.
      }
    })();
  }

  private request(req: ConnectRequest): IncomingRequest {
    return {
      privateData: new Uint8Array(req.privateData),
      remoteAddress: req.remoteAddress,
      accept: (privateData) =>
        this.link((queuePair) => req.accept({ queuePair, privateData, responderResources: RD_ATOMIC, initiatorDepth: RD_ATOMIC, minRnrTimer: MIN_RNR_TIMER })),
      reject: (privateData) => req.reject(privateData),
    };
  }

  connect(o: ConnectOptions): Promise<Link> {
    return this.link((queuePair) => connect({
      address: o.address,
      port: o.port,
      sourceAddress: this.address,
      queuePair,
      privateData: o.privateData,
      responderResources: RD_ATOMIC,
      initiatorDepth: RD_ATOMIC,
      retryCount: 3,
      rnrRetryCount: 7,
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      minRnrTimer: MIN_RNR_TIMER,
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listener?.close();
    for (const l of [...this.links, ...this.spares.splice(0)]) l.close();
    this.staging.close();
    this.statusMr.close();
    this.mailboxMr.close();
    this.pd.close();
  }
}

/** Opens the node's endpoint on the RDMA device that owns `address`: the exposed regions come first. */
export const rdmaTransport: Transport = async (o: EndpointOptions): Promise<Endpoint> => {
  const context = await contextFor(o.address);
  const pd = context.allocPd();
  const statusMr = pd.allocMemory(o.statusSize, Access.REMOTE_READ);
  const mailboxMr = pd.allocMemory(o.mailboxSize, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
  // Staging holds the largest record (half a slot's ring) twice over, plus room for control writes.
  const slotBytes = o.mailboxSize;
  const stagingBytes = Math.min(64 << 20, Math.max(256 << 10, slotBytes + (64 << 10)));
  const endpoint = new RdmaEndpoint(o.address, pd, statusMr, mailboxMr, new StagingPool(pd, stagingBytes));
  endpoint.fill();
  return endpoint;
};
