#!/usr/bin/env node
// rdma-ccm command line: `devices`, `node`, `status`, `takeover`, `giveback`, `rping`, `lab`.
// First: with RDMA_CCM_CODE_CACHE set, the package's other files load through the code cache.
// Each command is loaded when it runs, so that the arguments are read before anything loads the addon:
// --help and --version work where rdma-core's libraries are missing, and a command that needs them
// says in one line what to install.
import './code-cache';
import { packageVersion } from './cli/version';
import { didYouMean } from './nearest-name';

const USAGE = `usage: rdma-ccm <command> [options]
  devices [--json]                 list RDMA devices with their ports and GIDs
  node [options]                   run a node's cluster connection manager (node --help)
  status [--json] [--control P]    a running node's sessions, from its control socket
  takeover|giveback PARTNER        have a running node take over a partner's resources, or give them back
  rping -s|-c [options]            rdma-core's rping protocol, client or server
  lab [options] -- <command>       run a command where real Soft-RoCE devices exist
  lab selftest [--topology T]      prove the lab's devices are real (rping, ib_read_lat, this package)
  --version                        print this package's version
`;

const COMMANDS = ['devices', 'node', 'status', 'takeover', 'giveback', 'rping', 'lab'];

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'lab':
      return (await import('./cli/lab')).runLabCommand(rest);
    case 'devices':
      return (await import('./cli/devices')).devicesCommand(rest);
    case 'node':
      return (await import('./cli/node')).nodeCommand(rest);
    case 'rping':
      return (await import('./cli/rping')).rpingCommand(rest);
    case 'status':
      return (await import('./cli/status')).statusCommand(rest);
    case 'takeover':
    case 'giveback':
      return (await import('./cli/handover')).handoverCommand(cmd, rest);
    case '-v':
    case '--version':
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return 0;
    case undefined:
      process.stderr.write(USAGE);
      return 2;
    default:
      process.stderr.write(`rdma-ccm: unknown command '${cmd}'${didYouMean(cmd, COMMANDS)}\n${USAGE}`);
      return 2;
  }
}

/** Exits once stdout and stderr took everything written before: into a pipe, process.exit() alone would cut it short. */
function exitAfterOutput(code: number): void {
  let left = 2;
  const done = () => --left === 0 && process.exit(code);
  process.stdout.write('', done);
  process.stderr.write('', done);
}

/** The line for an error that means this host cannot do RDMA; only an addon that loaded can fail so. */
async function rdmaHint(err: Error & { code?: string }): Promise<string | null> {
  return err.code === 'ENODEV' ? (await import('./cli/no-rdma')).explainRdmaError(err) : null;
}

main(process.argv.slice(2)).then(
  (code) => exitAfterOutput(code),
  async (err: Error & { code?: string }) => {
    const hint = await rdmaHint(err);
    if (hint) process.stderr.write(`rdma-ccm: ${hint}\n`);
    else
      process.stderr.write(
        `${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}\n`,
      );
    exitAfterOutput(1);
  },
);
