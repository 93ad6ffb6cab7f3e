// `rdma-ccm status [--json] [--control PATH]`: asks a running node for its session table over its
// control socket and prints it the way `drbdadm status` prints resources.
import type { NodeStatus } from '../ccm';
import { defineCommand, runCommand } from './command-line';
import { defaultControlPath, queryControl } from './control';

export const STATUS_USAGE = `usage: rdma-ccm status [--json] [--control PATH]
  --control PATH   the node's control socket (default ${defaultControlPath()}; rdma-ccm node --control)
  --json           the table as one JSON document on one line: the node's rdma-ccm version, then
                   NodeStatus (each partner begins with its partner id and state)
`;

const ms = (n: number) => (n < 10_000 ? `${n}ms` : `${(n / 1000).toFixed(1)}s`);

/** The table as lines: the node, then each partner and its session (two-space indents, key:value). */
export function formatStatus(s: NodeStatus): string {
  const lines = [
    `node ${s.node} ${s.state} cluster:${s.clusterId} generation:${s.generation} address:${s.address}:${s.port} up:${ms(s.uptimeMs)} auth:${s.authenticated ? 'secret' : 'none'} witness:${s.witness}${s.takeover ? ` takeover:${s.takeover.partner}` : ''}${s.waitingForGiveback.length ? ` waiting-for-giveback:${s.waitingForGiveback.join(',')}` : ''}`,
  ];
  for (const p of s.partners) {
    lines.push(
      `  partner ${p.partner} ${p.address}:${p.port} ${p.state}${p.session ? ` role:${p.session.role}` : ` attempts:${p.attempts}`}`,
    );
    if (p.witness)
      lines.push(
        `    witness:${p.witness.verdict}${p.witness.heartbeatAgeMs === null ? '' : ` heartbeat-age:${ms(p.witness.heartbeatAgeMs)}`}${p.witness.state ? ` state:${p.witness.state}` : ''}`,
      );
    if (p.session) {
      const m = p.session.mirror;
      lines.push(
        `    partner-state:${p.session.partnerState} generation:${p.session.partnerGeneration} heartbeat-age:${ms(p.session.heartbeatAgeMs)} since:${p.session.establishedAt}`,
      );
      for (const l of p.session.links)
        lines.push(
          `    link ${l.link} ${l.localAddress} → ${l.remoteAddress} ${l.state}${l.heartbeatAgeMs === null ? '' : ` heartbeat-age:${ms(l.heartbeatAgeMs)}`}${l.lastError ? ` last-error:${l.lastError}` : ''}`,
        );
      lines.push(
        `    mirror pending:${m.pending} acknowledged:${m.sent} received:${m.received} duplicates:${m.duplicates} held:${p.heldRecords}`,
      );
    } else if (p.heldRecords > 0 || p.lastGeneration)
      lines.push(`    last-generation:${p.lastGeneration ?? '-'} held:${p.heldRecords}`);
  }
  return `${lines.join('\n')}\n`;
}

const STATUS = defineCommand({
  name: 'rdma-ccm status',
  usage: STATUS_USAGE,
  flags: { json: { type: 'boolean' }, control: { type: 'string' } },
});

export function statusCommand(args: string[]): Promise<number> {
  return runCommand(STATUS, args, async ({ values }) => {
    const path = values.control ?? defaultControlPath();
    let s: NodeStatus;
    try {
      s = (await queryControl(path, 'status')) as NodeStatus;
    } catch (e) {
      process.stderr.write(`rdma-ccm status: ${(e as Error).message}\n`);
      return 1;
    }
    process.stdout.write(values.json ? `${JSON.stringify(s)}\n` : formatStatus(s));
    return 0;
  });
}
