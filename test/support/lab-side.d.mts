import type {
  CompletionQueue,
  Context,
  MemoryRegion,
  ProtectionDomain,
  QpInit,
  QueuePair,
} from '../../lib/verbs';

/** One side of a lab link (see lab-side.mjs). */
export interface LabSide {
  ctx: Context;
  pd: ProtectionDomain;
  /** The send CQ, also the receive CQ unless `recvCq` was asked for. */
  cq: CompletionQueue;
  recvCq: CompletionQueue;
  mr: MemoryRegion;
  /** The RC queue pair, when `qp` was given. */
  qp?: QueuePair;
  /** The RoCE v2 GID of `address` and its index. */
  gid: string;
  gidIndex: number;
  address: string;
  connectTo(peer: { qpNum: number; gid: string }, access: number): void;
  close(): void;
}

export function openSide(
  verbs: typeof import('../../lib/verbs'),
  device: string,
  address: string,
  o?: { bytes?: number; access?: number; cqe?: number; recvCq?: boolean; qp?: Partial<QpInit> },
): LabSide;
