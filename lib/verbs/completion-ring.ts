// The completion ring: a CQ's drain and cq.pollRing() write completions into a Uint32Array shared with
// the addon (native/cq.h), Wc.STRIDE words each, which JS reads without a call. Objects are made from
// it only for those who ask for objects.
import { native } from '../native';
import type { WorkCompletion, WcOpcode, WcStatus } from './completion';

/** Word offsets of one completion in a CQ's `ring` (Wc.STRIDE words each). */
export const Wc = {
  /** The work request id, low 32 bits. */
  ID: 0,
  /** The id's high 32 bits. */
  ID_HIGH: 1,
  /** ibv_wc_status (0: success). */
  STATUS: 2,
  /** ibv_wc_opcode; Wc.UNKNOWN for a failed completion. */
  OPCODE: 3,
  /** Bytes transferred (receives). */
  BYTE_LEN: 4,
  /** The local QP number. */
  QP_NUM: 5,
  /** Immediate data (host order) with WITH_IMM set in FLAGS, else the invalidated rkey word. */
  DATA: 6,
  /** ibv_wc_flags. */
  FLAGS: 7,
  /** UD: the sender's QP number. */
  SRC_QP: 8,
  /** The vendor's error syndrome. */
  VENDOR_ERR: 9,
  /** With GRH in FLAGS: the sender's LID. */
  SLID: 10,
  /** With GRH in FLAGS: the service level. */
  SL: 11,
  /** With GRH in FLAGS: the destination LID path bits. */
  DLID_PATH_BITS: 12,
  /** With GRH in FLAGS: the P_Key index (plain CQs). */
  PKEY_INDEX: 13,
  /** A timestamping CQ: the device clock, low 32 bits. */
  TIMESTAMP: 14,
  /** The device clock, high 32 bits. */
  TIMESTAMP_HIGH: 15,
  /** Words per completion. */
  STRIDE: 16,
  /** OPCODE of a failed completion. */
  UNKNOWN: 0xffffffff,
} as const;

function names<T extends string>(table: Readonly<Record<string, number>>): T[] {
  const out: T[] = [];
  for (const [name, value] of Object.entries(table)) out[value] = name as T;
  return out;
}
const STATUS = names<WcStatus>(native.constants.wcStatus);
const OPCODE = names<WcOpcode>(native.constants.wcOpcode);
const { GRH, WITH_IMM, WITH_INV, IP_CSUM_OK } = native.constants.wcFlags;
const RECV = native.constants.wcOpcode.RECV;

/**
 * The completion at word `at` of `ring` as an object (`wide`: the same memory as 64-bit words), with
 * the fields a completion of its kind has, in one order. `connected`: it is of an RC or UC queue pair,
 * where rxe reports a SEND_WITH_INV receive with the kernel's flag bit, which libibverbs calls
 * IP_CSUM_OK (a checksum flag means nothing there, so it is the invalidation).
 */
export function completionAt(
  ring: Uint32Array,
  wide: BigUint64Array,
  at: number,
  timestamps: boolean,
  connected: boolean,
): WorkCompletion {
  const status = ring[at + Wc.STATUS];
  const op = ring[at + Wc.OPCODE];
  const flags = ring[at + Wc.FLAGS];
  const wc: WorkCompletion = {
    wrId: wide[at >> 1],
    status: STATUS[status] ?? 'UNKNOWN',
    statusCode: status,
    opcode: op === Wc.UNKNOWN ? 'UNKNOWN' : (OPCODE[op] ?? 'UNKNOWN'),
    byteLen: ring[at + Wc.BYTE_LEN],
  } as WorkCompletion;
  if (flags & WITH_IMM) wc.immData = ring[at + Wc.DATA];
  if (flags & WITH_INV || (connected && op === RECV && flags & IP_CSUM_OK && status === 0))
    wc.invalidatedRkey = ring[at + Wc.DATA];
  wc.wcFlags = flags;
  if (flags & GRH) {
    wc.grh = true;
    wc.slid = ring[at + Wc.SLID];
    wc.sl = ring[at + Wc.SL];
    wc.dlidPathBits = ring[at + Wc.DLID_PATH_BITS];
    wc.pkeyIndex = ring[at + Wc.PKEY_INDEX];
  }
  wc.srcQp = ring[at + Wc.SRC_QP];
  wc.qpNum = ring[at + Wc.QP_NUM];
  wc.vendorErr = ring[at + Wc.VENDOR_ERR];
  if (timestamps) wc.timestamp = wide[(at >> 1) + (Wc.TIMESTAMP >> 1)];
  return wc;
}
