// Builds the native addon (node-gyp) and the TypeScript (dist/, with ESM entry points).
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gypEnv, log, logged, newerThanAddonSources, root, sh } from './lib.mjs';

export function buildNative() {
  sh(process.execPath, ['install/check-headers.js'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const out = join(root, 'build', 'Release', 'rdma_ccm.node');
  const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (newerThanAddonSources(out)) return;
  log('build: native addon');
  const configured =
    existsSync(join(root, 'build', 'Makefile')) &&
    statSync(join(root, 'build', 'Makefile')).mtimeMs > statSync(join(root, 'binding.gyp')).mtimeMs;
  // node-gyp's pages of output go to the set-up log; a failed build shows them (the compiler's errors).
  logged(process.execPath, [gyp, configured ? 'build' : 'rebuild', '--jobs', 'max'], { env: gypEnv() });
}

/** dist/esm/*.mjs: ESM entry points re-exporting the CommonJS build, so both module systems share one instance. */
export function esmWrappers() {
  const dir = join(root, 'dist', 'esm');
  mkdirSync(dir, { recursive: true });
  const entries = {
    index: '../index.js',
    verbs: '../verbs/index.js',
    cm: '../cm/index.js',
    ccm: '../ccm/index.js',
    lab: '../lab/index.js',
    'code-cache': '../code-cache.js',
  };
  for (const [name, target] of Object.entries(entries)) {
    writeFileSync(join(dir, `${name}.mjs`), `export * from '${target}';\n`);
  }
}

export function buildTs() {
  log('build: typescript');
  sh(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  esmWrappers();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!process.argv.includes('--ts-only')) buildNative();
  if (!process.argv.includes('--native-only')) buildTs();
}
