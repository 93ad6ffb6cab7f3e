// Builds the native addon (node-gyp) and the TypeScript (dist/, with ESM entry points).
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
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

// stripInternal drops an `@internal` constructor from the typings, which would leave its class an
// implicit public one (`new SharedReceiveQueue()` compiling for a user). A class made only by the
// package is declared with a private constructor instead.
const INTERNAL_CONSTRUCTOR = /\/\*\*(?:(?!\*\/)[\s\S])*@internal(?:(?!\*\/)[\s\S])*\*\/\s*constructor\(/g;

function sealInternalConstructors(dir = join(root, 'lib')) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sealInternalConstructors(path);
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const source = readFileSync(path, 'utf8');
    const classes = new Set();
    for (const m of source.matchAll(INTERNAL_CONSTRUCTOR)) {
      const before = [...source.slice(0, m.index).matchAll(/\bclass (\w+)/g)].pop();
      if (before) classes.add(before[1]);
    }
    if (classes.size === 0) continue;
    const dts = join(root, 'dist', relative(join(root, 'lib'), path)).replace(/\.ts$/, '.d.ts');
    let typings = readFileSync(dts, 'utf8');
    for (const name of classes) {
      const at = typings.search(new RegExp(`declare class ${name}\\b`));
      if (at < 0) continue;
      const open = typings.indexOf('{\n', at) + 1;
      const body = typings.slice(open, typings.indexOf('\n}', open));
      if (!/^\s*(?:private |protected )?constructor\(/m.test(body))
        typings = `${typings.slice(0, open)}\n    private constructor();${typings.slice(open)}`;
    }
    writeFileSync(dts, typings);
  }
}

export function buildTs() {
  log('build: typescript');
  sh(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  sealInternalConstructors();
  esmWrappers();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!process.argv.includes('--ts-only')) buildNative();
  if (!process.argv.includes('--native-only')) buildTs();
}
