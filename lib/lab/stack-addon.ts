// The addon built for a stack's root: compiled in a chroot of the root against that release's rdma-core
// headers, into a folder of the root named by a hash of the addon's sources, so that each version of
// the sources is built once per root. The guest loads it through RDMA_CCM_ADDON.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { LabError, mustRun } from './exec';
import { inSetup } from './setup-steps';
import { unmountUnder, type StackRoot } from './stack-root';

/** The package's root (binding.gyp, native/, node_modules/). */
const PACKAGE = resolve(__dirname, '..', '..');

function sourcesHash(): string {
  const h = createHash('sha256');
  const files = [
    'binding.gyp',
    ...readdirSync(join(PACKAGE, 'native'))
      .sort()
      .map((f) => join('native', f)),
    ...readdirSync(join(PACKAGE, 'install'))
      .sort()
      .map((f) => join('install', f)),
  ];
  for (const f of files)
    h.update(f)
      .update('\0')
      .update(readFileSync(join(PACKAGE, f)))
      .update('\0');
  return h.digest('hex').slice(0, 12);
}

/**
 * The path, as the guest sees it, of the addon built in `root` from this package's sources; builds it
 * first when missing (node-gyp, from this package's node_modules, in a chroot). Throws LabError.
 */
export function ensureStackAddon(root: StackRoot): string {
  const rel = `/opt/rdma-ccm/addon-${sourcesHash()}`;
  const addon = `${rel}/build/Release/rdma_ccm.node`;
  if (existsSync(join(root.dir, addon))) return addon;
  const gyp = join(PACKAGE, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!existsSync(gyp))
    throw new LabError(
      'ERR_LAB_STACK',
      `lab: building the addon for a stack needs node-gyp in ${join(PACKAGE, 'node_modules')} (npm install)`,
    );
  inSetup((steps) => {
    steps.plan(1);
    steps.next(`stack addon: node-gyp in the root's chroot (rdma-core ${root.versions['rdma-core']})`);
    const dir = join(root.dir, rel);
    unmountUnder(dir); // an earlier build's bind mount, never to be deleted through
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    for (const f of ['binding.gyp', 'native', 'install'])
      cpSync(join(PACKAGE, f), join(dir, f), { recursive: true });
    try {
      // node-gyp and node-addon-api come from this package, seen read-only inside the chroot.
      mustRun('mount', ['--bind', join(PACKAGE, 'node_modules'), join(dir, 'node_modules')]);
      mustRun('mount', ['-o', 'remount,bind,ro', join(dir, 'node_modules')]);
      mustRun('mount', ['-t', 'proc', 'proc', join(root.dir, 'proc')]);
      mustRun('chroot', [
        root.dir,
        '/usr/bin/env',
        '-i',
        'PATH=/usr/local/bin:/usr/bin:/bin',
        'HOME=/tmp',
        'npm_config_nodedir=/usr/local',
        '/bin/sh',
        '-c',
        `cd ${rel} && node node_modules/node-gyp/bin/node-gyp.js rebuild --jobs max`,
      ]);
    } catch (e) {
      rmSync(join(dir, 'build'), { recursive: true, force: true });
      throw e;
    } finally {
      unmountUnder(join(dir, 'node_modules'));
      unmountUnder(join(root.dir, 'proc'));
    }
  });
  return addon;
}
