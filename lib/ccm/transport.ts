// What the CCM needs from the network, and nothing more: the status block and one slot per partner,
// CM listen/connect with private data, and one-sided READ / WRITE (with an optional immediate doorbell)
// on a connection. Each partner reaches only its own slot and the status block, and only through its
// own connections (rdma-transport.ts: one protection domain per partner).
// The real implementation is rdma-transport.ts (librdmacm + verbs); unit tests of the CCM's pure logic
// may use an in-memory one, but every CCM behaviour is proven on rxe devices.
import type { RegionCoords } from './wire/mailbox';
import type { FlushPlacement } from './wire/status-block';

export type { FlushPlacement } from './wire/status-block';

/** A node's network endpoint: its exposed memory, its listener, and the connections it makes. */
export interface Endpoint {
  /** The status block, written by this node's CPU; partners RDMA READ it. */
  readonly status: Uint8Array;
  /** Partner `i`'s slot (control words, then its log ring), which only that partner RDMA WRITEs. */
  slot(i: number): Uint8Array;
  /**
   * Where partner `i` finds the status block and its slot over link `link` (default 0), as only its
   * connections on that link can reach them. Every link has the same addresses and lengths; the rkeys
   * are the link's own (each link's device registers the same memory).
   */
  regions(i: number, link?: number): RegionCoords;
  /** Listens for CM connect requests at `port` on every address (one per link); resolves once listening. */
  listen(port: number, onRequest: (request: IncomingRequest) => void): Promise<void>;
  /** A connection for partner `slot` over link `link`, from that link's local address. */
  connect(options: ConnectOptions): Promise<Link>;
  /** Stops listening, ends every link and connection being made, and releases the exposed memory. Idempotent. */
  close(): Promise<void>;
  /**
   * The FLUSH its slots take on every link (each device places it, the regions and QPs allow it):
   * `global`, `persistent` (to persistence too), or absent: none, partners fence with a READ.
   */
  readonly flush?: FlushPlacement;
}

/** A connection to make to a partner. */
export interface ConnectOptions {
  /** The partner's address. */
  address: string;
  /** The partner's CM port. */
  port: number;
  /** The partner this connection is for (its slot index). */
  slot: number;
  /** The link: this node's address (and device) to connect from, by index. */
  link: number;
  /** Private data of the CM connect request (the CCM's connect block). */
  privateData: Uint8Array;
  /** Bound on the whole connect (ms). */
  timeoutMs: number;
  /** Aborts the connect; it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A CM connect request that arrived at the listener: accept or reject it once. */
export interface IncomingRequest {
  /** The request's private data (the caller's connect block), a copy. */
  readonly privateData: Uint8Array;
  /** The caller's address, for reports. */
  readonly remoteAddress: string;
  /** The link the request arrived on: the index of the local address it was sent to. */
  readonly link: number;
  /** Accepts the request as a connection for partner `slot` (decided from its authenticated private data). */
  accept(privateData: Uint8Array, slot: number): Promise<Link>;
  /** Rejects the request with `privateData` (the CCM's reject block). */
  reject(privateData: Uint8Array): Promise<void>;
}

/**
 * What a WRITE sends: bytes, or `byteLength` bytes that `fill` writes in place when the link stages them
 * (a log record is encoded once, where the NIC reads it, instead of built and then copied there).
 */
export type Outgoing =
  | Uint8Array
  | {
      /** Bytes the WRITE sends. */
      readonly byteLength: number;
      /** Writes them into `into` (exactly `byteLength` bytes of the link's staging), when the link stages the WRITE. */
      fill(into: Uint8Array): void;
    };

/** One established connection to a partner. */
export interface Link {
  /** The partner's private data: its accept (on the initiator) or its request (on the responder). */
  readonly privateData: Uint8Array;
  /** The largest single READ or WRITE the link can stage. */
  readonly maxMessage: number;
  /** RDMA READ of `length` bytes; resolves with a copy of them. Posts happen in call order. */
  read(remoteAddr: bigint, rkey: number, length: number): Promise<Uint8Array>;
  /** RDMA WRITE of `data`; with `imm`, a WRITE_WITH_IMM that rings the partner's doorbell. Posts happen in call order. */
  write(data: Outgoing, remoteAddr: bigint, rkey: number, imm?: number): Promise<void>;
  /**
   * Resolves once every WRITE posted before it on this link is placed in the partner's memory (with
   * `persistent`, in its persistence domain): an RDMA FLUSH where the link has one, else an 8-byte RDMA
   * READ at `remoteAddr` (any readable region of the partner's), which the partner's NIC serves only
   * after those WRITEs are placed: on PCIe a read pushes the writes posted before it to memory.
   */
  fence(remoteAddr: bigint, rkey: number, persistent: boolean): Promise<void>;
  /**
   * RDMA FLUSH of the whole region of `rkey` at the partner (`remoteAddr` in it): resolves once every
   * WRITE posted before it on this link is placed as `placement` asks. Present only on a link whose QP
   * and device post FLUSH; the partner's region must take it (its status block says so).
   */
  flush?(remoteAddr: bigint, rkey: number, placement: FlushPlacement): Promise<void>;
  /** Immediate data of the partner's WRITE_WITH_IMMs, in order. */
  onDoorbell(listener: (imm: number) => void): void;
  /**
   * The handshake is over: make the link ready for a session's traffic (post the rest of its receives,
   * room to stage single writes of `maxMessage` bytes).
   */
  deepen(maxMessage: number): void;
  /** Called once when the link ends for any reason (disconnect, error, close). */
  onClose(listener: (reason: string) => void): void;
  /** Ends the link (disconnects; its queued operations fail). Idempotent. */
  close(): void;
}

/** What a transport opens an endpoint with. */
export interface EndpointOptions {
  /** This node's addresses, one per link; each selects the RDMA device of its link. */
  addresses: string[];
  /** Bytes of the status block. */
  statusSize: number;
  /** Partners, each with a slot of `slotSize` bytes. */
  slots: number;
  /** Bytes of each partner's slot. */
  slotSize: number;
  /** Where partner `slot`'s slot lives (its `slotSize` bytes of the node's NVRAM region); absent: new memory. */
  slotMemory?: (slot: number) => Uint8Array;
}

/**
 * Opens a node's endpoint. The default is the RDMA transport (librdmacm and verbs, one protection domain
 * per partner); another can be given in {@link CcmOptions.transport}, e.g. an in-memory one for tests.
 */
export type Transport = (options: EndpointOptions) => Promise<Endpoint>;
