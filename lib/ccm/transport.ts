// What the CCM needs from the network, and nothing more: two exposed regions, CM listen/connect with
// private data, and one-sided READ / WRITE (with an optional immediate doorbell) on a connection.
// The real implementation is rdma-transport.ts (librdmacm + verbs); unit tests of the CCM's pure logic
// may use an in-memory one, but every CCM behaviour is proven on rxe devices.

/** Memory this node exposes. The node writes `bytes` with the CPU; partners reach it with `addr`/`rkey`. */
export interface ExposedMemory {
  readonly bytes: Uint8Array;
  readonly addr: bigint;
  readonly rkey: number;
}

export interface Endpoint {
  /** Remote READ only: the status block. */
  readonly status: ExposedMemory;
  /** Remote WRITE only: one slot per partner (control words, then the partner's log ring). */
  readonly mailbox: ExposedMemory;
  listen(port: number, onRequest: (request: IncomingRequest) => void): Promise<void>;
  connect(options: ConnectOptions): Promise<Link>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  address: string;
  port: number;
  privateData: Uint8Array;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface IncomingRequest {
  readonly privateData: Uint8Array;
  readonly remoteAddress: string;
  accept(privateData: Uint8Array): Promise<Link>;
  reject(privateData: Uint8Array): Promise<void>;
}

/** One established connection to a partner. */
export interface Link {
  /** The partner's private data: its accept (on the initiator) or its request (on the responder). */
  readonly privateData: Uint8Array;
  /** RDMA READ of `length` bytes; resolves with a copy of them. */
  read(remoteAddr: bigint, rkey: number, length: number): Promise<Uint8Array>;
  /** RDMA WRITE of `bytes`; with `imm`, a WRITE_WITH_IMM that rings the partner's doorbell. */
  write(bytes: Uint8Array, remoteAddr: bigint, rkey: number, imm?: number): Promise<void>;
  /** Immediate data of the partner's WRITE_WITH_IMMs, in order. */
  onDoorbell(listener: (imm: number) => void): void;
  /** The handshake is over: make the link ready for a session's traffic (e.g. post the rest of its receives). */
  deepen(): void;
  /** Called once when the link ends for any reason (disconnect, error, close). */
  onClose(listener: (reason: string) => void): void;
  close(): void;
}

export interface EndpointOptions {
  address: string;
  statusSize: number;
  mailboxSize: number;
}

export type Transport = (options: EndpointOptions) => Promise<Endpoint>;
