// CM private data: the only bytes exchanged before the one-sided handshake. A connect request says who
// calls; the accept says where the responder's status block and mailbox are; a reject says why.
// The CM may pad private data with zeros up to its maximum, so decoders accept longer buffers.
import { checkCluster, checkHeader, seal, u64, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import { ACCEPT_PD, CONNECT_PD, MAGIC, MAX_SLOTS, PRIVATE_DATA, PROTOCOL_VERSION, REJECT_PD, REJECT_REASONS, RejectReason, SLOT } from './layout';
import type { RegionCoords } from './mailbox';

export interface ConnectData {
  clusterId: bigint;
  nodeId: number;
  generation: bigint;
  /** The node id the caller expects to answer (its configured partner). */
  target: number;
}

export interface AcceptData {
  clusterId: bigint;
  nodeId: number;
  generation: bigint;
  regions: RegionCoords;
  /** The caller's slot in the responder's mailbox. */
  slot: number;
  slotStride: number;
}

export interface RejectData {
  clusterId: bigint;
  nodeId: number;
  generation: bigint;
  reason: RejectReason;
}

function header(size: number, kind: number): { out: Uint8Array; dv: DataView } {
  const out = new Uint8Array(size);
  const dv = view(out);
  writeHeader(dv, MAGIC.privateData, size);
  dv.setUint8(7, kind); // high byte of the length field carries the kind; lengths here are < 256
  return { out, dv };
}

const KIND = { connect: 1, accept: 2, reject: 3 } as const;

function check(buf: Uint8Array, block: keyof typeof KIND, size: number, checksumAt: number, clusterId: bigint): DataView {
  if (!(buf instanceof Uint8Array)) throw new ProtocolError('ERR_CCM_TRUNCATED', block, 'not a byte buffer');
  // Undo the kind byte for the generic header check, on a copy: partner bytes are never modified.
  const copy = buf.slice(0, Math.min(buf.byteLength, size));
  if (copy.byteLength >= 8) {
    const kind = copy[7];
    if (kind !== KIND[block] && view(copy).getUint32(0, true) === MAGIC.privateData && view(copy).getUint16(4, true) === PROTOCOL_VERSION)
      throw new ProtocolError('ERR_CCM_FIELD', block, `private data of kind ${kind}, expected ${KIND[block]}`);
    copy[7] = 0;
  }
  const dv = checkHeader(copy, block, MAGIC.privateData, size, checksumAt);
  checkCluster(dv, 8, block, clusterId);
  return dv;
}

function sealKind(out: Uint8Array, size: number, checksumAt: number, kind: number): Uint8Array {
  out[7] = 0;
  seal(out, size, checksumAt);
  out[7] = kind;
  return out;
}

export function encodeConnect(c: ConnectData): Uint8Array {
  const { out, dv } = header(CONNECT_PD.size, KIND.connect);
  dv.setBigUint64(CONNECT_PD.clusterId, u64(c.clusterId, 'clusterId'), true);
  dv.setUint32(CONNECT_PD.nodeId, c.nodeId, true);
  dv.setBigUint64(CONNECT_PD.generation, u64(c.generation, 'generation'), true);
  dv.setUint32(CONNECT_PD.target, c.target, true);
  return sealKind(out, CONNECT_PD.size, CONNECT_PD.checksum, KIND.connect);
}

export function decodeConnect(buf: Uint8Array, clusterId: bigint): ConnectData {
  const dv = check(buf, 'connect', CONNECT_PD.size, CONNECT_PD.checksum, clusterId);
  return {
    clusterId,
    nodeId: dv.getUint32(CONNECT_PD.nodeId, true),
    generation: dv.getBigUint64(CONNECT_PD.generation, true),
    target: dv.getUint32(CONNECT_PD.target, true),
  };
}

export function encodeAccept(a: AcceptData): Uint8Array {
  const { out, dv } = header(ACCEPT_PD.size, KIND.accept);
  dv.setBigUint64(ACCEPT_PD.clusterId, u64(a.clusterId, 'clusterId'), true);
  dv.setUint32(ACCEPT_PD.nodeId, a.nodeId, true);
  dv.setBigUint64(ACCEPT_PD.generation, u64(a.generation, 'generation'), true);
  dv.setBigUint64(ACCEPT_PD.statusAddr, u64(a.regions.statusAddr, 'statusAddr'), true);
  dv.setUint32(ACCEPT_PD.statusRkey, a.regions.statusRkey, true);
  dv.setUint32(ACCEPT_PD.statusLen, a.regions.statusLen, true);
  dv.setBigUint64(ACCEPT_PD.mailboxAddr, u64(a.regions.mailboxAddr, 'mailboxAddr'), true);
  dv.setUint32(ACCEPT_PD.mailboxRkey, a.regions.mailboxRkey, true);
  dv.setUint32(ACCEPT_PD.slot, a.slot, true);
  dv.setUint32(ACCEPT_PD.slotStride, a.slotStride, true);
  return sealKind(out, ACCEPT_PD.size, ACCEPT_PD.checksum, KIND.accept);
}

export function decodeAccept(buf: Uint8Array, clusterId: bigint): AcceptData {
  const dv = check(buf, 'accept', ACCEPT_PD.size, ACCEPT_PD.checksum, clusterId);
  const slot = dv.getUint32(ACCEPT_PD.slot, true);
  if (slot >= MAX_SLOTS) throw new ProtocolError('ERR_CCM_FIELD', 'accept', `slot ${slot} out of range`);
  const slotStride = dv.getUint32(ACCEPT_PD.slotStride, true);
  if (slotStride < SLOT.size || slotStride % 8 !== 0) throw new ProtocolError('ERR_CCM_FIELD', 'accept', `slot stride ${slotStride} invalid`);
  const statusLen = dv.getUint32(ACCEPT_PD.statusLen, true);
  if (statusLen < 64 || statusLen > 4096) throw new ProtocolError('ERR_CCM_FIELD', 'accept', `status length ${statusLen} invalid`);
  return {
    clusterId,
    nodeId: dv.getUint32(ACCEPT_PD.nodeId, true),
    generation: dv.getBigUint64(ACCEPT_PD.generation, true),
    regions: {
      statusAddr: dv.getBigUint64(ACCEPT_PD.statusAddr, true),
      statusRkey: dv.getUint32(ACCEPT_PD.statusRkey, true),
      statusLen,
      mailboxAddr: dv.getBigUint64(ACCEPT_PD.mailboxAddr, true),
      mailboxRkey: dv.getUint32(ACCEPT_PD.mailboxRkey, true),
    },
    slot,
    slotStride,
  };
}

export function encodeReject(r: RejectData): Uint8Array {
  const { out, dv } = header(REJECT_PD.size, KIND.reject);
  dv.setBigUint64(REJECT_PD.clusterId, u64(r.clusterId, 'clusterId'), true);
  dv.setUint32(REJECT_PD.nodeId, r.nodeId, true);
  dv.setUint32(REJECT_PD.reason, REJECT_REASONS.indexOf(r.reason) + 1, true);
  dv.setBigUint64(REJECT_PD.generation, u64(r.generation, 'generation'), true);
  return sealKind(out, REJECT_PD.size, REJECT_PD.checksum, KIND.reject);
}

/**
 * Decodes a reject's private data. A reject from the CM itself (nothing listening) carries none of
 * ours: that returns null rather than an error. A reject from another cluster is still decoded, with
 * its own cluster id, because WRONG_CLUSTER is exactly what such a responder says.
 */
export function decodeReject(buf: Uint8Array | undefined): RejectData | null {
  if (!buf || buf.byteLength < 8 || view(buf).getUint32(0, true) !== MAGIC.privateData) return null;
  const clusterId = buf.byteLength >= 16 ? view(buf).getBigUint64(8, true) : 0n;
  const dv = check(buf, 'reject', REJECT_PD.size, REJECT_PD.checksum, clusterId);
  const n = dv.getUint32(REJECT_PD.reason, true);
  if (n < 1 || n > REJECT_REASONS.length) throw new ProtocolError('ERR_CCM_FIELD', 'reject', `unknown reason ${n}`);
  return { clusterId, nodeId: dv.getUint32(REJECT_PD.nodeId, true), generation: dv.getBigUint64(REJECT_PD.generation, true), reason: REJECT_REASONS[n - 1] };
}

for (const [k, size] of [['connect', CONNECT_PD.size], ['accept', ACCEPT_PD.size], ['reject', REJECT_PD.size]] as const) {
  const max = k === 'connect' ? PRIVATE_DATA.maxConnect : k === 'accept' ? PRIVATE_DATA.maxAccept : PRIVATE_DATA.maxReject;
  if (size > max) throw new Error(`${k} private data (${size} bytes) exceeds the CM limit ${max}`);
}
