// listen(): a CM id bound to a local address and port; connection requests arrive as an async
// iterator of ConnectRequest, each accepted (with private data) or rejected (with private data).
// If the device under it is removed, the iterator fails with ERR_CM_DEVICE_REMOVAL and the id is freed.
import type { CompletionQueue, Context, ProtectionDomain, QueuePair } from '../verbs';
import { CmId } from './cm-id';
import { checkQpOptions, ConnectOptions, discardQp, finishQp, makeQp } from './connect';
import { Connection } from './connection';
import { checkOwnQp, readyOwnQp } from './own-qp';
import { fromCm } from './context';
import { cmError } from './errors';
import { channel, RawCmEvent } from './event-channel';
import { native } from '../native';

/** Options of {@link ConnectRequest.accept}. */
export interface AcceptOptions {
  /** Not needed with `queuePair`. */
  pd?: ProtectionDomain;
  /**
   * An RC queue pair of your own, from a PD of this request's context, in RESET or INIT (made and given
   * its receives before the request came): accepted instead of one made now. As in connect(), the
   * connection owns it once established; if accept() fails it stays yours (check its state before reusing it).
   */
  queuePair?: QueuePair;
  /** As in connect(): the new QP's send CQ, by default one made for the connection. Not with `queuePair`. */
  sendCq?: CompletionQueue;
  /** As in connect(): the receive CQ, by default the send CQ. Not with `queuePair`. */
  recvCq?: CompletionQueue;
  /** As in connect(): capacities of the QP made now. Not with `queuePair`. */
  qp?: ConnectOptions['qp'];
  /** As in connect(): remote access beyond the CM's, set before the initiator can send. With `queuePair` only. */
  remoteAccess?: ConnectOptions['remoteAccess'];
  /** Sent with the accept; at most 196 bytes, more rejects with ERR_CM_PRIVATE_DATA_TOO_LONG. */
  privateData?: Uint8Array;
  /** RDMA READ/atomic requests this side accepts in flight as responder, 0–255 (default 1). */
  responderResources?: number;
  /** RDMA READ/atomic requests this side issues in flight as initiator, 0–255 (default 1). */
  initiatorDepth?: number;
  /** As in connect(). */
  minRnrTimer?: ConnectOptions['minRnrTimer'];
  /** As in connect(): post receives before the initiator can send. */
  prepare?: ConnectOptions['prepare'];
  /** Bound on the wait for ESTABLISHED, in ms (default 10 s); then it rejects with ERR_CM_TIMEOUT. */
  timeoutMs?: number;
  /** Aborts the accept: it rejects with code ABORT_ERR. */
  signal?: AbortSignal;
}

/**
 * What a {@link Listener} hands out: a request from one initiator, answered once. Requests the
 * listener still holds when it closes are rejected.
 */
export abstract class IncomingRequest {
  /** Private data sent with the request (empty when none; zero-padded by the transport). */
  readonly privateData: Buffer;
  /** The initiator's address. */
  readonly remoteAddress: string;
  /** The initiator's port. */
  readonly remotePort: number;
  /** The device context the request arrived on: allocate the PD for accept() from it. */
  readonly context: Context;
  /** @internal */
  protected answered = false;
  /** @internal The request's own CM id. */
  protected readonly id: CmId;

  /** @internal */
  constructor(id: CmId, e: RawCmEvent) {
    this.id = id;
    this.privateData = e.privateData ?? Buffer.alloc(0);
    const a = id.native.addresses();
    this.remoteAddress = a.remote?.address ?? '';
    this.remotePort = a.remote?.port ?? 0;
    this.context = fromCm(a.device, id.native.context());
  }

  /**
   * Refuses the request (rdma_reject(3)) with private data: up to 148 bytes for a connection (the
   * initiator's connect rejects with ERR_CM_REJECTED), 136 for a datagram request (ERR_CM_UNREACHABLE).
   * Rejects with ERR_CM_ANSWERED when already answered.
   */
  async reject(privateData?: Uint8Array): Promise<void> {
    if (this.answered) throw cmError('ERR_CM_ANSWERED', 'this request was already accepted or rejected');
    native.CmId.checkPrivateData(privateData, 'reject', this.id.portSpace);
    this.answered = true;
    try {
      this.id.native.reject(privateData);
    } finally {
      this.id.destroy();
    }
  }
}

/** A connection request taken from a {@link Listener}: answer it once, with accept() or reject(). */
export class ConnectRequest extends IncomingRequest {
  /**
   * What the initiator asked for, in this side's terms as librdmacm reports it (the initiator's
   * initiator depth): the largest useful `responderResources` for accept().
   */
  readonly responderResources: number;
  /** Likewise the initiator's responder resources: the largest useful `initiatorDepth` for accept(). */
  readonly initiatorDepth: number;

  /** @internal */
  constructor(id: CmId, e: RawCmEvent) {
    super(id, e);
    this.responderResources = e.responderResources ?? 0;
    this.initiatorDepth = e.initiatorDepth ?? 0;
  }

  /**
   * Accepts the request (rdma_accept(3)) and resolves to the connection once ESTABLISHED. Rejects with
   * ERR_CM_ANSWERED when already answered, ERR_CM_TIMEOUT, ERR_CM_<EVENT>, ABORT_ERR or an option error;
   * on failure the request's CM id is destroyed (the initiator's connect fails).
   */
  async accept(o: AcceptOptions): Promise<Connection> {
    if (this.answered) throw cmError('ERR_CM_ANSWERED', 'this request was already accepted or rejected');
    if (!o || typeof o !== 'object')
      throw cmError('ERR_INVALID_ARG_TYPE', 'accept options must be an object');
    native.CmId.checkPrivateData(o.privateData, 'accept');
    checkQpOptions(o);
    const own = checkOwnQp(o);
    if (!own && o.pd === undefined) throw cmError('ERR_INVALID_ARG_TYPE', 'pd must be a ProtectionDomain');
    this.answered = true;
    if (own) {
      try {
        o.prepare?.(own);
        readyOwnQp(this.id, own, o, true);
        const param = {
          privateData: o.privateData,
          responderResources: o.responderResources,
          initiatorDepth: o.initiatorDepth,
          qp: own.native,
        };
        await this.id.step('accept', 'ESTABLISHED', o.timeoutMs ?? 10_000, o.signal, () =>
          this.id.native.accept(param),
        );
        return new Connection(this.id, own, [], this.privateData);
      } catch (e) {
        this.id.destroy();
        throw e;
      }
    }
    let made: ReturnType<typeof makeQp> | null = null;
    try {
      made = makeQp(this.id, { ...o, pd: o.pd! });
      o.prepare?.(made.qp);
      await this.id.step('accept', 'ESTABLISHED', o.timeoutMs ?? 10_000, o.signal, () =>
        this.id.native.accept({
          privateData: o.privateData,
          responderResources: o.responderResources,
          initiatorDepth: o.initiatorDepth,
        }),
      );
      finishQp(made.qp, o);
      return new Connection(this.id, made.qp, made.owned, this.privateData);
    } catch (e) {
      discardQp(made);
      this.id.destroy();
      throw e;
    }
  }
}

/**
 * A CM id listening on a local address and port, made by {@link listen}. Iterate it for the incoming
 * ConnectRequests; leaving the loop early closes it. If its device is removed, the iteration rejects
 * with ERR_CM_DEVICE_REMOVAL. Until closed it keeps the event loop alive.
 */
export class Listener<R extends IncomingRequest = ConnectRequest> implements AsyncIterable<R> {
  /** The local address listened on. */
  readonly address: string;
  /** The local port listened on (the one chosen when listen() was given port 0). */
  readonly port: number;
  private readonly queue: R[] = [];
  private readonly waiting: { resolve: (r: IteratorResult<R>) => void; reject: (e: Error) => void }[] = [];
  private closedFlag = false;
  /** Why the listener ended by itself (its device was removed). */
  private failure: Error | null = null;

  /** @internal `request` makes the request object of each incoming id (ConnectRequest by default). */
  constructor(
    private readonly id: CmId,
    request: (child: CmId, e: RawCmEvent) => R = (child, e) => new ConnectRequest(child, e) as unknown as R,
  ) {
    const a = id.native.addresses();
    this.address = a.local?.address ?? '';
    this.port = a.local?.port ?? 0;
    channel().hold(1);
    id.onRequest = (e, child) => {
      let req: R;
      try {
        req = request(child, e);
      } catch {
        child.destroy();
        return;
      }
      const w = this.waiting.shift();
      if (w) w.resolve({ value: req, done: false });
      else this.queue.push(req);
    };
    id.own((e) => {
      if (e.event !== 'DEVICE_REMOVAL') return;
      // The device under the listener is going away: the kernel waits for this id to be destroyed.
      this.failure = cmError(
        'ERR_CM_DEVICE_REMOVAL',
        `listener on ${this.address}:${this.port}: its RDMA device was removed`,
        { event: e.event, status: e.status },
      );
      for (const w of this.waiting.splice(0)) w.reject(this.failure);
      this.close();
    });
  }

  /** True once close() ran or the device was removed. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Yields each connection request in arrival order; ends when the listener closes. */
  [Symbol.asyncIterator](): AsyncIterator<R> {
    return {
      next: () => {
        const r = this.queue.shift();
        if (r) return Promise.resolve({ value: r, done: false });
        if (this.failure) return Promise.reject(this.failure);
        if (this.closedFlag) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Stops listening; requests not yet taken are rejected. Idempotent. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const r of this.queue.splice(0)) void r.reject().catch(() => {});
    for (const w of this.waiting.splice(0)) w.resolve({ value: undefined, done: true });
    this.id.destroy();
    channel().hold(-1);
  }

  /** Same as close(), for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** @internal A CM id of `portSpace` bound to `address` and `port` and listening. */
export function listeningId(
  o: { address: string; port: number; backlog?: number },
  portSpace: 'TCP' | 'UDP',
): CmId {
  if (!o || typeof o.address !== 'string') throw cmError('ERR_INVALID_ARG_TYPE', 'address must be a string');
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)
    throw cmError('ERR_OUT_OF_RANGE', 'port must be from 0 to 65535');
  const id = new CmId(undefined, portSpace);
  try {
    id.native.bindAddr(o.address, o.port);
    id.native.listen(o.backlog ?? 16);
  } catch (e) {
    id.destroy();
    throw e;
  }
  return id;
}

/**
 * Listens for connection requests on `address` and `port` (rdma_bind_addr, rdma_listen; port 0 picks one,
 * backlog default 16). Rejects with ERR_INVALID_ARG_TYPE/ERR_OUT_OF_RANGE for bad options, or the errno
 * code of the failed call (e.g. EADDRINUSE, EADDRNOTAVAIL).
 * @example
 * ```ts
 * import { contextFor, listen } from 'rdma-ccm/cm';
 * const pd = (await contextFor('10.99.0.1')).allocPd();
 * for await (const req of await listen({ address: '10.99.0.1', port: 7470 })) {
 *   if (req.privateData.subarray(0, 5).toString() !== 'hello') await req.reject(Buffer.from('go away'));
 *   else serve(await req.accept({ pd, privateData: Buffer.from('welcome') }));   // serve: yours
 * }
 * ```
 * A complete program with both sides: `examples/hello-cm.mjs`; see {@link connect}.
 */
export async function listen(o: { address: string; port: number; backlog?: number }): Promise<Listener> {
  return new Listener(listeningId(o, 'TCP'));
}
