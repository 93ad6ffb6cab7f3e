// Byte layouts of everything the CCM exposes to or receives from a partner (docs/protocol.md).
// All integers are little-endian; every block starts with magic, version and length, and ends its
// fixed part with a CRC-32 computed with the checksum field zeroed.
export const PROTOCOL_VERSION = 2;

export const MAGIC = {
  status: 0x54534352, // 'RCST'
  hello: 0x4c484352, // 'RCHL'
  commit: 0x4f434352, // 'RCCO'
  privateData: 0x44504352, // 'RCPD'
  log: 0x474c4352, // 'RCLG'
} as const;

export const NODE_STATES = ['BOOTING', 'READY', 'ACTIVE', 'LEAVING'] as const;
export type NodeState = (typeof NODE_STATES)[number];

/** Slots in a node's mailbox, and so the most partners one node serves. */
export const MAX_SLOTS = 8;

export const STATUS = {
  size: 512,
  magic: 0,
  version: 4,
  length: 6,
  clusterId: 8,
  nodeId: 16,
  state: 20,
  generation: 24,
  heartbeat: 32,
  sequence: 40,
  slotCount: 48,
  flags: 50,
  echoes: 64,
  // u32 node id, u32 flags, u64 generation, u64 nonce
  echoSize: 24,
  /** HMAC-SHA256 over every byte before it (zero without a secret). */
  mac: 476,
  checksum: 508,
} as const;

export const SLOT = {
  size: 256,
  hello: 0,
  commit: 128,
  heartbeat: 224,
  heartbeatSize: 16, // u64 counter, u64 session epoch
  /** The log ring follows the 256-byte control part of each slot. */
  ack: 240,
  ackSize: 16, // u64 acknowledged log sequence, u64 session epoch
} as const;

/**
 * WRITE_WITH_IMM doorbells: the kind in the immediate's top four bits, a value in the rest. The
 * handshake's bells only wake the other side early; a node that never rings them still completes the
 * handshake by its periodic scans and re-reads.
 */
export const DOORBELL = {
  kindShift: 28,
  valueMask: (1 << 28) - 1,
  /** Log mirroring: a record at ring offset value * 8; an ack of sequence value (mod 2^28). */
  record: 1,
  ack: 2,
  /** Handshake: the initiator wrote its hello / its commit; the responder published its echo. */
  hello: 3,
  commit: 4,
  echo: 5,
} as const;

/** The immediate of a doorbell of `kind` carrying `value` (masked to 28 bits). */
export function doorbell(kind: number, value = 0): number {
  return ((kind << DOORBELL.kindShift) | (value & DOORBELL.valueMask)) >>> 0;
}

export function doorbellKind(imm: number): number {
  return imm >>> DOORBELL.kindShift;
}

export const HELLO = {
  size: 128,
  magic: 0,
  version: 4,
  length: 6,
  clusterId: 8,
  nodeId: 16,
  flags: 20,
  generation: 24,
  nonce: 32,
  /** The responder's nonce from its accept: a hello made for another accept does not verify. */
  responderNonce: 40,
  statusAddr: 48,
  statusRkey: 56,
  statusLen: 60,
  slotAddr: 64,
  slotRkey: 72,
  slotLen: 76,
  mac: 80,
  macSize: 32,
  checksum: 112,
} as const;

export const COMMIT = {
  size: 96,
  magic: 0,
  version: 4,
  length: 6,
  clusterId: 8,
  nodeId: 16,
  flags: 20,
  generation: 24,
  nonce: 32,
  responderNonce: 40,
  mac: 48,
  checksum: 80,
} as const;

/**
 * Private data of a CM connect request: who is calling, whom it expects to reach, and which of its
 * attempts this is; with a cluster secret a MAC (HMAC-SHA256, first 16 bytes) over all of it.
 */
export const CONNECT_PD = {
  size: 56,
  clusterId: 8,
  nodeId: 16,
  target: 20,
  generation: 24,
  attempt: 32,
  mac: 36,
  macSize: 16,
  checksum: 52,
} as const;

/** Private data of a CM accept: the responder's identity, its nonce, and the caller's windows on its memory. */
export const ACCEPT_PD = {
  size: 108,
  clusterId: 8,
  nodeId: 16,
  flags: 20,
  generation: 24,
  responderNonce: 32,
  statusAddr: 40,
  statusRkey: 48,
  statusLen: 52,
  slotAddr: 56,
  slotRkey: 64,
  slotLen: 68,
  /** HMAC-SHA256 over every byte before it and the request's generation and attempt. */
  mac: 72,
  checksum: 104,
} as const;

/** Private data of a CM reject: why, and nothing about the node that rejects. */
export const REJECT_PD = {
  size: 24,
  /** The caller's own cluster id, echoed: it tells the caller nothing it did not send. */
  clusterId: 8,
  reason: 16,
  checksum: 20,
} as const;

export const REJECT_REASONS = ['WRONG_CLUSTER', 'BAD_VERSION', 'UNKNOWN_NODE', 'WRONG_TARGET', 'DUPLICATE', 'TIE_BREAK', 'NO_SLOT', 'SHUTTING_DOWN', 'BAD_REQUEST', 'NOT_AUTHENTICATED', 'STALE_REQUEST'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export const PRIVATE_DATA = {
  /** Bytes librdmacm leaves for a connect request's private data on IB/RoCE. */
  maxConnect: 56,
  /** Bytes an accept (REP) or reject carries on IB/RoCE. */
  maxAccept: 196,
  maxReject: 148,
} as const;
