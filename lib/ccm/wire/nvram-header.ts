// The header of a node's NVRAM region for one partner's log: the owner writes it when it maps the
// region, the partner's one-sided appends fill the ring after it. After a crash or reboot the owner
// reads it back first: a region of another cluster, owner or partner, or one torn or forged, is
// refused before any record in it is believed.
import { checkCluster, checkHeader, checkMac, seal, sign, u64, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import { MAGIC, NVRAM, NVRAM_PERSISTENT } from './layout';
import { FLAG_AUTH } from './mailbox';

/** The fields of an NVRAM region header ({@link NVRAM}). */
export interface NvramHeader {
  /** The cluster id. */
  clusterId: bigint;
  /** The node whose memory holds the region. */
  owner: number;
  /** The node whose log the ring mirrors. */
  partner: number;
  /** The partner's boot that writes the ring (0n before its first session). */
  generation: bigint;
  /** Bytes of the ring, a nonzero multiple of 8; the ring starts at NVRAM.ringOffset. */
  ringSize: bigint;
  /** The region survives the owner's power loss (persistent memory), so `persisted` appends may use it. */
  persistent: boolean;
}

/** Encodes a header (512 bytes) into `out`'s first 512 bytes. Throws RangeError for a bad ring size or node. */
export function encodeNvramHeader(
  h: NvramHeader,
  secret?: Uint8Array,
  out: Uint8Array = new Uint8Array(NVRAM.size),
): Uint8Array {
  if (h.ringSize <= 0n || h.ringSize % 8n !== 0n)
    throw new RangeError('ringSize must be a nonzero multiple of 8');
  for (const [k, v] of [
    ['owner', h.owner],
    ['partner', h.partner],
  ] as const)
    if (!Number.isInteger(v) || v < 1 || v > 0xffffffff)
      throw new RangeError(`${k} must be a node id from 1 to 2^32-1`);
  out.fill(0, 0, NVRAM.size);
  const dv = view(out);
  writeHeader(dv, MAGIC.nvram, NVRAM.size);
  dv.setBigUint64(NVRAM.clusterId, u64(h.clusterId, 'clusterId'), true);
  dv.setUint32(NVRAM.owner, h.owner, true);
  dv.setUint32(NVRAM.partner, h.partner, true);
  dv.setBigUint64(NVRAM.generation, u64(h.generation, 'generation'), true);
  dv.setBigUint64(NVRAM.ringSize, u64(h.ringSize, 'ringSize'), true);
  dv.setUint32(NVRAM.flags, (secret ? FLAG_AUTH : 0) | (h.persistent ? NVRAM_PERSISTENT : 0), true);
  sign(out.subarray(0, NVRAM.size), NVRAM.mac, secret);
  seal(out, NVRAM.size, NVRAM.checksum);
  return out;
}

/**
 * Validates a region header (on a copy of its first 512 bytes) as `owner`'s region for `partner`'s log,
 * in a region of `regionSize` bytes. Throws ProtocolError: ERR_CCM_CHECKSUM for a torn or damaged one,
 * ERR_CCM_AUTH for a forged one (with a secret), ERR_CCM_CLUSTER, ERR_CCM_WRONG_NODE for another
 * owner's or partner's, ERR_CCM_FIELD for unknown flags or a ring that does not fit the region. A region
 * never written (all zeros) is null.
 */
export function decodeNvramHeader(
  buf: Uint8Array,
  o: { clusterId: bigint; owner: number; partner: number; regionSize: bigint; secret?: Uint8Array },
): NvramHeader | null {
  if (!(buf instanceof Uint8Array))
    throw new ProtocolError('ERR_CCM_TRUNCATED', 'nvram', 'not a byte buffer');
  const head = buf.subarray(0, NVRAM.size);
  if (head.byteLength === NVRAM.size && head.every((b) => b === 0)) return null;
  const { bytes, dv } = checkHeader(buf, 'nvram', MAGIC.nvram, NVRAM.size, NVRAM.checksum);
  checkMac(bytes, 'nvram', NVRAM.mac, o.secret);
  checkCluster(dv, NVRAM.clusterId, 'nvram', o.clusterId);
  const owner = dv.getUint32(NVRAM.owner, true);
  const partner = dv.getUint32(NVRAM.partner, true);
  if (owner !== o.owner || partner !== o.partner)
    throw new ProtocolError(
      'ERR_CCM_WRONG_NODE',
      'nvram',
      `region of node ${owner} for node ${partner}'s log, not node ${o.owner}'s for node ${o.partner}`,
    );
  const flags = dv.getUint32(NVRAM.flags, true);
  if (flags & ~(FLAG_AUTH | NVRAM_PERSISTENT))
    throw new ProtocolError('ERR_CCM_FIELD', 'nvram', `unknown flags ${flags}`);
  const ringSize = dv.getBigUint64(NVRAM.ringSize, true);
  if (ringSize === 0n || ringSize % 8n !== 0n || BigInt(NVRAM.ringOffset) + ringSize > o.regionSize)
    throw new ProtocolError(
      'ERR_CCM_FIELD',
      'nvram',
      `a ring of ${ringSize} bytes does not fit a region of ${o.regionSize}`,
    );
  return {
    clusterId: o.clusterId,
    owner,
    partner,
    generation: dv.getBigUint64(NVRAM.generation, true),
    ringSize,
    persistent: (flags & NVRAM_PERSISTENT) !== 0,
  };
}
