// Mailbox records a partner RDMA WRITEs into its slot of this node's memory: hello, commit, heartbeat
// and ack. Every decoder works on a copy of the slot's bytes, never on the live, remotely writable memory.
import { checkCluster, checkHeader, checkMac, scratch, seal, sign, u64, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import { COMMIT, HELLO, MAGIC, SLOT } from './layout';

/**
 * Where a node's memory is for one partner: its status block (READ) and that partner's slot (WRITE),
 * each reachable only through that partner's connections (docs/protocol.md, Exposed memory).
 */
export interface RegionCoords {
  /** Remote address of the status block. */
  statusAddr: bigint;
  /** rkey of the status block's READ-only registration. */
  statusRkey: number;
  /** Bytes of the status block region (decoders accept 64 to 4096). */
  statusLen: number;
  /** Remote address of the partner's slot. */
  slotAddr: bigint;
  /** rkey of the slot's WRITE-only registration. */
  slotRkey: number;
  /** Bytes of the slot: control words, then the log ring. */
  slotLen: number;
}

/** A hello (magic `RCHL`, {@link HELLO}): the initiator's identity and its memory for the responder, written into its slot. */
export interface Hello {
  /** The cluster id. */
  clusterId: bigint;
  /** The sender's node id. */
  nodeId: number;
  /** The sender's boot generation. */
  generation: bigint;
  /** The sender's nonce for this hello; the responder echoes it in its status block. */
  nonce: bigint;
  /** The responder's nonce, from its accept. */
  responderNonce: bigint;
  /** The sender's memory for the receiver: its status block and the receiver's slot. */
  regions: RegionCoords;
}

/** A commit (magic `RCCO`, {@link COMMIT}): the initiator's last handshake step, written once it saw its hello echoed. */
export interface Commit {
  /** The cluster id. */
  clusterId: bigint;
  /** The sender's node id. */
  nodeId: number;
  /** The sender's boot generation. */
  generation: bigint;
  /** The nonce of the echoed hello. */
  nonce: bigint;
  /** The responder's nonce, from its accept. */
  responderNonce: bigint;
}

/** The `auth` flag (value 1) of hello, commit, accept and status flags: the block was sent with a cluster secret and carries a MAC. */
export const FLAG_AUTH = 1;

/**
 * A slot's length is its control words and a ring of at least one 8-byte unit, within 2^31: returns `len`
 * if it is a multiple of 8 from 520 to 2^31, otherwise throws ERR_CCM_FIELD for `block`.
 */
export function checkSlotLen(len: number, block: string): number {
  if (len < SLOT.size + 8 || len > 0x8000_0000 || len % 8 !== 0)
    throw new ProtocolError('ERR_CCM_FIELD', block, `slot length ${len} invalid`);
  return len;
}

/** Returns a status block region length `len` if it is from 64 to 4096 bytes, otherwise throws ERR_CCM_FIELD for `block`. */
export function checkStatusLen(len: number, block: string): number {
  if (len < 64 || len > 4096) throw new ProtocolError('ERR_CCM_FIELD', block, `status length ${len} invalid`);
  return len;
}

function flagsOf(dv: DataView, at: number, block: string): void {
  const flags = dv.getUint32(at, true);
  if (flags & ~FLAG_AUTH) throw new ProtocolError('ERR_CCM_FIELD', block, `unknown flags ${flags}`);
}

/**
 * Encodes a hello into `out` (its first 128 bytes, zeroed first; a new buffer by default) and returns it.
 * With `secret` it sets the auth flag and the MAC. Throws RangeError for a u64 field out of range.
 */
export function encodeHello(
  h: Hello,
  secret?: Uint8Array,
  out: Uint8Array = new Uint8Array(HELLO.size),
): Uint8Array {
  out.fill(0, 0, HELLO.size);
  const dv = view(out);
  writeHeader(dv, MAGIC.hello, HELLO.size);
  dv.setBigUint64(HELLO.clusterId, u64(h.clusterId, 'clusterId'), true);
  dv.setUint32(HELLO.nodeId, h.nodeId, true);
  dv.setUint32(HELLO.flags, secret ? FLAG_AUTH : 0, true);
  dv.setBigUint64(HELLO.generation, u64(h.generation, 'generation'), true);
  dv.setBigUint64(HELLO.nonce, u64(h.nonce, 'nonce'), true);
  dv.setBigUint64(HELLO.responderNonce, u64(h.responderNonce, 'responderNonce'), true);
  dv.setBigUint64(HELLO.statusAddr, u64(h.regions.statusAddr, 'statusAddr'), true);
  dv.setUint32(HELLO.statusRkey, h.regions.statusRkey, true);
  dv.setUint32(HELLO.statusLen, h.regions.statusLen, true);
  dv.setBigUint64(HELLO.slotAddr, u64(h.regions.slotAddr, 'slotAddr'), true);
  dv.setUint32(HELLO.slotRkey, h.regions.slotRkey, true);
  dv.setUint32(HELLO.slotLen, h.regions.slotLen, true);
  sign(out, HELLO.mac, secret);
  seal(out, HELLO.size, HELLO.checksum);
  return out;
}

/**
 * Validates a hello found in this node's mailbox (on a copy of it). Returns null for an empty (all-zero
 * magic) slot; otherwise throws ProtocolError for a bad header, CRC, cluster id, flags or slot/status
 * length, or (with `secret`) a MAC that does not verify (ERR_CCM_AUTH).
 */
export function decodeHello(buf: Uint8Array, clusterId: bigint, secret?: Uint8Array): Hello | null {
  if (buf.byteLength >= 4 && view(buf).getUint32(0, true) === 0) return null;
  const { bytes, dv } = checkHeader(buf, 'hello', MAGIC.hello, HELLO.size, HELLO.checksum);
  checkCluster(dv, HELLO.clusterId, 'hello', clusterId);
  flagsOf(dv, HELLO.flags, 'hello');
  checkMac(bytes, 'hello', HELLO.mac, secret);
  return {
    clusterId,
    nodeId: dv.getUint32(HELLO.nodeId, true),
    generation: dv.getBigUint64(HELLO.generation, true),
    nonce: dv.getBigUint64(HELLO.nonce, true),
    responderNonce: dv.getBigUint64(HELLO.responderNonce, true),
    regions: {
      statusAddr: dv.getBigUint64(HELLO.statusAddr, true),
      statusRkey: dv.getUint32(HELLO.statusRkey, true),
      statusLen: checkStatusLen(dv.getUint32(HELLO.statusLen, true), 'hello'),
      slotAddr: dv.getBigUint64(HELLO.slotAddr, true),
      slotRkey: dv.getUint32(HELLO.slotRkey, true),
      slotLen: checkSlotLen(dv.getUint32(HELLO.slotLen, true), 'hello'),
    },
  };
}

/**
 * Encodes a commit into `out` (its first 96 bytes, zeroed first; a new buffer by default) and returns it.
 * With `secret` it sets the auth flag and the MAC. Throws RangeError for a u64 field out of range.
 */
export function encodeCommit(
  c: Commit,
  secret?: Uint8Array,
  out: Uint8Array = new Uint8Array(COMMIT.size),
): Uint8Array {
  out.fill(0, 0, COMMIT.size);
  const dv = view(out);
  writeHeader(dv, MAGIC.commit, COMMIT.size);
  dv.setBigUint64(COMMIT.clusterId, u64(c.clusterId, 'clusterId'), true);
  dv.setUint32(COMMIT.nodeId, c.nodeId, true);
  dv.setUint32(COMMIT.flags, secret ? FLAG_AUTH : 0, true);
  dv.setBigUint64(COMMIT.generation, u64(c.generation, 'generation'), true);
  dv.setBigUint64(COMMIT.nonce, u64(c.nonce, 'nonce'), true);
  dv.setBigUint64(COMMIT.responderNonce, u64(c.responderNonce, 'responderNonce'), true);
  sign(out, COMMIT.mac, secret);
  seal(out, COMMIT.size, COMMIT.checksum);
  return out;
}

/**
 * Validates a commit found in this node's mailbox (on a copy of it). Returns null for an empty (all-zero
 * magic) slot; otherwise throws ProtocolError like {@link decodeHello}.
 */
export function decodeCommit(buf: Uint8Array, clusterId: bigint, secret?: Uint8Array): Commit | null {
  if (buf.byteLength >= 4 && view(buf).getUint32(0, true) === 0) return null;
  const { bytes, dv } = checkHeader(buf, 'commit', MAGIC.commit, COMMIT.size, COMMIT.checksum);
  checkCluster(dv, COMMIT.clusterId, 'commit', clusterId);
  flagsOf(dv, COMMIT.flags, 'commit');
  checkMac(bytes, 'commit', COMMIT.mac, secret);
  return {
    clusterId,
    nodeId: dv.getUint32(COMMIT.nodeId, true),
    generation: dv.getBigUint64(COMMIT.generation, true),
    nonce: dv.getBigUint64(COMMIT.nonce, true),
    responderNonce: dv.getBigUint64(COMMIT.responderNonce, true),
  };
}

/** Heartbeat and ack words: a u64 value and the session's epoch (16 bytes, written in one WRITE). */
export interface Counter {
  /**
   * Heartbeat counter, or last delivered log sequence for an ack. Two heartbeat values are marks:
   * 2^64 - 1 (the writer leaves the cluster) and 2^64 - 2 (it closes this session).
   */
  value: bigint;
  /** The session's epoch ({@link sessionEpoch}); a word of another epoch is refused. */
  epoch: bigint;
}

/** Encodes a counter word into the first 16 bytes of `out` (a new 16-byte buffer by default): value u64, epoch u64. Throws RangeError for a value out of u64 range. */
export function encodeCounter(c: Counter, out: Uint8Array = new Uint8Array(16)): Uint8Array {
  const dv = view(out);
  dv.setBigUint64(0, u64(c.value, 'value'), true);
  dv.setBigUint64(8, u64(c.epoch, 'epoch'), true);
  return out;
}

/** Reads a counter word from a copy of its 16 bytes (the live word may be written again meanwhile); throws ERR_CCM_TRUNCATED below 16 bytes. */
export function decodeCounter(buf: Uint8Array): Counter {
  if (buf.byteLength < 16)
    throw new ProtocolError('ERR_CCM_TRUNCATED', 'counter', `${buf.byteLength} bytes, need 16`);
  COUNTER.bytes.set(buf.subarray(0, 16));
  return { value: COUNTER.dv.getBigUint64(0, true), epoch: COUNTER.dv.getBigUint64(8, true) };
}

/** decodeCounter's copy of the word (a heartbeat and an ack are read at every turn). */
const COUNTER = scratch(16);
