// Flag and opcode values of libibverbs (stable ABI values from <infiniband/verbs.h>).

/**
 * Memory access flags for registration (ibv_access_flags), combined with `|`: the `access` argument of
 * pd.registerMemory() / pd.allocMemory(), a QP's `qpAccessFlags` and a window bind's `access`.
 */
export const Access = {
  /** The device may write the memory locally: needed by receive buffers and READ/atomic targets. */
  LOCAL_WRITE: 1,
  /** Partners may RDMA WRITE into the memory (requires LOCAL_WRITE). */
  REMOTE_WRITE: 2,
  /** Partners may RDMA READ the memory. */
  REMOTE_READ: 4,
  /** Partners may run atomics on the memory (requires LOCAL_WRITE). */
  REMOTE_ATOMIC: 8,
  /** Memory windows may be bound over the region. */
  MW_BIND: 16,
} as const;

/**
 * Send work request flags (ibv_send_flags). SendWr takes them as booleans (`signaled`, `fence`, ...);
 * the values are here for reference.
 */
export const SendFlags = {
  /** Starts only once earlier RDMA READs and atomics of the send queue have completed. */
  FENCE: 1,
  /** Generates a completion (a QP created with `sqSigAll` signals every request anyway). */
  SIGNALED: 2,
  /** Sets the solicited event bit, for a partner that waits for solicited completions only. */
  SOLICITED: 4,
  /** Copies the data into the work request at post time (up to the QP's maxInlineData bytes). */
  INLINE: 8,
} as const;

/** Send work request opcodes (ibv_wr_opcode); SendWr.opcode takes their names. */
export const Opcode = {
  /** Writes local data to the partner's memory (remoteAddr, rkey). */
  RDMA_WRITE: 0,
  /** RDMA_WRITE that also consumes a partner receive and delivers `imm` with it. */
  RDMA_WRITE_WITH_IMM: 1,
  /** Sends a message into the partner's next posted receive. */
  SEND: 2,
  /** SEND carrying 32 bits of immediate data (`imm`). */
  SEND_WITH_IMM: 3,
  /** Reads the partner's memory (remoteAddr, rkey) into local buffers (RC only). */
  RDMA_READ: 4,
  /** 64-bit compare-and-swap on the partner's memory (RC only). */
  ATOMIC_CMP_AND_SWP: 5,
  /** 64-bit fetch-and-add on the partner's memory (RC only). */
  ATOMIC_FETCH_AND_ADD: 6,
  /** Invalidates a local rkey (`invalidateRkey`), e.g. revokes a type 2 memory window. */
  LOCAL_INV: 7,
  /** Binds a type 2 memory window (`mw`, `bind`; RC only). */
  BIND_MW: 8,
  /** SEND that also invalidates the partner's rkey `invalidateRkey`. */
  SEND_WITH_INV: 9,
} as const;

/** The name of a send opcode, as SendWr.opcode takes it. */
export type OpcodeName = keyof typeof Opcode;
