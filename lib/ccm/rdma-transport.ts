// The CCM's transport over the real stack: regions registered with the verbs layer on the device
// that owns the node's address, connections from the CM layer, and one-sided operations on their QPs.
import { connect, contextFor, listen, type Connection, type ConnectRequest, type Listener } from '../cm';
import type { WorkCompletion } from '../verbs';
import { Access, type MemoryRegion, type ProtectionDomain } from '../verbs';
import { Staging } from './staging';
import type { ConnectOptions, Endpoint, EndpointOptions, ExposedMemory, IncomingRequest, Link, Transport } from './transport';

/** Send work requests a link keeps in flight; more wait in the link's queue. */
const SEND_DEPTH = 128;
/** Receives kept posted for the partner's WRITE_WITH_IMM doorbells. */
const RECV_DEPTH = 256;
/** RDMA READ/atomic depth requested of the CM (the handshake's READs need at least one). */
const RD_ATOMIC = 4;

function exposed(mr: MemoryRegion): ExposedMemory {
  return { bytes: new Uint8Array(mr.buffer.buffer, mr.buffer.byteOffset, mr.length), addr: mr.addr, rkey: mr.rkey };
}

class RdmaLink implements Link {
  readonly privateData: Uint8Array;
  private readonly staging: Staging;
  private readonly stagingMr: MemoryRegion;
  private readonly recvMr: MemoryRegion;
  private readonly doorbells: ((imm: number) => void)[] = [];
  private readonly closers: ((reason: string) => void)[] = [];
  private credits = SEND_DEPTH;
  private readonly creditWaiters: (() => void)[] = [];
  private ended: string | null = null;

  constructor(private readonly conn: Connection, pd: ProtectionDomain, stagingBytes: number, private readonly onEnd: (l: RdmaLink) => void) {
    this.privateData = new Uint8Array(conn.privateData);
    this.staging = new Staging(stagingBytes);
    this.stagingMr = pd.allocMemory(stagingBytes, Access.LOCAL_WRITE);
    this.recvMr = pd.allocMemory(64, Access.LOCAL_WRITE);
    for (let i = 0; i < RECV_DEPTH; i++) this.postRecv();
    conn.on('disconnected', () => this.end('disconnected by the partner'));
    conn.on('device-removal', () => this.end('RDMA device removed'));
  }

  private postRecv(): void {
    if (this.ended) return;
    this.conn.qp.recv({ local: { mr: this.recvMr, offset: 0, length: 64 } }).then(
      (wc: WorkCompletion) => {
        if (this.ended) return;
        this.postRecv();
        if (wc.immData !== undefined) for (const d of this.doorbells) d(wc.immData >>> 0);
      },
      (e: Error & { code?: string }) => this.end(`receive failed: ${e.code ?? e.message}`),
    );
  }

  private async credit(): Promise<void> {
    while (this.credits === 0) await new Promise<void>((r) => this.creditWaiters.push(r));
    this.credits--;
  }

  private release(): void {
    this.credits++;
    this.creditWaiters.shift()?.();
  }

  private closedError(): Error {
    return Object.assign(new Error(`link closed: ${this.ended}`), { code: 'ERR_WC_WR_FLUSH_ERR' });
  }

  async read(remoteAddr: bigint, rkey: number, length: number): Promise<Uint8Array> {
    if (this.ended) throw this.closedError();
    const c = await this.staging.alloc(length);
    await this.credit();
    try {
      await this.conn.qp.read({ local: { mr: this.stagingMr, offset: c.offset, length }, remoteAddr, rkey });
      return this.stagingMr.buffer.subarray(c.offset, c.offset + length).slice();
    } finally {
      this.release();
      this.staging.free(c);
    }
  }

  async write(bytes: Uint8Array, remoteAddr: bigint, rkey: number, imm?: number): Promise<void> {
    if (this.ended) throw this.closedError();
    const c = await this.staging.alloc(bytes.byteLength);
    await this.credit();
    try {
      this.stagingMr.buffer.set(bytes, c.offset);
      await this.conn.qp.write({ local: { mr: this.stagingMr, offset: c.offset, length: bytes.byteLength }, remoteAddr, rkey, imm });
    } finally {
      this.release();
      this.staging.free(c);
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
    this.conn.close();
    this.stagingMr.close();
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
    private readonly stagingBytes: number,
  ) {
    this.status = exposed(statusMr);
    this.mailbox = exposed(mailboxMr);
  }

  private link(conn: Connection): RdmaLink {
    const l = new RdmaLink(conn, this.pd, this.stagingBytes, (x) => this.links.delete(x));
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
      accept: async (privateData) => {
        const conn = await req.accept({ pd: this.pd, privateData, responderResources: RD_ATOMIC, initiatorDepth: RD_ATOMIC, qp: { maxSendWr: SEND_DEPTH, maxRecvWr: RECV_DEPTH } });
        return this.link(conn);
      },
      reject: (privateData) => req.reject(privateData),
    };
  }

  async connect(o: ConnectOptions): Promise<Link> {
    const conn = await connect({
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
      qp: { maxSendWr: SEND_DEPTH, maxRecvWr: RECV_DEPTH },
    });
    return this.link(conn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listener?.close();
    for (const l of [...this.links]) l.close();
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
  return new RdmaEndpoint(o.address, pd, statusMr, mailboxMr, stagingBytes);
};
