// run.sh: what a guest (or the host, when it has rxe) does before the command: bring up the lab link,
// create the rxe devices, wait for their ports, then run the command in the work folder.
import { LabNode } from './topology';

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function envExports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}=${q(v)}`)
    .join('\n');
}

/**
 * Shell lines that create the given nodes' netdevs/addresses/rxe devices and wait until the ports are
 * ACTIVE. `pair` numbers the veth pair's routing tables and rules, so that more pairs can live beside
 * the lab's own (pair 0; tests add private ones); only pair 0 moves the local-table rules.
 */
export function deviceSetup(nodes: LabNode[], veth: boolean, pair = 0): string {
  const lines = [
    'ip link set lo up',
    'sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0',
  ];
  if (veth) {
    lines.push(`ip link add ${nodes[0].netdev} type veth peer name ${nodes[1].netdev}`);
  } else {
    // A guest's NICs are its lab links: each is found by its MAC address and named as the topology says.
    for (const n of nodes)
      lines.push(
        `nic=$(for n in /sys/class/net/*; do [ -e "$n/device" ] && [ "$(cat "$n/address")" = ${q(n.mac ?? '')} ] && basename "$n"; done | head -1)`,
        `[ -n "$nic" ] || { echo "lab: no lab NIC ${n.mac ?? '(no MAC)'} in this guest"; exit 125; }`,
        `[ "$nic" = ${q(n.netdev)} ] || ip link set "$nic" name ${q(n.netdev)}`,
      );
  }
  for (const n of nodes) {
    // nodad: the address is usable at once, not after duplicate address detection.
    lines.push(
      `ip addr add ${n.ip}/24 dev ${n.netdev}`,
      `ip -6 addr add ${n.ip6}/64 dev ${n.netdev} nodad`,
      `ip link set ${n.netdev} up`,
    );
  }
  if (veth) {
    // Both ends live in one namespace, where traffic between local addresses would take the loopback
    // device and never reach rxe. Route each address's locally sent traffic out of the *other* veth end,
    // and accept it on arrival, so that rxe0 and rxe1 really exchange packets over the pair.
    const [x, y] = nodes;
    for (const c of ['all', 'default', x.netdev, y.netdev])
      lines.push(`sysctl -qw net.ipv4.conf.${c}.accept_local=1 net.ipv4.conf.${c}.rp_filter=0`);
    const table = 101 + 2 * pair;
    const pref = 10 + 2 * pair;
    for (const [ip, v, len] of [
      ['ip', '', 32],
      ['ip6', ' -6', 128],
    ] as const) {
      lines.push(
        `ip${v} route add ${x[ip]}/${len} dev ${y.netdev} src ${y[ip]} table ${table}`,
        `ip${v} route add ${y[ip]}/${len} dev ${x.netdev} src ${x[ip]} table ${table + 1}`,
        `ip${v} rule add pref ${pref} iif lo to ${x[ip]} lookup ${table}`,
        `ip${v} rule add pref ${pref + 1} iif lo to ${y[ip]} lookup ${table + 1}`,
        ...(pair === 0
          ? [`ip${v} rule add pref 100 lookup local`, `ip${v} rule del pref 0 lookup local`]
          : []),
        // Address resolution across the pair answers late under these rules; the neighbours are known.
        `ip${v} neigh replace ${y[ip]} lladdr $(cat /sys/class/net/${y.netdev}/address) dev ${x.netdev} nud permanent`,
        `ip${v} neigh replace ${x[ip]} lladdr $(cat /sys/class/net/${x.netdev}/address) dev ${y.netdev} nud permanent`,
      );
    }
    // The CM checks an IPv6 connect request by looking up the requester's address with the receiving
    // netdev as output device and no input device: that lookup too must lead out of the receiving end.
    lines.push(
      `ip -6 rule add pref ${pref + 50} oif ${x.netdev} to ${y.ip6} lookup ${table + 1}`,
      `ip -6 rule add pref ${pref + 51} oif ${y.netdev} to ${x.ip6} lookup ${table}`,
    );
  }
  for (const n of nodes) lines.push(`rdma link add ${n.device} type rxe netdev ${n.netdev}`);
  for (const n of nodes) {
    lines.push(
      `for i in $(seq 200); do grep -q ACTIVE /sys/class/infiniband/${n.device}/ports/1/state 2>/dev/null && break; sleep 0.05; done`,
      `grep -q ACTIVE /sys/class/infiniband/${n.device}/ports/1/state || { echo "lab: ${n.device} did not become ACTIVE"; exit 125; }`,
    );
  }
  return lines.join('\n');
}

/** Where a guest with an emulated NVDIMM finds it as device DAX (exported as RDMA_CCM_LAB_NVDIMM). */
export const NVDIMM_DAX = '/dev/dax0.0';

/**
 * Shell lines that make the guest's emulated NVDIMM a device-DAX device (what libndctl's
 * `create-namespace -m devdax` does, through sysfs): the first boot writes a DAX info block at the start
 * of the label-less namespace, which lives in the NVDIMM's backing file; every later boot finds it and
 * gets /dev/dax0.0 at once, with the bytes of the boot before. Device DAX, unlike a DAX filesystem, can be
 * registered for RDMA: the kernel pins its pages for as long as the region lives.
 */
export function nvdimmSetup(): string {
  const nd = '/sys/bus/nd';
  return [
    `if [ ! -e ${NVDIMM_DAX} ]; then`,
    `  dax=$(cat ${nd}/devices/region0/dax_seed)`,
    `  echo namespace0.0 > ${nd}/drivers/nd_pmem/unbind`,
    `  cat /proc/sys/kernel/random/uuid > ${nd}/devices/$dax/uuid`,
    // 4 KiB pages (any mapping a multiple of pages), their metadata on the device itself.
    `  echo 4096 > ${nd}/devices/$dax/align`,
    `  echo pmem > ${nd}/devices/$dax/mode`,
    `  echo namespace0.0 > ${nd}/devices/$dax/namespace`,
    `  echo $dax > ${nd}/drivers/dax_pmem/bind`,
    'fi',
    `for i in $(seq 100); do [ -e ${NVDIMM_DAX} ] && break; sleep 0.05; done`,
    `[ -e ${NVDIMM_DAX} ] || { echo "lab: the NVDIMM did not become ${NVDIMM_DAX}"; exit 125; }`,
    `export RDMA_CCM_LAB_NVDIMM=${NVDIMM_DAX}`,
  ].join('\n');
}

export function runScript(opts: {
  nodes: LabNode[];
  veth: boolean;
  env: Record<string, string>;
  cwd: string;
  command: string;
  /** The guest has an emulated NVDIMM: made device DAX before the command. */
  nvdimm?: boolean;
}): string {
  return (
    [
      '#!/bin/bash',
      'set -e',
      envExports(opts.env),
      deviceSetup(opts.nodes, opts.veth),
      ...(opts.nvdimm ? [nvdimmSetup()] : []),
      'set +e',
      'mkdir -p "$HOME"',
      `cd ${q(opts.cwd)}`,
      `echo "lab: ready: ${opts.nodes.map((n) => `${n.device}/${n.netdev}/${n.ip}/${n.ip6}`).join(' ')}"`,
      // Through a pipe, so the command sees no terminal (the serial console is one) and prints plain text.
      `bash -c ${q(opts.command)} < /dev/null 2>&1 | cat`,
      'exit ${PIPESTATUS[0]}',
    ].join('\n') + '\n'
  );
}
