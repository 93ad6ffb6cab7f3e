// Finds and loads the native addon: a build RDMA_CCM_ADDON names (e.g. the sanitizer build), else what
// node-gyp-build finds (a local node-gyp build, then a prebuild made by `prebuildify --napi`). A load that
// fails for a reason the user can fix throws one line saying what to install or run.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { codeError } from './errors';

/** What to install for rdma-core's user-space libraries and providers, on Debian and on RHEL. */
export const RDMA_PACKAGES =
  'Debian/Ubuntu: apt-get install libibverbs1 librdmacm1 ibverbs-providers (rdma-core); RHEL/Fedora: dnf install libibverbs librdmacm rdma-core';

const ROOT = resolve(__dirname, '..');

// node-gyp-build ships no typings; resolve() only finds the file, it loads nothing.
const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };

/** The addon's file: RDMA_CCM_ADDON's, or node-gyp-build's choice. Throws ERR_RDMA_ADDON_MISSING. */
export function addonPath(): string {
  const named = process.env.RDMA_CCM_ADDON;
  if (named) {
    const file = resolve(named);
    if (!existsSync(file))
      throw codeError(
        'ERR_RDMA_ADDON_MISSING',
        `rdma-ccm: RDMA_CCM_ADDON names ${file}, which does not exist`,
      );
    return file;
  }
  try {
    return nodeGypBuild.resolve(ROOT);
  } catch {
    throw codeError(
      'ERR_RDMA_ADDON_MISSING',
      `rdma-ccm: no native addon built for ${process.platform}-${process.arch}: run \`npm rebuild rdma-ccm\` (it compiles with g++, make, python3, libibverbs-dev and librdmacm-dev)`,
    );
  }
}

/** The one-line error for a dlopen failure the user can fix, or null. */
export function explainLoadFailure(e: unknown): Error | null {
  const message = (e as Error | null)?.message ?? '';
  const lib = /(lib(?:ibverbs|rdmacm)\.so[.\d]*): cannot open shared object file/.exec(message)?.[1];
  if (lib)
    return codeError('ERR_RDMA_LIBRARY_MISSING', `rdma-ccm: ${lib} is not installed: ${RDMA_PACKAGES}`, {
      cause: e,
    });
  // A prebuild made on a newer system than this one: the dynamic loader names the symbol version it lacks.
  const version = /version `([^']+)' not found/.exec(message)?.[1];
  if (version)
    return codeError(
      'ERR_RDMA_ADDON_INCOMPATIBLE',
      `rdma-ccm: the native addon needs ${version}, which this system lacks: build it here with \`npm rebuild rdma-ccm --build-from-source\``,
      { cause: e },
    );
  return null;
}

/** Loads the addon; throws ERR_RDMA_ADDON_MISSING, ERR_RDMA_LIBRARY_MISSING, ERR_RDMA_ADDON_INCOMPATIBLE or the loader's own error. */
export function loadAddon<T>(): T {
  const file = addonPath();
  try {
    return require(file) as T;
  } catch (e) {
    throw explainLoadFailure(e) ?? e;
  }
}
