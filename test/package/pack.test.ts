// The published package: packed, installed into an empty project on a PATH with no compiler, and
// loaded from its prebuild through CommonJS, ESM and the typings.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'rdma-ccm-pack-'));
const consumer = join(work, 'consumer');
const bin = join(work, 'bin');
let env: NodeJS.ProcessEnv;

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? consumer, env: opts.env ?? env, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  execFileSync(process.execPath, ['scripts/prebuild.mjs'], { cwd: root, stdio: 'ignore' });
  const packed = execFileSync('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: root, encoding: 'utf8' });
  const tarball = join(work, packed.trim().split('\n').pop()!);
  // A PATH with node, npm and sh only: no cc, g++, make or python.
  mkdirSync(bin);
  symlinkSync('/bin/sh', join(bin, 'sh'));
  symlinkSync(process.execPath, join(bin, 'node'));
  const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  symlinkSync(npmCli, join(bin, 'npm'));
  env = { HOME: process.env.HOME, PATH: bin, npm_config_cache: join(work, 'npm-cache') };
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  const inst = run('npm', ['install', '--no-audit', '--no-fund', tarball]);
  if (inst.status !== 0) throw new Error(`npm install of the tarball failed:\n${inst.out}`);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('packed package', () => {
  it('was installed with no compiler on the PATH, and ships a prebuild but no local build', () => {
    for (const tool of ['cc', 'gcc', 'g++', 'make', 'python3']) expect(run('sh', ['-c', `command -v ${tool}`]).status, tool).not.toBe(0);
    const pkg = join(consumer, 'node_modules', 'rdma-ccm');
    expect(readdirSync(join(pkg, 'prebuilds', `linux-${process.arch}`))).toContain('node.napi.node');
    expect(existsSync(join(pkg, 'build'))).toBe(false);
    expect(existsSync(join(pkg, 'dist', 'index.d.ts'))).toBe(true);
  });

  it('loads from CommonJS, every subpath included', () => {
    const r = run('node', ['-e', `
      const m = require('rdma-ccm');
      const verbs = require('rdma-ccm/verbs');
      require('rdma-ccm/cm'); require('rdma-ccm/ccm');
      if (typeof require('rdma-ccm/code-cache').enableCodeCache !== 'function') throw new Error('no code-cache subpath');
      if (m.getDevices !== verbs.getDevices) throw new Error('two instances');
      console.log(JSON.stringify({ devices: Array.isArray(m.getDevices()), ctx: typeof m.Context }));`]);
    expect(r.out).toContain('{"devices":true,"ctx":"function"}');
    expect(r.status).toBe(0);
  });

  it('loads from ESM, sharing the CommonJS instance', () => {
    const r = run('node', ['--input-type=module', '-e', `
      import { getDevices, Context } from 'rdma-ccm';
      import * as verbs from 'rdma-ccm/verbs';
      import 'rdma-ccm/cm'; import 'rdma-ccm/ccm';
      import { codeCacheStats } from 'rdma-ccm/code-cache';
      if (codeCacheStats().dir !== null) throw new Error('a cache without RDMA_CCM_CODE_CACHE');
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('rdma-ccm');
      if (cjs.getDevices !== getDevices || verbs.Context !== Context) throw new Error('two instances');
      console.log('esm ok', Array.isArray(getDevices()));`]);
    expect(r.out).toContain('esm ok true');
    expect(r.status).toBe(0);
  });

  it('runs its CLI', () => {
    const r = run(join(consumer, 'node_modules', '.bin', 'rdma-ccm'), ['--help']);
    expect(r.out).toContain('usage: rdma-ccm');
    expect(r.status).toBe(0);
  });

  it('type-checks a consumer with its shipped typings, and catches a misuse', () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const opts = ['--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types')];
    writeFileSync(join(consumer, 'good.ts'), `
      import { Context, getDevices, type PortAttributes, type GidEntry } from 'rdma-ccm';
      import { normalizeGid } from 'rdma-ccm/verbs';
      const names: string[] = getDevices().map((d) => d.name);
      function describe(ctx: Context): string {
        const p: PortAttributes = ctx.queryPort(1);
        const g: GidEntry[] = ctx.queryGidTable();
        return p.state + g.length + normalizeGid('10.0.0.1');
      }
      export { names, describe };
    `);
    writeFileSync(join(consumer, 'bad.ts'), `import { Context } from 'rdma-ccm';\nconst n: number = new Context('x').queryPort(1).state;\nexport { n };\n`);
    const good = run(process.execPath, [tsc, ...opts, 'good.ts'], { env: process.env });
    expect(good.out).toBe('');
    expect(good.status).toBe(0);
    const bad = run(process.execPath, [tsc, ...opts, 'bad.ts'], { env: process.env });
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/bad\.ts\(2,7\): error TS2322: Type '.*' is not assignable to type 'number'/);
  }, 120_000); // two cold tsc runs take several seconds each on a loaded machine
});
