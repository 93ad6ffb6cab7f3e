// The command line's usage paths on the host: every command's --help, --version, an unknown flag and a missing
// value are answered
// before anything loads the addon. RDMA_CCM_ADDON names a build that does not exist, so a command that
// loaded the addon would fail instead of answering.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = resolve(__dirname, '..', '..', 'dist', 'cli.js');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    // A lab command line read wrongly as good would not boot a guest: no such lab mode.
    env: { ...process.env, RDMA_CCM_ADDON: '/nonexistent/rdma_ccm.node', RDMA_CCM_LAB_MODE: 'none' },
  });

describe('rdma-ccm usage without the addon', () => {
  it.each([
    ['devices', 'devices'],
    ['node', 'node'],
    ['status', 'status'],
    ['takeover', 'takeover|giveback'],
    ['giveback', 'takeover|giveback'],
    ['rping', 'rping'],
    ['lab', 'lab'],
  ])('%s --help prints its usage, exit 0', (cmd, usage) => {
    const r = run(cmd, '--help');
    expect(r.stderr).toBe('');
    expect(r.stdout.startsWith(`usage: rdma-ccm ${usage} `)).toBe(true);
    expect(r.status).toBe(0);
  });

  /** One line naming the fault, then the command's own usage (as --help prints it), on stderr; exit 2. */
  function refused(args: string[], line: RegExp): void {
    const r = run(...args);
    expect(r.stdout).toBe('');
    const [first, ...usage] = r.stderr.split('\n');
    expect(first).toMatch(line);
    expect(usage.join('\n')).toBe(run(args[0], '--help').stdout);
    expect(r.status).toBe(2);
  }

  it.each([
    [['devices', '--jsn'], /^rdma-ccm devices: unknown option --jsn \(did you mean --json\?\)$/],
    [
      ['node', '--hearbeat-ms', '100'],
      /^rdma-ccm node: unknown option --hearbeat-ms \(did you mean --heartbeat-ms\?\)$/,
    ],
    [['status', '--contrl', '/x'], /^rdma-ccm status: unknown option --contrl \(did you mean --control\?\)$/],
    [['takeover', '2', '--bogus'], /^rdma-ccm takeover: unknown option --bogus$/],
    [
      ['giveback', '2', '--controll', '/x'],
      /^rdma-ccm giveback: unknown option --controll \(did you mean --control\?\)$/,
    ],
    [['rping', '-s', '--prot', '1'], /^rdma-ccm rping: unknown option --prot \(did you mean --port\?\)$/],
    [['rping', '-s', '-x'], /^rdma-ccm rping: unknown option -x$/],
    [
      ['lab', '--stak', 'trixie', '--', 'true'],
      /^rdma-ccm lab: unknown option --stak \(did you mean --stack\?\)$/,
    ],
  ])('%j: an unknown flag, with the nearest known one', (args, line) => refused(args, line));

  it.each([
    [['node', '--port'], /^rdma-ccm node: --port needs a value$/],
    [['node', '--port', '--json'], /^rdma-ccm node: --port needs a value$/],
    [['status', '--control'], /^rdma-ccm status: --control needs a value$/],
    [['status', '--control', '--json'], /^rdma-ccm status: --control needs a value$/],
    [['takeover', '2', '--control'], /^rdma-ccm takeover: --control needs a value$/],
    [['giveback', '--control', '/x'], /^rdma-ccm giveback: which partner\? \(a node id\)$/],
    [['rping', '-c', '-a'], /^rdma-ccm rping: -a needs a value$/],
    [['lab', '--timeout'], /^rdma-ccm lab: --timeout needs a value$/],
    [['lab', '--b', '--', 'true'], /^rdma-ccm lab: --b needs a value$/],
  ])('%j: a missing value', (args, line) => refused(args, line));

  it.each([
    [['takeover', 'two'], /^rdma-ccm takeover: the partner is a node id, got two$/],
    [['status', 'extra'], /^rdma-ccm status: unexpected argument extra$/],
    [['devices', '--json=yes'], /^rdma-ccm devices: --json takes no value, got yes$/],
    [['rping', '-s', '-p', 'x'], /^rdma-ccm rping: -p needs a non-negative integer up to 65535, got x$/],
    [
      ['lab', '--topology', 'ring', '--', 'true'],
      /^rdma-ccm lab: --topology must be veth or two-guests, got ring$/,
    ],
    [['lab', 'selftest', '--delay-b', '1'], /^rdma-ccm lab selftest: unknown option --delay-b$/],
    [['lab'], /^rdma-ccm lab: no command given$/],
  ])('%j: a value or an argument out of place', (args, line) => refused(args, line));

  it('--version prints the package version', () => {
    const r = run('--version');
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.status).toBe(0);
  });

  it('takeover --json with no node on the control socket: one JSON line, ok false, exit 1', () => {
    const r = run('takeover', '2', '--json', '--control', '/nonexistent/rdma-ccm.sock');
    expect(JSON.parse(r.stdout)).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      ok: false,
      code: 'ENOENT',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
  });

  it('an unknown command, with the nearest known one', () => {
    const r = run('stauts');
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^rdma-ccm: unknown command 'stauts' \(did you mean "status"\?\)\nusage: rdma-ccm <command>/,
    );
    expect(r.status).toBe(2);
  });

  it('no command: the usage on stderr, exit 2', () => {
    const r = run();
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^usage: rdma-ccm <command>/);
    expect(r.status).toBe(2);
  });
});
