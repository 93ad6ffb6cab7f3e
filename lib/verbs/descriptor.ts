// The fast path's work request descriptor: fixed-shape records of 32-bit words in a Uint32Array, read
// by qp.postFast() / qp.postRecvFast() in one call into the addon however many they hold. The layout is
// the addon's (native/work_request.h).

/** Word offsets of one descriptor (Desc.STRIDE words each); a receive reads only ID, ID_HIGH and its memory. */
export const Desc = {
  /** The work request id, low 32 bits (what the completion's ID word carries back). */
  ID: 0,
  /** The id's high 32 bits (below 2^31: ids from 2^63 on are the library's). */
  ID_HIGH: 1,
  /** The opcode (Opcode): RDMA_WRITE(_WITH_IMM), SEND(_WITH_IMM), SEND_WITH_INV or RDMA_READ. */
  OPCODE: 2,
  /** SendFlags. */
  FLAGS: 3,
  /** The local region's `id`, or Desc.NO_MR for no local data. */
  MR: 4,
  /** Byte offset in the region, low 32 bits. */
  OFFSET: 5,
  /** Byte offset, high 32 bits. */
  OFFSET_HIGH: 6,
  /** Bytes. */
  LENGTH: 7,
  /** RDMA: the partner's address, low 32 bits. */
  REMOTE: 8,
  /** RDMA: the partner's address, high 32 bits. */
  REMOTE_HIGH: 9,
  /** RDMA: the partner's rkey. */
  RKEY: 10,
  /** *_WITH_IMM: the immediate data; SEND_WITH_INV: the rkey to invalidate. */
  IMM: 11,
  /** Words per descriptor. */
  STRIDE: 12,
  /** MR value of a request without local data. */
  NO_MR: 0xffffffff,
} as const;

/** Room for `count` descriptors. */
export function descriptors(count: number): Uint32Array {
  return new Uint32Array(count * Desc.STRIDE);
}
