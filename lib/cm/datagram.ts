// Datagrams through RDMA CM, in the UDP port space. connectDatagram() resolves a partner's address and
// port and learns its QP number and QKey (a SIDR exchange); listenDatagram() answers such requests;
// openDatagram() binds an endpoint to a local address, for multicast. Each gives a DatagramEndpoint:
// a UD queue pair the CM made and moved to RTS, which may join multicast groups.
import { EventEmitter } from 'node:events';
import { native } from '../native';
import type {
  AddressHandle,
  CompletionQueue,
  Context,
  ProtectionDomain,
  QueuePair,
  Sge,
  WorkCompletion,
} from '../verbs';
import { CmId } from './cm-id';
import { fromCm } from './context';
import { checkQpOptions, discardQp, makeQp, type ConnectOptions } from './connect';
import type { CmEventInfo, Endpoint } from './connection';
import { cmError } from './errors';
import { channel } from './event-channel';
import { IncomingRequest, Listener, listeningId } from './listener';

/** Largest private data a UD connect request carries, in bytes (SIDR REQ, less the RDMA CM header): 180. */
export const MAX_UD_CONNECT_PRIVATE_DATA = native.constants.privateData.udConnect;
/** Largest private data a UD accept or reject carries, in bytes (SIDR REP): 136. */
export const MAX_UD_ANSWER_PRIVATE_DATA = native.constants.privateData.udAnswer;

/** Where datagrams go: an address handle, a QP number and the QKey the receiving QP accepts. */
export interface DatagramPeer {
  /** The path to the peer's port (or to the group); owned by the endpoint that made it. */
  ah: AddressHandle;
  /** The remote QP number; 0xFFFFFF for a multicast group. */
  qpn: number;
  /** The QKey the receiving QP accepts. */
  qkey: number;
}

/** A group this endpoint joined: sends to it reach every member (`qpn` is 0xFFFFFF). */
export interface MulticastGroup extends DatagramPeer {
  /** The group's IP address, as given to joinMulticast(). */
  address: string;
  /** Joined as a send-only member: the QP sends to the group but receives nothing from it. */
  sendOnly: boolean;
}

/** What the UD queue pair is made of; as in connect(), without the RC-only options. */
export interface DatagramQpOptions {
  /** A PD of the endpoint's device, or a function that makes one from its context. */
  pd: ProtectionDomain | ((context: Context) => ProtectionDomain);
  /** CQ for send (and receive, unless `recvCq`) completions; by default one made for the endpoint. */
  sendCq?: CompletionQueue;
  /** CQ for receive completions; defaults to the send CQ. */
  recvCq?: CompletionQueue;
  /** Capacities: maxSendWr, maxRecvWr (default 128), maxSendSge, maxRecvSge, maxInlineData. */
  qp?: ConnectOptions['qp'];
  /** Called with the new QP before any datagram can reach it: post the first receives here. */
  prepare?: (qp: QueuePair) => void;
}

/** Options of {@link connectDatagram}. */
export interface DatagramConnectOptions extends DatagramQpOptions {
  /** The partner's address (IPv4, IPv6 or a RoCE GID) and UD port, as it listens with listenDatagram() or udaddy. */
  address: string;
  /** The partner's UD port, 1–65535. */
  port: number;
  /** Local address to send from (selects the device). */
  sourceAddress?: string;
  /** Sent with the request; at most 180 bytes. */
  privateData?: Uint8Array;
  /** Bound on the whole exchange (default 10 s). */
  timeoutMs?: number;
  /** Aborts the exchange: it rejects with ABORT_ERR and frees what it made. */
  signal?: AbortSignal;
}

/** Options of {@link DatagramRequest.accept}. */
export interface DatagramAcceptOptions extends DatagramQpOptions {
  /** Sent with the answer; at most 136 bytes. */
  privateData?: Uint8Array;
}

/** The events of a DatagramEndpoint, with their listeners' arguments. */
export interface DatagramEndpointEvents {
  /** Every CM event on the endpoint's id, by name and status. */
  'cm-event': [e: CmEventInfo];
  /** A joined group failed (MULTICAST_ERROR, e.g. the port went down): join it again to go on. */
  'multicast-error': [e: Pick<CmEventInfo, 'status'>];
  /** The RDMA device is being removed; the endpoint is then closed. */
  'device-removal': [];
}

/**
 * A UD queue pair on an RDMA CM id (port space UDP): made by {@link connectDatagram}, accepted from
 * {@link listenDatagram}, or bound by {@link openDatagram}. It owns its QP, the CQs it made and the
 * address handles it made (`remote`, the groups'); close() leaves its groups and frees them all.
 */
export class DatagramEndpoint extends EventEmitter<DatagramEndpointEvents> {
  /** The UD queue pair, in RTS with the port space's QKey. */
  readonly qp: QueuePair;
  /** The partner the CM resolved (connectDatagram() only): send to it with sendTo(). */
  readonly remote: DatagramPeer | null;
  /** The partner's private data: its answer (connecting side) or its request (accepting side). */
  readonly privateData: Buffer;
  /** This side's address and port. */
  readonly local: Endpoint;
  /** The device port the endpoint uses (for pd.createAhFromWc()). */
  readonly portNum: number;
  private readonly groups = new Map<string, MulticastGroup>();
  private readonly joining = new Set<string>();
  private readonly retired: AddressHandle[] = [];
  private ended = false;

  /** @internal */
  constructor(
    private readonly id: CmId,
    qp: QueuePair,
    private readonly ownedCqs: CompletionQueue[],
    remote: DatagramPeer | null,
    privateData: Buffer,
  ) {
    super();
    this.qp = qp;
    this.remote = remote;
    this.privateData = privateData;
    const a = id.native.addresses();
    this.local = a.local ?? { address: '', port: 0 };
    this.portNum = a.portNum;
    channel().hold(1);
    // However the QP goes (close() or its own close()), it leaves the groups first.
    qp.beforeClose = () => this.leaveAll();
    id.own((e) => {
      this.emit('cm-event', { event: e.event, status: e.status });
      if (e.event === 'MULTICAST_ERROR') this.emit('multicast-error', { status: e.status });
      else if (e.event === 'DEVICE_REMOVAL') {
        this.emit('device-removal');
        this.close();
      }
    });
  }

  /** True once close() ran. */
  get closed(): boolean {
    return this.ended;
  }

  /** The groups joined and not left, by address. */
  get multicastGroups(): ReadonlyMap<string, MulticastGroup> {
    return this.groups;
  }

  /** Sends `local` as one datagram to `peer` (a partner or a group), with immediate data if given. */
  sendTo(peer: DatagramPeer, local: Sge, imm?: number): Promise<WorkCompletion> {
    return this.qp.sendTo({ ah: peer.ah, remoteQpn: peer.qpn, remoteQkey: peer.qkey, local, imm });
  }

  /**
   * Joins the multicast group at `address` (rdma_join_multicast_ex(3)) and resolves once the CM reports
   * it: the QP is then attached, and sends to the group reach every member. `sendOnly` joins without
   * receiving. Rejects with ERR_CM_JOINED for a group joined or being joined, ERR_CM_MULTICAST_ERROR,
   * ERR_CM_TIMEOUT (default 10 s), ABORT_ERR, ERR_INVALID_ADDRESS or the errno code of the call.
   */
  async joinMulticast(
    address: string,
    o: { sendOnly?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<MulticastGroup> {
    this.check();
    if (typeof address !== 'string') throw cmError('ERR_INVALID_ARG_TYPE', 'address must be a string');
    if (this.groups.has(address) || this.joining.has(address))
      throw cmError('ERR_CM_JOINED', `${address}: already joined or being joined`);
    const sendOnly = o.sendOnly === true;
    this.joining.add(address);
    let ah: AddressHandle | null = null;
    try {
      const e = await this.id.step(`join ${address}`, 'MULTICAST_JOIN', o.timeoutMs ?? 10_000, o.signal, () =>
        this.id.native.joinMulticast(address, sendOnly),
      );
      this.check();
      ah = this.qp.pd.createAh(e.ud!.ahAttr);
      const group: MulticastGroup = { address, sendOnly, ah, qpn: e.ud!.qpNum, qkey: e.ud!.qkey };
      this.groups.set(address, group);
      return group;
    } catch (err) {
      ah?.close();
      // The kernel may have joined already (a late event, an abort): leave, so the address can be joined again.
      if (!this.id.destroyed) {
        try {
          this.id.native.leaveMulticast(address);
        } catch {
          // it never joined
        }
      }
      throw err;
    } finally {
      this.joining.delete(address);
    }
  }

  /**
   * Leaves a group (rdma_leave_multicast(3)): the QP is detached at once and the group's address handle
   * freed when no send uses it. Throws ERR_CM_NOT_JOINED for a group not joined.
   */
  leaveMulticast(address: string): void {
    this.check();
    const group = this.groups.get(address);
    if (!group) throw cmError('ERR_CM_NOT_JOINED', `${String(address)}: not a group this endpoint joined`);
    this.groups.delete(address);
    this.id.native.leaveMulticast(address);
    this.retire(group.ah);
  }

  private check(): void {
    if (this.ended || this.qp.closed)
      throw cmError('ERR_CLOSED', 'the datagram endpoint or its queue pair is closed');
  }

  private leaveAll(): void {
    for (const g of this.groups.values()) {
      try {
        this.id.native.leaveMulticast(g.address);
      } catch {
        // the device went away
      }
      this.retire(g.ah);
    }
    this.groups.clear();
  }

  /** Frees an address handle now, or (while a send uses it) once the QP is gone. */
  private retire(ah: AddressHandle): void {
    try {
      ah.close();
    } catch {
      this.retired.push(ah); // ERR_BUSY
    }
  }

  /**
   * Leaves every group, then frees the QP (outstanding work is flushed and rejected), the CQs it made,
   * its address handles and the CM id, in that order. Idempotent.
   */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.qp.close(); // leaves the groups first; its sends are flushed
    for (const cq of this.ownedCqs) cq.close();
    if (this.remote) this.retired.push(this.remote.ah);
    for (const ah of this.retired.splice(0)) {
      try {
        ah.close();
      } catch {
        // still counted busy: freed when collected
      }
    }
    this.id.destroy();
    channel().hold(-1);
  }

  /** Same as close(), for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function checkDatagramQp(o: DatagramQpOptions): void {
  if (o.pd === undefined)
    throw cmError('ERR_INVALID_ARG_TYPE', 'pd must be a ProtectionDomain or a function that makes one');
  checkQpOptions(o);
}

/** Makes the UD QP on `id` with the caller's options and runs `prepare`. */
function datagramQp(id: CmId, o: DatagramQpOptions) {
  const pd =
    typeof o.pd === 'function' ? o.pd(fromCm(id.native.addresses().device, id.native.context())) : o.pd;
  const made = makeQp(id, { ...o, pd });
  try {
    o.prepare?.(made.qp);
  } catch (e) {
    discardQp(made);
    throw e;
  }
  return made;
}

/**
 * Resolves a UD partner's address and route, makes the UD QP and sends a SIDR request
 * (rdma_connect(3) in the UDP port space); resolves once the partner answered, with `remote` set to its
 * QP number, QKey and an address handle to it. Rejects with ERR_CM_UNREACHABLE (refused, or nobody
 * listens), ERR_CM_TIMEOUT, ERR_CM_<EVENT>, ABORT_ERR, ERR_CM_PRIVATE_DATA_TOO_LONG or an option error;
 * on failure it frees everything it made.
 */
export async function connectDatagram(o: DatagramConnectOptions): Promise<DatagramEndpoint> {
  if (!o || typeof o !== 'object') throw cmError('ERR_INVALID_ARG_TYPE', 'options must be an object');
  if (typeof o.address !== 'string') throw cmError('ERR_INVALID_ARG_TYPE', 'address must be a string');
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535)
    throw cmError('ERR_OUT_OF_RANGE', 'port must be from 1 to 65535');
  native.CmId.checkPrivateData(o.privateData, 'connect', 'UDP');
  checkDatagramQp(o);
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  const left = () => Math.max(1, deadline - Date.now());
  const id = new CmId(undefined, 'UDP');
  let made: ReturnType<typeof datagramQp> | null = null;
  try {
    await id.step('resolve address', 'ADDR_RESOLVED', left(), o.signal, () =>
      id.native.resolveAddr(o.sourceAddress ?? null, o.address, o.port, Math.min(left(), 5000)),
    );
    await id.step('resolve route', 'ROUTE_RESOLVED', left(), o.signal, () =>
      id.native.resolveRoute(Math.min(left(), 5000)),
    );
    made = datagramQp(id, o);
    const est = await id.step('connect', 'ESTABLISHED', left(), o.signal, () =>
      id.native.connect({ privateData: o.privateData }),
    );
    const ah = made.qp.pd.createAh(est.ud!.ahAttr);
    return new DatagramEndpoint(
      id,
      made.qp,
      made.owned,
      { ah, qpn: est.ud!.qpNum, qkey: est.ud!.qkey },
      est.privateData ?? Buffer.alloc(0),
    );
  } catch (e) {
    discardQp(made);
    id.destroy();
    throw e;
  }
}

/**
 * A UD request taken from a datagram listener: answer it once. accept() makes this side's UD QP and
 * tells the initiator its number and QKey; the initiator's datagrams then arrive on it (their source QP
 * is in each receive completion; answer with pd.createAhFromWc()). Its private data is zero-padded to
 * 180 bytes; reject() refuses it with up to 136.
 */
export class DatagramRequest extends IncomingRequest {
  /**
   * Makes the UD QP (prepare() runs first) and answers with its number (rdma_accept(3)); a SIDR answer
   * has no handshake, so the endpoint is ready at once. Rejects with ERR_CM_ANSWERED, an option error or
   * the errno code of the call; on failure the request is refused.
   */
  async accept(o: DatagramAcceptOptions): Promise<DatagramEndpoint> {
    if (this.answered) throw cmError('ERR_CM_ANSWERED', 'this request was already accepted or rejected');
    if (!o || typeof o !== 'object')
      throw cmError('ERR_INVALID_ARG_TYPE', 'accept options must be an object');
    native.CmId.checkPrivateData(o.privateData, 'accept', 'UDP');
    checkDatagramQp(o);
    this.answered = true;
    let made: ReturnType<typeof datagramQp> | null = null;
    try {
      made = datagramQp(this.id, o);
      this.id.native.accept({ privateData: o.privateData });
      return new DatagramEndpoint(this.id, made.qp, made.owned, null, this.privateData);
    } catch (e) {
      discardQp(made);
      try {
        this.id.native.reject();
      } catch {
        // already answered
      }
      this.id.destroy();
      throw e;
    }
  }
}

/**
 * Listens for UD requests (port space UDP) on `address` and `port`, as udaddy's server does; iterate it
 * for DatagramRequests. Rejects as listen() does.
 */
export async function listenDatagram(o: {
  address: string;
  port: number;
  backlog?: number;
}): Promise<Listener<DatagramRequest>> {
  return new Listener(listeningId(o, 'UDP'), (child, e) => new DatagramRequest(child, e));
}

/**
 * A UD endpoint bound to the local `address` (rdma_bind_addr(3); `port` default 0), with its QP made:
 * join multicast groups on it, or send to peers whose QP numbers you know. Rejects with the errno code
 * of the bind (EADDRNOTAVAIL: no RDMA device owns the address), ERR_CM_NO_DEVICE or an option error.
 */
export async function openDatagram(
  o: DatagramQpOptions & { address: string; port?: number },
): Promise<DatagramEndpoint> {
  if (!o || typeof o !== 'object') throw cmError('ERR_INVALID_ARG_TYPE', 'options must be an object');
  if (typeof o.address !== 'string') throw cmError('ERR_INVALID_ARG_TYPE', 'address must be a string');
  const port = o.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw cmError('ERR_OUT_OF_RANGE', 'port must be from 0 to 65535');
  checkDatagramQp(o);
  const id = new CmId(undefined, 'UDP');
  try {
    id.native.bindAddr(o.address, port);
    const made = datagramQp(id, o);
    return new DatagramEndpoint(id, made.qp, made.owned, null, Buffer.alloc(0));
  } catch (e) {
    id.destroy();
    throw e;
  }
}
