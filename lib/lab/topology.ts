// The lab's two topologies and the names/addresses every node gets.
/**
 * 'veth': one command sees two rxe devices over a veth pair; 'two-guests': nodes a and b each run a
 * command with one rxe device (qemu guests linked over UDP on loopback, or two processes in host mode).
 */
export type Topology = 'veth' | 'two-guests';

/** One lab node's RDMA device, netdev and addresses. */
export interface LabNode {
  /** Node name: 'a' or 'b'. */
  name: string;
  /** rxe device name. */
  device: string;
  /** Ethernet device the rxe device sits on. */
  netdev: string;
  /** IPv4 address of that netdev (its RoCE v2 GID is the IPv4-mapped form). */
  ip: string;
  /** IPv6 address of that netdev (also a RoCE v2 GID of the device, as written). */
  ip6: string;
  /** MAC address of the guest NIC it sits on (two-guests topology: how the guest finds its NICs). */
  mac?: string;
}

/** The first three octets of the lab's IPv4 /24 (nodes a and b are .1 and .2). */
export const LAB_SUBNET = '10.99.0';
/** Prefix of the lab's IPv6 /64 (nodes a and b are ::1 and ::2). */
export const LAB_SUBNET6 = 'fd99::';

/** The veth topology's two nodes in a guest: rxe0 on veth0 (a) and rxe1 on veth1 (b). */
export const VETH_NODES: LabNode[] = [
  { name: 'a', device: 'rxe0', netdev: 'veth0', ip: `${LAB_SUBNET}.1`, ip6: `${LAB_SUBNET6}1` },
  { name: 'b', device: 'rxe1', netdev: 'veth1', ip: `${LAB_SUBNET}.2`, ip6: `${LAB_SUBNET6}2` },
];

/** Node a or b of the two-guests topology on its first link: rxe0 on the guest's lab0 NIC. */
export function guestNode(name: 'a' | 'b'): LabNode {
  return guestLinks(name)[0];
}

/**
 * Node a's or b's two links in the two-guests topology, each its own NIC, qemu link and rxe device:
 * link 0 rxe0/lab0 on 10.99.0.0/24 and fd99::/64, link 1 rxe1/lab1 on 10.98.0.0/24 and fd98::/64.
 */
export function guestLinks(name: 'a' | 'b'): LabNode[] {
  const i = name === 'a' ? 1 : 2;
  return [
    {
      name,
      device: 'rxe0',
      netdev: 'lab0',
      ip: `${LAB_SUBNET}.${i}`,
      ip6: `${LAB_SUBNET6}${i}`,
      mac: `52:54:00:99:00:0${i}`,
    },
    {
      name,
      device: 'rxe1',
      netdev: 'lab1',
      ip: `10.98.0.${i}`,
      ip6: `fd98::${i}`,
      mac: `52:54:00:98:00:0${i}`,
    },
  ];
}

/** Environment a command in the lab sees, describing its devices (tests read these). */
export function labEnv(topology: Topology, nodes: LabNode[], self?: LabNode): Record<string, string> {
  const env: Record<string, string> = {
    RDMA_CCM_LAB: '1',
    RDMA_CCM_LAB_TOPOLOGY: topology,
    RDMA_CCM_LAB_DEVICES: nodes.map((n) => n.device).join(','),
    RDMA_CCM_LAB_NETDEVS: nodes.map((n) => n.netdev).join(','),
    RDMA_CCM_LAB_ADDRS: nodes.map((n) => n.ip).join(','),
    RDMA_CCM_LAB_ADDRS6: nodes.map((n) => n.ip6).join(','),
  };
  if (self) {
    env.RDMA_CCM_LAB_NODE = self.name;
    env.RDMA_CCM_LAB_PEER_ADDR = `${LAB_SUBNET}.${self.name === 'a' ? 2 : 1}`;
    if (topology === 'two-guests') {
      // Both links: this guest's address of each, and the partner's.
      env.RDMA_CCM_LAB_LINK_ADDRS = guestLinks(self.name as 'a' | 'b')
        .map((n) => n.ip)
        .join(',');
      env.RDMA_CCM_LAB_PEER_ADDRS = guestLinks(self.name === 'a' ? 'b' : 'a')
        .map((n) => n.ip)
        .join(',');
    }
  }
  return env;
}
