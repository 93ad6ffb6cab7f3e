// Mailbox records a partner RDMA WRITEs into its slot of this node's memory: hello, commit, heartbeat
// and ack. Every decoder works on a copy of the slot's bytes, never on the live, remotely writable memory.
import { checkCluster, checkHeader, checkMac, seal, sign, u64, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import { COMMIT, HELLO, MAGIC, SLOT } from './layout';

/**
 * Where a node's memory is for one partner: its status block (READ) and that partner's slot (WRITE),
 * each reachable only through that partner's connections (docs/protocol.md, Exposed memory).
 */
export interface RegionCoords {
  statusAddr: bigint;
  statusRkey: number;
  statusLen: number;
  slotAddr: bigint;
  slotRkey: number;
  /** Bytes of the slot: control words, then the log ring. */
  slotLen: number;
}

export interface Hello {
  clusterId: bigint;
  nodeId: number;
  generation: bigint;
  nonce: bigint;
  /** The responder's nonce, from its accept. */
  responderNonce: bigint;
  /** The sender's memory for the receiver: its status block and the receiver's slot. */
  regions: RegionCoords;
}

export interface Commit {
  clusterId: bigint;
  nodeId: number;
  generation: bigint;
  nonce: bigint;
  responderNonce: bigint;
}

export const FLAG_AUTH = 1;

/** A slot's length is its control words and a ring of at least one 8-byte unit, within 2^31. */
export function checkSlotLen(len: number, block: string): number {
  if (len < SLOT.size + 8 || len > 0x8000_0000 || len % 8 !== 0) throw new ProtocolError('ERR_CCM_FIELD', block, `slot length ${len} invalid`);
  return len;
}

export function checkStatusLen(len: number, block: string): number {
  if (len < 64 || len > 4096) throw new ProtocolError('ERR_CCM_FIELD', block, `status length ${len} invalid`);
  return len;
}

function flagsOf(dv: DataView, at: number, block: string): void {
  const flags = dv.getUint32(at, true);
  if (flags & ~FLAG_AUTH) throw new ProtocolError('ERR_CCM_FIELD', block, `unknown flags ${flags}`);
}

export function encodeHello(h: Hello, secret?: Uint8Array, out: Uint8Array = new Uint8Array(HELLO.size)): Uint8Array {
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

/** Validates a hello found in this node's mailbox. Returns null for an empty (all-zero magic) slot. */
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

export function encodeCommit(c: Commit, secret?: Uint8Array, out: Uint8Array = new Uint8Array(COMMIT.size)): Uint8Array {
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
  value: bigint;
  epoch: bigint;
}

export function encodeCounter(c: Counter, out: Uint8Array = new Uint8Array(16)): Uint8Array {
  const dv = view(out);
  dv.setBigUint64(0, u64(c.value, 'value'), true);
  dv.setBigUint64(8, u64(c.epoch, 'epoch'), true);
  return out;
}

/** Reads a counter word from a copy of its 16 bytes (the live word may be written again meanwhile). */
export function decodeCounter(buf: Uint8Array): Counter {
  if (buf.byteLength < 16) throw new ProtocolError('ERR_CCM_TRUNCATED', 'counter', `${buf.byteLength} bytes, need 16`);
  const dv = view(buf.slice(0, 16));
  return { value: dv.getBigUint64(0, true), epoch: dv.getBigUint64(8, true) };
}
