// `rdma-ccm takeover|giveback PARTNER [--control PATH]`: an operator (or a Pacemaker resource agent)
// has a running node take over a partner's resources, or give them back, over its control socket. The
// node's own rules decide: a takeover only after `takeover-safe` (fenced, or confirmed by the witness).
import { defineCommand, runCommand } from './command-line';
import { defaultControlPath, queryControl } from './control';
import { packageVersion } from './version';

export const HANDOVER_USAGE = `usage: rdma-ccm takeover|giveback PARTNER [--json] [--control PATH]
  takeover PARTNER   take over the resources of PARTNER (refused with ERR_CCM_NOT_SAFE until it is safe)
  giveback PARTNER   give PARTNER its resources back; its new boot may then go ACTIVE
  --control PATH     the node's control socket (default ${defaultControlPath()}; rdma-ccm node --control)
  --json             the outcome as one JSON line on stdout, refusals too: version, ok, then action,
                     partner and the node's takeover, or code and error
`;

const HANDOVER = defineCommand({
  name: 'rdma-ccm takeover|giveback',
  usage: HANDOVER_USAGE,
  flags: { json: { type: 'boolean' }, control: { type: 'string' } },
  operands: 'partner',
});

export function handoverCommand(action: 'takeover' | 'giveback', args: string[]): Promise<number> {
  return runCommand({ ...HANDOVER, name: `rdma-ccm ${action}` }, args, async ({ values, operands }) => {
    const path = values.control ?? defaultControlPath();
    const partner = operands[0];
    let reply: { ok?: boolean; error?: string; code?: string };
    try {
      reply = (await queryControl(path, `${action} ${partner}`, 30_000)) as typeof reply;
    } catch (e) {
      const { code, message } = e as Error & { code?: string };
      reply = { ok: false, code: code ?? 'ERR_CCM_CONTROL', error: message };
    }
    if (values.json) {
      // A node's success carries its own version; a refusal, the version of this CLI.
      process.stdout.write(`${JSON.stringify({ version: packageVersion(), ok: false, ...reply })}\n`);
      return reply.ok ? 0 : 1;
    }
    if (!reply.ok) {
      process.stderr.write(`rdma-ccm ${action}: ${reply.error} (${reply.code})\n`);
      return 1;
    }
    process.stdout.write(
      action === 'takeover'
        ? `took over partner ${partner}'s resources\n`
        : `gave partner ${partner} its resources back\n`,
    );
    return 0;
  });
}
