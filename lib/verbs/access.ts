// Flag and opcode values of libibverbs, as the addon was built with them (its `constants`): the
// TypeScript side never writes a verbs number of its own.
import { native } from '../native';

const { access, sendFlags, wrOpcode } = native.constants;

/**
 * Memory access flags for registration (ibv_access_flags), combined with `|`: the `access` argument of
 * pd.registerMemory() / pd.allocMemory(), a QP's `qpAccessFlags` and a window bind's `access`.
 */
export const Access = {
  /** The device may write the memory locally: needed by receive buffers and READ/atomic targets. */
  LOCAL_WRITE: access.LOCAL_WRITE,
  /** Partners may RDMA WRITE into the memory (requires LOCAL_WRITE). */
  REMOTE_WRITE: access.REMOTE_WRITE,
  /** Partners may RDMA READ the memory. */
  REMOTE_READ: access.REMOTE_READ,
  /** Partners may run atomics on the memory (requires LOCAL_WRITE). */
  REMOTE_ATOMIC: access.REMOTE_ATOMIC,
  /** Memory windows may be bound over the region. */
  MW_BIND: access.MW_BIND,
  /** Remote addresses are offsets from the start of the region, not virtual addresses. */
  ZERO_BASED: access.ZERO_BASED,
  /**
   * Partners may FLUSH the memory to global visibility (and a QP may take such FLUSHes, as qpAccessFlags).
   * A device without the capability refuses it with ERR_NOT_SUPPORTED (see DeviceAttributes.capabilities).
   */
  FLUSH_GLOBAL: access.FLUSH_GLOBAL,
  /** Partners may FLUSH the memory to persistence (ERR_NOT_SUPPORTED where the device cannot). */
  FLUSH_PERSISTENT: access.FLUSH_PERSISTENT,
} as const;

/**
 * Send work request flags (ibv_send_flags). SendWr takes them as booleans (`signaled`, `fence`, ...);
 * the values are here for reference.
 */
export const SendFlags = {
  /** Starts only once earlier RDMA READs and atomics of the send queue have completed. */
  FENCE: sendFlags.FENCE,
  /** Generates a completion (a QP created with `sqSigAll` signals every request anyway). */
  SIGNALED: sendFlags.SIGNALED,
  /** Sets the solicited event bit, for a partner that waits for solicited completions only. */
  SOLICITED: sendFlags.SOLICITED,
  /** Copies the data into the work request at post time (up to the QP's maxInlineData bytes). */
  INLINE: sendFlags.INLINE,
} as const;

/** Send work request opcodes (ibv_wr_opcode); SendWr.opcode takes their names. */
export const Opcode = {
  /** Writes local data to the partner's memory (remoteAddr, rkey). */
  RDMA_WRITE: wrOpcode.RDMA_WRITE,
  /** RDMA_WRITE that also consumes a partner receive and delivers `imm` with it. */
  RDMA_WRITE_WITH_IMM: wrOpcode.RDMA_WRITE_WITH_IMM,
  /** Sends a message into the partner's next posted receive. */
  SEND: wrOpcode.SEND,
  /** SEND carrying 32 bits of immediate data (`imm`). */
  SEND_WITH_IMM: wrOpcode.SEND_WITH_IMM,
  /** Reads the partner's memory (remoteAddr, rkey) into local buffers (RC only). */
  RDMA_READ: wrOpcode.RDMA_READ,
  /** 64-bit compare-and-swap on the partner's memory (RC only). */
  ATOMIC_CMP_AND_SWP: wrOpcode.ATOMIC_CMP_AND_SWP,
  /** 64-bit fetch-and-add on the partner's memory (RC only). */
  ATOMIC_FETCH_AND_ADD: wrOpcode.ATOMIC_FETCH_AND_ADD,
  /** Invalidates a local rkey (`invalidateRkey`), e.g. revokes a type 2 memory window. */
  LOCAL_INV: wrOpcode.LOCAL_INV,
  /** Binds a type 2 memory window (`mw`, `bind`; RC only). */
  BIND_MW: wrOpcode.BIND_MW,
  /** SEND that also invalidates the partner's rkey `invalidateRkey`. */
  SEND_WITH_INV: wrOpcode.SEND_WITH_INV,
  /** Places 8 bytes (`value`) at the partner's aligned address as one write (RC; qp.postBatch() only). */
  ATOMIC_WRITE: wrOpcode.ATOMIC_WRITE,
  /** Makes earlier writes to the partner's memory visible or persistent (`flush`; RC; qp.postBatch() only). */
  FLUSH: wrOpcode.FLUSH,
} as const;

/** The name of a send opcode, as SendWr.opcode takes it. */
export type OpcodeName = keyof typeof Opcode;
