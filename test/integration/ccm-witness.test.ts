// The witness on rxe: two nodes with two links each (the lab's veth pair and a private one) and a
// witness disk file both reach; partner 2 is the CLI in its own process (--witness). Every link cut
// while both run is an interconnect-down on both sides, never a partner-down; a killed partner is a
// partner-down only once its witness heartbeat stopped, and a sector forged into its slot meanwhile is
// refused and changes nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CcmOptions } from '../../lib/ccm';
import { decodeWitness, encodeWitness, WITNESS } from '../../lib/ccm/wire';
import { contextFor } from '../../lib/cm';
import {
  cliNode,
  heldResources,
  leakedSince,
  next,
  recordAttack,
  recordFault,
  stopNodes,
  testNode,
  twoLinks,
  type TwoLinks,
} from './lab';

const CLUSTER = 6161n;
const SECRET = 'the witness knows';
let links: TwoLinks;
let A: string[];
let B: string[];
let port = 7750;
let baseline: Record<string, number> = {};

beforeAll(async () => {
  links = twoLinks('wit', 3);
  A = links.a;
  B = links.b;
  for (const a of [...A, ...B]) await contextFor(a);
  baseline = heldResources();
});
afterEach(async () => {
  await stopNodes();
  links.cutAll(false);
});
afterAll(() => links.remove());

function disk(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-witness-')), 'witness.img');
  closeSync(openSync(path, 'w'));
  return path;
}

const timing = { heartbeatMs: 100, partnerDownMs: 1500 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// No udev in the guest: dmsetup makes the /dev/mapper nodes itself.
const DM_ENV = { ...process.env, DM_DISABLE_UDEV: '1' };
// Twenty rounds to a verdict: a partner slowed by the emulator and the sanitizers is still seen alive.
const witnessTiming = { intervalMs: 200, timeoutMs: 4000 };

function nodeA(p: number, path: string, extra: Partial<CcmOptions> = {}) {
  return testNode({
    clusterId: CLUSTER,
    nodeId: 1,
    address: A,
    port: p,
    partners: [{ nodeId: 2, address: B, port: p }],
    secret: SECRET,
    ...timing,
    backoff: { minMs: 50, maxMs: 1000, jitter: 0.2 },
    connectTimeoutMs: 3000,
    witness: { path, ...witnessTiming },
    ...extra,
  });
}

/** Node `id` (1 on A's addresses, 2 on B's) as the CLI in its own process. */
function cliOf(id: 1 | 2, p: number, path: string, extra: string[] = []) {
  const [mine, theirs] = id === 1 ? [A, B] : [B, A];
  return cliNode([
    '--no-control',
    '--cluster-id',
    String(CLUSTER),
    '--node-id',
    String(id),
    '--address',
    mine[0],
    '--address',
    mine[1],
    '--port',
    String(p),
    '--partner',
    `${3 - id}@${theirs.join(',')}:${p}`,
    '--secret',
    SECRET,
    '--heartbeat-ms',
    '100',
    '--partner-down-ms',
    '1500',
    '--witness',
    path,
    '--witness-interval-ms',
    String(witnessTiming.intervalMs),
    '--witness-timeout-ms',
    String(witnessTiming.timeoutMs),
    ...extra,
  ]);
}

function cliB(p: number, path: string, extra: string[] = []) {
  return cliOf(2, p, path, extra);
}

describe('CCM with a witness disk on rxe', () => {
  it('every link cut while both nodes run: interconnect-down on both sides, no partner-down; links back, the session returns', async () => {
    const p = port++;
    const path = disk();
    const a = nodeA(p, path);
    const b = cliB(p, path);
    await a.n.start();
    await next(a.events, 'link-up', (e) => e.linksUp === 2);
    await next(b.events, 'link-up', (e) => e.linksUp === 2);
    for (
      const end = Date.now() + 20_000;
      a.n.status().partners[0].witness?.verdict !== 'alive';
      await new Promise((r) => setTimeout(r, 100))
    )
      if (Date.now() > end)
        throw new Error(
          `partner never alive on the witness: ${JSON.stringify(a.n.status().partners[0].witness)}`,
        );
    const generation = a.n.session(2)!.partnerGeneration.toString();
    const from = a.events.length;
    links.cutAll(true);
    const cut = await next(a.events, 'interconnect-down', () => true, 60_000, from);
    expect(cut.witness).toBe('alive');
    expect(cut.links.map((l) => l.link)).toEqual([0, 1]);
    await next(b.events, 'interconnect-down', (e) => e.witness === 'alive', 60_000);
    // Well past the witness timeout, the partner is still not declared down on either side.
    await new Promise((r) => setTimeout(r, 2 * witnessTiming.timeoutMs));
    expect([...a.events, ...b.events].some((e) => e.type === 'partner-down')).toBe(false);
    links.cutAll(false);
    const again = await next(a.events, 'established', () => true, 90_000, from);
    expect(again.partnerGeneration).toBe(generation);
    recordFault(
      'every link cut while both nodes run, with a witness disk: interconnect-down on both sides, no partner-down, the session back on the same boot',
    );
  });

  it('a killed partner: partner-down once its witness heartbeat stops (forged and torn sectors refused), fenced once, takeover; rebooted, it waits for the giveback, then goes ACTIVE', async () => {
    const p = port++;
    const path = disk();
    const fenced: number[] = [];
    let b = cliB(p, path);
    // The fence makes sure the partner is off: it kills the partner's process (already dead here).
    const a = nodeA(p, path, {
      fence: async (id) => {
        fenced.push(id);
        try {
          process.kill(b.c.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      },
    });
    await a.n.start();
    await next(a.events, 'link-up', (e) => e.linksUp === 2);
    for (
      const end = Date.now() + 20_000;
      a.n.status().partners[0].witness?.verdict !== 'alive';
      await new Promise((r) => setTimeout(r, 100))
    )
      if (Date.now() > end) throw new Error('partner never alive on the witness');
    const dead = a.n.session(2)!.partnerGeneration.toString();
    const from = a.events.length;
    const killedAt = performance.now();
    b.c.kill('SIGKILL');
    await b.gone;
    // Its witness slot keeps changing, and none of it is life: heartbeats forged without the secret, then
    // torn ones (a real sector of the partner's, half of it never written), in turn.
    let turn = 0;
    const forge = setInterval(() => {
      const fd = openSync(path, 'r+');
      // Each kind for a while (seven writes, more than one round of reads), so that every kind is read.
      const torn = Math.floor(turn++ / 7) % 2 === 1;
      const s = encodeWitness(
        {
          clusterId: CLUSTER,
          nodeId: 2,
          state: 'ACTIVE',
          generation: 1n,
          heartbeat: BigInt(Date.now()),
          takeover: null,
        },
        new TextEncoder().encode(torn ? SECRET : 'a guess at the secret'),
      );
      if (torn) s.fill(0, WITNESS.size / 2);
      writeSync(fd, s, 0, WITNESS.size, WITNESS.slotSize);
      closeSync(fd);
    }, 100);
    let down;
    try {
      down = await next(a.events, 'partner-down', () => true, 60_000, from);
    } finally {
      clearInterval(forge);
    }
    expect(down.witness).toBe('stopped');
    expect(performance.now() - killedAt).toBeGreaterThanOrEqual(witnessTiming.timeoutMs - 1000);
    // No forged or torn sector ever passed for life. (A node that stalled itself may first call the witness
    // unavailable, an interconnect-down that takes nothing over, and then sees the partner stopped.)
    expect(
      a.events.slice(from).find((e) => e.type === 'interconnect-down' && e.witness === 'alive'),
      JSON.stringify(a.events.slice(from).filter((e) => e.type !== 'step' && e.type !== 'protocol-error')),
    ).toBeUndefined();
    for (const code of ['ERR_CCM_AUTH', 'ERR_CCM_CHECKSUM'])
      expect(
        a.events
          .slice(from)
          .some((e) => e.type === 'protocol-error' && e.block === 'witness' && e.code === code),
        code,
      ).toBe(true);
    const safe = await next(a.events, 'takeover-safe', () => true, 30_000, from);
    expect(safe).toMatchObject({ by: 'fence', generation: dead });
    expect(fenced).toEqual([2]);
    await a.n.takeover(2);

    // The partner boots again: it sees the takeover in the handshake and waits; ACTIVE only after the giveback.
    b = cliB(p, path, ['--active-after', '500']);
    await next(b.events, 'waiting-for-giveback', (e) => e.partner === 1, 90_000);
    await next(a.events, 'established', () => true, 60_000, from);
    await new Promise((r) => setTimeout(r, 2000));
    expect(b.events.some((e) => e.type === 'state' && e.to === 'ACTIVE')).toBe(false);
    await a.n.giveback(2);
    await next(b.events, 'giveback', (e) => e.direction === 'received', 30_000);
    await next(b.events, 'state', (e) => e.to === 'ACTIVE', 30_000);
    await next(a.events, 'partner-state', (e) => e.to === 'ACTIVE', 30_000, from);
    recordFault(
      'partner killed with a witness disk: partner-down only once its witness heartbeat stopped, fenced once, taken over; rebooted, it waited for the giveback and went ACTIVE after it',
    );
    recordAttack("heartbeats forged into a dead partner's witness slot without the secret");
    recordFault(
      "torn sectors (half unwritten) in a dead partner's witness slot: refused, never taken for life",
    );
  });

  it.each([
    {
      what: 'a fence hook that fails',
      extra: {
        fence: async () => {
          throw new Error('stonith_admin: no such device');
        },
      },
      told: 'fence-failed',
      says: /^stonith_admin: no such device$/,
      fault: 'a fence hook that fails: no takeover-safe, takeover refused',
    },
    {
      what: 'no fence, the partner watchdog required, a partner that arms none',
      extra: { witness: { path: '', ...witnessTiming, requirePartnerWatchdog: true } },
      told: 'takeover-unsafe',
      says: /arms no kernel watchdog/,
      fault:
        'a partner killed that arms no watchdog, one required (requirePartnerWatchdog): takeover-unsafe, no takeover-safe by the witness, takeover refused',
    },
  ] as const)('$what: no takeover-safe, and takeover() is refused', async ({ extra, told, says, fault }) => {
    const p = port++;
    const path = disk();
    const b = cliB(p, path);
    const a = nodeA(
      p,
      path,
      'witness' in extra ? { witness: { ...extra.witness, path } } : (extra as Partial<CcmOptions>),
    );
    await a.n.start();
    await next(a.events, 'established');
    const from = a.events.length;
    b.c.kill('SIGKILL');
    expect(await next(a.events, 'partner-down', () => true, 60_000, from)).toMatchObject({
      witness: 'stopped',
    });
    const e = await next(a.events, told, () => true, 30_000, from);
    expect('error' in e ? e.error : e.reason).toMatch(says);
    await new Promise((r) => setTimeout(r, 1500));
    expect(a.events.slice(from).some((x) => x.type === 'takeover-safe')).toBe(false);
    await expect(a.n.takeover(2)).rejects.toMatchObject({ code: 'ERR_CCM_NOT_SAFE' });
    recordFault(fault);
  });

  it('a partner paused past every threshold, with the witness as the only safety: a takeover is refused once it runs again; taken over while paused, it leaves ACTIVE first thing on resuming and waits for the giveback', async () => {
    const p = port++;
    const path = disk();
    const b = cliB(p, path, ['--active-after', '0']);
    const a = nodeA(p, path);
    await a.n.start();
    a.n.setState('ACTIVE');
    await next(a.events, 'established');
    for (
      const end = Date.now() + 30_000;
      a.n.session(2)?.partnerState !== 'ACTIVE' || a.n.status().partners[0].witness?.verdict !== 'alive';
      await new Promise((r) => setTimeout(r, 100))
    )
      if (Date.now() > end) throw new Error('partner never ACTIVE and alive on the witness');
    const witnessSaysB = () => a.n.status().partners[0].witness;
    const pauseUntilSafe = async () => {
      const from = a.events.length;
      b.c.kill('SIGSTOP');
      const down = await next(a.events, 'partner-down', () => true, 60_000, from);
      expect(down.witness).toBe('stopped');
      expect(await next(a.events, 'takeover-safe', () => true, 30_000, from)).toMatchObject({
        by: 'witness',
      });
    };

    // Paused, judged down by the witness alone, and resumed before the takeover: its witness heartbeat
    // moves again, so the takeover is no longer safe.
    await pauseUntilSafe();
    let resumedAt = b.events.length;
    const back = a.events.length;
    b.c.kill('SIGCONT');
    await next(b.events, 'stalled', () => true, 30_000, resumedAt);
    for (
      const end = Date.now() + 30_000;
      witnessSaysB()?.verdict !== 'alive';
      await new Promise((r) => setTimeout(r, 100))
    )
      if (Date.now() > end)
        throw new Error(`the resumed partner never alive on the witness: ${JSON.stringify(witnessSaysB())}`);
    await expect(a.n.takeover(2)).rejects.toMatchObject({ code: 'ERR_CCM_NOT_SAFE' });
    // Nobody took it over: the next session lets it go ACTIVE again.
    await next(a.events, 'established', () => true, 90_000, back);
    await next(b.events, 'state', (e) => e.to === 'ACTIVE', 30_000, resumedAt);

    // Paused again, and taken over this time.
    await pauseUntilSafe();
    const from = a.events.length;
    await a.n.takeover(2);
    resumedAt = b.events.length;
    const resumedTime = Date.now();
    b.c.kill('SIGCONT');
    // Its first act: out of ACTIVE, then the stall reported; nothing else before. (Both processes read one
    // clock: a line written before the pause and read late is told apart by its time.)
    await next(b.events, 'stalled', (e) => e.from === 'ACTIVE' && e.to === 'READY', 30_000, resumedAt);
    const afterResume = b.events.filter((e) => Date.parse(e.time) >= resumedTime);
    expect(
      afterResume.slice(0, 2).map((e) => (e.type === 'state' ? `state ${e.from}->${e.to}` : e.type)),
      JSON.stringify(b.events.slice(resumedAt - 3).map((e) => [e.type, e.time])),
    ).toEqual(['state ACTIVE->READY', 'stalled']);
    await next(b.events, 'waiting-for-giveback', (e) => e.partner === 1, 90_000, resumedAt);
    const again = await next(a.events, 'established', () => true, 90_000, from);
    expect(again.partnerState).not.toBe('ACTIVE');
    await new Promise((r) => setTimeout(r, 2000));
    // Never two owners: the partner never said ACTIVE while node 1 held its resources.
    expect(b.events.slice(resumedAt).some((e) => e.type === 'state' && e.to === 'ACTIVE')).toBe(false);
    expect(
      a.events
        .slice(from)
        .filter(
          (e) =>
            (e.type === 'partner-state' && e.to === 'ACTIVE') ||
            (e.type === 'protocol-error' && e.code === 'ERR_CCM_TAKEN_OVER_ACTIVE'),
        ),
    ).toEqual([]);
    expect(witnessSaysB()?.state).toBe('READY');
    await a.n.giveback(2);
    await next(b.events, 'giveback', (e) => e.direction === 'received', 30_000, resumedAt);
    await next(b.events, 'state', (e) => e.to === 'ACTIVE', 30_000, resumedAt);
    recordFault(
      'partner paused (SIGSTOP) past every threshold with the witness as the only safety, resumed: the takeover refused once its witness heartbeat moved again',
    );
    recordFault(
      'partner paused past every threshold and taken over by the witness alone, resumed: it left ACTIVE first, waited for the giveback, never two owners',
    );
  });

  it('both nodes paused together past every threshold, their session outliving it: each leaves ACTIVE, hears the other in a status read posted after the stall, and goes ACTIVE again; nobody taken over', async () => {
    const p = port++;
    const path = disk();
    const nodes = [cliOf(1, p, path, ['--active-after', '0']), cliOf(2, p, path, ['--active-after', '0'])];
    for (const n of nodes) {
      await next(n.events, 'state', (e) => e.to === 'ACTIVE', 90_000);
      await next(n.events, 'established', () => true, 90_000);
    }
    // A few status reads each way: both have seen the other ACTIVE.
    await new Promise((r) => setTimeout(r, 2000));
    const from = nodes.map((n) => n.events.length);
    // One host pausing both guests: both stop within a moment, for longer than the witness's timeout.
    for (const n of nodes) n.c.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 2 * witnessTiming.timeoutMs));
    for (const n of nodes) n.c.kill('SIGCONT');
    for (const [i, n] of nodes.entries()) {
      await next(n.events, 'stalled', (e) => e.from === 'ACTIVE' && e.to === 'READY', 30_000, from[i]);
      await next(
        n.events,
        'heard-since-stall',
        (e) => e.by === 'status-read' && e.unheard.length === 0,
        30_000,
        from[i],
      );
      await next(n.events, 'state', (e) => e.to === 'ACTIVE', 30_000, from[i]);
    }
    await new Promise((r) => setTimeout(r, 2000));
    // The same session throughout, nobody judged down or taken over: each owns only its own resources.
    for (const [i, n] of nodes.entries())
      expect(
        n.events
          .slice(from[i])
          .filter((e) =>
            [
              'partner-down',
              'takeover-safe',
              'takeover',
              'waiting-for-giveback',
              'established',
              'protocol-error',
            ].includes(e.type),
          ),
      ).toEqual([]);
    recordFault(
      'both nodes paused together (SIGSTOP) past every threshold, the session outliving it: both ACTIVE again once each read the other, no takeover',
    );
  });

  it('a node whose own witness writes hang (its device suspended) leaves ACTIVE before a partner could judge it stopped; with the interconnect cut too it is taken over while READY, and once its disk is back it waits for the giveback', async () => {
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { encoding: 'utf8', env: DM_ENV });
    // One RAM disk, seen by each node through a device of its own: suspending B's device hangs B's
    // witness I/O only, as a failing path or a hung controller would.
    const dev = (n: string) => `/dev/mapper/${n}`;
    for (const n of ['ccm-wit-a', 'ccm-wit-b']) sh(`dmsetup create ${n} --table "0 64 linear /dev/ram0 0"`);
    sh('dd if=/dev/zero of=/dev/ram0 bs=4096 count=8 oflag=direct status=none');
    try {
      const p = port++;
      const b = cliB(p, dev('ccm-wit-b'), ['--active-after', '0']);
      const a = nodeA(p, dev('ccm-wit-a'));
      await a.n.start();
      a.n.setState('ACTIVE');
      await next(b.events, 'state', (e) => e.to === 'ACTIVE', 90_000);
      await next(a.events, 'established', () => true, 90_000);
      const witnessSaysB = () => a.n.status().partners[0].witness;
      for (const end = Date.now() + 30_000; witnessSaysB()?.verdict !== 'alive'; await sleep(100))
        if (Date.now() > end) throw new Error('partner never alive on the witness');

      // With the session up: out of ACTIVE while its disk hangs, ACTIVE again once it lands and A is read.
      let from = b.events.length;
      const hungAt = Date.now();
      sh('dmsetup suspend ccm-wit-b');
      const lost = await next(b.events, 'stalled', (e) => e.cause === 'witness', 30_000, from);
      expect(lost).toMatchObject({ from: 'ACTIVE', to: 'READY' });
      expect(Date.parse(lost.time) - hungAt).toBeLessThan(witnessTiming.timeoutMs);
      await sleep(1000);
      expect(b.events.slice(from).some((e) => e.type === 'state' && e.to === 'ACTIVE')).toBe(false);
      sh('dmsetup resume ccm-wit-b');
      await next(b.events, 'heard-since-stall', (e) => e.unheard.length === 0, 30_000, from);
      await next(b.events, 'state', (e) => e.to === 'ACTIVE', 30_000, from);
      expect(a.events.some((e) => e.type === 'partner-down')).toBe(false);

      // Hung again with every link cut at once: A sees B's heartbeat stand still on the disk and takes
      // over, and B left ACTIVE before A could call it safe. Never two owners.
      from = b.events.length;
      const fromA = a.events.length;
      sh('dmsetup suspend ccm-wit-b');
      links.cutAll(true);
      const out = await next(b.events, 'stalled', (e) => e.cause === 'witness', 30_000, from);
      expect(out).toMatchObject({ from: 'ACTIVE', to: 'READY' });
      const down = await next(a.events, 'partner-down', () => true, 60_000, fromA);
      expect(down.witness).toBe('stopped');
      const safe = await next(a.events, 'takeover-safe', (e) => e.by === 'witness', 30_000, fromA);
      expect(Date.parse(out.time)).toBeLessThan(Date.parse(safe.time));
      await a.n.takeover(2);
      expect(b.events.slice(from).some((e) => e.type === 'state' && e.to === 'ACTIVE')).toBe(false);
      // Disk and links back: B reads the takeover (on the disk, or in the new session) and waits.
      sh('dmsetup resume ccm-wit-b');
      links.cutAll(false);
      await next(b.events, 'waiting-for-giveback', (e) => e.partner === 1, 90_000, from);
      await next(a.events, 'established', () => true, 90_000, fromA);
      await sleep(1000);
      expect(b.events.slice(from).some((e) => e.type === 'state' && e.to === 'ACTIVE')).toBe(false);
      await a.n.giveback(2);
      await next(b.events, 'state', (e) => e.to === 'ACTIVE', 30_000, from);
      recordFault(
        "a node's own witness device hung (dm suspend): out of ACTIVE before its partner could judge it stopped, ACTIVE again once its disk was back; hung with every link cut, taken over while READY, then waited for the giveback",
      );
    } finally {
      await stopNodes();
      for (const n of ['ccm-wit-b', 'ccm-wit-a']) sh(`dmsetup resume ${n} 2>/dev/null; dmsetup remove ${n}`);
    }
  });

  it('a node that arms the kernel watchdog (softdog): written from its witness round; paused, the watchdog expires and the survivor waits its msgwait after its last witness heartbeat; resumed with no session, it obeys the poison pill', async () => {
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { encoding: 'utf8' });
    const wdState = () => sh('cat /sys/class/watchdog/watchdog0/state 2>/dev/null || echo unknown').trim();
    const expiries = () =>
      sh('dmesg')
        .split('\n')
        .filter((l) => l.includes('softdog: Triggered')).length;
    // softdog's timeout, 2 s (the lab loads it with soft_noboot: an expiry is logged, not a reset).
    sh('wdctl -s 2 /dev/watchdog >/dev/null');
    const p = port++;
    const path = disk();
    const watchdog = ['--watchdog', '/dev/watchdog', '--watchdog-timeout-ms'];
    // A device whose timeout is not the one configured is refused before anything else.
    const wrong = spawnSync(
      process.execPath,
      [
        join(__dirname, '../../dist/cli.js'),
        'node',
        '--no-control',
        '--cluster-id',
        String(CLUSTER),
        '--node-id',
        '2',
        '--address',
        B[0],
        '--port',
        String(p),
        '--partner',
        `1@${A[0]}:${p}`,
        '--witness',
        path,
        ...watchdog,
        '3000',
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toContain('its timeout is 2 s, not the 3000 ms configured');
    const b = cliB(p, path, ['--active-after', '0', ...watchdog, '2000', '--msgwait-ms', '6000']);
    const a = nodeA(p, path);
    await a.n.start();
    await next(a.events, 'established', () => true, 90_000);
    await next(b.events, 'state', (e) => e.to === 'ACTIVE', 30_000);
    // Armed, written to from every round, and its msgwait on the disk for partners to read.
    expect(['active', 'unknown']).toContain(wdState());
    const before = expiries();
    await new Promise((r) => setTimeout(r, 3 * 2000));
    expect(expiries()).toBe(before);
    const at = WITNESS.slotSize;
    expect(
      decodeWitness(
        readFileSync(path).subarray(at, at + WITNESS.size),
        CLUSTER,
        2,
        new TextEncoder().encode(SECRET),
      ),
    ).toMatchObject({ msgwaitMs: 6000 });

    // Paused: the watchdog expires (a real one resets the host), and node 1 calls the takeover safe only
    // msgwait after the last witness heartbeat it saw, not at partner-down.
    const from = a.events.length;
    const stoppedAt = performance.now();
    b.c.kill('SIGSTOP');
    const down = await next(a.events, 'partner-down', () => true, 60_000, from);
    expect(down.witness).toBe('stopped');
    await expect(a.n.takeover(2)).rejects.toMatchObject({ code: 'ERR_CCM_NOT_SAFE' });
    const safe = await next(a.events, 'takeover-safe', () => true, 30_000, from);
    expect(safe).toMatchObject({ by: 'witness', msgwaitMs: 6000 });
    expect(performance.now() - stoppedAt).toBeGreaterThanOrEqual(6000 - 2 * witnessTiming.intervalMs);
    expect(expiries()).toBeGreaterThan(before);
    await a.n.takeover(2);

    // Resumed with every link cut: its first act is to leave ACTIVE; the takeover on the disk is the
    // poison pill it obeys, with no session to learn it from.
    links.cutAll(true);
    const resumedAt = b.events.length;
    b.c.kill('SIGCONT');
    await next(b.events, 'stalled', (e) => e.from === 'ACTIVE', 30_000, resumedAt);
    expect(await next(b.events, 'poison-pill', (e) => e.partner === 1, 30_000, resumedAt)).toBeTruthy();
    await next(b.events, 'waiting-for-giveback', (e) => e.partner === 1, 30_000, resumedAt);
    links.cutAll(false);
    await next(a.events, 'established', () => true, 90_000, from);
    await a.n.giveback(2);
    await next(b.events, 'state', (e) => e.to === 'ACTIVE', 30_000, resumedAt);
    expect(b.events.slice(resumedAt).filter((e) => e.type === 'state' && e.to === 'ACTIVE')).toHaveLength(1);
    // A clean stop disarms it (the magic close).
    b.c.kill('SIGTERM');
    await b.gone;
    expect(['inactive', 'unknown']).toContain(wdState());
    recordFault(
      'partner with a kernel watchdog (softdog) paused past every threshold: the watchdog expired, takeover-safe only after its msgwait, the poison pill obeyed on resuming with no session',
    );
  });

  it('leaves no QP, CQ, MR, PD or CM id behind', async () => {
    await new Promise((r) => setTimeout(r, 500));
    expect(leakedSince(baseline, heldResources())).toBe(0);
  });
});
