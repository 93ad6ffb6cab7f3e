#!/usr/bin/env node
// rdma-ccm command line: `devices`, `node`, `status`, `takeover`, `giveback`, `rping`, `lab`.
// First: with RDMA_CCM_CODE_CACHE set, the package's other files load through the code cache.
import './code-cache';
import { runLabCommand } from './cli/lab';
import { devicesCommand } from './cli/devices';
import { nodeCommand } from './cli/node';
import { explainRdmaError } from './cli/no-rdma';
import { rpingCommand } from './cli/rping';
import { statusCommand } from './cli/status';
import { handoverCommand } from './cli/handover';

const USAGE = `usage: rdma-ccm <command> [options]
  devices [--json]                 list RDMA devices with their ports and GIDs
  node [options]                   run a node's cluster connection manager (node --help)
  status [--json] [--control P]    a running node's sessions, from its control socket
  takeover|giveback PARTNER        have a running node take over a partner's resources, or give them back
  rping -s|-c [options]            rdma-core's rping protocol, client or server
  lab [options] -- <command>       run a command where real Soft-RoCE devices exist
  lab selftest [--topology T]      prove the lab's devices are real (rping, ib_read_lat, this package)
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'lab':
      return runLabCommand(rest);
    case 'devices':
      return devicesCommand(rest);
    case 'node':
      return nodeCommand(rest);
    case 'rping':
      return rpingCommand(rest);
    case 'status':
      return statusCommand(rest);
    case 'takeover':
    case 'giveback':
      return handoverCommand(cmd, rest);
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return cmd ? 0 : 2;
    default:
      process.stderr.write(`rdma-ccm: unknown command '${cmd}'\n${USAGE}`);
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

main(process.argv.slice(2)).then(
  (code) => exitAfterOutput(code),
  (err: Error & { code?: string }) => {
    const hint = explainRdmaError(err);
    if (hint) process.stderr.write(`rdma-ccm: ${hint}\n`);
    else process.stderr.write(`${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}\n`);
    exitAfterOutput(1);
  },
);
