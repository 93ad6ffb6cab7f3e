// Mailbox records a partner RDMA WRITEs into this node's slot: hello, commit, heartbeat and ack.
import { mac, macEquals, MAC_SIZE } from './auth';
import { checkCluster, checkHeader, seal, u64, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import { COMMIT, HELLO, MAGIC, MAX_SLOTS, SLOT } from './layout';

/** Where a node's exposed regions are: what a partner needs to READ its status and WRITE its mailbox. */
export interface RegionCoords {
  statusAddr: bigint;
  statusRkey: number;
  statusLen: number;
  mailboxAddr: bigint;
  mailboxRkey: number;
}

export interface Hello {
  clusterId: bigint;
  nodeId: number;
  generation: bigint;
  nonce: bigint;
  /** The sender's own regions, so the receiver can READ its status and WRITE into its mailbox. */
  regions: RegionCoords;
  /** The receiver's slot in the sender's mailbox. */
  slot: number;
  /** Bytes per slot in the sender's mailbox (control part plus log ring). */
  slotStride: number;
}

export interface Commit {
  clusterId: bigint;
  nodeId: number;
  generation: bigint;
  nonce: bigint;
}

const FLAG_AUTH = 1;

function macBody(buf: Uint8Array, macAt: number): Uint8Array {
  return buf.subarray(0, macAt);
}

export function encodeHello(h: Hello, secret?: Uint8Array, out: Uint8Array = new Uint8Array(HELLO.size)): Uint8Array {
  if (!Number.isInteger(h.slot) || h.slot < 0 || h.slot >= MAX_SLOTS) throw new RangeError('hello slot out of range');
  out.fill(0, 0, HELLO.size);
  const dv = view(out);
  writeHeader(dv, MAGIC.hello, HELLO.size);
  dv.setBigUint64(HELLO.clusterId, u64(h.clusterId, 'clusterId'), true);
  dv.setUint32(HELLO.nodeId, h.nodeId, true);
  dv.setUint32(HELLO.flags, secret ? FLAG_AUTH : 0, true);
  dv.setBigUint64(HELLO.generation, u64(h.generation, 'generation'), true);
  dv.setBigUint64(HELLO.nonce, u64(h.nonce, 'nonce'), true);
  dv.setBigUint64(HELLO.statusAddr, u64(h.regions.statusAddr, 'statusAddr'), true);
  dv.setUint32(HELLO.statusRkey, h.regions.statusRkey, true);
  dv.setUint32(HELLO.statusLen, h.regions.statusLen, true);
  dv.setBigUint64(HELLO.mailboxAddr, u64(h.regions.mailboxAddr, 'mailboxAddr'), true);
  dv.setUint32(HELLO.mailboxRkey, h.regions.mailboxRkey, true);
  dv.setUint32(HELLO.slot, h.slot, true);
  dv.setUint32(HELLO.slotStride, h.slotStride, true);
  out.set(mac(secret, macBody(out, HELLO.mac)), HELLO.mac);
  seal(out, HELLO.size, HELLO.checksum);
  return out;
}

/** Validates a hello found in this node's mailbox. Returns null for an empty (all-zero magic) slot. */
export function decodeHello(buf: Uint8Array, clusterId: bigint, secret?: Uint8Array): Hello | null {
  if (buf.byteLength >= 4 && view(buf).getUint32(0, true) === 0) return null;
  const dv = checkHeader(buf, 'hello', MAGIC.hello, HELLO.size, HELLO.checksum);
  checkCluster(dv, HELLO.clusterId, 'hello', clusterId);
  const flags = dv.getUint32(HELLO.flags, true);
  if (flags & ~FLAG_AUTH) throw new ProtocolError('ERR_CCM_FIELD', 'hello', `unknown flags ${flags}`);
  checkMac(buf, 'hello', HELLO.mac, (flags & FLAG_AUTH) !== 0, secret);
  const slot = dv.getUint32(HELLO.slot, true);
  if (slot >= MAX_SLOTS) throw new ProtocolError('ERR_CCM_FIELD', 'hello', `slot ${slot} out of range`);
  const slotStride = dv.getUint32(HELLO.slotStride, true);
  if (slotStride < SLOT.size || slotStride % 8 !== 0) throw new ProtocolError('ERR_CCM_FIELD', 'hello', `slot stride ${slotStride} invalid`);
  const statusLen = dv.getUint32(HELLO.statusLen, true);
  if (statusLen < 64 || statusLen > 4096) throw new ProtocolError('ERR_CCM_FIELD', 'hello', `status length ${statusLen} invalid`);
  return {
    clusterId,
    nodeId: dv.getUint32(HELLO.nodeId, true),
    generation: dv.getBigUint64(HELLO.generation, true),
    nonce: dv.getBigUint64(HELLO.nonce, true),
    regions: {
      statusAddr: dv.getBigUint64(HELLO.statusAddr, true),
      statusRkey: dv.getUint32(HELLO.statusRkey, true),
      statusLen,
      mailboxAddr: dv.getBigUint64(HELLO.mailboxAddr, true),
      mailboxRkey: dv.getUint32(HELLO.mailboxRkey, true),
    },
    slot,
    slotStride,
  };
}

export function encodeCommit(c: Commit, secret?: Uint8Array, out: Uint8Array = new Uint8Array(COMMIT.size)): Uint8Array {
  out.fill(0, 0, COMMIT.size);
  const dv = view(out);
  writeHeader(dv, MAGIC.commit, COMMIT.size);
  dv.setBigUint64(COMMIT.clusterId, u64(c.clusterId, 'clusterId'), true);
  dv.setUint32(COMMIT.nodeId, c.nodeId, true);
  dv.setUint32(COMMIT.nodeId + 4, secret ? FLAG_AUTH : 0, true);
  dv.setBigUint64(COMMIT.generation, u64(c.generation, 'generation'), true);
  dv.setBigUint64(COMMIT.nonce, u64(c.nonce, 'nonce'), true);
  out.set(mac(secret, macBody(out, COMMIT.mac)), COMMIT.mac);
  seal(out, COMMIT.size, COMMIT.checksum);
  return out;
}

export function decodeCommit(buf: Uint8Array, clusterId: bigint, secret?: Uint8Array): Commit | null {
  if (buf.byteLength >= 4 && view(buf).getUint32(0, true) === 0) return null;
  const dv = checkHeader(buf, 'commit', MAGIC.commit, COMMIT.size, COMMIT.checksum);
  checkCluster(dv, COMMIT.clusterId, 'commit', clusterId);
  const flags = dv.getUint32(COMMIT.nodeId + 4, true);
  if (flags & ~FLAG_AUTH) throw new ProtocolError('ERR_CCM_FIELD', 'commit', `unknown flags ${flags}`);
  checkMac(buf, 'commit', COMMIT.mac, (flags & FLAG_AUTH) !== 0, secret);
  return {
    clusterId,
    nodeId: dv.getUint32(COMMIT.nodeId, true),
    generation: dv.getBigUint64(COMMIT.generation, true),
    nonce: dv.getBigUint64(COMMIT.nonce, true),
  };
}

function checkMac(buf: Uint8Array, block: string, at: number, flagged: boolean, secret?: Uint8Array): void {
  if (!secret) return; // without a secret this node accepts unauthenticated peers; with one it demands a MAC
  const got = buf.subarray(at, at + MAC_SIZE);
  if (!flagged || !macEquals(got, mac(secret, macBody(buf, at))))
    throw new ProtocolError('ERR_CCM_AUTH', block, 'not authenticated with the cluster secret');
}

/** Heartbeat and ack words: a u64 value and the writer's generation (16 bytes, written in one WRITE). */
export interface Counter {
  value: bigint;
  generation: bigint;
}

export function encodeCounter(c: Counter, out: Uint8Array = new Uint8Array(16)): Uint8Array {
  const dv = view(out);
  dv.setBigUint64(0, u64(c.value, 'value'), true);
  dv.setBigUint64(8, u64(c.generation, 'generation'), true);
  return out;
}

export function decodeCounter(buf: Uint8Array): Counter {
  if (buf.byteLength < 16) throw new ProtocolError('ERR_CCM_TRUNCATED', 'counter', `${buf.byteLength} bytes, need 16`);
  const dv = view(buf);
  return { value: dv.getBigUint64(0, true), generation: dv.getBigUint64(8, true) };
}
