import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveModuleOrder } from '../../lib/lab/kernel';
import { deviceSetup, runScript } from '../../lib/lab/run-script';
import { guestLinks, guestNode, labEnv, VETH_NODES } from '../../lib/lab/topology';
import { commandEnv, runCommand, runLab } from '../../lib/lab';
import { HOST_APT, privateApt, type AptView } from '../../lib/lab/apt-view';
import { ensureRoot } from '../../lib/lab/stack-root';

describe('lab kernel modules', () => {
  it('orders every module after its dependencies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'moddep-'));
    writeFileSync(
      join(dir, 'modules.dep'),
      [
        'kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko: kernel/drivers/infiniband/core/ib_uverbs.ko kernel/drivers/infiniband/core/ib_core.ko kernel/net/ipv4/udp_tunnel.ko',
        'kernel/drivers/infiniband/core/ib_uverbs.ko: kernel/drivers/infiniband/core/ib_core.ko',
        'kernel/drivers/infiniband/core/ib_core.ko:',
        'kernel/net/ipv4/udp_tunnel.ko:',
        'kernel/crypto/crc32_generic.ko:',
      ].join('\n'),
    );
    const order = resolveModuleOrder(dir, ['crc32_generic', 'rdma_rxe']).map((p) => p.replace(/^.*\//, ''));
    expect(order[0]).toBe('crc32_generic.ko');
    expect(order.indexOf('ib_core.ko')).toBeLessThan(order.indexOf('ib_uverbs.ko'));
    expect(order.indexOf('ib_uverbs.ko')).toBeLessThan(order.indexOf('rdma_rxe.ko'));
    expect(order.indexOf('udp_tunnel.ko')).toBeLessThan(order.indexOf('rdma_rxe.ko'));
    expect(new Set(order).size).toBe(order.length);
    expect(() => resolveModuleOrder(dir, ['no_such_module'])).toThrow(
      expect.objectContaining({ code: 'ERR_LAB_KERNEL' }),
    );
    // A module the kernel has built in needs no loading.
    writeFileSync(join(dir, 'modules.builtin'), 'kernel/drivers/virtio/virtio_pci.ko\n');
    expect(
      resolveModuleOrder(dir, ['virtio_pci', 'crc32_generic']).map((p) => p.replace(/^.*\//, '')),
    ).toEqual(['crc32_generic.ko']);
  });
});

describe('lab run script', () => {
  it('creates a veth pair with one rxe device per end and routes across it', () => {
    const s = deviceSetup(VETH_NODES, true);
    expect(s).toContain('ip link add veth0 type veth peer name veth1');
    expect(s).toContain('rdma link add rxe0 type rxe netdev veth0');
    expect(s).toContain('rdma link add rxe1 type rxe netdev veth1');
    // traffic to a's address leaves through b's end, so both devices carry it
    expect(s).toContain('ip route add 10.99.0.1/32 dev veth1 src 10.99.0.2');
    expect(s).toContain('ip rule del pref 0 lookup local');
    // and the same for IPv6, plus the rules the CM's check of an incoming IPv6 request needs
    expect(s).toContain('ip -6 addr add fd99::1/64 dev veth0 nodad');
    expect(s).toContain('ip -6 route add fd99::1/128 dev veth1 src fd99::2');
    expect(s).toContain('ip -6 rule add pref 60 oif veth0 to fd99::2 lookup 102');
  });

  it('gives a guest its lab NIC, address and device, and quotes the command', () => {
    const s = runScript({
      nodes: [guestNode('b')],
      veth: false,
      env: { A: "it's" },
      cwd: '/w',
      command: "echo 'x'",
    });
    expect(s).toContain("export A='it'\\''s'");
    expect(s).toContain('ip addr add 10.99.0.2/24 dev lab0');
    expect(s).toContain("cd '/w'");
    expect(s).toContain(`bash -c 'echo '\\''x'\\'''`);
    expect(s).not.toContain('veth');
    // Two links: each NIC found by its MAC and named, each with its own addresses and rxe device.
    const two = runScript({ nodes: guestLinks('b'), veth: false, env: {}, cwd: '/w', command: 'true' });
    expect(two).toContain(`[ "$(cat "$n/address")" = '52:54:00:99:00:02' ]`);
    expect(two).toContain(`[ "$(cat "$n/address")" = '52:54:00:98:00:02' ]`);
    expect(two).toContain('ip addr add 10.98.0.2/24 dev lab1');
    expect(two).toContain('rdma link add rxe1 type rxe netdev lab1');
  });

  it('describes devices and the partner to the command', () => {
    const env = labEnv('two-guests', [guestNode('a'), guestNode('b')], guestNode('b'));
    expect(env).toMatchObject({
      RDMA_CCM_LAB: '1',
      RDMA_CCM_LAB_NODE: 'b',
      RDMA_CCM_LAB_PEER_ADDR: '10.99.0.1',
      RDMA_CCM_LAB_LINK_ADDRS: '10.99.0.2,10.98.0.2',
      RDMA_CCM_LAB_PEER_ADDRS: '10.99.0.1,10.98.0.1',
    });
    const c = commandEnv(env);
    expect(c.PATH).toContain('/usr/sbin');
    expect(c.HOME).toBe('/tmp/home');
  });
});

describe('lab first-time set-up', () => {
  // Real: Debian's kernel package is downloaded with apt-get into an empty cache and the initramfs built.
  it.skipIf(process.getuid?.() !== 0)(
    'builds the guest kernel into an empty cache, showing each step with k of n',
    () => {
      const cache = mkdtempSync(join(tmpdir(), 'rdma-ccm-lab-cache-'));
      const lab = join(__dirname, '..', '..', 'dist', 'lab', 'index.js');
      const missing: string[] = require(
        join(__dirname, '..', '..', 'dist', 'lab', 'deps.js'),
      ).missingPackages();
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          `process.stdout.write(JSON.stringify(require(${JSON.stringify(lab)}).prepareLab(undefined, 'vm')))`,
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, RDMA_CCM_LAB_CACHE: cache, CI: 'true' },
          timeout: 300_000,
        },
      );
      expect(r.status).toBe(0);
      const steps = r.stderr.split('\n').filter((l) => l.startsWith('lab set-up: '));
      // A fresh machine installs the host's packages first, two more steps in the same count.
      const pkgs = missing.length ? [`apt-get update`, `apt-get install ${missing.join(' ')}`] : [];
      const names = [
        ...pkgs,
        'guest kernel: apt-get download PKG',
        'guest kernel: unpack, resolve module order',
        'guest initramfs: busybox, modules, init',
      ];
      const expected = names.flatMap((name, i) => {
        const line = `lab set-up: [${i + 1}/${i < pkgs.length ? pkgs.length : names.length}] ${name}`;
        return [line, `${line}: TIME`];
      });
      expect(
        steps.map((l) =>
          l.replace(/: \d+s \(total \d+s\)$/, ': TIME').replace(/ linux-image\S+?(?=: TIME|$)/, ' PKG'),
        ),
      ).toEqual(expected);
      // apt's and dpkg's output is in the set-up log, not on the terminal: only the step lines and the result are.
      const others = r.stderr.split('\n').filter((l) => l && !l.startsWith('lab set-up: '));
      expect(others).toHaveLength(1);
      expect(others[0]).toMatch(/^lab: cached guest kernel linux-image\S+ \S+ in /);
      expect(readFileSync(join(cache, 'setup.log'), 'utf8')).toMatch(
        /^\$ apt-get (.* )?download linux-image\S+ .*exit 0$/m,
      );
      const { kernel } = JSON.parse(r.stdout);
      expect(statSync(kernel.vmlinuz).size).toBeGreaterThan(1 << 20);
      expect(statSync(kernel.initrd).size).toBeGreaterThan(1 << 20);
      // Cached now: a second preparation has nothing to do and shows nothing.
      const again = spawnSync(
        process.execPath,
        ['-e', `require(${JSON.stringify(lab)}).prepareLab(undefined, 'vm')`],
        { encoding: 'utf8', env: { ...process.env, RDMA_CCM_LAB_CACHE: cache } },
      );
      expect(again.status).toBe(0);
      expect(again.stderr).not.toContain('lab set-up');
      rmSync(cache, { recursive: true, force: true });
    },
    300_000,
  );
});

describe('lab set-up log', () => {
  const cli = (code: string, cache: string) =>
    spawnSync(
      process.execPath,
      [
        '-e',
        `const { inSetup } = require(${JSON.stringify(join(__dirname, '..', '..', 'dist', 'lab', 'setup-steps.js'))}); const { mustRun } = require(${JSON.stringify(join(__dirname, '..', '..', 'dist', 'lab', 'exec.js'))}); ${code}`,
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, RDMA_CCM_LAB_CACHE: cache, CI: 'true' },
      },
    );

  it("keeps a failed step's output in the log and names it in the one line it fails with", () => {
    const cache = mkdtempSync(join(tmpdir(), 'rdma-ccm-lab-log-'));
    const r = cli(
      `try { inSetup((s) => { s.plan(1); s.next('a step'); mustRun('sh', ['-c', 'echo a page of output; echo the reason >&2; exit 3']); }); } catch (e) { console.error(e.code + ' ' + e.message); }`,
      cache,
    );
    const log = join(cache, 'setup.log');
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).not.toContain('a page of output');
    expect(r.stderr).toContain(
      `ERR_LAB_EXEC lab: sh -c echo a page of output; echo the reason >&2; exit 3 exited 3: the reason (full output in ${log})`,
    );
    expect(readFileSync(log, 'utf8')).toMatch(/exit 3\na page of output\nthe reason\n$/);
    rmSync(cache, { recursive: true, force: true });
  });

  it('logs nothing when no set-up step runs (everything cached)', () => {
    const cache = mkdtempSync(join(tmpdir(), 'rdma-ccm-lab-log-'));
    const r = cli(`inSetup(() => mustRun('sh', ['-c', 'echo checked']));`, cache);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(existsSync(join(cache, 'setup.log'))).toBe(false);
    rmSync(cache, { recursive: true, force: true });
  });
});

describe('lab options', () => {
  it('refuses a TCG plugin where no single guest runs, before any set-up', async () => {
    const plugin = '/nonexistent/counter.so';
    await expect(
      runLab({ command: 'true', topology: 'two-guests', tcgPlugin: plugin }),
    ).rejects.toMatchObject({ code: 'ERR_LAB_USAGE' });
    await expect(runLab({ command: 'true', mode: 'host', tcgPlugin: plugin })).rejects.toMatchObject({
      code: 'ERR_LAB_USAGE',
      message: expect.stringContaining('TCG plugin'),
    });
  });

  it('refuses an unknown stack, and a named stack where no guest runs, before any set-up', async () => {
    await expect(runLab({ command: 'true', stack: 'sid' as 'trixie' })).rejects.toMatchObject({
      code: 'ERR_LAB_USAGE',
      message: expect.stringContaining("unknown stack 'sid'"),
    });
    await expect(runLab({ command: 'true', mode: 'host', stack: 'trixie' })).rejects.toMatchObject({
      code: 'ERR_LAB_USAGE',
      message: expect.stringContaining('runs in guests'),
    });
  });

  it('refuses a release that lacks a package its root needs, naming each one, before anything is made', () => {
    let updated = 0;
    const lacking: AptView = {
      suite: 'trixie',
      options: [],
      update: () => void updated++,
      candidates: (pkgs) =>
        Object.fromEntries(pkgs.map((p) => [p, p === 'perftest' || p === 'g++' ? null : '1.0'])),
    };
    expect(() => ensureRoot(lacking)).toThrow(
      expect.objectContaining({ code: 'ERR_LAB_STACK', message: 'lab: Debian trixie has no perftest, g++' }),
    );
    expect(updated).toBe(0);
  });
});

describe('apt views', () => {
  it("reads each package's candidate version from apt-cache, null for a package apt does not know", () => {
    const c = HOST_APT.candidates(['dpkg', 'no-such-package-rdma-ccm']);
    expect(c.dpkg).toMatch(/^\d[\w.+~:-]*$/);
    expect(c['no-such-package-rdma-ccm']).toBeNull();
  });

  it("points every file apt reads or writes at the view's own folder in the lab's cache", () => {
    const cache = mkdtempSync(join(tmpdir(), 'lab-cache-'));
    const saved = process.env.RDMA_CCM_LAB_CACHE;
    process.env.RDMA_CCM_LAB_CACHE = cache;
    try {
      const v = privateApt('trixie');
      const dirs = v.options.filter((o) => o !== '-o').map((o) => o.split('='));
      expect(dirs.map(([k]) => k).sort()).toEqual([
        'Dir::Cache',
        'Dir::Etc::preferences',
        'Dir::Etc::preferencesparts',
        'Dir::Etc::sourcelist',
        'Dir::Etc::sourceparts',
        'Dir::State::Lists',
      ]);
      for (const [, path] of dirs) expect(path.startsWith(join(cache, 'apt-trixie'))).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.RDMA_CCM_LAB_CACHE;
      else process.env.RDMA_CCM_LAB_CACHE = saved;
      rmSync(cache, { recursive: true, force: true });
    }
  });
});

describe('runCommand', () => {
  it('collects both streams, reports the exit status, kills at its time limit, and settles on a missing command', async () => {
    const ok = await runCommand('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(ok).toMatchObject({ status: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(ok.output.split('\n').sort()).toEqual(['', 'err', 'out']);
    const t0 = Date.now();
    const slow = await runCommand('sleep', ['30'], { timeoutMs: 300 });
    expect(slow.status).toBeNull();
    expect(Date.now() - t0).toBeLessThan(10_000);
    const missing = await runCommand('/nonexistent/tool', []);
    expect(missing.status).toBeNull();
    expect(missing.stderr).toContain('ENOENT');
  });
});
