// The root file system of a lab stack other than the host's: a Debian release made with debootstrap in
// the lab's cache, with rdma-core, perftest and the toolchain of that release, and this host's Node.js
// binary and headers. Guests mount it read-only as their root; the addon is built in it (stack-addon.ts).
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { DEBIAN_MIRROR, type AptView } from './apt-view';
import { cacheRoot } from './cache';
import { ensurePackages } from './deps';
import { LabError, mustRun, run } from './exec';
import { inSetup } from './setup-steps';

/** What a stack's root holds besides the release's essential packages. */
export const ROOT_PACKAGES = [
  'rdma-core',
  'ibverbs-providers',
  'ibverbs-utils',
  'rdmacm-utils',
  'perftest',
  'libibverbs-dev',
  'librdmacm-dev',
  'iproute2',
  'procps',
  'kmod',
  'python3',
  'make',
  'g++',
  // The operations tests check the OCF resource agent with Pacemaker's ocf-tester (which needs xmllint).
  'resource-agents',
  'libxml2-utils',
  // The witness tests hang one node's path to the disk with device-mapper.
  'dmsetup',
];

/** The packages whose versions name a root: a new version of any of them makes a new root. */
const KEYED = ['rdma-core', 'ibverbs-providers', 'perftest', 'libibverbs-dev', 'iproute2', 'g++'];

/** A stack's root in the lab's cache. */
export interface StackRoot {
  /** Host folder of the root. */
  dir: string;
  /** The keyed packages' versions in it, and the Node.js it runs. */
  versions: Record<string, string>;
}

const STAMP = '.rdma-ccm-root';

/** Returns the cached root of `apt`'s release, making it first when missing. Throws LabError. */
export function ensureRoot(apt: AptView): StackRoot {
  const found = apt.candidates(KEYED);
  const missing = KEYED.filter((p) => !found[p]);
  if (missing.length)
    throw new LabError('ERR_LAB_STACK', `lab: Debian ${apt.suite} has no ${missing.join(', ')}`);
  const versions: Record<string, string> = { ...(found as Record<string, string>), node: process.version };
  const stamp = JSON.stringify({ suite: apt.suite, packages: ROOT_PACKAGES, versions });
  const key = createHash('sha256').update(stamp).digest('hex').slice(0, 12);
  const dir = join(cacheRoot(), `root-${apt.suite}-${key}`);
  if (existsSync(join(dir, STAMP)) && readFileSync(join(dir, STAMP), 'utf8') === stamp)
    return { dir, versions };

  inSetup((steps) => {
    steps.plan(3);
    steps.next(`stack root: debootstrap ${apt.suite} (rdma-core ${versions['rdma-core']})`);
    ensurePackages(['debootstrap']);
    mkdirSync(cacheRoot(), { recursive: true });
    const stage = join(cacheRoot(), `.stage-root-${apt.suite}-${key}`);
    rmSync(stage, { recursive: true, force: true });
    try {
      mustRun(
        'debootstrap',
        ['--variant=minbase', `--include=${ROOT_PACKAGES.join(',')}`, apt.suite, stage, DEBIAN_MIRROR],
        {
          env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        },
      );
      steps.next("stack root: this host's Node.js and its headers");
      // The host's node goes in /usr/local, where node-gyp finds its headers beside it (prefix/include/node).
      const node = join(stage, 'usr', 'local', 'bin', 'node');
      mkdirSync(dirname(node), { recursive: true });
      copyFileSync(process.execPath, node);
      chmodSync(node, 0o755);
      const headers = resolve(dirname(process.execPath), '..', 'include', 'node');
      if (!existsSync(join(headers, 'node_api.h')))
        throw new LabError(
          'ERR_LAB_STACK',
          `lab: no Node.js headers at ${headers} (node-gyp needs them to build the addon in the root)`,
        );
      cpSync(headers, join(stage, 'usr', 'local', 'include', 'node'), { recursive: true });
      steps.next('stack root: cached');
      writeFileSync(join(stage, STAMP), stamp);
      rmSync(dir, { recursive: true, force: true });
      renameSync(stage, dir);
    } catch (e) {
      unmountUnder(stage);
      rmSync(stage, { recursive: true, force: true });
      throw e;
    }
  });
  return { dir, versions };
}

/** Unmounts whatever is mounted at or below `dir`, deepest first (a failed debootstrap may leave its /proc). */
export function unmountUnder(dir: string): void {
  const at = resolve(dir);
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === at || m.startsWith(at + '/')));
  for (const m of mounts.reverse()) run('umount', ['-l', m]);
}
