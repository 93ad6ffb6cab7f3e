// Byte layouts of everything the CCM exposes to or receives from a partner (docs/protocol.md).
// All integers are little-endian; every block starts with magic, version and length, and ends its
// fixed part with a CRC-32C computed with the checksum field zeroed.

/** The protocol version this code writes into every block's version field and accepts (5); any other is refused with ERR_CCM_VERSION. */
export const PROTOCOL_VERSION = 5;

/** The u32 magic at offset 0 of each block kind: four ASCII characters, read little-endian. */
export const MAGIC = {
  /** `RCST`: status block. */
  status: 0x54534352, // 'RCST'
  /** `RCHL`: hello. */
  hello: 0x4c484352, // 'RCHL'
  /** `RCCO`: commit. */
  commit: 0x4f434352, // 'RCCO'
  /** `RCPD`: CM private data (connect, accept, reject). */
  privateData: 0x44504352, // 'RCPD'
  /** `RCWT`: a node's sector on the witness disk. */
  witness: 0x54574352, // 'RCWT'
  /** `RCLG`: log record header. */
  log: 0x474c4352, // 'RCLG'
  /** `RCNV`: the header of a node's NVRAM log region for one partner. */
  nvram: 0x564e4352, // 'RCNV'
} as const;

/**
 * The node states a status block can publish, in wire order: the state u32 is the index plus 1
 * (1 BOOTING, 2 READY, 3 ACTIVE, 4 LEAVING). LEAVING is published when the node stops.
 */
export const NODE_STATES = ['BOOTING', 'READY', 'ACTIVE', 'LEAVING'] as const;
/** One of {@link NODE_STATES}. */
export type NodeState = (typeof NODE_STATES)[number];

/** Slots in a node's mailbox, and so the most partners one node serves. */
export const MAX_SLOTS = 8;

/**
 * Layout of the status block (magic `RCST`), the only memory a partner may RDMA READ: byte offsets
 * of its fields and its size. Each offset names where a field starts.
 */
export const STATUS = {
  /** Bytes of the block (512), also its length field. */
  size: 512,
  /** magic u32. */
  magic: 0,
  /** version u16. */
  version: 4,
  /** length u16. */
  length: 6,
  /** cluster id u64. */
  clusterId: 8,
  /** node id u32. */
  nodeId: 16,
  /** state u32: index in {@link NODE_STATES} plus 1. */
  state: 20,
  /** boot generation u64, new at every start of the node. */
  generation: 24,
  /** heartbeat u64, advancing every heartbeat period while the node runs. */
  heartbeat: 32,
  /** sequence u64, advancing with every publication of the block. */
  sequence: 40,
  /** slot count u16 (1 to {@link MAX_SLOTS}). */
  slotCount: 48,
  /** flags u16: 1 ({@link FLAG_AUTH}) when the block is authenticated, 2 ({@link STATUS_PERSISTENT}) when its log regions are persistent memory, 4 ({@link STATUS_NEEDS_PERSISTENT}) when it appends `persisted` records, 8 ({@link STATUS_FLUSH}) when its slots take RDMA FLUSH to global visibility, 16 ({@link STATUS_FLUSH_PERSISTENT}) when they also take it to persistence. */
  flags: 50,
  /** takeover u32: the node whose resources this node has taken over (0: none). */
  takeover: 52,
  /** takeover generation u64: the boot of that node the takeover is of. */
  takeoverGeneration: 56,
  /** takeover replayed stream u32: the taken-over node's log stream the taker replayed (0: none); a reserved u32 (zero) follows. */
  replayedStream: 256,
  /** takeover replayed through u64: the last sequence of that stream the taker replayed. */
  replayedThrough: 264,
  /** First echo: slot i's echo is at `echoes + i * echoSize`. */
  echoes: 64,
  /** Bytes of one echo: node id u32, flags u32 (1 valid), generation u64, nonce u64 of the echoed hello. */
  echoSize: 24,
  /** MAC[32]: HMAC-SHA256 over bytes 0 to 475, every byte before it (zero without a secret). */
  mac: 476,
  /** CRC-32C u32 over the 512 bytes, computed with this field zero. */
  checksum: 508,
} as const;

/** Status block flag: this node's log regions are persistent memory, so partners may append `persisted` records. */
export const STATUS_PERSISTENT = 2;
/** Status block flag: this node appends `persisted` records, so a partner whose log regions are not persistent memory is refused. */
export const STATUS_NEEDS_PERSISTENT = 4;
/** Status block flag: every slot of this node takes RDMA FLUSH (global visibility) on every link, so partners fence with one instead of a READ. */
export const STATUS_FLUSH = 8;
/** Status block flag (with {@link STATUS_FLUSH}): the slots take FLUSH to persistence too (their memory is pmem). */
export const STATUS_FLUSH_PERSISTENT = 16;

/**
 * Layout of one partner's slot in a node's memory, which only that partner may RDMA WRITE: byte
 * offsets of the control words it writes, then the log ring.
 */
export const SLOT = {
  /** Bytes of the control words (512); the log ring follows them, up to the slot's length. */
  size: 512,
  /** The partner's hello (128 bytes, {@link HELLO}). */
  hello: 0,
  /** The partner's commit (96 bytes, {@link COMMIT}). */
  commit: 128,
  /** The partner's session heartbeat word, written over whichever link carries the session; it also carries the leave and close marks. */
  heartbeat: 224,
  /** Bytes of the heartbeat word: u64 counter, u64 session epoch. */
  heartbeatSize: 16,
  /** The partner's ack word: the last log sequence it delivered. */
  ack: 240,
  /** Bytes of the ack word: u64 acknowledged log sequence, u64 session epoch. */
  ackSize: 16,
  /** Link k's heartbeat word is at `links + k * linkSize`, written over link k only. */
  links: 256,
  /** Bytes of one link's heartbeat word: u64 counter, u64 session epoch. */
  linkSize: 16,
  /**
   * The partner's log tail ({@link LOG_TAIL}): where the records still needed for a replay begin. It
   * outlives sessions: a new handshake clears the control words before it only.
   */
  tail: 384,
} as const;

/**
 * Layout of the log tail word (40 bytes at {@link SLOT.tail}), which the writer publishes with a fenced
 * WRITE: its stream, the records it released (they need no replay) and where the next one starts, and
 * the last record written before it. Byte offsets.
 */
export const LOG_TAIL = {
  /** Bytes of the word (40). */
  size: 40,
  /** stream id u32 (nonzero). */
  stream: 0,
  /** reserved u32, zero. */
  reserved: 4,
  /** released u64: records of the stream up to this sequence are released (0: none). */
  released: 8,
  /** offset u64: the ring offset where record released + 1 starts (or offset 0, when it wrapped). */
  offset: 16,
  /** acknowledged u64: the last record written before this word; a replay marks it and those before it acknowledged. */
  acknowledged: 24,
  /** reserved u32, zero. */
  reserved2: 32,
  /** CRC-32C u32 over the 40 bytes, computed with this field zero. */
  checksum: 36,
} as const;

/**
 * How far an append goes before it resolves, in wire order (a record's durability u8 is the index
 * plus 1): `delivered` (the partner's application has it), `placed` (it is in the partner's memory,
 * one-sided), `persisted` (placed into persistent memory).
 */
export const DURABILITY = ['delivered', 'placed', 'persisted'] as const;
/** One of {@link DURABILITY}. */
export type Durability = (typeof DURABILITY)[number];

/** Links (address pairs) one session may have: link k joins this node's k-th address and the partner's k-th. */
export const MAX_LINKS = 8;

/**
 * WRITE_WITH_IMM doorbells: the kind in the immediate's top four bits, a value in the rest. The
 * handshake's bells only wake the other side early; a node that never rings them still completes the
 * handshake by its periodic scans and re-reads.
 */
export const DOORBELL = {
  /** Bit position of the kind in the immediate (28). */
  kindShift: 28,
  /** Mask of the value bits (the low 28). */
  valueMask: (1 << 28) - 1,
  /** Log mirroring: a record at ring offset value * 8. */
  record: 1,
  /** Log mirroring: an ack of sequence value (the sequence mod 2^28). */
  ack: 2,
  /** Handshake: the initiator wrote its hello (value 0). */
  hello: 3,
  /** Handshake: the initiator wrote its commit (value 0). */
  commit: 4,
  /** Handshake: the responder published its echo (a zero-length write, value 0). */
  echo: 5,
} as const;

/** The immediate of a doorbell of `kind` carrying `value` (masked to 28 bits). */
export function doorbell(kind: number, value = 0): number {
  return ((kind << DOORBELL.kindShift) | (value & DOORBELL.valueMask)) >>> 0;
}

/** The kind of a doorbell immediate: its top four bits (one of the kinds in {@link DOORBELL}, or unknown). */
export function doorbellKind(imm: number): number {
  return imm >>> DOORBELL.kindShift;
}

/**
 * Layout of the hello (magic `RCHL`, 128 bytes) the initiator writes into its slot in the responder's
 * memory: byte offsets of its fields and its size.
 */
export const HELLO = {
  /** Bytes of the block (128), also its length field. */
  size: 128,
  /** magic u32. */
  magic: 0,
  /** version u16. */
  version: 4,
  /** length u16. */
  length: 6,
  /** cluster id u64. */
  clusterId: 8,
  /** node id u32 of the sender. */
  nodeId: 16,
  /** flags u32: 1 ({@link FLAG_AUTH}) when authenticated. */
  flags: 20,
  /** boot generation u64 of the sender. */
  generation: 24,
  /** nonce u64: the sender's nonce for this hello, echoed back in the status block. */
  nonce: 32,
  /** The responder's nonce from its accept: a hello made for another accept does not verify. */
  responderNonce: 40,
  /** status addr u64: the sender's status block. */
  statusAddr: 48,
  /** status rkey u32. */
  statusRkey: 56,
  /** status length u32 (bytes). */
  statusLen: 60,
  /** slot addr u64: the receiver's slot in the sender's memory. */
  slotAddr: 64,
  /** slot rkey u32. */
  slotRkey: 72,
  /** slot length u32 (bytes: control words and ring). */
  slotLen: 76,
  /** MAC[32]: HMAC-SHA256 over bytes 0 to 79 (zero without a secret). */
  mac: 80,
  /** Bytes of the MAC (32). */
  macSize: 32,
  /** CRC-32C u32 over the 128 bytes, computed with this field zero. */
  checksum: 112,
} as const;

/**
 * Layout of the commit (magic `RCCO`, 96 bytes) the initiator writes once it has seen its hello
 * echoed: byte offsets of its fields and its size.
 */
export const COMMIT = {
  /** Bytes of the block (96), also its length field. */
  size: 96,
  /** magic u32. */
  magic: 0,
  /** version u16. */
  version: 4,
  /** length u16. */
  length: 6,
  /** cluster id u64. */
  clusterId: 8,
  /** node id u32 of the sender. */
  nodeId: 16,
  /** flags u32: 1 ({@link FLAG_AUTH}) when authenticated. */
  flags: 20,
  /** boot generation u64 of the sender. */
  generation: 24,
  /** nonce u64: the nonce of the echoed hello. */
  nonce: 32,
  /** responder nonce u64, from the accept. */
  responderNonce: 40,
  /** MAC[32]: HMAC-SHA256 over bytes 0 to 47 (zero without a secret). */
  mac: 48,
  /** CRC-32C u32 over the 96 bytes, computed with this field zero. */
  checksum: 80,
} as const;

/**
 * Private data of a CM connect request: who is calling, whom it expects to reach, and which of its
 * attempts this is; with a cluster secret a MAC (HMAC-SHA256, first 16 bytes) over the bytes before it.
 * Byte offsets; the header's length field carries the kind (1) in its high byte.
 */
export const CONNECT_PD = {
  /** Bytes of the block (56, the CM's limit for a connect request). */
  size: 56,
  /** cluster id u64. */
  clusterId: 8,
  /** node id u32 of the caller. */
  nodeId: 16,
  /** target node id u32: the partner the caller expects to answer. */
  target: 20,
  /** boot generation u64 of the caller. */
  generation: 24,
  /** attempt u32 within the caller's boot, from 1. */
  attempt: 32,
  /** MAC[16]: the first 16 bytes of HMAC-SHA256 over bytes 0 to 35, kind byte zero. */
  mac: 36,
  /** Bytes of the MAC (16). */
  macSize: 16,
  /** CRC-32C u32 over the 56 bytes, computed with this field and the kind byte zero. */
  checksum: 52,
} as const;

/**
 * Private data of a CM accept: the responder's identity, its nonce, and the caller's windows on its memory.
 * Byte offsets; the header's length field carries the kind (2) in its high byte.
 */
export const ACCEPT_PD = {
  /** Bytes of the block (108; the CM allows 196). */
  size: 108,
  /** cluster id u64. */
  clusterId: 8,
  /** node id u32 of the responder. */
  nodeId: 16,
  /** flags u32: 1 ({@link FLAG_AUTH}) when authenticated. */
  flags: 20,
  /** boot generation u64 of the responder. */
  generation: 24,
  /** responder nonce u64: the hello and commit must carry it. */
  responderNonce: 32,
  /** status addr u64: the responder's status block. */
  statusAddr: 40,
  /** status rkey u32. */
  statusRkey: 48,
  /** status length u32 (bytes). */
  statusLen: 52,
  /** slot addr u64: the caller's slot in the responder's memory. */
  slotAddr: 56,
  /** slot rkey u32. */
  slotRkey: 64,
  /** slot length u32 (bytes: control words and ring). */
  slotLen: 68,
  /** MAC[32]: HMAC-SHA256 over bytes 0 to 71 (kind byte zero) and the request's generation u64 and attempt u64. */
  mac: 72,
  /** CRC-32C u32 over the 108 bytes, computed with this field and the kind byte zero. */
  checksum: 104,
} as const;

/**
 * Private data of a CM connect request that joins a further link to an established session (kind 4).
 * It carries no generation or nonce: its MAC is keyed with the session's link key (derived from the
 * secret and the session's epoch, {@link joinKey}), so only the two ends of that session can make one,
 * and a join made for another session or boot does not verify. Byte offsets.
 */
export const JOIN_PD = {
  /** Bytes of the block (56, the CM's limit for a connect request). */
  size: 56,
  /** cluster id u64. */
  clusterId: 8,
  /** node id u32 of the caller. */
  nodeId: 16,
  /** link u16: the index of the address pair (the caller's k-th address to the responder's k-th). */
  link: 20,
  /** reserved u16, zero. */
  reserved: 22,
  /** attempt u32: the caller's join attempt within the session, from 1, rising (freshness). */
  attempt: 24,
  /** status rkey u32: the caller's status block as reachable over this link. */
  statusRkey: 28,
  /** slot rkey u32: the responder's slot in the caller's memory, over this link. */
  slotRkey: 32,
  /** MAC[16]: the first 16 bytes of HMAC-SHA256 with the link key over bytes 0 to 35, kind byte zero. */
  mac: 36,
  /** Bytes of the MAC (16). */
  macSize: 16,
  /** CRC-32C u32 over the 56 bytes, computed with this field and the kind byte zero. */
  checksum: 52,
} as const;

/** Private data of the accept of a link join (kind 5): the responder's rkeys over this link. Byte offsets. */
export const JOIN_ACCEPT_PD = {
  /** Bytes of the block (52). */
  size: 52,
  /** cluster id u64. */
  clusterId: 8,
  /** node id u32 of the responder. */
  nodeId: 16,
  /** link u16, as in the join. */
  link: 20,
  /** reserved u16, zero. */
  reserved: 22,
  /** status rkey u32: the responder's status block over this link. */
  statusRkey: 24,
  /** slot rkey u32: the caller's slot in the responder's memory, over this link. */
  slotRkey: 28,
  /** MAC[16]: the first 16 bytes of HMAC-SHA256 with the link key over bytes 0 to 31 (kind byte zero) and the join's attempt u64. */
  mac: 32,
  /** Bytes of the MAC (16). */
  macSize: 16,
  /** CRC-32C u32 over the 52 bytes, computed with this field and the kind byte zero. */
  checksum: 48,
} as const;

/**
 * Private data of a CM reject: why, and nothing about the node that rejects. Byte offsets; the
 * header's length field carries the kind (3) in its high byte. It carries no MAC.
 */
export const REJECT_PD = {
  /** Bytes of the block (24; the CM allows 148). */
  size: 24,
  /** The caller's own cluster id, echoed: it tells the caller nothing it did not send. */
  clusterId: 8,
  /** reason u32: index in {@link REJECT_REASONS} plus 1. */
  reason: 16,
  /** CRC-32C u32 over the 24 bytes, computed with this field and the kind byte zero. */
  checksum: 20,
} as const;

/**
 * Why a node rejects a CM connect request, in wire order (the reason u32 is the index plus 1):
 * 1 WRONG_CLUSTER, 2 BAD_VERSION, 3 UNKNOWN_NODE, 4 WRONG_TARGET, 5 DUPLICATE, 6 TIE_BREAK, 7 NO_SLOT,
 * 8 SHUTTING_DOWN, 9 BAD_REQUEST, 10 NOT_AUTHENTICATED, 11 STALE_REQUEST, 12 NO_SESSION.
 */
export const REJECT_REASONS = [
  'WRONG_CLUSTER',
  'BAD_VERSION',
  'UNKNOWN_NODE',
  'WRONG_TARGET',
  'DUPLICATE',
  'TIE_BREAK',
  'NO_SLOT',
  'SHUTTING_DOWN',
  'BAD_REQUEST',
  'NOT_AUTHENTICATED',
  'STALE_REQUEST',
  'NO_SESSION',
] as const;
/** One of {@link REJECT_REASONS}. */
export type RejectReason = (typeof REJECT_REASONS)[number];

/** The CM's limits on private data, in bytes; every block above fits within its limit. */
export const PRIVATE_DATA = {
  /** Bytes librdmacm leaves for a connect request's private data on IB/RoCE. */
  maxConnect: 56,
  /** Bytes an accept (REP) carries on IB/RoCE. */
  maxAccept: 196,
  /** Bytes a reject (REJ) carries on IB/RoCE. */
  maxReject: 148,
} as const;

/**
 * Layout of a node's sector on the witness disk (magic `RCWT`, 512 bytes): byte offsets of its fields.
 * Each node of the cluster owns one 4096-byte slot of the disk (its rank among the cluster's node ids,
 * lowest first), writes its sector at the slot's start and only reads the others'.
 */
export const WITNESS = {
  /** Bytes of the sector (512), also its length field. */
  size: 512,
  /** Bytes of each node's slot on the disk (4096: one sector on any disk, aligned for O_DIRECT). */
  slotSize: 4096,
  /** magic u32. */
  magic: 0,
  /** version u16. */
  version: 4,
  /** length u16. */
  length: 6,
  /** cluster id u64. */
  clusterId: 8,
  /** node id u32 of the writer. */
  nodeId: 16,
  /** state u32: index in {@link NODE_STATES} plus 1. */
  state: 20,
  /** boot generation u64 of the writer. */
  generation: 24,
  /** heartbeat u64: advances at every witness write while the writer runs. */
  heartbeat: 32,
  /** takeover u32: the node whose resources the writer has taken over (0: none). */
  takeover: 40,
  /** flags u32: 1 ({@link FLAG_AUTH}) when authenticated. */
  flags: 44,
  /** takeover generation u64: the boot of that node the takeover is of. */
  takeoverGeneration: 48,
  /**
   * msgwait u32: with a kernel watchdog armed, how long (ms) after the writer's last heartbeat it is
   * surely reset; 0 (as older writers leave it): no watchdog. Bytes 60 … 475 are reserved (zero).
   */
  msgwait: 56,
  /** MAC[32]: HMAC-SHA256 over bytes 0 to 475 (zero without a secret). */
  mac: 476,
  /** CRC-32C u32 over the 512 bytes, computed with this field zero. */
  checksum: 508,
} as const;

/**
 * Layout of the header (magic `RCNV`) at the start of a node's NVRAM region for one partner's log:
 * whose region it is, whose log it holds and from which boot, whether it survives power loss, and
 * where the ring is. Written by the region's owner only; the partner writes the ring.
 */
export const NVRAM = {
  /** Bytes of the header (512), also its length field. */
  size: 512,
  /** Where the ring starts (4096: the header alone in the first page). */
  ringOffset: 4096,
  /** Where the partner's slot starts (3584): its 512 bytes of control words end where the ring starts. */
  slot: 3584,
  /** magic u32. */
  magic: 0,
  /** version u16. */
  version: 4,
  /** length u16. */
  length: 6,
  /** cluster id u64. */
  clusterId: 8,
  /** owner u32: the node whose memory holds the region. */
  owner: 16,
  /** partner u32: the node whose log the ring mirrors. */
  partner: 20,
  /** partner generation u64: the partner's boot that writes the ring (0: none yet). */
  generation: 24,
  /** ring size u64, in bytes (a multiple of 8). */
  ringSize: 32,
  /** flags u32: 1 ({@link FLAG_AUTH}) authenticated, 2 ({@link NVRAM_PERSISTENT}) persistent memory. */
  flags: 40,
  /** MAC[32]: HMAC-SHA256 over bytes 0 to 475 (zero without a secret). */
  mac: 476,
  /** CRC-32C u32 over the 512 bytes, computed with this field zero. */
  checksum: 508,
} as const;

/** NVRAM header flag: the region is persistent memory (a DAX device or a file on a DAX filesystem). */
export const NVRAM_PERSISTENT = 2;
