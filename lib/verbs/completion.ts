// Work completions as JS objects, and the error a failed one becomes.
import type { RdmaError } from '../errors';

export type WcStatus =
  | 'SUCCESS' | 'LOC_LEN_ERR' | 'LOC_QP_OP_ERR' | 'LOC_EEC_OP_ERR' | 'LOC_PROT_ERR' | 'WR_FLUSH_ERR' | 'MW_BIND_ERR'
  | 'BAD_RESP_ERR' | 'LOC_ACCESS_ERR' | 'REM_INV_REQ_ERR' | 'REM_ACCESS_ERR' | 'REM_OP_ERR' | 'RETRY_EXC_ERR'
  | 'RNR_RETRY_EXC_ERR' | 'LOC_RDD_VIOL_ERR' | 'REM_INV_RD_REQ_ERR' | 'REM_ABORT_ERR' | 'INV_EECN_ERR'
  | 'INV_EEC_STATE_ERR' | 'FATAL_ERR' | 'RESP_TIMEOUT_ERR' | 'GENERAL_ERR' | 'UNKNOWN';

export type WcOpcode = 'SEND' | 'RDMA_WRITE' | 'RDMA_READ' | 'COMP_SWAP' | 'FETCH_ADD' | 'BIND_MW' | 'LOCAL_INV' | 'RECV' | 'RECV_RDMA_WITH_IMM' | 'UNKNOWN';

export interface WorkCompletion {
  wrId: bigint;
  status: WcStatus;
  statusCode: number;
  /** Valid only when status is SUCCESS. */
  opcode: WcOpcode;
  byteLen: number;
  /** Immediate data of a SEND_WITH_IMM / RDMA_WRITE_WITH_IMM, host byte order. */
  immData?: number;
  /** The rkey a partner's SEND_WITH_INV revoked on this side. */
  invalidatedRkey?: number;
  /** The packet carried a GRH (on UD receives the buffer starts with its 40 bytes). */
  grh?: boolean;
  /** Raw ibv_wc_flags. */
  wcFlags?: number;
  /** @internal Raw imm_data / invalidated_rkey of a receive. */
  exData?: number;
  srcQp: number;
  qpNum: number;
  vendorErr: number;
}

export interface CompletionError extends RdmaError {
  completion: WorkCompletion;
}

export function completionError(wc: WorkCompletion, what: string): CompletionError {
  const e = new Error(`${what} completed with ${wc.status} (vendor error ${wc.vendorErr})`) as CompletionError;
  e.code = `ERR_WC_${wc.status}`;
  e.completion = wc;
  return e;
}
