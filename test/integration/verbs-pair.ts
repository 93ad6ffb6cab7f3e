// Two ends of a lab link for verbs tests: a context, PD, CQ and memory on each rxe device, and RC
// queue pairs connected by hand between them.
import * as verbs from '../../lib/verbs';
import { Access, QueuePair, type QpInit } from '../../lib/verbs';
import { openSide as openLabSide, type LabSide } from '../support/lab-side.mjs';
import { lab } from './lab';

export const ALL = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC;

export type Side = LabSide;

/** Lab device `i` (0 or 1) with a 64 KiB region of `mrAccess` and one CQ of 256 entries. */
export function openSide(i: number, mrAccess = ALL): Side {
  const env = lab();
  return openLabSide(verbs, env.devices[i], env.addrs[i], { access: mrAccess });
}

export function closeSide(s: Side): void {
  s.close();
}

/** An RC queue pair on each side, connected to each other (RTS), remote access as `access`. */
export function rcPair(
  a: Side,
  b: Side,
  o: { a?: Partial<QpInit>; b?: Partial<QpInit>; access?: number } = {},
): [QueuePair, QueuePair] {
  const access = o.access ?? ALL & ~Access.LOCAL_WRITE;
  const qa = a.pd.createQp({ type: 'RC', sendCq: a.cq, maxSendWr: 64, maxRecvWr: 64, ...o.a });
  const qb = b.pd.createQp({ type: 'RC', sendCq: b.cq, maxSendWr: 64, maxRecvWr: 64, ...o.b });
  connectPair(a, qa, b, qb, access);
  return [qa, qb];
}

/** RESET → INIT → RTR → RTS on both queue pairs, each towards the other. */
export function connectPair(
  a: Side,
  qa: QueuePair,
  b: Side,
  qb: QueuePair,
  access = ALL & ~Access.LOCAL_WRITE,
): void {
  qa.connectTo({ qpNum: qb.qpNum, gid: b.gid }, { sgidIndex: a.gidIndex, access });
  qb.connectTo({ qpNum: qa.qpNum, gid: a.gid }, { sgidIndex: b.gidIndex, access });
}
