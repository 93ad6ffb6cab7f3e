// A ClusterNode of a two-node cluster on an in-memory network (node 1 or 2, the other its partner),
// with fast timers, its events recorded; stopMemoryNodes() stops every one made (for afterEach).
import { ClusterNode, type CcmEvent, type CcmOptions } from '../../../lib/ccm';
import type { MemoryNetwork } from './memory-transport';

export const memoryNodes: ClusterNode[] = [];

export function memoryNode(
  net: MemoryNetwork,
  id: 1 | 2,
  extra: Partial<CcmOptions> = {},
): { node: ClusterNode; events: CcmEvent[] } {
  const other = id === 1 ? 2 : 1;
  const node = new ClusterNode({
    clusterId: 77n,
    nodeId: id,
    address: `10.0.0.${id}`,
    port: 7000,
    partners: [{ nodeId: other, address: `10.0.0.${other}`, port: 7000 }],
    heartbeatMs: 10,
    partnerDownMs: 100,
    statusPollMs: 20,
    backoff: { minMs: 5, maxMs: 40, jitter: 0.2 },
    echoTimeoutMs: 300,
    logRingBytes: 4096,
    transport: net.transport(),
    ...extra,
  });
  const events: CcmEvent[] = [];
  node.on('event', (e) => events.push(e));
  memoryNodes.push(node);
  return { node, events };
}

export async function stopMemoryNodes(): Promise<void> {
  await Promise.all(memoryNodes.splice(0).map((n) => n.stop()));
}
