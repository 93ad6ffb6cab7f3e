import { execFileSync, spawnSync } from 'node:child_process';

// The lab's description of its devices, from the environment `rdma-ccm lab` sets. Integration tests
// fail (not skip) outside the lab: a test that silently skips cannot fail.
export interface LabDevices {
  topology: string;
  devices: string[];
  netdevs: string[];
  addrs: string[];
}

export function lab(): LabDevices {
  const env = process.env;
  if (env.RDMA_CCM_LAB !== '1' || !env.RDMA_CCM_LAB_DEVICES)
    throw new Error('integration tests run inside the lab: npm test, or rdma-ccm lab -- <vitest command>');
  return {
    topology: env.RDMA_CCM_LAB_TOPOLOGY ?? 'veth',
    devices: env.RDMA_CCM_LAB_DEVICES.split(','),
    netdevs: (env.RDMA_CCM_LAB_NETDEVS ?? '').split(','),
    addrs: (env.RDMA_CCM_LAB_ADDRS ?? '').split(','),
  };
}

/** The RoCE v2 GID of an IPv4 address, in the eight-group form queryGidTable() returns. */
export function ipv4Gid(ip: string): string {
  const b = ip.split('.').map((n) => Number(n).toString(16).padStart(2, '0'));
  return `0000:0000:0000:0000:0000:ffff:${b[0]}${b[1]}:${b[2]}${b[3]}`;
}

/**
 * Cuts the lab link (every packet dropped both ways, by netem at 100% loss) or restores it. The
 * netdevs stay up, as a cable pulled between two switches would leave them: rxe devices and routes
 * are untouched, only traffic stops.
 */
export function cutLink(cut: boolean): void {
  for (const dev of lab().netdevs) {
    if (cut) execFileSync('tc', ['qdisc', 'replace', 'dev', dev, 'root', 'netem', 'loss', '100%']);
    else spawnSync('tc', ['qdisc', 'del', 'dev', dev, 'root'], { stdio: 'ignore' });
  }
}
