// A partner-supplied block that fails validation: never trusted, always reported with a reason.

/**
 * Why a block was refused: ERR_CCM_TRUNCATED (too short, or not a byte buffer), ERR_CCM_MAGIC (wrong
 * magic, also a slot not written yet), ERR_CCM_VERSION (another protocol version), ERR_CCM_LENGTH
 * (declared length wrong, or a record overruns the ring), ERR_CCM_CHECKSUM (CRC mismatch: torn or
 * corrupted), ERR_CCM_CLUSTER (another cluster id), ERR_CCM_FIELD (a field out of range or
 * inconsistent), ERR_CCM_AUTH (MAC does not verify with the cluster secret), ERR_CCM_WRONG_NODE and
 * ERR_CCM_GENERATION (a status block of another node or boot than expected), ERR_CCM_EPOCH (a word of
 * another session).
 */
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
  | 'ERR_CCM_EPOCH'
  /** A link join that is not for a session this node holds (none with that node, or its MAC does not verify). */
  | 'ERR_CCM_NO_SESSION';

/** Thrown by the decoders of this module for a partner-supplied block that fails validation; the message starts with the block's name. */
export class ProtocolError extends Error {
  /** Why the block was refused. */
  readonly code: ProtocolErrorCode;
  /** Which block was rejected: 'status', 'hello', 'commit', 'connect', 'accept', 'reject', 'log' or 'counter'. */
  readonly block: string;
  /**
   * @param code - Why the block was refused.
   * @param block - The block's name, as in {@link ProtocolError.block}.
   * @param message - The detail; the error's message is `block: message`.
   */
  constructor(code: ProtocolErrorCode, block: string, message: string) {
    super(`${block}: ${message}`);
    this.name = 'ProtocolError';
    this.code = code;
    this.block = block;
  }
}
