// `rdma-ccm takeover|giveback PARTNER [--control PATH]`: an operator (or a Pacemaker resource agent)
// has a running node take over a partner's resources, or give them back, over its control socket. The
// node's own rules decide: a takeover only after `takeover-safe` (fenced, or confirmed by the witness).
import { defaultControlPath, queryControl } from './control';

export const HANDOVER_USAGE = `usage: rdma-ccm takeover|giveback PARTNER [--control PATH]
  takeover PARTNER   take over the resources of PARTNER (refused with ERR_CCM_NOT_SAFE until it is safe)
  giveback PARTNER   give PARTNER its resources back; its new boot may then go ACTIVE
  --control PATH     the node's control socket (default ${defaultControlPath()}; rdma-ccm node --control)
`;

export async function handoverCommand(action: 'takeover' | 'giveback', args: string[]): Promise<number> {
  let path = defaultControlPath();
  let partner: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--control' && args[i + 1]) path = args[++i];
    else if (args[i] === '-h' || args[i] === '--help') {
      process.stdout.write(HANDOVER_USAGE);
      return 0;
    } else if (/^[1-9][0-9]{0,9}$/.test(args[i]) && partner === undefined) partner = args[i];
    else {
      process.stderr.write(`rdma-ccm ${action}: unexpected argument ${args[i]}\n${HANDOVER_USAGE}`);
      return 2;
    }
  }
  if (partner === undefined) {
    process.stderr.write(`rdma-ccm ${action}: which partner?\n${HANDOVER_USAGE}`);
    return 2;
  }
  let reply: { ok?: boolean; error?: string; code?: string };
  try {
    reply = (await queryControl(path, `${action} ${partner}`, 30_000)) as typeof reply;
  } catch (e) {
    process.stderr.write(`rdma-ccm ${action}: ${(e as Error).message}\n`);
    return 1;
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
}
