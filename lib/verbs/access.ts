// Flag and opcode values of libibverbs (stable ABI values from <infiniband/verbs.h>).

/** Memory access flags for registration (ibv_access_flags). */
export const Access = {
  LOCAL_WRITE: 1,
  REMOTE_WRITE: 2,
  REMOTE_READ: 4,
  REMOTE_ATOMIC: 8,
  MW_BIND: 16,
} as const;

/** Send work request flags (ibv_send_flags). */
export const SendFlags = {
  FENCE: 1,
  SIGNALED: 2,
  SOLICITED: 4,
  INLINE: 8,
} as const;

/** Send work request opcodes (ibv_wr_opcode). */
export const Opcode = {
  RDMA_WRITE: 0,
  RDMA_WRITE_WITH_IMM: 1,
  SEND: 2,
  SEND_WITH_IMM: 3,
  RDMA_READ: 4,
  ATOMIC_CMP_AND_SWP: 5,
  ATOMIC_FETCH_AND_ADD: 6,
  LOCAL_INV: 7,
  BIND_MW: 8,
  SEND_WITH_INV: 9,
} as const;

export type OpcodeName = keyof typeof Opcode;
