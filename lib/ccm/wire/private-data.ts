// CM private data: the only bytes exchanged before the one-sided handshake. A connect request says who
// calls, and with a cluster secret proves it; the accept, authenticated too, gives the caller its
// windows on the responder's memory; a reject says why and nothing else.
// The CM may pad private data with zeros up to its maximum, so decoders accept longer buffers.
import { checkCluster, checkHeader, checkMac, seal, sign, u64, u64Bytes, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import {
  ACCEPT_PD,
  CONNECT_PD,
  JOIN_ACCEPT_PD,
  JOIN_PD,
  MAGIC,
  MAX_LINKS,
  PRIVATE_DATA,
  PROTOCOL_VERSION,
  REJECT_PD,
  REJECT_REASONS,
  RejectReason,
} from './layout';
import { checkSlotLen, checkStatusLen, FLAG_AUTH, type RegionCoords } from './mailbox';

/** The fields of a CM connect request's private data ({@link CONNECT_PD}). */
export interface ConnectData {
  /** The caller's cluster id. */
  clusterId: bigint;
  /** The caller's node id. */
  nodeId: number;
  /** The caller's boot generation (must rise from one boot to the next). */
  generation: bigint;
  /** The node id the caller expects to answer (its configured partner). */
  target: number;
  /**
   * The caller's attempt number within its boot, from 1: with the generation, what makes a request
   * fresh (a responder with a secret accepts each (generation, attempt) of a partner once, rising).
   */
  attempt: number;
}

/** The fields of a CM accept's private data ({@link ACCEPT_PD}). */
export interface AcceptData {
  /** The cluster id. */
  clusterId: bigint;
  /** The responder's node id. */
  nodeId: number;
  /** The responder's boot generation. */
  generation: bigint;
  /** The responder's nonce for this handshake: the hello and commit must carry it. */
  responderNonce: bigint;
  /** The caller's windows on the responder: its status block and the caller's slot. */
  regions: RegionCoords;
}

/** The fields of a link join's private data ({@link JOIN_PD}). */
export interface JoinData {
  /** The caller's cluster id. */
  clusterId: bigint;
  /** The caller's node id. */
  nodeId: number;
  /** The link: the caller's k-th address to the responder's k-th (0 … MAX_LINKS - 1). */
  link: number;
  /** The caller's join attempt within the session, from 1, rising. */
  attempt: number;
  /** The caller's status block rkey over this link (address and length are the session's). */
  statusRkey: number;
  /** The responder's slot in the caller's memory, its rkey over this link. */
  slotRkey: number;
}

/** The fields of a link join's accept ({@link JOIN_ACCEPT_PD}). */
export interface JoinAcceptData {
  /** The cluster id. */
  clusterId: bigint;
  /** The responder's node id. */
  nodeId: number;
  /** The link, as in the join. */
  link: number;
  /** The responder's status block rkey over this link. */
  statusRkey: number;
  /** The caller's slot in the responder's memory, its rkey over this link. */
  slotRkey: number;
}

/** The fields of a CM reject's private data ({@link REJECT_PD}). */
export interface RejectData {
  /** The cluster id the caller sent, echoed back. */
  clusterId: bigint;
  /** Why the request was rejected. */
  reason: RejectReason;
}

function header(size: number, kind: number): { out: Uint8Array; dv: DataView } {
  const out = new Uint8Array(size);
  const dv = view(out);
  writeHeader(dv, MAGIC.privateData, size);
  dv.setUint8(7, kind); // high byte of the length field carries the kind; lengths here are < 256
  return { out, dv };
}

const KIND = { connect: 1, accept: 2, reject: 3, join: 4, 'join-accept': 5 } as const;

/**
 * What a CM request's private data is: a connect (a new session) or a join (a further link of one), by
 * its kind byte; null for anything else. Nothing in it is validated: the decoder of that kind does that.
 */
export function requestKind(buf: Uint8Array): 'connect' | 'join' | null {
  if (
    !(buf instanceof Uint8Array) ||
    buf.byteLength < 8 ||
    view(buf).getUint32(0, true) !== MAGIC.privateData
  )
    return null;
  return buf[7] === KIND.connect ? 'connect' : buf[7] === KIND.join ? 'join' : null;
}

/** Checks header and checksum of private data of one kind; returns a copy with the kind byte undone. */
function check(
  buf: Uint8Array,
  block: keyof typeof KIND,
  size: number,
  checksumAt: number,
): { bytes: Uint8Array; dv: DataView } {
  if (!(buf instanceof Uint8Array)) throw new ProtocolError('ERR_CCM_TRUNCATED', block, 'not a byte buffer');
  const copy = buf.slice(0, Math.min(buf.byteLength, size));
  if (copy.byteLength >= 8) {
    const kind = copy[7];
    if (
      kind !== KIND[block] &&
      view(copy).getUint32(0, true) === MAGIC.privateData &&
      view(copy).getUint16(4, true) === PROTOCOL_VERSION
    )
      throw new ProtocolError(
        'ERR_CCM_FIELD',
        block,
        `private data of kind ${kind}, expected ${KIND[block]}`,
      );
    copy[7] = 0;
  }
  return checkHeader(copy, block, MAGIC.privateData, size, checksumAt);
}

function sealKind(out: Uint8Array, size: number, checksumAt: number, kind: number): Uint8Array {
  out[7] = 0;
  seal(out, size, checksumAt);
  out[7] = kind;
  return out;
}

/**
 * Encodes a connect request's private data (56 bytes). With `secret` it carries the first 16 bytes of
 * the HMAC. Throws RangeError for a u64 field out of range.
 */
export function encodeConnect(c: ConnectData, secret?: Uint8Array): Uint8Array {
  const { out, dv } = header(CONNECT_PD.size, KIND.connect);
  dv.setBigUint64(CONNECT_PD.clusterId, u64(c.clusterId, 'clusterId'), true);
  dv.setUint32(CONNECT_PD.nodeId, c.nodeId, true);
  dv.setUint32(CONNECT_PD.target, c.target, true);
  dv.setBigUint64(CONNECT_PD.generation, u64(c.generation, 'generation'), true);
  dv.setUint32(CONNECT_PD.attempt, c.attempt, true);
  out[7] = 0;
  sign(out, CONNECT_PD.mac, secret, CONNECT_PD.macSize);
  return sealKind(out, CONNECT_PD.size, CONNECT_PD.checksum, KIND.connect);
}

/**
 * Validates a connect request's private data (on a copy; longer, zero-padded buffers are accepted).
 * With a secret the MAC is checked before any field is looked at (ERR_CCM_AUTH, which the node answers
 * with NOT_AUTHENTICATED), so a stranger learns nothing of whether its cluster id, node id or target
 * were right. Then throws ERR_CCM_CLUSTER for another cluster, ERR_CCM_FIELD for attempt 0. Node id,
 * target and freshness are the caller's to check.
 */
export function decodeConnect(buf: Uint8Array, clusterId: bigint, secret?: Uint8Array): ConnectData {
  const { bytes, dv } = check(buf, 'connect', CONNECT_PD.size, CONNECT_PD.checksum);
  checkMac(bytes, 'connect', CONNECT_PD.mac, secret, CONNECT_PD.macSize);
  checkCluster(dv, CONNECT_PD.clusterId, 'connect', clusterId);
  const attempt = dv.getUint32(CONNECT_PD.attempt, true);
  if (attempt === 0) throw new ProtocolError('ERR_CCM_FIELD', 'connect', 'attempt 0');
  return {
    clusterId,
    nodeId: dv.getUint32(CONNECT_PD.nodeId, true),
    target: dv.getUint32(CONNECT_PD.target, true),
    generation: dv.getBigUint64(CONNECT_PD.generation, true),
    attempt,
  };
}

/** The request an accept answers, bound into its MAC: an accept made for another request does not verify. */
function requestBinding(r: Pick<ConnectData, 'generation' | 'attempt'>): Uint8Array {
  return u64Bytes(r.generation, BigInt(r.attempt));
}

/**
 * Encodes an accept's private data (108 bytes) answering `request`. With `secret` it sets the auth flag
 * and a MAC bound to the request's generation and attempt. Throws RangeError for a u64 field out of range.
 */
export function encodeAccept(
  a: AcceptData,
  request: Pick<ConnectData, 'generation' | 'attempt'>,
  secret?: Uint8Array,
): Uint8Array {
  const { out, dv } = header(ACCEPT_PD.size, KIND.accept);
  dv.setBigUint64(ACCEPT_PD.clusterId, u64(a.clusterId, 'clusterId'), true);
  dv.setUint32(ACCEPT_PD.nodeId, a.nodeId, true);
  dv.setUint32(ACCEPT_PD.flags, secret ? FLAG_AUTH : 0, true);
  dv.setBigUint64(ACCEPT_PD.generation, u64(a.generation, 'generation'), true);
  dv.setBigUint64(ACCEPT_PD.responderNonce, u64(a.responderNonce, 'responderNonce'), true);
  dv.setBigUint64(ACCEPT_PD.statusAddr, u64(a.regions.statusAddr, 'statusAddr'), true);
  dv.setUint32(ACCEPT_PD.statusRkey, a.regions.statusRkey, true);
  dv.setUint32(ACCEPT_PD.statusLen, a.regions.statusLen, true);
  dv.setBigUint64(ACCEPT_PD.slotAddr, u64(a.regions.slotAddr, 'slotAddr'), true);
  dv.setUint32(ACCEPT_PD.slotRkey, a.regions.slotRkey, true);
  dv.setUint32(ACCEPT_PD.slotLen, a.regions.slotLen, true);
  out[7] = 0;
  sign(out, ACCEPT_PD.mac, secret, undefined, requestBinding(request));
  return sealKind(out, ACCEPT_PD.size, ACCEPT_PD.checksum, KIND.accept);
}

/**
 * Validates an accept's private data (on a copy; longer buffers are accepted) as the answer to our
 * `request`. After the header and CRC, with a secret, a MAC that does not verify (also an accept made
 * for another request) throws ERR_CCM_AUTH; then ERR_CCM_CLUSTER, or ERR_CCM_FIELD for unknown flags
 * or a bad region length. Whether the node id and generation are the expected partner's is the caller's to check.
 */
export function decodeAccept(
  buf: Uint8Array,
  clusterId: bigint,
  request: Pick<ConnectData, 'generation' | 'attempt'>,
  secret?: Uint8Array,
): AcceptData {
  const { bytes, dv } = check(buf, 'accept', ACCEPT_PD.size, ACCEPT_PD.checksum);
  checkMac(bytes, 'accept', ACCEPT_PD.mac, secret, undefined, requestBinding(request));
  checkCluster(dv, ACCEPT_PD.clusterId, 'accept', clusterId);
  const flags = dv.getUint32(ACCEPT_PD.flags, true);
  if (flags & ~FLAG_AUTH) throw new ProtocolError('ERR_CCM_FIELD', 'accept', `unknown flags ${flags}`);
  return {
    clusterId,
    nodeId: dv.getUint32(ACCEPT_PD.nodeId, true),
    generation: dv.getBigUint64(ACCEPT_PD.generation, true),
    responderNonce: dv.getBigUint64(ACCEPT_PD.responderNonce, true),
    regions: {
      statusAddr: dv.getBigUint64(ACCEPT_PD.statusAddr, true),
      statusRkey: dv.getUint32(ACCEPT_PD.statusRkey, true),
      statusLen: checkStatusLen(dv.getUint32(ACCEPT_PD.statusLen, true), 'accept'),
      slotAddr: dv.getBigUint64(ACCEPT_PD.slotAddr, true),
      slotRkey: dv.getUint32(ACCEPT_PD.slotRkey, true),
      slotLen: checkSlotLen(dv.getUint32(ACCEPT_PD.slotLen, true), 'accept'),
    },
  };
}

/** Encodes a link join's private data (56 bytes), its MAC keyed with the session's link key ({@link joinKey}). */
export function encodeJoin(j: JoinData, key: Uint8Array): Uint8Array {
  const { out, dv } = header(JOIN_PD.size, KIND.join);
  dv.setBigUint64(JOIN_PD.clusterId, u64(j.clusterId, 'clusterId'), true);
  dv.setUint32(JOIN_PD.nodeId, j.nodeId, true);
  dv.setUint16(JOIN_PD.link, j.link, true);
  dv.setUint32(JOIN_PD.attempt, j.attempt, true);
  dv.setUint32(JOIN_PD.statusRkey, j.statusRkey, true);
  dv.setUint32(JOIN_PD.slotRkey, j.slotRkey, true);
  out[7] = 0;
  sign(out, JOIN_PD.mac, key, JOIN_PD.macSize);
  return sealKind(out, JOIN_PD.size, JOIN_PD.checksum, KIND.join);
}

/**
 * Validates a link join (on a copy). Its MAC is keyed with the link key of the caller's session, which
 * `keyOf(nodeId)` gives (null: no session with that node). Both a missing session and a MAC that does not
 * verify throw ERR_CCM_NO_SESSION, before any other field is believed, so a stranger cannot tell them
 * apart; then ERR_CCM_CLUSTER, or ERR_CCM_FIELD for a link of MAX_LINKS or more, reserved bits or attempt 0.
 */
export function decodeJoin(
  buf: Uint8Array,
  clusterId: bigint,
  keyOf: (nodeId: number) => Uint8Array | null,
): JoinData {
  const { bytes, dv } = check(buf, 'join', JOIN_PD.size, JOIN_PD.checksum);
  const nodeId = dv.getUint32(JOIN_PD.nodeId, true);
  const key = keyOf(nodeId);
  if (!key) throw new ProtocolError('ERR_CCM_NO_SESSION', 'join', 'not a link of a session this node holds');
  try {
    checkMac(bytes, 'join', JOIN_PD.mac, key, JOIN_PD.macSize);
  } catch {
    throw new ProtocolError('ERR_CCM_NO_SESSION', 'join', 'not a link of a session this node holds');
  }
  checkCluster(dv, JOIN_PD.clusterId, 'join', clusterId);
  const link = dv.getUint16(JOIN_PD.link, true);
  if (link >= MAX_LINKS)
    throw new ProtocolError('ERR_CCM_FIELD', 'join', `link ${link}, at most ${MAX_LINKS - 1}`);
  if (dv.getUint16(JOIN_PD.reserved, true) !== 0)
    throw new ProtocolError('ERR_CCM_FIELD', 'join', 'reserved bits set');
  const attempt = dv.getUint32(JOIN_PD.attempt, true);
  if (attempt === 0) throw new ProtocolError('ERR_CCM_FIELD', 'join', 'attempt 0');
  return {
    clusterId,
    nodeId,
    link,
    attempt,
    statusRkey: dv.getUint32(JOIN_PD.statusRkey, true),
    slotRkey: dv.getUint32(JOIN_PD.slotRkey, true),
  };
}

/** Encodes the accept of a link join (52 bytes), its MAC keyed with the link key and bound to the join's attempt. */
export function encodeJoinAccept(
  a: JoinAcceptData,
  request: Pick<JoinData, 'attempt'>,
  key: Uint8Array,
): Uint8Array {
  const { out, dv } = header(JOIN_ACCEPT_PD.size, KIND['join-accept']);
  dv.setBigUint64(JOIN_ACCEPT_PD.clusterId, u64(a.clusterId, 'clusterId'), true);
  dv.setUint32(JOIN_ACCEPT_PD.nodeId, a.nodeId, true);
  dv.setUint16(JOIN_ACCEPT_PD.link, a.link, true);
  dv.setUint32(JOIN_ACCEPT_PD.statusRkey, a.statusRkey, true);
  dv.setUint32(JOIN_ACCEPT_PD.slotRkey, a.slotRkey, true);
  out[7] = 0;
  sign(out, JOIN_ACCEPT_PD.mac, key, JOIN_ACCEPT_PD.macSize, u64Bytes(BigInt(request.attempt)));
  return sealKind(out, JOIN_ACCEPT_PD.size, JOIN_ACCEPT_PD.checksum, KIND['join-accept']);
}

/**
 * Validates the accept of our link join `request` (on a copy): ERR_CCM_AUTH when its MAC (link key,
 * bound to the join's attempt) does not verify, then ERR_CCM_CLUSTER, ERR_CCM_FIELD for another link or
 * reserved bits. Whether the node id is the partner's is the caller's to check.
 */
export function decodeJoinAccept(
  buf: Uint8Array,
  clusterId: bigint,
  request: Pick<JoinData, 'attempt' | 'link'>,
  key: Uint8Array,
): JoinAcceptData {
  const { bytes, dv } = check(buf, 'join-accept', JOIN_ACCEPT_PD.size, JOIN_ACCEPT_PD.checksum);
  checkMac(
    bytes,
    'join-accept',
    JOIN_ACCEPT_PD.mac,
    key,
    JOIN_ACCEPT_PD.macSize,
    u64Bytes(BigInt(request.attempt)),
  );
  checkCluster(dv, JOIN_ACCEPT_PD.clusterId, 'join-accept', clusterId);
  const link = dv.getUint16(JOIN_ACCEPT_PD.link, true);
  if (link !== request.link)
    throw new ProtocolError(
      'ERR_CCM_FIELD',
      'join-accept',
      `accept of link ${link}, the join was for link ${request.link}`,
    );
  if (dv.getUint16(JOIN_ACCEPT_PD.reserved, true) !== 0)
    throw new ProtocolError('ERR_CCM_FIELD', 'join-accept', 'reserved bits set');
  return {
    clusterId,
    nodeId: dv.getUint32(JOIN_ACCEPT_PD.nodeId, true),
    link,
    statusRkey: dv.getUint32(JOIN_ACCEPT_PD.statusRkey, true),
    slotRkey: dv.getUint32(JOIN_ACCEPT_PD.slotRkey, true),
  };
}

/** Encodes a reject's private data (24 bytes): the caller's cluster id and the reason; it carries no MAC. */
export function encodeReject(r: RejectData): Uint8Array {
  const { out, dv } = header(REJECT_PD.size, KIND.reject);
  dv.setBigUint64(REJECT_PD.clusterId, u64(r.clusterId, 'clusterId'), true);
  dv.setUint32(REJECT_PD.reason, REJECT_REASONS.indexOf(r.reason) + 1, true);
  return sealKind(out, REJECT_PD.size, REJECT_PD.checksum, KIND.reject);
}

/**
 * Decodes a reject's private data. A reject from the CM itself (nothing listening) carries none of
 * ours: that returns null rather than an error (no buffer, under 8 bytes, or no `RCPD` magic). A
 * malformed one throws ProtocolError (ERR_CCM_FIELD for an unknown reason).
 */
export function decodeReject(buf: Uint8Array | undefined): RejectData | null {
  if (!buf || buf.byteLength < 8 || view(buf).getUint32(0, true) !== MAGIC.privateData) return null;
  const { dv } = check(buf, 'reject', REJECT_PD.size, REJECT_PD.checksum);
  const n = dv.getUint32(REJECT_PD.reason, true);
  if (n < 1 || n > REJECT_REASONS.length)
    throw new ProtocolError('ERR_CCM_FIELD', 'reject', `unknown reason ${n}`);
  return { clusterId: dv.getBigUint64(REJECT_PD.clusterId, true), reason: REJECT_REASONS[n - 1] };
}

for (const [k, size] of [
  ['connect', CONNECT_PD.size],
  ['join', JOIN_PD.size],
  ['accept', ACCEPT_PD.size],
  ['join-accept', JOIN_ACCEPT_PD.size],
  ['reject', REJECT_PD.size],
] as const) {
  const max =
    k === 'connect' || k === 'join'
      ? PRIVATE_DATA.maxConnect
      : k === 'reject'
        ? PRIVATE_DATA.maxReject
        : PRIVATE_DATA.maxAccept;
  if (size > max) throw new Error(`${k} private data (${size} bytes) exceeds the CM limit ${max}`);
}
