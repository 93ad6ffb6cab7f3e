// The lab's guest kernel: Debian's stock linux-image (which ships rdma_rxe) and a busybox initramfs,
// built once per kernel version and cached.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
  chmodSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_APT, type AptView } from './apt-view';
import { cacheRoot } from './cache';
import { LabError, mustRun, mustRunBytes, run } from './exec';
import { INIT_SCRIPT } from './init-script';
import { inSetup } from './setup-steps';

/** Modules the guest loads, each after its dependencies (resolved from modules.dep). */
export const GUEST_MODULES = [
  'crc32_generic', // rdma_rxe's ICRC needs it before `rdma link add`
  'virtio_pci',
  'virtio_blk', // the two-guests topology's shared disk (the witness)
  'virtio_net',
  '9pnet_virtio',
  '9p',
  'veth',
  'rdma_rxe',
  'rdma_ucm',
  'sch_netem', // tests cut a link (100% loss) without taking the netdev down
  // An emulated NVDIMM (ACPI NFIT): its namespace as /dev/pmem0, or as device DAX /dev/dax0.0.
  'nfit',
  'nd_pmem',
  'device_dax',
  'dax_pmem',
  // A kernel watchdog (/dev/watchdog) for the CCM's witness.watchdog; see MODULE_ARGS.
  'softdog',
  // A RAM disk (/dev/ram0) and device-mapper over it: tests hang one node's path to a witness disk
  // (dmsetup suspend) while the other's still works.
  'brd',
  'dm-mod',
];

/**
 * Arguments a module is loaded with. softdog logs its expiry instead of resetting the guest: one guest
 * runs the whole test, and the log line is what shows that a stalled node would have been reset.
 */
export const MODULE_ARGS: Record<string, string> = { softdog: 'soft_noboot=1', brd: 'rd_nr=1 rd_size=4096' };

/** A guest kernel and initramfs in the lab's cache. */
export interface LabKernel {
  /** The Debian kernel package and its version, separated by a space. */
  version: string;
  /** Path of the kernel image. */
  vmlinuz: string;
  /** Path of the initramfs (gzip'd cpio). */
  initrd: string;
}

/**
 * The versioned kernel package that linux-image-amd64 depends on in `apt` (the host's own by default),
 * e.g. linux-image-6.1.0-56-amd64, and its candidate version.
 */
export function resolveKernelPackage(apt: AptView = HOST_APT): { pkg: string; version: string } {
  const find = () => {
    const deps = run('apt-cache', [...apt.options, 'depends', 'linux-image-amd64']).stdout;
    const m = /Depends:\s+(linux-image-[0-9][^\s]*)/.exec(deps);
    if (!m) return null;
    const version = apt.candidates([m[1]])[m[1]];
    return version ? { pkg: m[1], version } : null;
  };
  let found = find();
  if (!found) {
    apt.update();
    found = find();
  }
  if (!found)
    throw new LabError(
      'ERR_LAB_KERNEL',
      `lab: apt (${apt.suite}) cannot resolve linux-image-amd64 to a kernel package`,
    );
  return found;
}

export function resolveModuleOrder(modDir: string, wanted: string[]): string[] {
  const dep = new Map<string, string[]>();
  for (const line of readFileSync(join(modDir, 'modules.dep'), 'utf8').split('\n')) {
    const [mod, rest] = line.split(':');
    if (!mod) continue;
    dep.set(mod.trim(), (rest ?? '').trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map<string, string>();
  for (const path of dep.keys()) byName.set(path.replace(/^.*\//, '').replace(/\.ko(\.\w+)?$/, ''), path);
  // Modules built into this kernel (modules.builtin) need no loading.
  const builtinFile = join(modDir, 'modules.builtin');
  const builtin = new Set(
    existsSync(builtinFile)
      ? readFileSync(builtinFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((p) => p.replace(/^.*\//, '').replace(/\.ko(\.\w+)?$/, ''))
      : [],
  );
  const order: string[] = [];
  const visit = (path: string) => {
    if (order.includes(path)) return;
    // modules.dep lists every transitive dependency, deepest last; load those first.
    for (const d of [...(dep.get(path) ?? [])].reverse()) visit(d);
    order.push(path);
  };
  for (const w of wanted) {
    if (builtin.has(w) && !byName.has(w)) continue;
    const path = byName.get(w);
    if (!path) throw new LabError('ERR_LAB_KERNEL', `lab: kernel has no module ${w}`);
    visit(path);
  }
  return order;
}

/**
 * Returns the cached kernel and initramfs of `apt`'s release (the host's by default), building them
 * first when missing (with apt-get download, dpkg-deb and depmod) in the lab's cache (cache.ts).
 * Throws LabError ERR_LAB_KERNEL or ERR_LAB_EXEC.
 */
export function ensureKernel(log: (s: string) => void, apt: AptView = HOST_APT): LabKernel {
  const { pkg, version } = resolveKernelPackage(apt);
  const key = `${pkg}_${version}`.replace(/[^A-Za-z0-9._+-]/g, '_');
  const args = Object.entries(MODULE_ARGS).map(([m, a]) => `${m} ${a}`);
  const stamp = `${INIT_SCRIPT}\n# modules (plain .ko): ${GUEST_MODULES.join(' ')}\n# arguments: ${args.join('; ')}\n`;
  // One folder per initramfs: trees with other modules share the cache without rebuilding it in turn.
  const dir = join(cacheRoot(), `${key}-${createHash('sha256').update(stamp).digest('hex').slice(0, 8)}`);
  const kernel = {
    version: `${pkg} ${version}`,
    vmlinuz: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.cpio.gz'),
  };
  if (
    existsSync(kernel.vmlinuz) &&
    existsSync(kernel.initrd) &&
    existsSync(join(dir, 'init.sh')) &&
    readFileSync(join(dir, 'init.sh'), 'utf8') === stamp
  )
    return kernel;

  inSetup((steps) => {
    steps.plan(3);
    steps.next(`guest kernel: apt-get download ${pkg}=${version}`);
    mkdirSync(cacheRoot(), { recursive: true });
    const work = mkdtempSync(join(tmpdir(), 'rdma-ccm-kernel-'));
    try {
      mustRun('apt-get', [...apt.options, 'download', `${pkg}=${version}`], { cwd: work });
      const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
      if (!deb) throw new LabError('ERR_LAB_KERNEL', `lab: apt-get download ${pkg} produced no .deb`);
      steps.next('guest kernel: unpack, resolve module order');
      const x = join(work, 'x');
      mustRun('dpkg-deb', ['-x', join(work, deb), x]);
      // A merged-/usr package (Debian 13 on) has its modules under usr/lib: depmod looks in lib/.
      if (!existsSync(join(x, 'lib', 'modules')) && existsSync(join(x, 'usr', 'lib', 'modules'))) {
        mkdirSync(join(x, 'lib'), { recursive: true });
        symlinkSync(join('..', 'usr', 'lib', 'modules'), join(x, 'lib', 'modules'));
      }
      const kver = readdirSync(join(x, 'lib', 'modules'))[0];
      mustRun('depmod', ['-b', x, kver]);
      const modDir = join(x, 'lib', 'modules', kver);
      const order = resolveModuleOrder(modDir, GUEST_MODULES);

      steps.next('guest initramfs: busybox, modules, init');
      const root = join(work, 'initramfs');
      for (const d of ['bin', 'dev', 'proc', 'sys', 'host', 'lab', 'mods'])
        mkdirSync(join(root, d), { recursive: true });
      copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
      chmodSync(join(root, 'bin', 'busybox'), 0o755);
      // busybox's insmod takes plain .ko files: compressed modules (Debian 13's are .ko.xz) are unpacked.
      order.forEach((path, i) => {
        const dest = join(
          root,
          'mods',
          `${String(i).padStart(2, '0')}-${path.replace(/^.*\//, '').replace(/\.ko\.\w+$/, '.ko')}`,
        );
        const unpack = path.endsWith('.ko.xz')
          ? 'xz'
          : path.endsWith('.ko.zst')
            ? 'zstd'
            : path.endsWith('.ko.gz')
              ? 'gzip'
              : null;
        if (unpack) writeFileSync(dest, mustRunBytes(unpack, ['-dc', join(modDir, path)]));
        else copyFileSync(join(modDir, path), dest);
        const a = MODULE_ARGS[path.replace(/^.*\//, '').replace(/\.ko(\.\w+)?$/, '')];
        if (a) writeFileSync(dest.replace(/\.ko$/, '.args'), a);
      });
      writeFileSync(join(root, 'init'), INIT_SCRIPT, { mode: 0o755 });
      const cpio = join(work, 'initrd.cpio.gz');
      mustRun('sh', ['-c', `cd "${root}" && find . | cpio -o -H newc --quiet | gzip -1 > "${cpio}"`]);

      const stage = mkdtempSync(join(cacheRoot(), '.stage-'));
      copyFileSync(join(x, 'boot', `vmlinuz-${kver}`), join(stage, 'vmlinuz'));
      copyFileSync(cpio, join(stage, 'initrd.cpio.gz'));
      writeFileSync(join(stage, 'init.sh'), stamp);
      rmSync(dir, { recursive: true, force: true });
      renameSync(stage, dir);
      log(`lab: cached guest kernel ${pkg} ${version} in ${dir}`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
  return kernel;
}
