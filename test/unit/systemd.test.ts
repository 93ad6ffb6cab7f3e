// systemd integration on this host: the addon's sd_notify over a real AF_UNIX datagram socket, the
// notifier's READY/STATUS/STOPPING/WATCHDOG protocol (and silence while the event loop is blocked), the
// example unit checked by systemd-analyze (verify, and its sandbox's exposure score), and what the
// commands say on a host without RDMA.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemdNotifier } from '../../lib/cli/systemd';
import { native } from '../../lib/native';
import { getDevices } from '../../lib/verbs';
import { datagramSink, type DatagramSink } from '../support/datagram-sink';

const sinks: DatagramSink[] = [];
afterEach(() => {
  for (const s of sinks.splice(0)) s.close();
});

async function sink(address = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-notify-')), 'notify')) {
  const s = await datagramSink(address);
  sinks.push(s);
  return { s, address };
}

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? 'no code';
  }
  return 'no error';
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cli = resolve(__dirname, '..', '..', 'dist', 'cli.js');

describe('systemd notifications', () => {
  it('sends one datagram to a socket path or an abstract name; refuses bad arguments and names a missing socket', async () => {
    const { s, address } = await sink();
    native.sdNotify(address, 'READY=1\nSTATUS=hello');
    expect(await s.next((m) => m.startsWith('READY'))).toBe('READY=1\nSTATUS=hello');
    const abstract = `@rdma-ccm-test-${process.pid}`;
    const a = await sink(abstract);
    native.sdNotify(abstract, 'WATCHDOG=1');
    expect(await a.s.next(() => true)).toBe('WATCHDOG=1');
    expect(code(() => native.sdNotify(join(tmpdir(), `no-such-socket-${process.pid}`), 'READY=1'))).toBe(
      'ENOENT',
    );
    expect(code(() => native.sdNotify('relative/path', 'READY=1'))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => native.sdNotify(`/${'x'.repeat(200)}`, 'READY=1'))).toBe('ERR_OUT_OF_RANGE');
    // @ts-expect-error a number for the address, on purpose
    expect(code(() => native.sdNotify(42, 'READY=1'))).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('READY, STATUS and STOPPING as systemd reads them; WATCHDOG at half the period, none while the loop is blocked, none after stopping', async () => {
    const { s, address } = await sink();
    const sd = new SystemdNotifier({ NOTIFY_SOCKET: address, WATCHDOG_USEC: '100000' });
    expect(sd.watchdogMs).toBe(50);
    sd.ready('listening; 0 of 1 partners in session');
    expect(await s.next((m) => m.startsWith('READY'))).toBe(
      `READY=1\nSTATUS=listening; 0 of 1 partners in session\nMAINPID=${process.pid}`,
    );
    await sleep(400);
    const beats = s.messages.filter((m) => m === 'WATCHDOG=1').length;
    expect(beats).toBeGreaterThanOrEqual(5);
    // A blocked event loop sends nothing: systemd would see the silence and restart the unit.
    const before = s.messages.length;
    const until = Date.now() + 400;
    while (Date.now() < until);
    await sleep(30);
    expect(s.messages.slice(before).filter((m) => m === 'WATCHDOG=1').length).toBeLessThanOrEqual(2);
    sd.status('1 of 1 partners in session (2)');
    await s.next((m) => m === 'STATUS=1 of 1 partners in session (2)');
    sd.stopping('node 1 stopping');
    await s.next((m) => m.startsWith('STOPPING'));
    const after = s.messages.length;
    await sleep(200);
    expect(s.messages.slice(after)).toEqual([]);
    expect(sd.lastError).toBeNull();
  });

  it('does nothing without NOTIFY_SOCKET, runs no watchdog for another process, and never throws at the node', async () => {
    const off = new SystemdNotifier({});
    expect(off.enabled).toBe(false);
    off.ready('x');
    expect(
      new SystemdNotifier({
        NOTIFY_SOCKET: '/run/x',
        WATCHDOG_USEC: '100000',
        WATCHDOG_PID: String(process.pid + 1),
      }).watchdogMs,
    ).toBeUndefined();
    const gone = new SystemdNotifier({ NOTIFY_SOCKET: join(tmpdir(), `gone-${process.pid}`) });
    gone.ready('x');
    expect(gone.lastError?.code).toBe('ENOENT');
  });

  const unit = resolve(__dirname, '..', '..', 'examples', 'rdma-ccm.service');

  it('ships a unit that systemd-analyze verifies without a word', () => {
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toBe('');
  });

  it('ships a sandboxed unit: systemd-analyze security rates its exposure at most 2.5, running the installed command', () => {
    // --threshold is in tenths: the command fails when the exposure is above 2.5 (it was 9.6 unsandboxed).
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=25', unit], {
      encoding: 'utf8',
    });
    const score = /Overall exposure level for rdma-ccm\.service: (\d+\.\d)/.exec(r.stdout)?.[1];
    expect({ score, status: r.status }).toEqual({ score: expect.stringMatching(/^[0-2]\.\d$/), status: 0 });
    const text = readFileSync(unit, 'utf8');
    expect(text).toMatch(/^ExecStart=\/usr\/bin\/env rdma-ccm node /m);
    for (const line of [
      'DevicePolicy=closed',
      'DeviceAllow=char-infiniband_verbs rw',
      'LimitMEMLOCK=infinity',
      'CapabilityBoundingSet=',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
    ])
      expect(text.split('\n')).toContain(line);
  });
});

describe('commands on a host without RDMA', () => {
  it('say so in one line with what to do (or, where RDMA exists, list the devices)', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20_000 });
    if (getDevices().length > 0) {
      const r = run('devices', '--json');
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout).length).toBe(getDevices().length);
      return;
    }
    for (const args of [
      [
        'node',
        '--cluster-id',
        '1',
        '--node-id',
        '1',
        '--address',
        '10.99.0.1',
        '--port',
        '7471',
        '--partner',
        '2@10.99.0.2:7471',
      ],
      ['rping', '-c', '-a', '10.99.0.1', '-C', '1'],
      ['rping', '-s', '-a', '10.99.0.1', '-C', '1'],
    ]) {
      const r = run(...args);
      expect(r.status).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /no RDMA device on this host: load rdma_rxe and add a device .*rdma-ccm lab -- /,
      );
      expect(r.stderr).not.toContain('ENODEV');
    }
    const d = run('devices');
    expect(d.status).toBe(0);
    expect(d.stderr).toMatch(/^rdma-ccm devices: no RDMA device on this host/);
  });
});
