// Queue pairs of the caller's own on CM connections: made (and given their receives) before the
// partner is there, then moved to RTS with the attributes the CM negotiated, as librdmacm moves its own.
import { CompletionQueue, ProtectionDomain, QueuePair, type QpInit } from '../verbs';
import type { CmId } from './cm-id';
import { portFor } from './context';
import { cmError } from './errors';

/** Options of {@link createQueuePair}. */
export interface QueuePairOptions {
  /** The local address the connection will use (selects the port). */
  localAddress: string;
  /** From contextFor(localAddress). */
  pd: ProtectionDomain;
  /** CQ for the QP's send completions (and its receive completions unless `recvCq` is given). */
  sendCq: CompletionQueue;
  /** CQ for receive completions; defaults to `sendCq`. */
  recvCq?: CompletionQueue;
  /** Further QP init attributes (capacities, `sqSigAll`, `srq`), as for ProtectionDomain.createQp(). */
  qp?: Partial<Omit<QpInit, 'type' | 'sendCq' | 'recvCq'>>;
}

/**
 * An RC queue pair for a later connect() or accept() with `queuePair`, already in INIT on the port of
 * `localAddress` so that receives can be posted on it now. Remote access stays off until the CM sets it.
 * Throws ERR_INVALID_ARG_TYPE for bad options and ERR_CM_NO_DEVICE when no RDMA device owns `localAddress`.
 */
export function createQueuePair(o: QueuePairOptions): QueuePair {
  if (!o || typeof o !== 'object') throw cmError('ERR_INVALID_ARG_TYPE', 'options must be an object');
  if (!(o.pd instanceof ProtectionDomain))
    throw cmError('ERR_INVALID_ARG_TYPE', 'pd must be a ProtectionDomain');
  const portNum = portFor(o.localAddress);
  const qp = o.pd.createQp({ ...o.qp, type: 'RC', sendCq: o.sendCq, recvCq: o.recvCq ?? o.sendCq });
  try {
    qp.modify({ qpState: 'INIT', portNum, pkeyIndex: 0, qpAccessFlags: 0 });
  } catch (e) {
    qp.close();
    throw e;
  }
  return qp;
}

/** @internal Validates a caller's own queue pair against the options that make one. */
export function checkOwnQp(o: {
  queuePair?: unknown;
  sendCq?: unknown;
  recvCq?: unknown;
  qp?: unknown;
}): QueuePair | undefined {
  if (o.queuePair === undefined) return undefined;
  if (!(o.queuePair instanceof QueuePair))
    throw cmError('ERR_INVALID_ARG_TYPE', 'queuePair must be a QueuePair');
  if (o.queuePair.type !== 'RC')
    throw cmError('ERR_CM_QP_TYPE', 'only an RC queue pair can be connected through the CM');
  if (o.sendCq !== undefined || o.recvCq !== undefined || o.qp !== undefined)
    throw cmError(
      'ERR_INVALID_ARG_VALUE',
      'queuePair comes with its own CQs and capacities: sendCq, recvCq and qp do not apply',
    );
  if (o.queuePair.closed) throw cmError('ERR_CLOSED', 'queuePair is closed');
  const state = o.queuePair.state;
  if (state !== 'RESET' && state !== 'INIT')
    throw cmError(
      'ERR_QP_STATE',
      `queuePair is in ${state}: only a queue pair in RESET or INIT can be connected`,
    );
  return o.queuePair;
}

/**
 * @internal Moves a caller's queue pair to RTS with the CM's attributes for this connection, as librdmacm
 * does for its own: on the accepting side the read/atomic depths are the ones the accept announces.
 */
export function readyOwnQp(
  id: CmId,
  qp: QueuePair,
  o: { minRnrTimer?: number; responderResources?: number; initiatorDepth?: number; remoteAccess?: number },
  accepting: boolean,
): void {
  id.native.transitionQp(qp.native, 'INIT');
  // The CM sets the access in INIT only (RTR and RTS leave it): what the caller adds stays.
  if (o.remoteAccess) qp.modify({ qpAccessFlags: qp.query().qpAccessFlags | o.remoteAccess });
  id.native.transitionQp(qp.native, 'RTR', {
    minRnrTimer: o.minRnrTimer,
    maxDestRdAtomic: accepting ? (o.responderResources ?? 1) : undefined,
  });
  id.native.transitionQp(qp.native, 'RTS', { maxRdAtomic: accepting ? (o.initiatorDepth ?? 1) : undefined });
}
