// The code cache for the package's own files (lib/code-cache.ts), in fresh processes loading the built
// package as a daemon would: what one run saves, the next one compiles from, and a cache that does not
// fit is refused without harm. Where Node.js has its own compile cache (22.1+) the package uses that: the
// choice is tested here with a stubbed node:module, and the package's own mechanism where Node lacks one.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  enableNodeCompileCache,
  hasNodeCompileCache,
  type CompileCacheModule,
} from '../../lib/node-compile-cache';

/** Whether this Node.js has its own compile cache, which the package then uses instead of its own. */
const nodeHasCompileCache = hasNodeCompileCache(Module as unknown as CompileCacheModule);

const CCM = resolve(__dirname, '../../dist/ccm/index.js');
// Loads the CCM's entry, uses it (a config resolves), saves the cache and prints what the cache did.
const RUN = `
const ccm = require(${JSON.stringify(CCM)});
const cfg = ccm.resolveConfig({ clusterId: 7n, nodeId: 1, address: '10.0.0.1', port: 7000, partners: [{ nodeId: 2, address: '10.0.0.2', port: 7000 }] });
ccm.saveCodeCache().then((saved) => console.log(JSON.stringify({ ...ccm.codeCacheStats(), saved, partners: cfg.partners.length })));
`;

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

type Stats = {
  dir: string | null;
  modules: number;
  accepted: number;
  rejected: number;
  saved: number;
  partners: number;
};

function run(cacheDir: string | undefined): Stats {
  const env = { ...process.env };
  delete env.RDMA_CCM_CODE_CACHE;
  if (cacheDir !== undefined) env.RDMA_CCM_CODE_CACHE = cacheDir;
  const out = execFileSync(process.execPath, ['-e', RUN], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

function warningOf(cacheDir: string): string {
  const env = { ...process.env, RDMA_CCM_CODE_CACHE: cacheDir };
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(CCM)}); console.error('loaded')`], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status).toBe(0);
  return r.stderr;
}

describe.skipIf(nodeHasCompileCache)('code cache where Node.js has none of its own', () => {
  it('one run saves the code of the files it loaded; the next compiles them all from it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rdma-ccm-cc-'));
    dirs.push(dir);
    const first = run(dir);
    expect(first).toMatchObject({ dir, mechanism: 'package', accepted: 0, rejected: 0, partners: 1 });
    expect(first.modules).toBeGreaterThan(5);
    expect(first.saved).toBe(first.modules);
    expect(readdirSync(dir).filter((f) => f.endsWith('.v8'))).toHaveLength(first.modules);

    const second = run(dir);
    expect(second).toMatchObject({
      modules: first.modules,
      accepted: first.modules,
      rejected: 0,
      partners: 1,
    });
    // V8 does not always emit the same code for a module from one run to the next (dist/ccm/node.js and
    // witness.js differ by 8 bytes in some runs), and a file whose code grew is saved again: a few may
    // be, never the set.
    expect(second.saved).toBeLessThan(first.modules / 4);
  });

  it('a damaged cache file is refused by V8: the file compiles from source, works, and is saved again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rdma-ccm-cc-'));
    dirs.push(dir);
    const first = run(dir);
    const files = readdirSync(dir).filter((f) => f.endsWith('.v8'));
    writeFileSync(join(dir, files[0]), Buffer.alloc(512, 0xa5));
    writeFileSync(join(dir, files[1]), Buffer.alloc(0));
    const second = run(dir);
    expect(second).toMatchObject({
      modules: first.modules,
      accepted: first.modules - 2,
      rejected: 2,
      partners: 1,
    });
    // Both damaged files were written again (and, as above, perhaps a file whose code grew).
    expect(second.saved).toBeGreaterThanOrEqual(2);
    expect(second.saved).toBeLessThan(2 + first.modules / 4);
    expect(readFileSync(join(dir, files[0])).equals(Buffer.alloc(512, 0xa5))).toBe(false);
    expect(readFileSync(join(dir, files[1])).length).toBeGreaterThan(0);
    expect(run(dir)).toMatchObject({ accepted: first.modules, rejected: 0 });
  });

  it('without a usable directory the package loads as usual, with one warning', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-cc-')), 'a-file');
    dirs.push(resolve(file, '..'));
    writeFileSync(file, 'x');
    for (const bad of [file, join(file, 'below'), '/proc/rdma-ccm-no-such-dir']) {
      const r = run(bad);
      expect(r).toMatchObject({ dir: null, modules: 0, saved: 0, partners: 1 });
      const err = warningOf(bad);
      expect(err).toMatch(/RDMA_CCM_CODE_CACHE: .*running without a code cache/);
      expect(err).toMatch(/loaded/);
    }
  });

  it('enableCodeCache from rdma-ccm/code-cache, before the other entry points load (CommonJS and ESM)', () => {
    const dist = resolve(__dirname, '../../dist');
    for (const [args, dirName] of [
      [
        [
          '-e',
          `require(${JSON.stringify(join(dist, 'code-cache.js'))}).enableCodeCache(process.argv[1]); const c = require(${JSON.stringify(CCM)}); c.saveCodeCache().then((saved) => console.log(JSON.stringify({ ...c.codeCacheStats(), saved })));`,
        ],
        'cjs',
      ],
      [
        [
          '--input-type=module',
          '-e',
          `import { enableCodeCache } from ${JSON.stringify(join(dist, 'esm', 'code-cache.mjs'))}; enableCodeCache(process.argv[1]); const c = await import(${JSON.stringify(join(dist, 'esm', 'ccm.mjs'))}); console.log(JSON.stringify({ ...c.codeCacheStats(), saved: await c.saveCodeCache() }));`,
        ],
        'esm',
      ],
    ] as const) {
      const dir = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-cc-')), dirName);
      dirs.push(resolve(dir, '..'));
      const env = { ...process.env, RDMA_CCM_CODE_CACHE: '' };
      const out = JSON.parse(
        execFileSync(process.execPath, [...args, dir], { encoding: 'utf8', env }).trim(),
      );
      expect(out).toMatchObject({ dir, accepted: 0, rejected: 0 });
      expect(out.modules).toBeGreaterThan(5);
      expect(out.saved).toBe(out.modules);
    }
  });

  it('without RDMA_CCM_CODE_CACHE nothing is cached; a second directory in one process is refused', () => {
    expect(run(undefined)).toMatchObject({ dir: null, modules: 0, saved: 0, partners: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'rdma-ccm-cc-'));
    dirs.push(dir);
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `const c = require(${JSON.stringify(CCM)}); c.enableCodeCache(${JSON.stringify(dir)}); c.enableCodeCache(${JSON.stringify(dir)}); try { c.enableCodeCache(${JSON.stringify(join(dir, 'other'))}); } catch (e) { console.log(e.code); }`,
      ],
      { encoding: 'utf8', env: { ...process.env, RDMA_CCM_CODE_CACHE: '' } },
    );
    expect(out.trim()).toBe('ERR_CODE_CACHE_ENABLED');
  });
});

const STATUS = { ENABLED: 0, ALREADY_ENABLED: 1, FAILED: 2, DISABLED: 3 };

/** A node:module with a compile cache that answers `status`, recording its calls. */
function stubModule(status: number, directory?: string) {
  const calls: string[] = [];
  const mod: CompileCacheModule = {
    enableCompileCache: (dir) => {
      calls.push(`enable ${dir}`);
      return {
        status,
        directory: directory ?? dir,
        message: status === STATUS.FAILED ? 'EACCES' : undefined,
      };
    },
    flushCompileCache: () => void calls.push('flush'),
    constants: { compileCacheStatus: STATUS },
  };
  return { mod, calls };
}

describe("Node.js's own compile cache, where it has one", () => {
  it('is found by feature detection: the API and its status constants, not a version number', () => {
    expect(hasNodeCompileCache({})).toBe(false); // Node.js 20
    expect(hasNodeCompileCache({ enableCompileCache: () => ({ status: 0 }) })).toBe(false);
    expect(hasNodeCompileCache(stubModule(STATUS.ENABLED).mod)).toBe(true);
  });

  it('is enabled in the directory, uses the one NODE_COMPILE_CACHE chose first, and refuses to fail in silence', () => {
    const on = stubModule(STATUS.ENABLED);
    const cache = enableNodeCompileCache(on.mod, '/var/cache/x');
    cache.flush();
    expect(on.calls).toEqual(['enable /var/cache/x', 'flush']);
    expect(cache.dir).toBe('/var/cache/x');
    expect(enableNodeCompileCache(stubModule(STATUS.ALREADY_ENABLED, '/elsewhere').mod, '/x').dir).toBe(
      '/elsewhere',
    );
    expect(() => enableNodeCompileCache(stubModule(STATUS.FAILED).mod, '/x')).toThrow(
      expect.objectContaining({ code: 'ERR_CODE_CACHE_FAILED', message: expect.stringContaining('EACCES') }),
    );
    expect(() => enableNodeCompileCache(stubModule(STATUS.DISABLED).mod, '/x')).toThrow(
      expect.objectContaining({
        code: 'ERR_CODE_CACHE_FAILED',
        message: expect.stringContaining('NODE_DISABLE_COMPILE_CACHE'),
      }),
    );
  });

  it("enableCodeCache chooses it when node:module has it: Node's cache, the loader untouched, saveCodeCache flushes", () => {
    const dir = mkdtempSync(join(tmpdir(), 'rdma-ccm-cc-'));
    dirs.push(dir);
    // The stub stands in for Node.js 22's node:module in a fresh process, before the package loads.
    const script = `
      const Module = require('node:module');
      const calls = [];
      Module.enableCompileCache = (dir) => (calls.push('enable ' + dir), { status: 0, directory: dir });
      Module.flushCompileCache = () => calls.push('flush');
      Module.constants = { ...Module.constants, compileCacheStatus: ${JSON.stringify(STATUS)} };
      const compile = Module.prototype._compile;
      const c = require(${JSON.stringify(CCM)});
      c.saveCodeCache().then((saved) => console.log(JSON.stringify({ ...c.codeCacheStats(), saved, calls, loaderPatched: Module.prototype._compile !== compile })));`;
    const out = execFileSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, RDMA_CCM_CODE_CACHE: dir },
    });
    expect(JSON.parse(out.trim())).toEqual({
      dir,
      mechanism: 'node',
      modules: 0,
      accepted: 0,
      rejected: 0,
      saved: 0,
      calls: [`enable ${dir}`, 'flush'],
      loaderPatched: false,
    });
  });

  it.runIf(nodeHasCompileCache)("fills the directory with Node.js's cache at exit", () => {
    const dir = mkdtempSync(join(tmpdir(), 'rdma-ccm-cc-'));
    dirs.push(dir);
    expect(run(dir)).toMatchObject({ dir, mechanism: 'node', partners: 1 });
    expect(readdirSync(dir, { recursive: true }).length).toBeGreaterThan(0);
  });
});
