// The CCM as operators run it, on rxe: `rdma-ccm node` under systemd's notification protocol (READY,
// STATUS, WATCHDOG, STOPPING over a real unix datagram socket), its control socket and `rdma-ccm status`
// against a live session, and the OCF resource agent checked by Pacemaker's ocf-tester, with monitor
// passing while the partner is gone and the partner's state in a node attribute.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import type { NodeStatus } from '../../lib/ccm';
import { datagramSink, type DatagramSink } from '../support/datagram-sink';
import { runCommand } from '../../lib/lab';
import { serveMetrics } from '../../lib/cli/metrics-server';
import { packageVersion } from '../../lib/cli/version';
import { cliNode, lab, stopNodes, testNode, until } from './lab';

const env = lab();
const [addrA, addrB] = env.addrs;
const CLUSTER = 4343n;
const root = resolve(__dirname, '..', '..');
const cli = join(root, 'dist', 'cli.js');
let port = 7900;
const cleanup: (() => unknown)[] = [];

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await stopNodes();
});

/** A scratch folder on the guest's tmpfs (the shared work folder, over 9p, cannot hold unix sockets). */
function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'rdma-ccm-ops-'));
}

/** Node 2, in this process, as the partner of the node under test (node 1 at addrA). */
async function partner(p: number) {
  const node = testNode({
    clusterId: CLUSTER,
    nodeId: 2,
    address: addrB,
    port: p,
    partners: [{ nodeId: 1, address: addrA, port: p }],
    heartbeatMs: 100,
    partnerDownMs: 1000,
    backoff: { minMs: 50, maxMs: 300, jitter: 0.2 },
  });
  await node.n.start();
  return node;
}

/** `rdma-ccm node` as node 1, with extra flags and environment. */
function nodeOne(p: number, args: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  return cliNode(
    [
      '--cluster-id',
      String(CLUSTER),
      '--node-id',
      '1',
      '--address',
      addrA,
      '--port',
      String(p),
      '--partner',
      `2@${addrB}:${p}`,
      '--heartbeat-ms',
      '100',
      '--partner-down-ms',
      '1000',
      ...args,
    ],
    extraEnv,
  ).c;
}

const rdmaCcm = (...args: string[]) => runCommand(process.execPath, [cli, ...args]);

/**
 * The environment for tools that are not ours (ocf-tester, its shell, xmllint): without the sanitizer
 * runtime the ASan run preloads into this process and the sanitized addon it names. The node such a tool
 * starts gets both back through the wrapper (`sanitizerEnv`), so it is checked as every node here is.
 */
const { LD_PRELOAD: preload, RDMA_CCM_ADDON: addon, ...toolEnv } = process.env;
const sanitizerEnv = [preload && `LD_PRELOAD=${preload}`, addon && `RDMA_CCM_ADDON=${addon}`]
  .filter(Boolean)
  .join(' ');

describe('operations on rxe', () => {
  it('rdma-ccm node speaks systemd: READY once listening, STATUS per session change, WATCHDOG at half the period, STOPPING', async () => {
    const p = port++;
    const dir = scratch();
    const sink: DatagramSink = await datagramSink(join(dir, 'notify'));
    cleanup.push(() => sink.close());
    await partner(p);
    const c = nodeOne(p, ['--no-control'], { NOTIFY_SOCKET: join(dir, 'notify'), WATCHDOG_USEC: '400000' });
    const ready = await sink.next((m) => m.startsWith('READY=1'));
    expect(ready).toMatch(
      new RegExp(
        `^READY=1\\nSTATUS=listening on ${addrA.replace(/\./g, '\\.')}:${p}; node 1 BOOTING: 0 of 1 partners in session\\nMAINPID=${c.pid}$`,
      ),
    );
    await sink.next((m) => m === 'STATUS=node 1 BOOTING: 1 of 1 partners in session (2)');
    const at = sink.messages.length;
    await new Promise((r) => setTimeout(r, 1500));
    // Every 200 ms for 1.5 s: under the lab's emulator, at least a few of them.
    expect(sink.messages.slice(at).filter((m) => m === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(4);
    c.kill('SIGTERM');
    await sink.next((m) => m.startsWith('STOPPING=1'));
    await new Promise((r) => c.once('exit', r));
  });

  it('rdma-ccm status reads a live node over a control socket only its owner can open', async () => {
    const p = port++;
    const dir = scratch();
    const control = join(dir, 'ctl', 'node.sock');
    const b = await partner(p);
    nodeOne(p, ['--control', control]);
    await until(() => b.n.session(1) !== null, 'the session');
    let s: NodeStatus | undefined;
    await until(async () => {
      const r = await rdmaCcm('status', '--json', '--control', control);
      s = r.status === 0 ? JSON.parse(r.stdout) : undefined;
      return s?.partners[0]?.state === 'ESTABLISHED';
    }, 'an established session in the status');
    expect(s).toMatchObject({
      version: packageVersion(),
      node: 1,
      clusterId: String(CLUSTER),
      address: addrA,
      port: p,
      phase: 'running',
      witness: 'none',
      authenticated: false,
    });
    // What scripts read (the OCF agent): the version first, and each partner's id and state first.
    expect(Object.keys(s!)[0]).toBe('version');
    expect(JSON.stringify(s)).toContain('{"partner":2,"state":"ESTABLISHED",');
    expect(s!.partners[0]).toMatchObject({
      partner: 2,
      address: addrB,
      port: p,
      state: 'ESTABLISHED',
      session: { partnerGeneration: b.n.generation.toString(), partnerState: 'BOOTING' },
    });
    expect(s!.partners[0].session!.heartbeatAgeMs).toBeLessThan(1000);
    expect(s!.partners[0].session!.links).toMatchObject([
      { link: 0, localAddress: addrA, remoteAddress: addrB, state: 'carrier' },
    ]);
    // The table, as drbdadm status prints resources.
    const table = await rdmaCcm('status', '--control', control);
    expect(table.status).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^node 1 BOOTING cluster:${CLUSTER} generation:\\d+ address:${addrA.replace(/\./g, '\\.')}:${p} up:\\S+ auth:none witness:none$`,
      ),
    );
    expect(lines[1]).toMatch(
      new RegExp(`^  partner 2 ${addrB.replace(/\./g, '\\.')}:${p} ESTABLISHED role:(initiator|responder)$`),
    );
    expect(lines[2]).toMatch(/^    partner-state:BOOTING generation:\d+ heartbeat-age:\d+ms since:\S+$/);
    expect(lines[3]).toMatch(
      new RegExp(
        `^    link 0 ${addrA.replace(/\./g, '\\.')} → ${addrB.replace(/\./g, '\\.')} carrier heartbeat-age:\\d+ms$`,
      ),
    );
    expect(lines[4]).toMatch(/^    mirror pending:0 acknowledged:0 received:0 duplicates:0 held:0$/);
    // Only the owner can reach it: the directory is 0700 and the socket 0600.
    expect(statSync(join(dir, 'ctl')).mode & 0o777).toBe(0o700);
    expect(statSync(control).mode & 0o777).toBe(0o600);
    // No node there: one line, exit 1.
    const none = await rdmaCcm('status', '--control', join(dir, 'nobody.sock'));
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^rdma-ccm status: no node answers on .*nobody\.sock: ENOENT\n$/);
  });

  it('rdma-ccm takeover and giveback over the control socket: refused until safe, then recorded; the rebooted partner waits until the giveback', async () => {
    const p = port++;
    const dir = scratch();
    const control = join(dir, 'ctl', 'node.sock');
    // A shared witness: the takeover is on the disk, so the rebooted partner knows of it before it may go
    // ACTIVE, whether or not its first handshake has run by then.
    const witness = join(dir, 'witness.img');
    writeFileSync(witness, '');
    nodeOne(p, ['--control', control, '--fence-cmd', 'true', '--witness', witness]);
    const partnerArgs = [
      '--cluster-id',
      String(CLUSTER),
      '--node-id',
      '2',
      '--address',
      addrB,
      '--port',
      String(p),
      '--partner',
      `1@${addrA}:${p}`,
      '--heartbeat-ms',
      '100',
      '--partner-down-ms',
      '1000',
      '--no-control',
      '--active-after',
      '500',
      '--witness',
      witness,
    ];
    let b = cliNode(partnerArgs);
    const status = async () =>
      JSON.parse((await rdmaCcm('status', '--json', '--control', control)).stdout || '{}') as NodeStatus;
    await until(
      async () => (await status()).partners?.[0]?.state === 'ESTABLISHED',
      'a session with partner 2',
    );
    // While the partner lives, a takeover is refused by the node itself.
    const early = await rdmaCcm('takeover', '2', '--control', control);
    expect(early.status).toBe(1);
    expect(early.stderr).toMatch(/^rdma-ccm takeover: .+ \(ERR_CCM_NOT_SAFE\)\n$/);
    const unknown = await rdmaCcm('takeover', '9', '--control', control);
    expect(unknown.stderr).toMatch(/\(ERR_CCM_UNKNOWN_PARTNER\)\n$/);
    // The partner dies; once it is fenced (the hook succeeds) the operator's takeover goes through.
    b.c.kill('SIGKILL');
    await b.gone;
    let taken = early;
    const refused = await rdmaCcm('takeover', '9', '--control', control, '--json');
    expect(refused.status).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, code: 'ERR_CCM_UNKNOWN_PARTNER' });
    await until(
      async () => (taken = await rdmaCcm('takeover', '2', '--control', control, '--json')).status === 0,
      'a takeover the node accepts',
      60_000,
    );
    expect(JSON.parse(taken.stdout)).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      ok: true,
      action: 'takeover',
      partner: 2,
      takeover: { partner: 2 },
    });
    expect((await status()).takeover).toMatchObject({ partner: 2 });
    // Booted again, the partner sees the takeover in its handshake and waits; the giveback lets it go ACTIVE.
    b = cliNode(partnerArgs);
    await until(
      () => b.events.some((e) => e.type === 'waiting-for-giveback'),
      'the partner waiting for the giveback',
      60_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.events.some((e) => e.type === 'state' && e.to === 'ACTIVE')).toBe(false);
    const back = await rdmaCcm('giveback', '2', '--control', control);
    expect(back).toMatchObject({ status: 0, stdout: 'gave partner 2 its resources back\n' });
    await until(
      () => b.events.some((e) => e.type === 'state' && e.to === 'ACTIVE'),
      'the partner ACTIVE after the giveback',
      30_000,
    );
    expect((await status()).takeover).toBeFalsy();
    const again = await rdmaCcm('giveback', '2', '--control', control);
    expect(again.stderr).toMatch(/\(ERR_CCM_STATE\)\n$/);
  }, 300_000); // a dozen CLI runs, each a Node start under the emulator: 90 s under the sanitizers alone, more in a loaded run

  it("serves Prometheus metrics over HTTP that move during a mirroring run, each append under its own durability, and merge into an application's registry", async () => {
    const p = port++;
    const metricsPort = 9464 + (p % 100);
    const b = await partner(p);
    const appRegistry = new Registry();
    new Counter({
      name: 'storage_daemon_writes_total',
      help: 'the application own',
      registers: [appRegistry],
    }).inc(3);
    const merged = Registry.merge([appRegistry, b.n.metrics]);
    // The application serves its merged registry as the node does its own: both are read over HTTP.
    const appServer = await serveMetrics(merged, '127.0.0.1', metricsPort + 100);
    cleanup.push(() => appServer.close());
    // Node 1 keeps node 2's log in a region it declares persistent (tmpfs), so node 2 may append persisted.
    nodeOne(p, [
      '--no-control',
      '--metrics',
      `127.0.0.1:${metricsPort}`,
      '--nvram',
      join(scratch(), 'log.nv'),
      '--nvram-persistent',
    ]);
    await until(() => b.n.session(1) !== null, 'the session');
    const scrape = async (at = metricsPort) => {
      const r = await fetch(`http://127.0.0.1:${at}/metrics`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain('text/plain');
      return r.text();
    };
    const value = (text: string, series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    // Node 2's side can be up before the node under test has finished its own side of the handshake.
    let before = '';
    await until(
      async () =>
        value((before = await scrape()), 'rdma_ccm_session_up{partner="2",state="ESTABLISHED"}') === 1,
      'the session in the metrics',
    );
    // One session, or more where the emulator (and a sanitizer) slowed a handshake into a retry: one handshake time each.
    const sessions = value(before, 'rdma_ccm_sessions_established_total{partner="2"}')!;
    expect(sessions).toBeGreaterThanOrEqual(1);
    expect(
      (value(before, 'rdma_ccm_handshake_seconds_count{partner="2",role="initiator"}') ?? 0) +
        (value(before, 'rdma_ccm_handshake_seconds_count{partner="2",role="responder"}') ?? 0),
    ).toBe(sessions);
    const gapsBefore = value(before, 'rdma_ccm_heartbeat_gap_seconds_count{partner="2"}') ?? 0;
    // The node and its link, each label what it is: the boot generation a value (no new series per boot),
    // both ends of the link as addresses alike.
    expect(value(before, `rdma_ccm_info{node="1",cluster="${CLUSTER}"}`)).toBe(1);
    expect(before).not.toMatch(/generation="/);
    expect(value(before, 'rdma_ccm_generation')).toBeGreaterThan(0);
    expect(
      value(
        before,
        `rdma_ccm_link_up{partner="2",link="0",local="${addrA}",remote="${addrB}",state="carrier"}`,
      ),
    ).toBe(1);
    // Node 2 mirrors 1 KiB records to the node under test: 200 delivered, 50 placed, 20 persisted.
    const s2 = b.n.session(1)!;
    const counts = { delivered: 200, placed: 50, persisted: 20 } as const;
    for (const [durability, n] of Object.entries(counts))
      await Promise.all(
        Array.from({ length: n }, () =>
          s2.mirror.append(Buffer.alloc(1024, 7), { durability: durability as keyof typeof counts }),
        ),
      );
    await new Promise((r) => setTimeout(r, 500));
    const after = await scrape();
    expect(value(after, 'rdma_ccm_heartbeat_gap_seconds_count{partner="2"}')!).toBeGreaterThan(gapsBefore);
    expect(value(after, 'rdma_ccm_heartbeat_age_seconds{partner="2"}')!).toBeLessThan(1);
    // The sender's side, from the application's merged registry over HTTP: each level under its own label.
    const mine = await scrape(metricsPort + 100);
    expect(value(mine, 'storage_daemon_writes_total')).toBe(3);
    for (const [durability, n] of Object.entries(counts)) {
      const labels = `{partner="1",durability="${durability}"}`;
      expect({
        durability,
        appends: value(mine, `rdma_ccm_mirror_appends_total${labels}`),
        bytes: value(mine, `rdma_ccm_mirror_bytes_total${labels}`),
        acks: value(mine, `rdma_ccm_mirror_acks_total${labels}`),
        latencies: value(mine, `rdma_ccm_mirror_append_latency_seconds_count${labels}`),
      }).toEqual({ durability, appends: n, bytes: n * 1024, acks: n, latencies: n });
    }
    expect(value(mine, 'rdma_ccm_mirror_pending{partner="1"}')).toBe(0);
    expect(
      value(
        mine,
        `rdma_ccm_link_up{partner="1",link="0",local="${addrB}",remote="${addrA}",state="carrier"}`,
      ),
    ).toBe(1);
    const notFound = await fetch(`http://127.0.0.1:${metricsPort}/other`);
    expect(notFound.status).toBe(404);
  });

  // Under the sanitizers this test repeats the shell agent and ocf-tester and no native path of its own
  // (its node's native calls are the other tests'): the sanitizer run leaves it out (RDMA_CCM_SANITIZED).
  it.skipIf(process.env.RDMA_CCM_SANITIZED === '1')(
    "the OCF resource agent passes ocf-tester; with the partner killed its monitor stays OCF_SUCCESS while the partner's node attribute changes",
    async () => {
      const p = port++;
      const dir = scratch();
      const config = join(dir, 'node.json');
      writeFileSync(
        config,
        JSON.stringify({
          clusterId: String(CLUSTER),
          nodeId: 1,
          address: addrA,
          port: p,
          partners: [{ nodeId: 2, address: addrB, port: p }],
          heartbeatMs: 100,
          partnerDownMs: 1000,
        }),
      );
      const binary = join(dir, 'rdma-ccm');
      writeFileSync(binary, `#!/bin/sh\nexec env ${sanitizerEnv} ${process.execPath} ${cli} "$@"\n`);
      chmodSync(binary, 0o755);
      chmodSync(dir, 0o755); // ocf-tester reads the agent's meta-data as nobody
      const agent = join(root, 'examples', 'ocf', 'rdma-ccm');
      const params = {
        binary,
        config,
        partner: '2',
        control: join(dir, 'ra', 'node.sock'),
        pidfile: join(dir, 'ra.pid'),
        log: join(dir, 'ra.log'),
        start_wait: '20',
      };
      const partnerArgs = [
        '--cluster-id',
        String(CLUSTER),
        '--node-id',
        '2',
        '--address',
        addrB,
        '--port',
        String(p),
        '--partner',
        `1@${addrA}:${p}`,
        '--heartbeat-ms',
        '100',
        '--partner-down-ms',
        '1000',
        '--no-control',
      ];
      const b = cliNode(partnerArgs);
      // ocf-tester runs where Pacemaker does not (no attrd_updater in the lab): the attribute calls are skipped.
      const tester = await runCommand(
        'ocf-tester',
        ['-n', 'ccm', ...Object.entries(params).flatMap(([k, v]) => ['-o', `${k}=${v}`]), agent],
        { timeoutMs: 400_000, env: toolEnv },
      );
      expect(`${tester.stdout}${tester.stderr}`).toContain(`${agent} passed all tests`);
      expect(tester.status).toBe(0);
      // Pacemaker's attribute daemon is not running in the lab: attrd_updater is a stand-in on PATH that
      // records each call, as the agent makes them.
      const bin = join(dir, 'bin');
      const calls = join(dir, 'attrd.calls');
      mkdirSync(bin);
      writeFileSync(calls, '');
      writeFileSync(join(bin, 'attrd_updater'), `#!/bin/sh\necho "$*" >>${calls}\n`);
      chmodSync(join(bin, 'attrd_updater'), 0o755);
      const attribute = () =>
        readFileSync(calls, 'utf8')
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('-n rdma-ccm-partner-2 '))
          .pop();
      const ra = (action: string) =>
        runCommand(agent, [action], {
          timeoutMs: 120_000,
          env: {
            ...toolEnv,
            PATH: `${bin}:${toolEnv.PATH}`,
            OCF_ROOT: '/usr/lib/ocf',
            OCF_RESOURCE_INSTANCE: 'ccm',
            ...Object.fromEntries(Object.entries(params).map(([k, v]) => [`OCF_RESKEY_${k}`, v])),
          },
        });
      cleanup.push(() => ra('stop'));
      expect((await ra('start')).status).toBe(0);
      expect((await ra('monitor')).status).toBe(0);
      expect(attribute()).toBe('-n rdma-ccm-partner-2 -U ESTABLISHED');
      // The partner dies: the survivor's resource stays healthy on every monitor, and the attribute says why.
      b.c.kill('SIGKILL');
      await b.gone;
      const monitors: number[] = [];
      await until(
        async () => {
          monitors.push((await ra('monitor')).status ?? -1);
          return attribute() !== '-n rdma-ccm-partner-2 -U ESTABLISHED';
        },
        'the attribute leaving ESTABLISHED',
        60_000,
      );
      expect(attribute()).toMatch(/^-n rdma-ccm-partner-2 -U (CONNECTING|ACCEPTING|WAITING)$/);
      expect(monitors.every((rc) => rc === 0)).toBe(true);
      // Back, the partner's session is in the attribute again.
      cliNode(partnerArgs);
      await until(
        async () =>
          (await ra('monitor')).status === 0 && attribute() === '-n rdma-ccm-partner-2 -U ESTABLISHED',
        'the attribute ESTABLISHED with the partner back',
        60_000,
      );
      expect((await ra('stop')).status).toBe(0);
      expect(attribute()).toBe('-n rdma-ccm-partner-2 -D');
      expect((await ra('monitor')).status).toBe(7);
    },
    600_000,
  ); // ocf-tester starts and stops the node several times: minutes under the emulator
});
