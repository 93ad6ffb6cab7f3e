// Host packages the lab needs, installed on demand with apt-get (Debian and derivatives).
import { existsSync } from 'node:fs';
import { LabError, failedLine, isRoot, run, which } from './exec';
import { inSetup, type SetupSteps } from './setup-steps';

/** Debian package → a file or tool whose presence shows it is installed. */
export const LAB_PACKAGES: Record<string, string> = {
  'qemu-system-x86': 'qemu-system-x86_64',
  'busybox-static': '/bin/busybox',
  cpio: 'cpio',
  kmod: 'depmod',
  'rdma-core': '/usr/sbin/rdma-ndd',
  'ibverbs-providers': '/etc/libibverbs.d/rxe.driver',
  'ibverbs-utils': 'ibv_devinfo',
  'rdmacm-utils': 'rping',
  perftest: 'ib_read_lat',
  'libibverbs-dev': '/usr/include/infiniband/verbs.h',
  'librdmacm-dev': '/usr/include/rdma/rdma_cma.h',
  iproute2: 'rdma',
  dmsetup: 'dmsetup', // a witness device hung for one guest (device-mapper suspend)
  'xz-utils': 'xz', // Debian 13's kernel modules are .ko.xz
};

function present(probe: string): boolean {
  return probe.startsWith('/') ? existsSync(probe) : which(probe);
}

export function missingPackages(names: string[] = Object.keys(LAB_PACKAGES)): string[] {
  return names.filter((p) => !present(LAB_PACKAGES[p] ?? p));
}

let updated = false;
export function aptUpdate(): void {
  if (updated) return;
  inSetup((steps) => {
    steps.plan(1);
    update(steps);
  });
}

// The step itself, counted by the caller's plan.
function update(steps: SetupSteps): void {
  steps.next('apt-get update');
  const r = run('apt-get', ['update', '-qq']);
  if (r.status !== 0) throw new LabError('ERR_LAB_APT', `lab: ${failedLine('apt-get update', r)}`);
  updated = true;
}

/** Installs whatever of `names` is missing; throws one clear line when that is impossible. */
export function ensurePackages(names?: string[]): void {
  const missing = missingPackages(names);
  if (missing.length === 0) return;
  if (!which('apt-get'))
    throw new LabError(
      'ERR_LAB_TOOL_MISSING',
      `lab: missing packages ${missing.join(' ')} and no apt-get to install them`,
    );
  if (!isRoot())
    throw new LabError(
      'ERR_LAB_NOT_ROOT',
      `lab: missing packages ${missing.join(' ')}; run as root to install them`,
    );
  inSetup((steps) => {
    // Both steps counted before the first is shown: `[1/2] apt-get update`, `[2/2] apt-get install …`.
    steps.plan(updated ? 1 : 2);
    if (!updated) update(steps);
    steps.next(`apt-get install ${missing.join(' ')}`);
    const r = run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0)
      throw new LabError('ERR_LAB_APT', `lab: ${failedLine(`apt-get install ${missing.join(' ')}`, r)}`);
  });
}
