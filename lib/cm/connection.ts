// An established RDMA CM connection: the verbs QueuePair (and its CQs) the CM created, the partner's
// private data, and the events that end it. close() is idempotent and frees everything in order.
import { EventEmitter } from 'node:events';
import type { CompletionQueue, QueuePair } from '../verbs';
import type { CmId } from './cm-id';
import { channel, RawCmEvent } from './event-channel';

export interface Endpoint {
  address: string;
  port: number;
}

export interface Connection {
  on(event: 'disconnected', listener: () => void): this;
  on(event: 'device-removal', listener: () => void): this;
  on(event: 'timewait-exit', listener: () => void): this;
  on(event: 'cm-event', listener: (e: { event: string; status: number }) => void): this;
}

export class Connection extends EventEmitter {
  readonly qp: QueuePair;
  readonly sendCq: CompletionQueue;
  readonly recvCq: CompletionQueue;
  /** The partner's private data: its accept (initiator side) or its connect request (responder side). */
  readonly privateData: Buffer;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  /** Settles once, when the connection ends for any reason. */
  readonly closed: Promise<{ reason: string }>;
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
    id.on('cm-event', (e: RawCmEvent) => this.onEvent(e));
  }

  get remoteAddress(): string {
    return this.remote.address;
  }

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

  /** Idempotent. */
  close(): void {
    this.end('closed locally');
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
