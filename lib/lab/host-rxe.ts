// The lab on a host whose own kernel has rdma_rxe: devices are created here, no guest is booted.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isRoot, run } from './exec';
import { LabNode, labEnv } from './topology';
import { deviceSetup, envExports } from './run-script';

/** The two lab nodes on this host: their rxe devices over a veth pair (names prefixed rcl_). */
export const HOST_NODES: LabNode[] = [
  { name: 'a', device: 'rcl_rxe0', netdev: 'rcl_veth0', ip: '10.99.0.1', ip6: 'fd99::1' },
  { name: 'b', device: 'rcl_rxe1', netdev: 'rcl_veth1', ip: '10.99.0.2', ip6: 'fd99::2' },
];

/** True when this kernel can create rxe devices (loading the module if needed). */
export function hostHasRxe(): boolean {
  if (!isRoot()) return existsSync('/sys/module/rdma_rxe');
  run('modprobe', ['crc32_generic']);
  return run('modprobe', ['rdma_rxe']).status === 0 && existsSync('/sys/module/rdma_rxe');
}

/** Deletes the nodes' rxe devices and veth pair (whatever of them exists). */
export function hostTeardown(nodes: LabNode[] = HOST_NODES): void {
  for (const n of nodes) run('rdma', ['link', 'delete', n.device]);
  run('ip', ['link', 'delete', nodes[0].netdev]);
}

/** Creates the nodes' rxe devices over a fresh veth pair; throws when this host cannot. */
export function hostSetup(nodes: LabNode[] = HOST_NODES): void {
  hostTeardown(nodes);
  const r = run('bash', ['-c', 'set -e\n' + deviceSetup(nodes, true)]);
  if (r.status !== 0)
    throw new Error(`lab: creating rxe devices on this host failed: ${(r.stdout + r.stderr).trim()}`);
}

/** Runs a command on the host with the lab's environment; resolves to its exit code. */
export function hostRun(
  command: string,
  env: Record<string, string>,
  cwd: string,
  timeoutSec?: number,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `${envExports(env)}\n${command}`], { cwd, stdio: 'inherit' });
    const t = timeoutSec ? setTimeout(() => child.kill('SIGKILL'), timeoutSec * 1000) : undefined;
    child.on('close', (code, signal) => {
      if (t) clearTimeout(t);
      resolve(code ?? (signal ? 124 : 125));
    });
  });
}

/** A command started by hostSpawn(). */
export interface HostProcess {
  /** SIGKILL. */
  kill(): void;
  /** SIGSTOP: the process stops as a paused VM does. */
  pause(): Promise<void>;
  /** SIGCONT. */
  resume(): Promise<void>;
  /** Its exit code. */
  done: Promise<number>;
}

/**
 * Starts a command on the host as one lab node, its output handed over line by line; kill() is SIGKILL,
 * pause/resume stop and continue it (SIGSTOP/SIGCONT, like a paused VM).
 */
export function hostSpawn(command: string, self: LabNode, onLine: (l: string) => void): HostProcess {
  const env = commandEnvFor(self);
  const child = spawn('bash', ['-c', `${envExports(env)}\n${command}`], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buf = '';
  const feed = (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  const done = new Promise<number>((resolve) =>
    child.on('close', (code, signal) => resolve(code ?? (signal ? 137 : 125))),
  );
  return {
    kill: () => child.kill('SIGKILL'),
    pause: async () => void child.kill('SIGSTOP'),
    resume: async () => void child.kill('SIGCONT'),
    done,
  };
}

function commandEnvFor(self: LabNode): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
  };
  return { ...env, ...labEnv('two-guests', HOST_NODES, self) };
}
