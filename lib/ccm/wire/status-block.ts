// The status block: what a partner may RDMA READ of this node (and nothing else).
import { mac, macEquals, MAC_SIZE } from './auth';
import { checkCluster, checkHeader, seal, u64, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import { MAGIC, MAX_SLOTS, NODE_STATES, NodeState, STATUS } from './layout';

export interface Echo {
  nodeId: number;
  generation: bigint;
  nonce: bigint;
}

export interface StatusBlock {
  clusterId: bigint;
  nodeId: number;
  state: NodeState;
  generation: bigint;
  heartbeat: bigint;
  sequence: bigint;
  slotCount: number;
  /** Per mailbox slot: the last hello this node accepted in that slot, or null. */
  echoes: (Echo | null)[];
}

const ECHO_VALID = 1;
const ECHO_AUTH = 2;

/** The bytes an echo's MAC covers: who echoes (cluster, node, generation) and what it echoes. */
function echoMacInput(clusterId: bigint, nodeId: number, generation: bigint, e: Echo): Uint8Array {
  const b = new Uint8Array(40);
  const dv = view(b);
  dv.setBigUint64(0, clusterId, true);
  dv.setUint32(8, nodeId, true);
  dv.setBigUint64(12, generation, true);
  dv.setUint32(20, e.nodeId, true);
  dv.setBigUint64(24, e.generation, true);
  dv.setBigUint64(32, e.nonce, true);
  return b;
}

export function encodeStatus(s: StatusBlock, secret?: Uint8Array, out: Uint8Array = new Uint8Array(STATUS.size)): Uint8Array {
  if (s.slotCount < 1 || s.slotCount > MAX_SLOTS || s.echoes.length > s.slotCount) throw new RangeError('bad slot count');
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
  s.echoes.forEach((e, i) => {
    if (!e) return;
    const at = STATUS.echoes + i * STATUS.echoSize;
    dv.setUint32(at, e.nodeId, true);
    dv.setUint32(at + 4, ECHO_VALID | (secret ? ECHO_AUTH : 0), true);
    dv.setBigUint64(at + 8, u64(e.generation, 'echo generation'), true);
    dv.setBigUint64(at + 16, u64(e.nonce, 'echo nonce'), true);
    out.set(mac(secret, echoMacInput(s.clusterId, s.nodeId, s.generation, e)), at + STATUS.echoMac);
  });
  seal(out, STATUS.size, STATUS.checksum);
  return out;
}

/**
 * Validates a status block read from a partner; throws ProtocolError with the reason. With a secret,
 * every echo must carry a valid MAC (a responder without the secret cannot confirm a hello).
 */
export function decodeStatus(buf: Uint8Array, clusterId: bigint, secret?: Uint8Array): StatusBlock {
  const dv = checkHeader(buf, 'status', MAGIC.status, STATUS.size, STATUS.checksum);
  checkCluster(dv, STATUS.clusterId, 'status', clusterId);
  const stateNo = dv.getUint32(STATUS.state, true);
  if (stateNo < 1 || stateNo > NODE_STATES.length) throw new ProtocolError('ERR_CCM_FIELD', 'status', `unknown node state ${stateNo}`);
  const slotCount = dv.getUint16(STATUS.slotCount, true);
  if (slotCount < 1 || slotCount > MAX_SLOTS) throw new ProtocolError('ERR_CCM_FIELD', 'status', `slot count ${slotCount} out of range`);
  const nodeId = dv.getUint32(STATUS.nodeId, true);
  const generation = dv.getBigUint64(STATUS.generation, true);
  const echoes: (Echo | null)[] = [];
  for (let i = 0; i < slotCount; i++) {
    const at = STATUS.echoes + i * STATUS.echoSize;
    const flags = dv.getUint32(at + 4, true);
    if (flags & ~(ECHO_VALID | ECHO_AUTH)) throw new ProtocolError('ERR_CCM_FIELD', 'status', `echo ${i} has unknown flags ${flags}`);
    if (!(flags & ECHO_VALID)) {
      echoes.push(null);
      continue;
    }
    const e = { nodeId: dv.getUint32(at, true), generation: dv.getBigUint64(at + 8, true), nonce: dv.getBigUint64(at + 16, true) };
    if (secret) {
      const got = buf.subarray(at + STATUS.echoMac, at + STATUS.echoMac + MAC_SIZE);
      if (!(flags & ECHO_AUTH) || !macEquals(got, mac(secret, echoMacInput(clusterId, nodeId, generation, e))))
        throw new ProtocolError('ERR_CCM_AUTH', 'status', `echo ${i} is not authenticated with the cluster secret`);
    }
    echoes.push(e);
  }
  return {
    clusterId,
    nodeId,
    state: NODE_STATES[stateNo - 1],
    generation,
    heartbeat: dv.getBigUint64(STATUS.heartbeat, true),
    sequence: dv.getBigUint64(STATUS.sequence, true),
    slotCount,
    echoes,
  };
}
