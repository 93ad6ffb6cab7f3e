// Work completions as JS objects, and the error a failed one becomes.
import type { RdmaError } from '../errors';
import { native } from '../native';

/** Status of a work completion: ibv_wc_status without the IBV_WC_ prefix (see ibv_poll_cq(3)). */
export type WcStatus =
  | 'SUCCESS'
  | 'LOC_LEN_ERR'
  | 'LOC_QP_OP_ERR'
  | 'LOC_EEC_OP_ERR'
  | 'LOC_PROT_ERR'
  | 'WR_FLUSH_ERR'
  | 'MW_BIND_ERR'
  | 'BAD_RESP_ERR'
  | 'LOC_ACCESS_ERR'
  | 'REM_INV_REQ_ERR'
  | 'REM_ACCESS_ERR'
  | 'REM_OP_ERR'
  | 'RETRY_EXC_ERR'
  | 'RNR_RETRY_EXC_ERR'
  | 'LOC_RDD_VIOL_ERR'
  | 'REM_INV_RD_REQ_ERR'
  | 'REM_ABORT_ERR'
  | 'INV_EECN_ERR'
  | 'INV_EEC_STATE_ERR'
  | 'FATAL_ERR'
  | 'RESP_TIMEOUT_ERR'
  | 'GENERAL_ERR'
  | 'UNKNOWN';

/** What completed: ibv_wc_opcode without the IBV_WC_ prefix; `UNKNOWN` for a failed completion. */
export type WcOpcode =
  | 'SEND'
  | 'RDMA_WRITE'
  | 'RDMA_READ'
  | 'COMP_SWAP'
  | 'FETCH_ADD'
  | 'BIND_MW'
  | 'LOCAL_INV'
  | 'FLUSH'
  | 'ATOMIC_WRITE'
  | 'RECV'
  | 'RECV_RDMA_WITH_IMM'
  | 'UNKNOWN';

/** A work completion (ibv_wc) as a JS object. Only wrId, status, statusCode, qpNum and vendorErr are valid when it failed. */
export interface WorkCompletion {
  /** The id of the work request that completed. */
  wrId: bigint;
  /** Outcome of the work request. */
  status: WcStatus;
  /** The same status as its numeric ibv_wc_status value. */
  statusCode: number;
  /** Valid only when status is SUCCESS. */
  opcode: WcOpcode;
  /** Bytes transferred, meaningful for receives (a UD receive counts the 40-byte GRH); 0 when it failed. */
  byteLen: number;
  /** Immediate data of a SEND_WITH_IMM / RDMA_WRITE_WITH_IMM, host byte order. */
  immData?: number;
  /** The rkey a partner's SEND_WITH_INV revoked on this side. */
  invalidatedRkey?: number;
  /** The packet carried a GRH (on UD receives the buffer starts with its 40 bytes). */
  grh?: boolean;
  /** With `grh`: the sender's LID (InfiniBand; pd.createAhFromWc() reads it, as the next three). */
  slid?: number;
  /** With `grh`: the service level the datagram came on. */
  sl?: number;
  /** With `grh`: the destination LID path bits. */
  dlidPathBits?: number;
  /** With `grh`: the P_Key index it was received on (plain CQs only). */
  pkeyIndex?: number;
  /** Raw ibv_wc_flags. */
  wcFlags?: number;
  /** UD receives: the sender's QP number; 0 when it failed. */
  srcQp: number;
  /** Number of the local queue pair the work request was posted on. */
  qpNum: number;
  /** Vendor-specific error syndrome of a failed completion. */
  vendorErr: number;
  /** A CQ made with `timestamps`: the device's clock when the work completed (hcaCoreClockKhz ticks per ms). */
  timestamp?: bigint;
}

/** The error a failed work completion becomes: `code` is `ERR_WC_<STATUS>`, e.g. ERR_WC_REM_ACCESS_ERR. */
export interface CompletionError extends RdmaError {
  /** The failed completion. */
  completion: WorkCompletion;
}

/** @internal The completion of a work request that its queue's close flushed before the device reported it. */
export function flushedCompletion(wrId: bigint, qpNum: number): WorkCompletion {
  return {
    wrId,
    status: 'WR_FLUSH_ERR',
    statusCode: native.constants.wcStatus.WR_FLUSH_ERR,
    opcode: 'UNKNOWN',
    byteLen: 0,
    srcQp: 0,
    qpNum,
    vendorErr: 0,
  };
}

export function completionError(wc: WorkCompletion, what: string): CompletionError {
  const e = new Error(
    `${what} completed with ${wc.status} (vendor error ${wc.vendorErr})`,
  ) as CompletionError;
  e.code = `ERR_WC_${wc.status}`;
  e.completion = wc;
  return e;
}
