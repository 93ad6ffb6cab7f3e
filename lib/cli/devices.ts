// `rdma-ccm devices`: every device with its port 1 state and GID table.
import { defineCommand, runCommand } from './command-line';

const USAGE = `usage: rdma-ccm devices [--json]
  list the RDMA devices with their ports and GID tables
  --json   one JSON array
`;

const DEVICES = defineCommand({
  name: 'rdma-ccm devices',
  usage: USAGE,
  flags: { json: { type: 'boolean' } },
});

export function devicesCommand(args: string[]): Promise<number> {
  return runCommand(DEVICES, args, ({ values }) => listDevices(values.json === true));
}

async function listDevices(json: boolean): Promise<number> {
  // The addon loads once the arguments are known good: --help works without rdma-core's libraries.
  const { Context, getDevices } = await import('../verbs');
  const { missingRdma } = await import('./no-rdma');
  const out = getDevices().map((d) => {
    const ctx = new Context(d.name);
    try {
      const attr = ctx.queryDevice();
      const ports = [];
      for (let p = 1; p <= attr.physPortCnt; p++) ports.push({ port: p, ...ctx.queryPort(p) });
      return { ...d, ports, gids: ctx.queryGidTable() };
    } finally {
      ctx.close();
    }
  });
  const missing = missingRdma();
  if (missing) process.stderr.write(`rdma-ccm devices: ${missing}\n`);
  if (json) {
    process.stdout.write(JSON.stringify(out, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
    return 0;
  }
  for (const d of out) {
    process.stdout.write(`${d.name}  ${d.transport} ${d.nodeType}  guid ${d.guid}\n`);
    for (const p of d.ports)
      process.stdout.write(`  port ${p.port}: ${p.state} ${p.linkLayer} mtu ${p.activeMtu}\n`);
    for (const g of d.gids) process.stdout.write(`  gid[${g.index}] ${g.gid} ${g.type} ${g.netdev ?? '-'}\n`);
  }
  return 0;
}
