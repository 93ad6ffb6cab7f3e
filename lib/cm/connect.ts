// connect(): resolve the partner's address and route, create the QP on the CM id with the caller's PD,
// connect with private data, and resolve once ESTABLISHED. Every step has a timeout and honours an
// AbortSignal; on any failure everything made so far is freed.
import { native } from '../native';
import { CompletionQueue, ProtectionDomain, QueuePair, type Context, type QpInit } from '../verbs';
import { fromCm } from './context';
import { CmId } from './cm-id';
import { Connection } from './connection';
import { checkOwnQp, readyOwnQp } from './own-qp';
import { cmError } from './errors';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** The partner's address: IPv4, IPv6, or a RoCE GID. */
  address: string;
  /** The partner's listening port, 1–65535. */
  port: number;
  /** Local address to connect from (selects the device). */
  sourceAddress?: string;
  /**
   * A PD from contextFor(sourceAddress), or a function that makes one from the context of the device the
   * route goes through (called once the route is resolved). Not needed with `queuePair`.
   */
  pd?: ProtectionDomain | ((context: Context) => ProtectionDomain);
  /**
   * An RC queue pair of your own (from a PD of contextFor(sourceAddress)) to connect instead of one the CM
   * makes: it can be made, and its receives posted, before the partner is there. It must be in RESET or
   * INIT; the connection moves it to RTS with the attributes the CM negotiated. Once connected, the
   * connection owns it (closing the connection closes it; its CQs stay yours). If connect() fails, it
   * stays yours: still in INIT when the partner refused or could not be reached, so it can connect again.
   */
  queuePair?: QueuePair;
  /**
   * CQ for the new QP's send completions (and receives unless `recvCq` is given). Default: a CQ made for
   * the connection (maxSendWr + maxRecvWr entries) and closed with it. Not with `queuePair`.
   */
  sendCq?: CompletionQueue;
  /** CQ for receive completions; defaults to the send CQ. Not with `queuePair`. */
  recvCq?: CompletionQueue;
  /**
   * Capacities of the QP the CM makes: maxSendWr and maxRecvWr (default 128 each), maxSendSge and
   * maxRecvSge (default 1), maxInlineData (default 0); `sqSigAll` and `srq` do not apply. Not with `queuePair`.
   */
  qp?: Partial<Omit<QpInit, 'type' | 'sendCq' | 'recvCq'>>;
  /**
   * Remote access the QP grants beyond the CM's REMOTE_WRITE and REMOTE_READ (with responder resources),
   * e.g. `Access.FLUSH_GLOBAL` for the partner's FLUSHes: set while the QP is in INIT, before the partner
   * can send anything. With `queuePair` only.
   */
  remoteAccess?: number;
  /** Sent with the connect request; at most 56 bytes, more rejects with ERR_CM_PRIVATE_DATA_TOO_LONG. */
  privateData?: Uint8Array;
  /** RDMA READ/atomic requests this side accepts in flight as responder, 0–255 (default 1). */
  responderResources?: number;
  /** RDMA READ/atomic requests this side issues in flight as initiator, 0–255 (default 1). */
  initiatorDepth?: number;
  /** Transport retries after a timeout, 0–7 (default 7). */
  retryCount?: number;
  /** Retries after a receiver-not-ready NAK, 0–7 (default 7, which retries without limit). */
  rnrRetryCount?: number;
  /**
   * Receiver-not-ready NAK delay this side asks of partners, in the IB encoding (0–31: 1 → 0.01 ms,
   * 12 → 0.64 ms, 0 → 655 ms). Applied once the connection is established.
   */
  minRnrTimer?: number;
  /**
   * Called with the new QP before the connection is made: post the first receives here, so that the
   * partner's first SEND or WRITE_WITH_IMM finds one instead of drawing a receiver-not-ready NAK.
   */
  prepare?: (qp: QueuePair) => void;
  /** Bound on the whole connect (default 10 s). */
  timeoutMs?: number;
  /** Aborts the connect: it rejects with code ABORT_ERR and frees what it made. */
  signal?: AbortSignal;
}

/** Largest private data a connect request carries, in bytes (IB CM REQ, less the RDMA CM header): 56. */
export const MAX_CONNECT_PRIVATE_DATA = native.constants.privateData.connect;
/** Largest private data an accept carries, in bytes (IB CM REP): 196. */
export const MAX_ACCEPT_PRIVATE_DATA = native.constants.privateData.accept;
/** Largest private data a reject carries, in bytes (IB CM REJ): 148. */
export const MAX_REJECT_PRIVATE_DATA = native.constants.privateData.reject;

/** @internal Validates the options both connect() and accept() share. */
export function checkQpOptions(o: {
  minRnrTimer?: number;
  prepare?: unknown;
  remoteAccess?: unknown;
  queuePair?: unknown;
}): void {
  if (o.remoteAccess !== undefined) {
    if (!Number.isInteger(o.remoteAccess) || (o.remoteAccess as number) < 0)
      throw cmError('ERR_INVALID_ARG_TYPE', 'remoteAccess must be a non-negative integer of Access flags');
    if (o.queuePair === undefined)
      throw cmError('ERR_INVALID_ARG_VALUE', 'remoteAccess applies to a queuePair of your own only');
  }
  if (
    o.minRnrTimer !== undefined &&
    (!Number.isInteger(o.minRnrTimer) || o.minRnrTimer < 0 || o.minRnrTimer > 31)
  )
    throw cmError('ERR_OUT_OF_RANGE', 'minRnrTimer must be an integer from 0 to 31');
  if (o.prepare !== undefined && typeof o.prepare !== 'function')
    throw cmError('ERR_INVALID_ARG_TYPE', 'prepare must be a function');
}

/** @internal Applies what must wait for an established connection. */
export function finishQp(qp: QueuePair, o: { minRnrTimer?: number }): void {
  if (o.minRnrTimer !== undefined) qp.modify({ minRnrTimer: o.minRnrTimer });
}

/** @internal Creates CQs (unless given) and the QP on a CM id: RC, or UD in the UDP port space. */
export function makeQp(
  id: CmId,
  o: { pd: ProtectionDomain; sendCq?: CompletionQueue; recvCq?: CompletionQueue; qp?: ConnectOptions['qp'] },
) {
  if (!(o.pd instanceof ProtectionDomain))
    throw cmError('ERR_INVALID_ARG_TYPE', 'pd must be a ProtectionDomain');
  const owned: CompletionQueue[] = [];
  const sendCq =
    o.sendCq ?? o.pd.context.createCq({ cqe: (o.qp?.maxSendWr ?? 128) + (o.qp?.maxRecvWr ?? 128) });
  if (!o.sendCq) owned.push(sendCq);
  const recvCq = o.recvCq ?? sendCq;
  try {
    const n = id.native.createQp(o.pd.native, sendCq.native, recvCq.native, { ...o.qp });
    const qp = new QueuePair(o.pd, { type: id.portSpace === 'UDP' ? 'UD' : 'RC', sendCq, recvCq }, n);
    id.qp = qp;
    return { qp, owned };
  } catch (e) {
    for (const cq of owned) cq.close();
    throw e;
  }
}

/** @internal Frees what makeQp() made (the QP, then the CQs made for it), after a step failed. */
export function discardQp(made: { qp: QueuePair; owned: CompletionQueue[] } | null): void {
  made?.qp.close();
  for (const cq of made?.owned ?? []) cq.close();
}

/**
 * Connects to a listening partner: resolves its address and route (rdma_resolve_addr, rdma_resolve_route),
 * makes or readies the RC QP, and resolves once rdma_connect(3) is ESTABLISHED. Rejects with ERR_CM_TIMEOUT,
 * ERR_CM_<EVENT> (e.g. ERR_CM_REJECTED, ERR_CM_UNREACHABLE, ERR_CM_ADDR_ERROR), ABORT_ERR, or
 * ERR_INVALID_ARG_TYPE/ERR_OUT_OF_RANGE for bad options; on failure it frees everything it made.
 * @example
 * ```ts
 * import { Access } from 'rdma-ccm/verbs';
 * import { connect, contextFor, listen } from 'rdma-ccm/cm';
 * const serverPd = (await contextFor('10.99.0.1')).allocPd();   // the device behind the address
 * const clientPd = (await contextFor('10.99.0.2')).allocPd();
 * const inbox = serverPd.allocMemory(4096, Access.LOCAL_WRITE);
 * const outbox = clientPd.allocMemory(4096, Access.LOCAL_WRITE);
 *
 * const listener = await listen({ address: '10.99.0.1', port: 7470 });
 * const accepted = (async () => {
 *   for await (const req of listener) {
 *     let received;   // a receive posted before the partner can send
 *     const conn = await req.accept({ pd: serverPd, prepare: (qp) => (received = qp.recv({ local: { mr: inbox } })) });
 *     return { conn, received };
 *   }
 * })();
 * const client = await connect({ address: '10.99.0.1', port: 7470, sourceAddress: '10.99.0.2', pd: clientPd, privateData: Buffer.from('hello') });
 * const { conn, received } = await accepted;
 * outbox.buffer.write('hi');
 * await client.qp.send({ local: { mr: outbox, length: 2 } });
 * console.log((await received).byteLen);          // 2
 * ```
 * The same as a complete program: `examples/hello-cm.mjs`.
 */
export async function connect(o: ConnectOptions): Promise<Connection> {
  if (!o || typeof o !== 'object') throw cmError('ERR_INVALID_ARG_TYPE', 'options must be an object');
  if (typeof o.address !== 'string') throw cmError('ERR_INVALID_ARG_TYPE', 'address must be a string');
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535)
    throw cmError('ERR_OUT_OF_RANGE', 'port must be from 1 to 65535');
  native.CmId.checkPrivateData(o.privateData, 'connect');
  checkQpOptions(o);
  const own = checkOwnQp(o);
  if (!own && o.pd === undefined)
    throw cmError('ERR_INVALID_ARG_TYPE', 'pd must be a ProtectionDomain or a function that makes one');
  const timeoutMs = o.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const id = new CmId();
  let made: ReturnType<typeof makeQp> | null = null;
  try {
    await id.step('resolve address', 'ADDR_RESOLVED', left(), o.signal, () =>
      id.native.resolveAddr(o.sourceAddress ?? null, o.address, o.port, Math.min(left(), 5000)),
    );
    await id.step('resolve route', 'ROUTE_RESOLVED', left(), o.signal, () =>
      id.native.resolveRoute(Math.min(left(), 5000)),
    );
    const param = {
      privateData: o.privateData,
      responderResources: o.responderResources,
      initiatorDepth: o.initiatorDepth,
      retryCount: o.retryCount,
      rnrRetryCount: o.rnrRetryCount,
    };
    if (own) {
      o.prepare?.(own);
      // librdmacm leaves a QP it did not make to us: CONNECT_RESPONSE, then RTR and RTS, then establish.
      const resp = await id.step('connect', 'CONNECT_RESPONSE', left(), o.signal, () =>
        id.native.connect({ ...param, qp: own.native }),
      );
      readyOwnQp(id, own, o, false);
      id.native.establish();
      return new Connection(id, own, [], resp.privateData ?? Buffer.alloc(0));
    }
    const pd =
      typeof o.pd === 'function' ? o.pd(fromCm(id.native.addresses().device, id.native.context())) : o.pd!;
    made = makeQp(id, { ...o, pd });
    o.prepare?.(made.qp);
    const est = await id.step('connect', 'ESTABLISHED', left(), o.signal, () => id.native.connect(param));
    finishQp(made.qp, o);
    return new Connection(id, made.qp, made.owned, est.privateData ?? Buffer.alloc(0));
  } catch (e) {
    discardQp(made);
    id.destroy();
    throw e;
  }
}
