// Two ends of a lab link for verbs tests: a context, PD, CQ and memory on each rxe device, and RC
// queue pairs connected by hand between them.
import { Access, CompletionQueue, Context, MemoryRegion, ProtectionDomain, QueuePair, type QpInit } from '../../lib/verbs';
import { lab } from './lab';

export const ALL = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC;

export interface Side {
  ctx: Context;
  pd: ProtectionDomain;
  cq: CompletionQueue;
  mr: MemoryRegion;
  gid: string;
  gidIndex: number;
}

export function openSide(i: number, mrAccess = ALL): Side {
  const env = lab();
  const ctx = new Context(env.devices[i]);
  const { gid, index: gidIndex } = ctx.findGid(env.addrs[i]);
  const pd = ctx.allocPd();
  const cq = ctx.createCq({ cqe: 256 });
  const mr = pd.allocMemory(1 << 16, mrAccess);
  return { ctx, pd, cq, mr, gid, gidIndex };
}

export function closeSide(s: Side): void {
  s.mr.close();
  s.cq.close();
  s.pd.close();
  s.ctx.close();
}

/** An RC queue pair on each side, connected to each other (RTS), remote access as `access`. */
export function rcPair(a: Side, b: Side, o: { a?: Partial<QpInit>; b?: Partial<QpInit>; access?: number } = {}): [QueuePair, QueuePair] {
  const access = o.access ?? ALL & ~Access.LOCAL_WRITE;
  const qa = a.pd.createQp({ type: 'RC', sendCq: a.cq, maxSendWr: 64, maxRecvWr: 64, ...o.a });
  const qb = b.pd.createQp({ type: 'RC', sendCq: b.cq, maxSendWr: 64, maxRecvWr: 64, ...o.b });
  connectPair(a, qa, b, qb, access);
  return [qa, qb];
}

/** RESET → INIT → RTR → RTS on both queue pairs, each towards the other. */
export function connectPair(a: Side, qa: QueuePair, b: Side, qb: QueuePair, access = ALL & ~Access.LOCAL_WRITE): void {
  qa.connectTo({ qpNum: qb.qpNum, gid: b.gid }, { sgidIndex: a.gidIndex, access });
  qb.connectTo({ qpNum: qa.qpNum, gid: a.gid }, { sgidIndex: b.gidIndex, access });
}
