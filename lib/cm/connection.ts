// An established RDMA CM connection: the verbs QueuePair (and its CQs) the CM created, the partner's
// private data, and the events that end it. close() is idempotent and frees everything in order.
import { EventEmitter } from 'node:events';
import type { CompletionQueue, QueuePair } from '../verbs';
import type { CmId } from './cm-id';
import { channel, RawCmEvent } from './event-channel';

/** One end of a connection, as librdmacm reports it. */
export interface Endpoint {
  /** IPv4 or IPv6 address in text form ('' when unknown). */
  address: string;
  /** Port number (0 when unknown). */
  port: number;
}

/** A CM event as the 'cm-event' listeners of a Connection or a DatagramEndpoint see it. */
export interface CmEventInfo {
  /** The event's name, e.g. ESTABLISHED, DISCONNECTED. */
  event: string;
  /** Its status: for REJECTED the IB CM reject reason; otherwise 0 or a negative errno. */
  status: number;
}

/** The events of a Connection, with their listeners' arguments. */
export interface ConnectionEvents {
  /** The partner disconnected (CM event DISCONNECTED); the connection is then closed. */
  disconnected: [];
  /** The RDMA device under the connection is being removed (DEVICE_REMOVAL); the connection is then closed. */
  'device-removal': [];
  /** The CM event TIMEWAIT_EXIT arrived for the connection's id. */
  'timewait-exit': [];
  /** Every CM event on the connection's id, by name and status, before the specific events above. */
  'cm-event': [e: CmEventInfo];
}

/**
 * An established RC connection, made by {@link connect} or {@link ConnectRequest.accept}. It owns its QP
 * and the CQs it made; close() (or a disconnect or device removal) frees them and the CM id. Until it
 * ends it keeps the event loop alive.
 * @example
 * ```ts
 * const conn = await connect({ address: '10.99.0.1', port: 7470, sourceAddress: '10.99.0.2', pd });
 * conn.on('disconnected', () => console.log('partner gone'));
 * await conn.qp.send({ local: { mr, length: 64 } });   // conn.qp: an RC queue pair in RTS
 * conn.close();                                        // disconnects, frees the QP and CM id
 * ```
 * `pd` and `mr` are a protection domain and a region on the device behind 10.99.0.2; a complete program:
 * `examples/hello-cm.mjs`.
 */
export class Connection extends EventEmitter<ConnectionEvents> {
  /** The connected RC queue pair; closed when the connection ends. */
  readonly qp: QueuePair;
  /** The QP's send CQ: closed with the connection when the connection made it, left open when it was the caller's. */
  readonly sendCq: CompletionQueue;
  /** The QP's receive CQ (the send CQ unless another was given); closed as `sendCq` is. */
  readonly recvCq: CompletionQueue;
  /** The partner's private data: its accept (initiator side) or its connect request (responder side). */
  readonly privateData: Buffer;
  /** This side's address and port. */
  readonly local: Endpoint;
  /** The partner's address and port. */
  readonly remote: Endpoint;
  /** Settles once, when the connection ends for any reason. */
  readonly closed: Promise<{
    /** Why it ended: 'disconnected by the partner', 'RDMA device removed', 'disconnected locally' or 'closed locally'. */
    reason: string;
  }>;
  private ending: string | null = null;
  private resolveClosed!: (r: { reason: string }) => void;

  /** @internal */
  constructor(
    private readonly id: CmId,
    qp: QueuePair,
    private readonly ownedCqs: CompletionQueue[],
    privateData: Buffer,
  ) {
    super();
    this.qp = qp;
    this.sendCq = qp.sendCq;
    this.recvCq = qp.recvCq;
    this.privateData = privateData;
    const a = id.native.addresses();
    this.local = a.local ?? { address: '', port: 0 };
    this.remote = a.remote ?? { address: '', port: 0 };
    this.closed = new Promise((r) => (this.resolveClosed = r));
    channel().hold(1);
    id.own((e) => this.onEvent(e));
  }

  /** The partner's address (`remote.address`). */
  get remoteAddress(): string {
    return this.remote.address;
  }

  /** This side's address (`local.address`). */
  get localAddress(): string {
    return this.local.address;
  }

  private onEvent(e: RawCmEvent): void {
    this.emit('cm-event', { event: e.event, status: e.status });
    if (e.event === 'DISCONNECTED') {
      this.emit('disconnected');
      this.end('disconnected by the partner');
    } else if (e.event === 'DEVICE_REMOVAL') {
      this.emit('device-removal');
      this.end('RDMA device removed');
    } else if (e.event === 'TIMEWAIT_EXIT') {
      this.emit('timewait-exit');
    }
  }

  /** Sends a CM disconnect; the partner sees 'disconnected'. Resources are freed as by close(). */
  async disconnect(): Promise<void> {
    this.end('disconnected locally');
  }

  private end(reason: string): void {
    if (this.ending) return;
    this.ending = reason;
    try {
      if (!this.id.destroyed) this.id.native.disconnect();
    } catch {
      // not connected any more
    }
    // Outstanding work is flushed and rejected; then QP, CQs and id go, in that order.
    this.qp.close();
    for (const cq of this.ownedCqs) cq.close();
    this.id.destroy();
    channel().hold(-1);
    this.resolveClosed({ reason });
  }

  /**
   * Disconnects (rdma_disconnect) and frees the QP, the CQs the connection made and the CM id, in that
   * order; outstanding work requests are flushed and rejected. Idempotent.
   */
  close(): void {
    this.end('closed locally');
  }

  /** Same as close(), for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
