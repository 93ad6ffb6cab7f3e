// The status block: what a partner may RDMA READ of this node (and nothing else). With a cluster secret
// the whole block is authenticated by one MAC, so no field of it can be forged or taken from another node.
import { checkCluster, checkHeader, checkMac, seal, sign, u64, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import {
  MAGIC,
  MAX_SLOTS,
  NODE_STATES,
  NodeState,
  STATUS,
  STATUS_FLUSH,
  STATUS_FLUSH_PERSISTENT,
  STATUS_NEEDS_PERSISTENT,
  STATUS_PERSISTENT,
} from './layout';
import { FLAG_AUTH } from './mailbox';

/** How far an RDMA FLUSH places the writes before it: visible to every reader, or also persistent. */
export type FlushPlacement = 'global' | 'persistent';

/** A status block's echo of the hello a node accepted in one slot: the initiator waits to see its own. */
export interface Echo {
  /** Node id of the hello's sender. */
  nodeId: number;
  /** The sender's boot generation, from the hello. */
  generation: bigint;
  /** The nonce of the echoed hello. */
  nonce: bigint;
}

/** The fields of a status block (magic `RCST`, 512 bytes, {@link STATUS}). */
export interface StatusBlock {
  /** The cluster id. */
  clusterId: bigint;
  /** The publishing node's id. */
  nodeId: number;
  /** The node's published state. */
  state: NodeState;
  /** The node's boot generation, new at every start. */
  generation: bigint;
  /** Advances every heartbeat period while the node runs. */
  heartbeat: bigint;
  /** Advances with every publication of the block. */
  sequence: bigint;
  /** Slots in the node's mailbox, 1 to {@link MAX_SLOTS}. */
  slotCount: number;
  /** This node's log regions are persistent memory: partners may append `persisted` records (absent: false). */
  persistent?: boolean;
  /** This node appends `persisted` records: its partners' log regions must be persistent memory (absent: false). */
  needsPersistent?: boolean;
  /**
   * How far an RDMA FLUSH of this node's slots places the writes before it, on every link: `global`,
   * `persistent` (to persistence too), or null/absent: its slots do not take FLUSH, partners fence with a READ.
   */
  flush?: FlushPlacement | null;
  /** Per mailbox slot: the last hello this node accepted in that slot, or null. */
  echoes: (Echo | null)[];
  /** The node whose resources this node has taken over (`ccm.takeover()`), and that node's boot; null or absent for none. */
  takeover?: {
    /** The node taken over. */
    nodeId: number;
    /** That node's boot generation when it was taken over. */
    generation: bigint;
    /** How far the taker replayed that node's mirrored log before it took over (null or absent: it did not). */
    replayed?: Replayed | null;
  } | null;
}

/** How far a taker replayed the taken-over node's mirrored log: its stream, through a sequence. */
export interface Replayed {
  /** The taken-over node's log stream (nonzero). */
  stream: number;
  /** The last sequence of that stream the taker replayed. */
  through: bigint;
}

const ECHO_VALID = 1;

/**
 * Encodes a status block into `out` (its first 512 bytes, zeroed first; a new buffer by default) and
 * returns it. With `secret` it sets the auth flag and the MAC. Throws RangeError for a slot count outside
 * 1 to 8, more echoes than slots, or a u64 field out of range.
 */
export function encodeStatus(
  s: StatusBlock,
  secret?: Uint8Array,
  out: Uint8Array = new Uint8Array(STATUS.size),
): Uint8Array {
  if (s.slotCount < 1 || s.slotCount > MAX_SLOTS || s.echoes.length > s.slotCount)
    throw new RangeError('bad slot count');
  out.fill(0, 0, STATUS.size);
  const dv = view(out);
  writeHeader(dv, MAGIC.status, STATUS.size);
  dv.setBigUint64(STATUS.clusterId, u64(s.clusterId, 'clusterId'), true);
  dv.setUint32(STATUS.nodeId, s.nodeId, true);
  dv.setUint32(STATUS.state, NODE_STATES.indexOf(s.state) + 1, true);
  dv.setBigUint64(STATUS.generation, u64(s.generation, 'generation'), true);
  dv.setBigUint64(STATUS.heartbeat, u64(s.heartbeat, 'heartbeat'), true);
  dv.setBigUint64(STATUS.sequence, u64(s.sequence, 'sequence'), true);
  dv.setUint16(STATUS.slotCount, s.slotCount, true);
  dv.setUint16(
    STATUS.flags,
    (secret ? FLAG_AUTH : 0) |
      (s.persistent ? STATUS_PERSISTENT : 0) |
      (s.needsPersistent ? STATUS_NEEDS_PERSISTENT : 0) |
      (s.flush ? STATUS_FLUSH : 0) |
      (s.flush === 'persistent' ? STATUS_FLUSH_PERSISTENT : 0),
    true,
  );
  dv.setUint32(STATUS.takeover, s.takeover?.nodeId ?? 0, true);
  dv.setBigUint64(STATUS.takeoverGeneration, u64(s.takeover?.generation ?? 0n, 'takeover generation'), true);
  dv.setUint32(STATUS.replayedStream, s.takeover?.replayed?.stream ?? 0, true);
  dv.setUint32(STATUS.replayedStream + 4, 0, true);
  dv.setBigUint64(STATUS.replayedThrough, u64(s.takeover?.replayed?.through ?? 0n, 'replayed through'), true);
  s.echoes.forEach((e, i) => {
    if (!e) return;
    const at = STATUS.echoes + i * STATUS.echoSize;
    dv.setUint32(at, e.nodeId, true);
    dv.setUint32(at + 4, ECHO_VALID, true);
    dv.setBigUint64(at + 8, u64(e.generation, 'echo generation'), true);
    dv.setBigUint64(at + 16, u64(e.nonce, 'echo nonce'), true);
  });
  sign(out, STATUS.mac, secret);
  seal(out, STATUS.size, STATUS.checksum);
  return out;
}

/**
 * Validates a status block read from a partner (on a copy); throws ProtocolError with the reason. With a
 * secret, the block's MAC must verify before any field is trusted (ERR_CCM_AUTH). A torn READ shows as
 * ERR_CCM_CHECKSUM. Whether the node id and generation are the expected ones is the caller's to check.
 */
export function decodeStatus(buf: Uint8Array, clusterId: bigint, secret?: Uint8Array): StatusBlock {
  const { bytes, dv } = checkHeader(buf, 'status', MAGIC.status, STATUS.size, STATUS.checksum);
  checkMac(bytes, 'status', STATUS.mac, secret);
  checkCluster(dv, STATUS.clusterId, 'status', clusterId);
  const stateNo = dv.getUint32(STATUS.state, true);
  if (stateNo < 1 || stateNo > NODE_STATES.length)
    throw new ProtocolError('ERR_CCM_FIELD', 'status', `unknown node state ${stateNo}`);
  const slotCount = dv.getUint16(STATUS.slotCount, true);
  if (slotCount < 1 || slotCount > MAX_SLOTS)
    throw new ProtocolError('ERR_CCM_FIELD', 'status', `slot count ${slotCount} out of range`);
  const flags = dv.getUint16(STATUS.flags, true);
  if (
    flags &
    ~(FLAG_AUTH | STATUS_PERSISTENT | STATUS_NEEDS_PERSISTENT | STATUS_FLUSH | STATUS_FLUSH_PERSISTENT)
  )
    throw new ProtocolError('ERR_CCM_FIELD', 'status', `unknown flags ${flags}`);
  if (flags & STATUS_FLUSH_PERSISTENT && !(flags & STATUS_FLUSH))
    throw new ProtocolError('ERR_CCM_FIELD', 'status', 'persistent FLUSH without FLUSH');
  if (dv.getUint32(STATUS.replayedStream + 4, true) !== 0)
    throw new ProtocolError('ERR_CCM_FIELD', 'status', 'reserved field not zero');
  const echoes: (Echo | null)[] = [];
  for (let i = 0; i < slotCount; i++) {
    const at = STATUS.echoes + i * STATUS.echoSize;
    const ef = dv.getUint32(at + 4, true);
    if (ef & ~ECHO_VALID)
      throw new ProtocolError('ERR_CCM_FIELD', 'status', `echo ${i} has unknown flags ${ef}`);
    echoes.push(
      ef & ECHO_VALID
        ? {
            nodeId: dv.getUint32(at, true),
            generation: dv.getBigUint64(at + 8, true),
            nonce: dv.getBigUint64(at + 16, true),
          }
        : null,
    );
  }
  return {
    clusterId,
    nodeId: dv.getUint32(STATUS.nodeId, true),
    state: NODE_STATES[stateNo - 1],
    generation: dv.getBigUint64(STATUS.generation, true),
    heartbeat: dv.getBigUint64(STATUS.heartbeat, true),
    sequence: dv.getBigUint64(STATUS.sequence, true),
    slotCount,
    persistent: (flags & STATUS_PERSISTENT) !== 0,
    needsPersistent: (flags & STATUS_NEEDS_PERSISTENT) !== 0,
    flush: flags & STATUS_FLUSH_PERSISTENT ? 'persistent' : flags & STATUS_FLUSH ? 'global' : null,
    takeover: dv.getUint32(STATUS.takeover, true)
      ? {
          nodeId: dv.getUint32(STATUS.takeover, true),
          generation: dv.getBigUint64(STATUS.takeoverGeneration, true),
          replayed: dv.getUint32(STATUS.replayedStream, true)
            ? {
                stream: dv.getUint32(STATUS.replayedStream, true),
                through: dv.getBigUint64(STATUS.replayedThrough, true),
              }
            : null,
        }
      : null,
    echoes,
  };
}
