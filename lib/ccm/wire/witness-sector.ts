// A node's sector on the witness disk: who wrote it, its boot and state, a heartbeat counter that
// advances while it runs, the takeover it has made, if any (the poison pill its victim obeys), and how
// long its kernel watchdog takes to reset it (msgwait). With a cluster secret the whole sector
// carries one MAC, so nothing else on the storage network can forge a heartbeat or a takeover.
import { checkCluster, checkHeader, checkMac, seal, sign, u64, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import { MAGIC, NODE_STATES, type NodeState, WITNESS } from './layout';
import { FLAG_AUTH } from './mailbox';

/** The fields of a witness sector ({@link WITNESS}). */
export interface WitnessSector {
  /** The cluster id. */
  clusterId: bigint;
  /** The writer's node id. */
  nodeId: number;
  /** The writer's published state. */
  state: NodeState;
  /** The writer's boot generation. */
  generation: bigint;
  /** Advances at every write while the writer runs. */
  heartbeat: bigint;
  /** The node whose resources the writer has taken over, and that node's boot; null for none. */
  takeover: {
    /** The node taken over. */
    nodeId: number;
    /** That node's boot generation when it was taken over. */
    generation: bigint;
  } | null;
  /**
   * With a kernel watchdog armed: how long (ms) after its last heartbeat the writer is surely reset, so
   * that a partner may take it for dead (SBD's msgwait); absent (0 on the disk) without one.
   */
  msgwaitMs?: number;
}

/** Encodes a witness sector (512 bytes) into `out` (its first 512 bytes; the rest of `out` is left as it is). */
export function encodeWitness(
  w: WitnessSector,
  secret?: Uint8Array,
  out: Uint8Array = new Uint8Array(WITNESS.size),
): Uint8Array {
  out.fill(0, 0, WITNESS.size);
  const dv = view(out);
  writeHeader(dv, MAGIC.witness, WITNESS.size);
  dv.setBigUint64(WITNESS.clusterId, u64(w.clusterId, 'clusterId'), true);
  dv.setUint32(WITNESS.nodeId, w.nodeId, true);
  dv.setUint32(WITNESS.state, NODE_STATES.indexOf(w.state) + 1, true);
  dv.setBigUint64(WITNESS.generation, u64(w.generation, 'generation'), true);
  dv.setBigUint64(WITNESS.heartbeat, u64(w.heartbeat, 'heartbeat'), true);
  dv.setUint32(WITNESS.takeover, w.takeover?.nodeId ?? 0, true);
  dv.setUint32(WITNESS.flags, secret ? FLAG_AUTH : 0, true);
  dv.setBigUint64(WITNESS.takeoverGeneration, u64(w.takeover?.generation ?? 0n, 'takeoverGeneration'), true);
  dv.setUint32(WITNESS.msgwait, w.msgwaitMs ?? 0, true);
  sign(out.subarray(0, WITNESS.size), WITNESS.mac, secret);
  seal(out, WITNESS.size, WITNESS.checksum);
  return out;
}

/**
 * Validates a witness sector read from the disk (on a copy of its first 512 bytes) as node `nodeId`'s.
 * Throws ProtocolError: a torn or damaged sector fails its CRC (ERR_CCM_CHECKSUM), with a secret a forged
 * one its MAC (ERR_CCM_AUTH); then ERR_CCM_CLUSTER, ERR_CCM_WRONG_NODE for another node's sector in
 * this slot, ERR_CCM_FIELD for an unknown state or flags. A slot never written (all zeros) is null.
 */
export function decodeWitness(
  buf: Uint8Array,
  clusterId: bigint,
  nodeId: number,
  secret?: Uint8Array,
): WitnessSector | null {
  if (!(buf instanceof Uint8Array))
    throw new ProtocolError('ERR_CCM_TRUNCATED', 'witness', 'not a byte buffer');
  const head = buf.subarray(0, WITNESS.size);
  if (head.byteLength === WITNESS.size && head.every((b) => b === 0)) return null;
  const { bytes, dv } = checkHeader(buf, 'witness', MAGIC.witness, WITNESS.size, WITNESS.checksum);
  checkMac(bytes, 'witness', WITNESS.mac, secret);
  checkCluster(dv, WITNESS.clusterId, 'witness', clusterId);
  const writer = dv.getUint32(WITNESS.nodeId, true);
  if (writer !== nodeId)
    throw new ProtocolError(
      'ERR_CCM_WRONG_NODE',
      'witness',
      `sector of node ${writer} in node ${nodeId}'s slot`,
    );
  const stateNo = dv.getUint32(WITNESS.state, true);
  if (stateNo < 1 || stateNo > NODE_STATES.length)
    throw new ProtocolError('ERR_CCM_FIELD', 'witness', `unknown node state ${stateNo}`);
  const flags = dv.getUint32(WITNESS.flags, true);
  if (flags & ~FLAG_AUTH) throw new ProtocolError('ERR_CCM_FIELD', 'witness', `unknown flags ${flags}`);
  const takeover = dv.getUint32(WITNESS.takeover, true);
  const msgwaitMs = dv.getUint32(WITNESS.msgwait, true);
  return {
    clusterId,
    nodeId: writer,
    state: NODE_STATES[stateNo - 1],
    generation: dv.getBigUint64(WITNESS.generation, true),
    heartbeat: dv.getBigUint64(WITNESS.heartbeat, true),
    takeover: takeover
      ? { nodeId: takeover, generation: dv.getBigUint64(WITNESS.takeoverGeneration, true) }
      : null,
    ...(msgwaitMs > 0 && { msgwaitMs }),
  };
}
