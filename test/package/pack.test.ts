// The published package: packed (prepack makes the prebuild), installed into an empty project on a PATH
// with no compiler, and loaded from its prebuild through CommonJS, ESM and the typings; where it cannot
// load (rdma-core's libraries missing, no build), one line says what to do, and the CLI's --help and
// --version still work.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  realpathSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requiringNewerGlibc } from '../support/newer-glibc';

const root = resolve(__dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'rdma-ccm-pack-'));
const consumer = join(work, 'consumer');
const cli = join(consumer, 'node_modules', '.bin', 'rdma-ccm');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const bin = join(work, 'bin');
let env: NodeJS.ProcessEnv;

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? consumer, env: opts.env ?? env, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  const packed = execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const tarball = join(work, (JSON.parse(packed) as { filename: string }[])[0].filename);
  // A PATH with node, npm and sh only: no cc, g++, make or python.
  mkdirSync(bin);
  symlinkSync('/bin/sh', join(bin, 'sh'));
  symlinkSync(process.execPath, join(bin, 'node'));
  const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  symlinkSync(npmCli, join(bin, 'npm'));
  env = { HOME: process.env.HOME, PATH: bin, npm_config_cache: join(work, 'npm-cache') };
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
  );
  const inst = run('npm', ['install', '--no-audit', '--no-fund', tarball]);
  if (inst.status !== 0) throw new Error(`npm install of the tarball failed:\n${inst.out}`);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('packed package', () => {
  it('was installed with no compiler on the PATH, and ships a prebuild but no local build', () => {
    for (const tool of ['cc', 'gcc', 'g++', 'make', 'python3'])
      expect(run('sh', ['-c', `command -v ${tool}`]).status, tool).not.toBe(0);
    const pkg = join(consumer, 'node_modules', 'rdma-ccm');
    expect(readdirSync(join(pkg, 'prebuilds', `linux-${process.arch}`))).toContain('node.napi.node');
    expect(existsSync(join(pkg, 'build'))).toBe(false);
    expect(existsSync(join(pkg, 'dist', 'index.d.ts'))).toBe(true);
  });

  it('loads from CommonJS, every subpath included', () => {
    const r = run('node', [
      '-e',
      `
      const m = require('rdma-ccm');
      const verbs = require('rdma-ccm/verbs');
      require('rdma-ccm/cm'); require('rdma-ccm/ccm');
      if (typeof require('rdma-ccm/code-cache').enableCodeCache !== 'function') throw new Error('no code-cache subpath');
      if (m.getDevices !== verbs.getDevices) throw new Error('two instances');
      console.log(JSON.stringify({ devices: Array.isArray(m.getDevices()), ctx: typeof m.Context }));`,
    ]);
    expect(r.out).toContain('{"devices":true,"ctx":"function"}');
    expect(r.status).toBe(0);
  });

  it('loads from ESM, sharing the CommonJS instance', () => {
    const r = run('node', [
      '--input-type=module',
      '-e',
      `
      import { getDevices, Context } from 'rdma-ccm';
      import * as verbs from 'rdma-ccm/verbs';
      import 'rdma-ccm/cm'; import 'rdma-ccm/ccm';
      import { codeCacheStats } from 'rdma-ccm/code-cache';
      if (codeCacheStats().dir !== null) throw new Error('a cache without RDMA_CCM_CODE_CACHE');
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('rdma-ccm');
      if (cjs.getDevices !== getDevices || verbs.Context !== Context) throw new Error('two instances');
      console.log('esm ok', Array.isArray(getDevices()));`,
    ]);
    expect(r.out).toContain('esm ok true');
    expect(r.status).toBe(0);
  });

  it('runs its CLI', () => {
    const r = run(cli, ['--help']);
    expect(r.out).toContain('usage: rdma-ccm');
    expect(r.status).toBe(0);
    const v = run(cli, ['--version']);
    expect(v.out).toBe(`${version}\n`);
    expect(v.status).toBe(0);
  });

  it('type-checks a consumer with its shipped typings, and catches a misuse', () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const opts = [
      '--noEmit',
      '--strict',
      '--module',
      'node16',
      '--moduleResolution',
      'node16',
      '--target',
      'es2022',
      '--types',
      'node',
      '--typeRoots',
      join(root, 'node_modules', '@types'),
    ];
    writeFileSync(
      join(consumer, 'good.ts'),
      `
      import { Context, getDevices, type PortAttributes, type GidEntry } from 'rdma-ccm';
      import { normalizeGid } from 'rdma-ccm/verbs';
      const names: string[] = getDevices().map((d) => d.name);
      function describe(ctx: Context): string {
        const p: PortAttributes = ctx.queryPort(1);
        const g: GidEntry[] = ctx.queryGidTable();
        return p.state + g.length + normalizeGid('10.0.0.1');
      }
      export { names, describe };
    `,
    );
    writeFileSync(
      join(consumer, 'bad.ts'),
      `import { Context } from 'rdma-ccm';\nconst n: number = new Context('x').queryPort(1).state;\nexport { n };\n`,
    );
    const good = run(process.execPath, [tsc, ...opts, 'good.ts'], { env: process.env });
    expect(good.out).toBe('');
    expect(good.status).toBe(0);
    const bad = run(process.execPath, [tsc, ...opts, 'bad.ts'], { env: process.env });
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/bad\.ts\(2,7\): error TS2322: Type '.*' is not assignable to type 'number'/);
  }, 120_000); // two cold tsc runs take several seconds each on a loaded machine
});

/** The line a failed require('rdma-ccm/verbs') printed: its code and message, or "loaded". */
const requireVerbs = `try { require('rdma-ccm/verbs'); console.log('loaded'); } catch (e) { console.log(e.code + ' ' + e.message); }`;

/** Checks what a user sees where the addon cannot load: one line from require and from a command, --help and --version intact. */
function expectOneLineFailures(
  runIt: (cmd: string, args: string[]) => { status: number | null; out: string },
  code: string,
  line: RegExp,
) {
  const req = runIt('node', ['-e', requireVerbs]);
  expect(req.out).toMatch(new RegExp(`^${code} ${line.source}\n$`));
  const devices = runIt(cli, ['devices']);
  expect(devices.out).toMatch(new RegExp(`^${line.source} \\(${code}\\)\n$`));
  expect(devices.status).toBe(1);
  expect(runIt(cli, ['--help']).out).toContain('usage: rdma-ccm');
  expect(runIt(cli, ['--version']).out).toBe(`${version}\n`);
}

// A library made missing for real: in a mount namespace of its own, an overlay over the library folder
// with the library deleted in it (the host's files stay as they are). Needs root.
const ldCache = execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' });
const libDir = dirname(realpathSync(/\slibibverbs\.so\.1 \(.*=> (\S+)/.exec(ldCache)![1]));
const canHide = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;

function withoutLibrary(lib: string) {
  return (cmd: string, args: string[]) => {
    const dir = mkdtempSync(join(work, 'hide-'));
    mkdirSync(join(dir, 'upper'));
    mkdirSync(join(dir, 'work'));
    const hide = `mount -t overlay overlay -o lowerdir=${libDir},upperdir=${dir}/upper,workdir=${dir}/work ${libDir} && rm ${libDir}/${lib} && PATH=${bin} exec "$@"`;
    return run('/usr/bin/unshare', ['-m', '/bin/sh', '-c', hide, 'sh', cmd, ...args], {
      env: { ...env, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
  };
}

describe('packed package where it cannot load', () => {
  for (const lib of ['libibverbs.so.1', 'librdmacm.so.1'])
    it.skipIf(!canHide)(`names the packages to install when ${lib} is missing`, () => {
      expectOneLineFailures(
        withoutLibrary(lib),
        'ERR_RDMA_LIBRARY_MISSING',
        new RegExp(
          `rdma-ccm: ${lib.replace(/\./g, '\\.')} is not installed: Debian/Ubuntu: apt-get install libibverbs1 librdmacm1 ibverbs-providers \\(rdma-core\\); RHEL/Fedora: dnf install libibverbs librdmacm rdma-core`,
        ),
      );
    });

  it('builds from source at install when the prebuild needs a newer glibc than this one, and says why', () => {
    const prebuild = join(
      consumer,
      'node_modules',
      'rdma-ccm',
      'prebuilds',
      `linux-${process.arch}`,
      'node.napi.node',
    );
    const original = readFileSync(prebuild);
    writeFileSync(prebuild, requiringNewerGlibc(original));
    try {
      // No compiler here: the build it turns to stops at its first check.
      const rebuild = run('npm', ['rebuild', 'rdma-ccm']);
      expect(rebuild.status).not.toBe(0);
      expect(rebuild.out).toContain(
        'rdma-ccm: the prebuilt addon needs GLIBC_9.99, which this system lacks: building it from source\n',
      );
      expect(rebuild.out).toContain('rdma-ccm: building the native addon needs a C++ compiler');
      const req = run('node', ['-e', requireVerbs]);
      expect(req.out).toBe(
        'ERR_RDMA_ADDON_INCOMPATIBLE rdma-ccm: the native addon needs GLIBC_9.99, which this system lacks: build it here with `npm rebuild rdma-ccm --build-from-source`\n',
      );
    } finally {
      writeFileSync(prebuild, original);
    }
  });

  it('says to build the addon when there is neither a prebuild nor a build (npm i --ignore-scripts of a package without one)', () => {
    const prebuilds = join(consumer, 'node_modules', 'rdma-ccm', 'prebuilds');
    renameSync(prebuilds, `${prebuilds}.away`);
    try {
      expectOneLineFailures(
        (cmd, args) => run(cmd, args),
        'ERR_RDMA_ADDON_MISSING',
        new RegExp(
          `rdma-ccm: no native addon built for linux-${process.arch}: run \`npm rebuild rdma-ccm\` \\(it compiles with g\\+\\+, make, python3, libibverbs-dev and librdmacm-dev\\)`,
        ),
      );
      // What that line says to run, here with no compiler: the install hook's one line, not node-gyp's.
      const rebuild = run('npm', ['rebuild', 'rdma-ccm']);
      expect(rebuild.status).not.toBe(0);
      expect(rebuild.out).toContain(
        'rdma-ccm: building the native addon needs a C++ compiler, make, python3: install them (Debian/Ubuntu: apt-get install g++ make python3 libibverbs-dev librdmacm-dev; RHEL/Fedora: dnf install gcc-c++ make python3 rdma-core-devel), then npm rebuild rdma-ccm\n',
      );
      expect(rebuild.out).not.toMatch(/gyp|Python/);
    } finally {
      renameSync(`${prebuilds}.away`, prebuilds);
    }
  });
});
