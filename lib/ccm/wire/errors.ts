// A partner-supplied block that fails validation: never trusted, always reported with a reason.
export type ProtocolErrorCode =
  | 'ERR_CCM_TRUNCATED'
  | 'ERR_CCM_MAGIC'
  | 'ERR_CCM_VERSION'
  | 'ERR_CCM_LENGTH'
  | 'ERR_CCM_CHECKSUM'
  | 'ERR_CCM_CLUSTER'
  | 'ERR_CCM_FIELD'
  | 'ERR_CCM_AUTH'
  | 'ERR_CCM_WRONG_NODE'
  | 'ERR_CCM_GENERATION'
  | 'ERR_CCM_EPOCH';

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  /** Which block was rejected: 'status', 'hello', 'commit', 'connect', 'accept', 'reject', 'log'. */
  readonly block: string;
  constructor(code: ProtocolErrorCode, block: string, message: string) {
    super(`${block}: ${message}`);
    this.name = 'ProtocolError';
    this.code = code;
    this.block = block;
  }
}
