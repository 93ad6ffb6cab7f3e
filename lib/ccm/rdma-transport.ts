// The CCM's transport over the real stack: regions registered with the verbs layer on the device
// that owns the node's address, connections from the CM layer, and one-sided operations on their QPs.
import { connect, contextFor, listen, type Connection, type ConnectRequest, type Listener } from '../cm';
import type { WorkCompletion } from '../verbs';
import { Access, type MemoryRegion, type ProtectionDomain, type QueuePair } from '../verbs';
import { Staging } from './staging';
import type { ConnectOptions, Endpoint, EndpointOptions, ExposedMemory, IncomingRequest, Link, Transport } from './transport';

/** Send work requests a link keeps in flight; more wait in the link's queue. */
const SEND_DEPTH = 128;
/** Receives kept posted for the partner's WRITE_WITH_IMM doorbells. */
const RECV_DEPTH = 256;
/**
 * Of those, the ones posted before the connection is made (enough for the handshake's bells): posting
 * costs time per receive, and a probe of a partner that is not there yet should stay cheap.
 */
const RECV_EARLY = 16;
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
  private qp: QueuePair | null = null;
  private staging: Staging | null = null;
  private stagingMr: MemoryRegion | null = null;
  private readonly recvMr: MemoryRegion;
  private readonly doorbells: ((imm: number) => void)[] = [];
  private readonly closers: ((reason: string) => void)[] = [];
  private credits = SEND_DEPTH;
  private readonly creditWaiters: (() => void)[] = [];
  private ended: string | null = null;
  private deepened = false;

  /** Made before the connection: prepare() posts the first doorbell receives on the new QP, attach() adopts the connection. */
  constructor(pd: ProtectionDomain, private readonly pool: StagingPool, private readonly onEnd: (l: RdmaLink) => void) {
    this.recvMr = pd.allocMemory(64, Access.LOCAL_WRITE);
  }

  readonly prepare = (qp: QueuePair): void => {
    this.qp = qp;
    this.postRecvs(RECV_EARLY);
  };

  attach(conn: Connection): this {
    this.conn = conn;
    this.qp = conn.qp;
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
  }

  private postRecvs(n: number): void {
    if (this.ended || !this.qp) return;
    const local = { mr: this.recvMr, offset: 0, length: 64 };
    for (const p of this.qp.recvBatch(Array.from({ length: n }, () => ({ local })))) {
      p.then(
        (wc: WorkCompletion) => {
          if (this.ended) return;
          this.postRecvs(1);
          if (wc.immData !== undefined) for (const d of this.doorbells) d(wc.immData >>> 0);
        },
        (e: Error & { code?: string }) => {
          // Receives flushed by a connect that failed end nothing: the link was never attached.
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
      await this.qp!.read({ local: { mr, offset: c.offset, length }, remoteAddr, rkey });
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
      await this.qp!.write({ local: { mr, offset: c.offset, length: bytes.byteLength }, remoteAddr, rkey, imm });
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
    this.conn?.close();
    if (this.stagingMr) this.pool.give(this.stagingMr);
    this.recvMr.close();
    this.onEnd(this);
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

  /** A link for a connection about to be made; `made` adopts the connection, or frees the link if it failed. */
  private async link(make: (prepare: (qp: QueuePair) => void) => Promise<Connection>): Promise<RdmaLink> {
    const l = new RdmaLink(this.pd, this.staging, (x) => this.links.delete(x));
    let conn: Connection;
    try {
      conn = await make(l.prepare);
    } catch (e) {
      l.close();
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
        this.link((prepare) =>
          req.accept({ pd: this.pd, privateData, responderResources: RD_ATOMIC, initiatorDepth: RD_ATOMIC, minRnrTimer: MIN_RNR_TIMER, prepare, qp: { maxSendWr: SEND_DEPTH, maxRecvWr: RECV_DEPTH } }),
        ),
      reject: (privateData) => req.reject(privateData),
    };
  }

  connect(o: ConnectOptions): Promise<Link> {
    return this.link((prepare) => connect({
      address: o.address,
      port: o.port,
      sourceAddress: this.address,
      pd: this.pd,
      privateData: o.privateData,
      responderResources: RD_ATOMIC,
      initiatorDepth: RD_ATOMIC,
      retryCount: 3,
      rnrRetryCount: 7,
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      minRnrTimer: MIN_RNR_TIMER,
      prepare,
      qp: { maxSendWr: SEND_DEPTH, maxRecvWr: RECV_DEPTH },
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listener?.close();
    for (const l of [...this.links]) l.close();
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
  return new RdmaEndpoint(o.address, pd, statusMr, mailboxMr, new StagingPool(pd, stagingBytes));
};
