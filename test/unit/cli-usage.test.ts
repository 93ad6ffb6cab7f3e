// The command line's usage paths on the host: every command's --help, --version and a bad flag are answered
// before anything loads the addon. RDMA_CCM_ADDON names a build that does not exist, so a command that
// loaded the addon would fail instead of answering.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = resolve(__dirname, '..', '..', 'dist', 'cli.js');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, RDMA_CCM_ADDON: '/nonexistent/rdma_ccm.node' },
  });

describe('rdma-ccm usage without the addon', () => {
  it.each(['devices', 'node', 'status', 'rping'])('%s --help prints its usage, exit 0', (cmd) => {
    const r = run(cmd, '--help');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^usage: rdma-ccm ${cmd}`));
    expect(r.status).toBe(0);
  });

  it('--version prints the package version', () => {
    const r = run('--version');
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.status).toBe(0);
  });

  it('an unknown flag exits 2 with one line and the usage on stderr', () => {
    const r = run('devices', '--bogus');
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toMatch(/^rdma-ccm devices: .*--bogus/);
    expect(r.stderr).toContain('usage: rdma-ccm devices');
    expect(r.status).toBe(2);
  });

  it('no command: the usage on stderr, exit 2', () => {
    const r = run();
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^usage: rdma-ccm <command>/);
    expect(r.status).toBe(2);
  });
});
