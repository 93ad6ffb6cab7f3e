// The cluster connection manager on real rxe devices (rxe0/10.99.0.1 ↔ rxe1/10.99.0.2): the handshake
// against a partner that comes later, simultaneous starts, restarts with a new generation, link
// failures, refused partners, hostile memory contents, and mirrored data that really arrives.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CcmEvent, type CcmOptions, type Endpoint } from '../../lib/ccm';
import { rdmaTransport } from '../../lib/ccm/rdma-transport';
import { decodeAccept, encodeConnect } from '../../lib/ccm/wire';
import { contextFor } from '../../lib/cm';
import {
  cliNode,
  cutLink,
  heldResources,
  lab,
  leakedSince,
  next,
  recordFault,
  stopNodes,
  testNode,
  until,
  type CliNode,
} from './lab';

const env = lab();
const [addrA, addrB] = env.addrs;
const CLUSTER = 4242n;
let port = 7600;

let baseline: Record<string, number> = {};
beforeAll(async () => {
  // The library keeps one CM id per device in use (and with it librdmacm's PD of that device) for the
  // life of the process: part of the baseline, not a leak.
  await contextFor(addrA);
  await contextFor(addrB);
  baseline = heldResources();
});

afterEach(async () => {
  await stopNodes();
  cutLink(false);
});

function node(id: 1 | 2, p: number, extra: Partial<CcmOptions> = {}) {
  const partner = { nodeId: id === 1 ? 2 : 1, address: id === 1 ? addrB : addrA, port: p };
  return testNode({
    clusterId: CLUSTER,
    nodeId: id,
    address: id === 1 ? addrA : addrB,
    port: p,
    partners: [partner],
    heartbeatMs: 100,
    partnerDownMs: 1500,
    backoff: { minMs: 50, maxMs: 500, jitter: 0.2 },
    ...extra,
  });
}

const cliArgs = (p: number) => [
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
  '1500',
];
/** Node 2 as its own process (the CLI), printing each mirrored record it receives. */
const cliPartner = (p: number) => cliNode(['--records', ...cliArgs(p)]);
const payloads = (b: CliNode) => b.records.map((r) => r.payload);

const types = (events: CcmEvent[]) => events.map((e) => e.type);

describe('CCM on rxe', () => {
  it('reaches a partner that starts seconds later, in four one-sided steps, and mirrors data that arrives', async () => {
    const p = port++;
    const a = node(1, p);
    await a.n.start();
    await next(a.events, 'attempt-failed');
    await new Promise((r) => setTimeout(r, 2000));
    const b = node(2, p);
    await b.n.start();
    const [ea, eb] = await Promise.all([next(a.events, 'established'), next(b.events, 'established')]);
    expect([ea.role, eb.role].sort()).toEqual(['initiator', 'responder']);
    const init = ea.role === 'initiator' ? a : b;
    const steps = init.events
      .filter((e) => e.type === 'step' && e.role === 'initiator')
      .map((e) => (e as { step: string }).step);
    expect(steps.slice(steps.lastIndexOf('connect'))).toEqual([
      'connect',
      'read-status',
      'write-hello',
      'read-echo',
      'write-commit',
    ]);
    // A probed B before B existed: refused connects, each followed by a backoff.
    expect(
      a.events.filter((e) => e.type === 'attempt-failed' && e.step === 'connect').length,
    ).toBeGreaterThan(1);

    // The daemon on B becomes ACTIVE; A reads it from B's status block.
    b.n.setState('active');
    await next(a.events, 'partner-state', (e) => e.to === 'ACTIVE');

    const sa = a.n.session(2)!;
    const sb = b.n.session(1)!;
    const got: Buffer[] = [];
    sb.mirror.on('record', (_s, payload) => got.push(payload));
    const records = Array.from({ length: 300 }, (_, i) => Buffer.from(`record ${i} `.repeat(1 + (i % 40))));
    const seqs = await Promise.all(records.map((r) => sa.mirror.append(r)));
    expect(seqs[299]).toBe(300n);
    expect(got.map((b) => b.toString())).toEqual(records.map((r) => r.toString()));
  });

  it('yields exactly one session when both partners start at once', async () => {
    const p = port++;
    const a = node(1, p);
    const b = node(2, p);
    await Promise.all([a.n.start(), b.n.start()]);
    await Promise.all([next(a.events, 'established'), next(b.events, 'established')]);
    await new Promise((r) => setTimeout(r, 3000));
    expect(types(a.events).filter((t) => t === 'established')).toHaveLength(1);
    expect(types(b.events).filter((t) => t === 'established')).toHaveLength(1);
    expect(types(a.events)).not.toContain('session-closed');
  });

  it('sees a partner process killed and restarted: partner-down, then a new generation', async () => {
    const p = port++;
    const a = node(1, p);
    await a.n.start();
    const startB = () => cliNode(cliArgs(p)).c;
    const b = startB();
    const e1 = await next(a.events, 'established');
    b.kill('SIGKILL');
    const down = await next(a.events, 'partner-down');
    expect(down.detectionMs).toBeGreaterThan(0);
    const from = a.events.length;
    startB(); // b again: stopped with the other processes after the test
    const rb = await next(a.events, 'partner-rebooted', () => true, 60_000, from);
    expect(rb.oldGeneration).toBe(e1.partnerGeneration);
    expect(rb.newGeneration).not.toBe(e1.partnerGeneration);
    const e2 = await next(a.events, 'established', () => true, 60_000, from);
    expect(e2.partnerGeneration).toBe(rb.newGeneration);
    recordFault('partner process killed and restarted');
  });

  it('sees a partner killed under full-rate mirroring: every record it acknowledged had reached its application, none twice; appends in flight learn it rebooted', async () => {
    const p = port++;
    const a = node(1, p);
    await a.n.start();
    const b = cliPartner(p);
    await next(a.events, 'established');
    const sa = await a.n.waitForSession(2, { timeoutMs: 30_000 });
    // 32 writers keep the mirror's window full; each appends its next record as soon as the last resolves.
    const acked: string[] = [];
    const failures: { code?: string; maybeDelivered?: boolean }[] = [];
    let n = 0;
    const writer = async () => {
      for (;;) {
        const r = `record #${n++}`;
        try {
          await sa.mirror.append(Buffer.from(r));
          acked.push(r);
        } catch (e) {
          failures.push(e as { code?: string });
          return;
        }
      }
    };
    const writers = Promise.all(Array.from({ length: 32 }, writer));
    // A thousand records acknowledged before the kill, however long the emulator takes for them.
    await until(
      () => acked.length >= 1000 || failures.length > 0,
      'a thousand records acknowledged',
      100_000,
    );
    expect(failures).toEqual([]);
    const from = a.events.length;
    b.c.kill('SIGKILL');
    await next(a.events, 'partner-down', () => true, 60_000, from);
    await b.gone; // everything the killed process printed has been read
    const b2 = cliPartner(p);
    const rb = await next(a.events, 'partner-rebooted', () => true, 60_000, from);
    await writers;
    // Each writer had one append in flight: held across the outage, then refused as the partner's new boot came.
    expect(failures).toHaveLength(32);
    expect(failures.every((f) => f.code === 'ERR_CCM_PARTNER_REBOOTED')).toBe(true);
    const delivered = new Set(payloads(b));
    expect(delivered.size).toBe(b.records.length); // none twice
    expect(acked.filter((r) => !delivered.has(r))).toEqual([]); // every acknowledged one had arrived
    // What arrived without its ack can only be among the appends that were refused as maybe delivered.
    expect(b.records.length - acked.length).toBeLessThanOrEqual(
      failures.filter((f) => f.maybeDelivered).length,
    );
    // The new boot's session mirrors from a fresh stream.
    await next(a.events, 'established', (e) => e.partnerGeneration === rb.newGeneration, 60_000, from);
    for (const end = Date.now() + 60_000; Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 1500));
      if (a.n.session(2) && !a.n.session(2)!.closed) break;
    }
    expect(await a.n.session(2)!.mirror.append(Buffer.from('after the kill'))).toBe(1n);
    for (const end = Date.now() + 10_000; !payloads(b2).includes('after the kill') && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 25));
    expect(payloads(b2)).toEqual(['after the kill']);
    recordFault('partner process killed under full-rate mirroring', { records: b.records.length + 1 });
  });

  it('sees a partner process paused past the threshold and resumed: partner-down, the same boot again, and every record appended meanwhile delivered exactly once, in order', async () => {
    const p = port++;
    const a = node(1, p, { mirrorHoldMs: 120_000 });
    await a.n.start();
    const b = cliPartner(p);
    await next(a.events, 'established');
    // One writer, always on the current session: the order of appends is the order records must arrive in.
    const acked: string[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; ) {
        const s = a.n.session(2);
        if (!s || s.closed) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        const r = `record #${i}`;
        try {
          await s.mirror.append(Buffer.from(r)); // held across the pause when it was in flight
        } catch (e) {
          if ((e as { code?: string }).code === 'ERR_CCM_SESSION_CLOSED' && s.closed) continue; // not taken: append again
          throw e;
        }
        acked.push(r);
        i++;
      }
    })();
    const until = async (cond: () => boolean, what: string) => {
      for (const end = Date.now() + 60_000; !cond(); ) {
        if (Date.now() > end) throw new Error(`${what}; node 1 saw ${types(a.events).join(' ')}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await until(() => acked.length >= 50, 'no 50 records before the pause');
    const from = a.events.length;
    b.c.kill('SIGSTOP');
    await next(a.events, 'partner-down', () => true, 60_000, from);
    await new Promise((r) => setTimeout(r, 1000));
    b.c.kill('SIGCONT');
    await next(a.events, 'established', () => true, 60_000, from);
    const resumedAt = acked.length;
    await until(() => acked.length >= resumedAt + 50, 'no 50 records after the pause');
    stop = true;
    await writer;
    expect(a.events.slice(from).some((e) => e.type === 'partner-rebooted')).toBe(false); // the same boot
    await until(
      () => b.records.length >= acked.length,
      'the partner printed fewer records than were acknowledged',
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(payloads(b)).toEqual(acked);
    recordFault('partner process paused past the heartbeat threshold (SIGSTOP), then resumed', {
      records: acked.length,
    });
  });

  it('declares partner-down when the link is cut and re-establishes when it comes back: every record appended before, during and after the flap is on the partner exactly once, in order', async () => {
    const p = port++;
    const hold = { mirrorHoldMs: 180_000 };
    const a = node(1, p, hold);
    const b = node(2, p, hold);
    // Every record B's application receives, across all its sessions with A.
    const got: string[] = [];
    b.n.on('established', () =>
      b.n.session(1)!.mirror.on('record', (_s: bigint, payload: Buffer) => got.push(payload.toString())),
    );
    await Promise.all([a.n.start(), b.n.start()]);
    await next(a.events, 'established');
    // A session that has stayed up (when both start at once, a first one can still be replaced).
    await new Promise((r) => setTimeout(r, 1500));
    const sa = await a.n.waitForSession(2, { timeoutMs: 30_000 });
    const before = Array.from({ length: 30 }, (_, i) => `before the flap #${i}`);
    await Promise.all(before.map((r) => sa.mirror.append(Buffer.from(r)))).catch((e) => {
      throw new Error(`${e.message}; A saw ${types(a.events).join(' ')}; B saw ${types(b.events).join(' ')}`);
    });
    // Appends made as the link goes: held across the outage, sent again on the next session.
    const during = Array.from({ length: 20 }, (_, i) => `during the flap #${i}`);
    cutLink(true);
    const fate = Promise.allSettled(during.map((r) => sa.mirror.append(Buffer.from(r))));
    const down = await next(a.events, 'partner-down');
    expect(down.reason).toMatch(/heartbeat|failed|disconnect/);
    const from = a.events.length;
    cutLink(false);
    await next(a.events, 'established', () => true, 90_000, from);
    expect(a.events.slice(from).some((e) => e.type === 'partner-rebooted')).toBe(false); // same boot of B
    const settled = await fate;
    const failed = settled.flatMap((f, i) =>
      f.status === 'rejected' ? [`${during[i]}: ${(f.reason as Error).message}`] : [],
    );
    expect(failed, `A saw ${types(a.events.slice(from)).join(' ')}`).toEqual([]);
    // A fresh session can still be closed by a late disconnect of the old connection (as after a
    // partner reboot, ccm-faults); append on one that has stayed up.
    for (const end = Date.now() + 60_000; Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 1500));
      if (a.n.session(2) && !a.n.session(2)!.closed) break;
    }
    const s2 = await a.n.waitForSession(2, { timeoutMs: 30_000 });
    const after = Array.from({ length: 10 }, (_, i) => `after the flap #${i}`);
    await Promise.all(after.map((r) => s2.mirror.append(Buffer.from(r)))).catch((e) => {
      throw new Error(
        `${e.message}; A saw ${types(a.events.slice(from)).join(' ')}; B saw ${types(b.events).join(' ')}`,
      );
    });
    expect(got).toEqual([...before, ...during, ...after]);
    recordFault('link cut and restored (netem 100% loss) with mirroring', { records: got.length });
  });

  it('runs the handshake and mirrors over plain IPv6 addresses', async () => {
    const p = port++;
    const [a6, b6] = env.addrs6;
    const a = node(1, p, { address: a6, partners: [{ nodeId: 2, address: b6, port: p }] });
    const b = node(2, p, { address: b6, partners: [{ nodeId: 1, address: a6, port: p }] });
    const got: string[] = [];
    b.n.on('established', () =>
      b.n.session(1)!.mirror.on('record', (_s: bigint, payload: Buffer) => got.push(payload.toString())),
    );
    await Promise.all([a.n.start(), b.n.start()]);
    const est = await next(a.events, 'established');
    expect(est.partnerGeneration).toBe(b.n.generation.toString());
    const sa = await a.n.waitForSession(2, { timeoutMs: 30_000 });
    await sa.mirror.append(Buffer.from('mirrored over IPv6'));
    expect(got).toEqual(['mirrored over IPv6']);
  });

  it('refuses a partner of another cluster, and one without the shared secret', async () => {
    let p = port++;
    const a = node(1, p, { clusterId: 9n });
    const b = node(2, p);
    await Promise.all([a.n.start(), b.n.start()]);
    const rej = await next(b.events, 'rejected');
    expect(rej.reason).toBe('WRONG_CLUSTER');
    await next(
      a.events,
      'attempt-failed',
      (e) => e.code === 'REJECTED_WRONG_CLUSTER' || e.code === 'ERR_CCM_CLUSTER',
    );
    expect(types(a.events)).not.toContain('established');

    p = port++;
    const c = node(1, p, { secret: 'secret-of-the-cluster' });
    const d = node(2, p, { secret: 'some-other-secret' });
    await Promise.all([c.n.start(), d.n.start()]);
    const ev = await Promise.race([
      next(c.events, 'attempt-failed', (e) => e.code === 'ERR_CCM_AUTH'),
      next(d.events, 'protocol-error', (e) => e.code === 'ERR_CCM_AUTH'),
    ]);
    expect(ev).toBeTruthy();
    await new Promise((r) => setTimeout(r, 2000));
    expect(types(c.events)).not.toContain('established');
    expect(types(d.events)).not.toContain('established');
  });

  it('refuses a corrupted status block read over the wire', async () => {
    const p = port++;
    // B publishes its status block as usual, but the bytes its NIC serves always carry one flipped byte.
    const corrupting = async (o: Parameters<typeof rdmaTransport>[0]): Promise<Endpoint> => {
      const ep = await rdmaTransport(o);
      const served = ep.status;
      const published = new Uint8Array(served.byteLength);
      const set = published.set.bind(published);
      published.set = (src: ArrayLike<number>, offset?: number) => {
        set(src, offset);
        served.set(published);
        served[100] ^= 0xff;
      };
      Object.defineProperty(ep, 'status', { value: published });
      return ep;
    };
    const b = node(2, p, { transport: corrupting });
    await b.n.start();
    const a = node(1, p);
    await a.n.start();
    const f = await next(a.events, 'attempt-failed', (e) => e.step === 'read-status');
    expect(f.code).toBe('ERR_CCM_CHECKSUM');
    expect(types(a.events)).not.toContain('established');
  });

  it('refuses garbage written into its slot, and the NIC refuses access outside the exposed regions', async () => {
    const p = port++;
    const b = node(2, p);
    await b.n.start();
    // A rogue node speaks the CM part correctly, then writes garbage where the hello goes.
    const rogue = await rdmaTransport({ addresses: [addrA], statusSize: 512, slots: 1, slotSize: 4352 });
    try {
      const link = await rogue.connect({
        address: addrB,
        port: p,
        slot: 0,
        link: 0,
        privateData: encodeConnect({ clusterId: CLUSTER, nodeId: 1, generation: 1n, target: 2, attempt: 1 }),
        timeoutMs: 10_000,
      });
      const acc = decodeAccept(link.privateData, CLUSTER, { generation: 1n, attempt: 1 });
      await link.write(new Uint8Array(128).fill(0x5a), acc.regions.slotAddr, acc.regions.slotRkey);
      const pe = await next(b.events, 'protocol-error', (e) => e.block === 'hello');
      expect(pe.code).toBe('ERR_CCM_MAGIC');
      expect(types(b.events)).not.toContain('established');
    } finally {
      await rogue.close();
    }
    // The status block is READ-only and 512 bytes: a READ past it, or of the slot, fails on the wire
    // (each on a connection of its own, made for it: the first failure leaves the QP in error). A READ
    // flushed because the node had already dropped the rogue's connection proves nothing: again, anew.
    let generation = 2n;
    for (const at of ['past the status block', 'of the slot']) {
      let code: string | undefined;
      for (let attempt = 0; attempt < 3 && code !== 'ERR_WC_REM_ACCESS_ERR'; attempt++, generation++) {
        const rogue2 = await rdmaTransport({ addresses: [addrA], statusSize: 512, slots: 1, slotSize: 4352 });
        try {
          const link = await rogue2.connect({
            address: addrB,
            port: p,
            slot: 0,
            link: 0,
            privateData: encodeConnect({ clusterId: CLUSTER, nodeId: 1, generation, target: 2, attempt: 1 }),
            timeoutMs: 10_000,
          });
          const r = decodeAccept(link.privateData, CLUSTER, { generation, attempt: 1 }).regions;
          const read =
            at === 'of the slot'
              ? link.read(r.slotAddr, r.slotRkey, 64)
              : link.read(r.statusAddr + 512n, r.statusRkey, 64);
          code = await read.then(
            () => 'read',
            (e: { code?: string }) => e.code,
          );
        } finally {
          await rogue2.close();
        }
        if (code !== 'ERR_WC_WR_FLUSH_ERR') break;
      }
      expect(code, at).toBe('ERR_WC_REM_ACCESS_ERR');
    }
  });

  it('stops a node as it leaves an `await using` block: LEAVING, then stopped, the partner told', async () => {
    const p = port++;
    const a = node(1, p);
    const b = node(2, p);
    await a.n.start();
    {
      await using n = b.n;
      await n.start();
      await next(a.events, 'established');
      expect(types(b.events)).not.toContain('stopped');
    }
    expect(b.n.status().state).toBe('LEAVING');
    expect(types(b.events).at(-1)).toBe('stopped');
    await next(a.events, 'session-closed');
  });

  it('holds no RDMA resource once its nodes have stopped, after all the faults above', async () => {
    // What the kernel lists for this process (rdma resource show): every QP, CQ, MR, PD and CM id the
    // tests above made, through partner kills, link cuts and refused partners, has been released.
    await stopNodes();
    await new Promise((r) => setTimeout(r, 500));
    const held = heldResources();
    expect(held).toEqual(baseline);
    recordFault('resources checked after the CCM faults', { leaked: leakedSince(baseline, held) });
  });
});
