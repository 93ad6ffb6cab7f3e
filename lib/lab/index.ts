// The Soft-RoCE lab: runs a command where real rxe devices exist, on this host when its kernel has
// rdma_rxe, otherwise in qemu guests booted from Debian's stock kernel.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePackages } from './deps';
import { LabError, isRoot } from './exec';
import { Guest, GuestResult, type GuestNvdimm } from './guest';
import { hostHasRxe, hostRun, hostSetup, hostTeardown, HOST_NODES } from './host-rxe';
import { ensureKernel, LabKernel } from './kernel';
import { runScript } from './run-script';
import { ensureStack, LAB_STACKS, type LabStack, type StackImage } from './stack';
import { inSetup } from './setup-steps';
import { guestLinks, guestNode, labEnv, LabNode, Topology, VETH_NODES } from './topology';

export { Guest, GuestResult } from './guest';
export { LabError, runCommand, type CommandResult } from './exec';
export { LabNode, Topology, VETH_NODES, guestNode, guestLinks, LAB_SUBNET } from './topology';
export type { GuestLink, GuestNvdimm } from './guest';
export { deviceSetup } from './run-script';
export { instructionMarker } from './instruction-marker';
export { hostSetup, hostTeardown, hostSpawn, HOST_NODES, type HostProcess } from './host-rxe';
export { ensureKernel } from './kernel';
export { LAB_STACKS, type LabStack, type StackImage } from './stack';
export { HOST_APT, privateApt, type AptView } from './apt-view';
export type { LabKernel } from './kernel';
export type { GuestOptions } from './guest';

/** Where the lab runs: 'host' (rxe devices on this host's kernel) or 'vm' (qemu guests). */
export type LabMode = 'host' | 'vm';

/** Options of {@link runLab}. */
export interface LabOptions {
  /** 'veth' (default): one command, two rxe devices over a veth pair; 'two-guests': nodes a and b, one device each. */
  topology?: Topology;
  /** Command for node a (and the only one in the veth topology). */
  command: string;
  /** Command for node b in the two-guests topology (defaults to `command`). */
  commandB?: string;
  /** Seconds before b is started in the two-guests topology. */
  delayB?: number;
  /** Folder the command runs in (default: the current one); a guest sees it writable at the same path. */
  cwd?: string;
  /** Seconds before a command (or guest) is killed; no limit by default. */
  timeoutSec?: number;
  /** Forces host or vm; by default the host is used when its kernel has rdma_rxe (see RDMA_CCM_LAB_MODE). */
  mode?: LabMode;
  /** Receives the lab's progress lines (default: stderr). */
  log?: (s: string) => void;
  /** veth topology in a guest only: a TCG plugin for the guest (see GuestOptions.tcgPlugin). */
  tcgPlugin?: string;
  /**
   * A named stack (stack.ts): the guests boot its kernel and run on its root, with the addon built for
   * it; it needs guests (vm mode). Default: the kernel the host's apt offers and the host's own root.
   */
  stack?: LabStack;
}

const PASSED_ENV =
  /^(CI|LANG|LC_ALL|TERM|NODE_OPTIONS|NODE_ENV|DEBUG|FORCE_COLOR|NO_COLOR|RDMA_CCM_.*|VITEST_.*|npm_config_.*)$/;

/** The environment a lab command sees: the host's relevant variables plus the lab's own. */
export function commandEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/tmp/home',
  };
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && PASSED_ENV.test(k)) env[k] = v;
  return { ...env, ...extra };
}

let prepared: { mode: LabMode; kernel?: LabKernel } | undefined;

/**
 * Installs what the lab needs and decides where it runs; the answer is kept for later calls that ask for
 * no other `mode`. Throws LabError, e.g. ERR_LAB_NOT_ROOT, ERR_LAB_NO_RXE or ERR_LAB_APT.
 */
export function prepareLab(
  log: (s: string) => void = (s) => process.stderr.write(s + '\n'),
  mode?: LabMode,
): {
  /** Where the lab runs. */
  mode: LabMode;
  /** The guest kernel, in vm mode. */
  kernel?: LabKernel;
} {
  if (prepared && (!mode || prepared.mode === mode)) return prepared;
  const forced = mode ?? (process.env.RDMA_CCM_LAB_MODE as LabMode | undefined);
  if (forced && forced !== 'host' && forced !== 'vm')
    throw new LabError('ERR_LAB_MODE', `lab: RDMA_CCM_LAB_MODE must be 'host' or 'vm', not '${forced}'`);
  if (!isRoot())
    throw new LabError(
      'ERR_LAB_NOT_ROOT',
      'lab: must run as root (it creates RDMA devices and boots guests)',
    );
  // One count of steps over the packages and the kernel: `lab set-up: [k/n] …` (setup-steps.ts).
  prepared = inSetup(() => {
    ensurePackages();
    const useHost = forced ? forced === 'host' : hostHasRxe();
    if (!useHost) return { mode: 'vm' as const, kernel: ensureKernel(log) };
    if (!hostHasRxe()) throw new LabError('ERR_LAB_NO_RXE', 'lab: this kernel cannot load rdma_rxe');
    return { mode: 'host' as const };
  });
  return prepared;
}

const images = new Map<LabStack, StackImage>();

/**
 * Installs what the lab needs and makes (or finds in the cache) the named stack's kernel, root and
 * addon. Throws LabError, e.g. ERR_LAB_NOT_ROOT, ERR_LAB_APT or ERR_LAB_STACK.
 */
export function prepareStack(
  stack: LabStack,
  log: (s: string) => void = (s) => process.stderr.write(s + '\n'),
): StackImage {
  if (!(LAB_STACKS as readonly string[]).includes(stack))
    throw new LabError('ERR_LAB_USAGE', `lab: unknown stack '${stack}' (${LAB_STACKS.join(', ')})`);
  const known = images.get(stack);
  if (known) return known;
  if (!isRoot())
    throw new LabError(
      'ERR_LAB_NOT_ROOT',
      'lab: must run as root (it creates RDMA devices and boots guests)',
    );
  const image = inSetup(() => {
    ensurePackages();
    return ensureStack(stack, log);
  });
  images.set(stack, image);
  return image;
}

/** The stack's part of a guest's options and environment (nothing for the host's own). */
function stackGuest(image?: StackImage): { root?: string; env: Record<string, string> } {
  return image
    ? { root: image.root, env: { RDMA_CCM_ADDON: image.addon, RDMA_CCM_LAB_STACK: image.stack } }
    : { env: {} };
}

function prefixed(name: string) {
  return (line: string) => process.stdout.write(`[${name}] ${line}\n`);
}

/**
 * Boots one guest of the two-guests topology (a listens first; b may come later, die and return). Each
 * guest has two links to the other (two NICs, two qemu UDP links, rxe0 and rxe1) and, with `disk`, the
 * shared disk image as /dev/vda (see {@link sharedDisk}); with `nvdimm`, an emulated NVDIMM backed by that
 * host file (the same file at the next boot: the same bytes).
 */
export function startGuest(
  name: 'a' | 'b',
  command: string,
  opts: {
    cwd?: string;
    timeoutSec?: number;
    onLine?: (l: string) => void;
    kernel?: LabKernel;
    disk?: string;
    stack?: LabStack;
    nvdimm?: GuestNvdimm;
  } = {},
): Guest {
  const image = opts.stack ? prepareStack(opts.stack) : undefined;
  const kernel = image?.kernel ?? opts.kernel ?? prepareLab(undefined, 'vm').kernel!;
  const s = stackGuest(image);
  const nodes = guestLinks(name);
  const self = nodes[0];
  const cwd = opts.cwd ?? process.cwd();
  const base = 47000 + (process.pid % 1000) * 4;
  return new Guest({
    name,
    kernel,
    workdir: cwd,
    root: s.root,
    cpus: 1,
    memoryMiB: 1536,
    timeoutSec: opts.timeoutSec,
    links: nodes.map((n, k) => ({
      localPort: base + 2 * k + (name === 'a' ? 0 : 1),
      remotePort: base + 2 * k + (name === 'a' ? 1 : 0),
      mac: n.mac!,
    })),
    disk: opts.disk,
    nvdimm: opts.nvdimm,
    onLine: opts.onLine ?? prefixed(name),
    script: runScript({
      nodes,
      veth: false,
      env: commandEnv({
        ...labEnv('two-guests', [guestNode('a'), guestNode('b')], self),
        ...(opts.disk ? { RDMA_CCM_LAB_SHARED_DISK: '/dev/vda' } : {}),
        ...s.env,
      }),
      cwd,
      command,
      nvdimm: opts.nvdimm !== undefined,
    }),
  });
}

/**
 * A zeroed raw disk image of `mib` MiB at `path` (made anew) for the guests to share as /dev/vda: the
 * witness disk of the two-guests topology.
 */
export function sharedDisk(path: string, mib = 4): string {
  writeFileSync(path, Buffer.alloc(mib << 20));
  return path;
}

function describe(name: string, r: GuestResult): number {
  if (r.bootFailure)
    throw new LabError('ERR_LAB_BOOT', `lab: guest ${name} failed to boot: ${r.bootFailure}`);
  if (r.timedOut) {
    process.stderr.write(`lab: guest ${name} overran its time limit and was killed\n`);
    return 124;
  }
  return r.code;
}

/** Runs the command(s) where rxe devices exist; resolves to the exit code (the first non-zero of a and b). */
export async function runLab(opts: LabOptions): Promise<number> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const topology = opts.topology ?? 'veth';
  const cwd = opts.cwd ?? process.cwd();
  // A TCG plugin needs a guest: it picks vm mode, and is refused before any set-up where it cannot run.
  if (opts.tcgPlugin && (topology !== 'veth' || (opts.mode ?? process.env.RDMA_CCM_LAB_MODE) === 'host'))
    throw new LabError(
      'ERR_LAB_USAGE',
      'lab: a TCG plugin needs the veth topology in a guest (RDMA_CCM_LAB_MODE=vm)',
    );
  // A named stack runs in guests: its kernel and root are what it names.
  if (opts.stack && (opts.mode ?? process.env.RDMA_CCM_LAB_MODE) === 'host')
    throw new LabError('ERR_LAB_USAGE', `lab: stack ${opts.stack} runs in guests (RDMA_CCM_LAB_MODE=vm)`);
  const image = opts.stack ? prepareStack(opts.stack, log) : undefined;
  const { mode, kernel } = image
    ? { mode: 'vm' as const, kernel: image.kernel }
    : prepareLab(log, opts.mode ?? (opts.tcgPlugin ? 'vm' : undefined));
  const s = stackGuest(image);
  if (mode === 'host') {
    hostSetup(HOST_NODES);
    try {
      if (topology === 'veth')
        return await hostRun(opts.command, commandEnv(labEnv('veth', HOST_NODES)), cwd, opts.timeoutSec);
      const [a, b] = HOST_NODES;
      const ra = hostRun(opts.command, commandEnv(labEnv('two-guests', HOST_NODES, a)), cwd, opts.timeoutSec);
      await new Promise((r) => setTimeout(r, (opts.delayB ?? 0) * 1000));
      const rb = hostRun(
        opts.commandB ?? opts.command,
        commandEnv(labEnv('two-guests', HOST_NODES, b)),
        cwd,
        opts.timeoutSec,
      );
      const codes = await Promise.all([ra, rb]);
      return codes.find((c) => c !== 0) ?? 0;
    } finally {
      hostTeardown(HOST_NODES);
    }
  }

  log(
    `lab: booting ${topology === 'veth' ? 'one guest' : 'two guests'} (${kernel!.version}${image ? `, Debian ${image.stack} root with rdma-core ${image.versions['rdma-core']}` : ''}, qemu TCG)`,
  );
  if (topology === 'veth') {
    const nodes: LabNode[] = VETH_NODES;
    // A guest that never became ready ran nothing of the command: under TCG a boot now and then stalls
    // before the lab is ready, so such a guest is booted once more before the run fails.
    for (let boot = 1; ; boot++) {
      const g = new Guest({
        name: 'lab',
        kernel: kernel!,
        workdir: cwd,
        root: s.root,
        timeoutSec: opts.timeoutSec,
        tcgPlugin: opts.tcgPlugin,
        onLine: (l) => process.stdout.write(l + '\n'),
        script: runScript({
          nodes,
          veth: true,
          env: commandEnv({ ...labEnv('veth', nodes), ...s.env }),
          cwd,
          command: opts.command,
        }),
      });
      const r = await g.done;
      if (r.bootFailure && boot < 2) {
        log(`lab: guest lab failed to boot (${r.bootFailure}); booting it once more`);
        continue;
      }
      return describe('lab', r);
    }
  }
  // Both guests share one disk (/dev/vda), the witness of the two-guests topology.
  const dir = mkdtempSync(join(tmpdir(), 'rdma-ccm-shared-'));
  const disk = sharedDisk(join(dir, 'shared.img'));
  try {
    const a = startGuest('a', opts.command, {
      cwd,
      timeoutSec: opts.timeoutSec,
      kernel,
      disk,
      stack: opts.stack,
    });
    await new Promise((r) => setTimeout(r, (opts.delayB ?? 0) * 1000));
    const b = startGuest('b', opts.commandB ?? opts.command, {
      cwd,
      timeoutSec: opts.timeoutSec,
      kernel,
      disk,
      stack: opts.stack,
    });
    const [ra, rb] = await Promise.all([a.done, b.done]);
    const codes = [describe('a', ra), describe('b', rb)];
    return codes.find((c) => c !== 0) ?? 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
