// The CCM's logic over an in-memory network: step order, retries, tie-break, reboot, partner-down,
// authentication and log mirroring. The same behaviours are proven on rxe in test/integration/ccm-*.
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClusterNode, type CcmEvent, type CcmOptions } from '../../lib/ccm';
import { decodeStatus } from '../../lib/ccm/wire';
import { MemoryLink, MemoryNetwork } from './support/memory-transport';
import { memoryNode, memoryNodes, stopMemoryNodes } from './support/memory-node';

const nodes = memoryNodes;
afterEach(stopMemoryNodes);
const make = memoryNode;

/** The host of node `x` (made by make()) dies: its address stops answering, and its process is gone, never stopped. */
function crash(net: MemoryNetwork, x: { node: ClusterNode }): void {
  net.crash(`10.0.0.${x.node.status().node}`);
  nodes.splice(nodes.indexOf(x.node), 1);
}

function until<T extends CcmEvent['type']>(
  n: ClusterNode,
  type: T,
  pred: (e: Extract<CcmEvent, { type: T }>) => boolean = () => true,
  ms = 3000,
) {
  return new Promise<Extract<CcmEvent, { type: T }>>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${type} event within ${ms} ms`)), ms);
    const l = (e: CcmEvent) => {
      if (e.type === type && pred(e as Extract<CcmEvent, { type: T }>)) {
        clearTimeout(t);
        n.off('event', l);
        resolve(e as Extract<CcmEvent, { type: T }>);
      }
    };
    n.on('event', l);
  });
}

describe('ClusterNode over an in-memory network', () => {
  it('reaches a partner that starts later, with the four steps in order', async () => {
    const net = new MemoryNetwork();
    // A backoff far longer than a refused in-memory connect takes, even on a loaded machine: the retry
    // must then wait (the time an attempt took counts towards its backoff).
    const a = make(net, 1, { backoff: { minMs: 200, maxMs: 400, jitter: 0.2 } });
    await a.node.start();
    await until(a.node, 'attempt-failed');
    const b = make(net, 2);
    await b.node.start();
    const [ea, eb] = await Promise.all([until(a.node, 'established'), until(b.node, 'established')]);
    expect([ea.role, eb.role].sort()).toEqual(['initiator', 'responder']);
    const [init, resp] = ea.role === 'initiator' ? [a, b] : [b, a];
    const steps = init.events
      .filter((e) => e.type === 'step' && e.role === 'initiator')
      .map((e) => (e as { step: string }).step);
    const last = steps.lastIndexOf('connect');
    expect(steps.slice(last)).toEqual(['connect', 'read-status', 'write-hello', 'read-echo', 'write-commit']);
    expect(
      resp.events
        .filter((e) => e.type === 'step' && e.role === 'responder')
        .map((e) => (e as { step: string }).step),
    ).toEqual(['accept', 'echo']);
    // A probed while B was absent: a refused connect, then a retry after a backoff delay.
    expect(
      a.events.some((e) => e.type === 'attempt-failed' && e.step === 'connect' && (e.retryInMs ?? 0) > 0),
    ).toBe(true);
  });

  it('completes the handshake on the doorbells alone, with no mailbox scan', async () => {
    // The scan timer never fires within this test: the hello and commit bells must wake the
    // responder, and the echo bell the initiator (its re-read interval is far longer than the bound).
    const net = new MemoryNetwork();
    const slow = { pollMs: 60_000, heartbeatMs: 20_000, partnerDownMs: 60_000 };
    const b = make(net, 2, slow);
    await b.node.start();
    const a = make(net, 1, slow);
    await a.node.start();
    const [ea, eb] = await Promise.all([
      until(a.node, 'established', () => true, 2000),
      until(b.node, 'established', () => true, 2000),
    ]);
    expect(ea.role).toBe('initiator');
    expect(eb.role).toBe('responder');
    const echo = b.events
      .filter((e) => e.type === 'step' && e.role === 'responder')
      .map((e) => (e as { step: string }).step);
    expect(echo).toEqual(['accept', 'echo']);
  });

  it('yields exactly one session when both start at once (lower id initiates)', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1);
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    const [ea, eb] = await Promise.all([until(a.node, 'established'), until(b.node, 'established')]);
    await new Promise((r) => setTimeout(r, 200));
    expect(a.events.filter((e) => e.type === 'established')).toHaveLength(1);
    expect(b.events.filter((e) => e.type === 'established')).toHaveLength(1);
    expect([ea.role, eb.role].sort()).toEqual(['initiator', 'responder']);
    expect(a.node.session(2)).not.toBeNull();
  });

  it('mirrors log records in order, resolved when the partner holds them, with back-pressure', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1);
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    const [sa, sb] = await Promise.all([a.node.waitForSession(2), b.node.waitForSession(1)]);
    const got: string[] = [];
    sb.mirror.on('record', (_seq, payload) => got.push(payload.toString()));
    // 200 records of ~100 bytes through a 4 KiB ring: the ring wraps and appends must wait for acks.
    const seqs = await Promise.all(
      Array.from({ length: 200 }, (_, i) => sa.mirror.append(Buffer.from(`record-${i}`.padEnd(100, '.')))),
    );
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i + 1)));
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `record-${i}`.padEnd(100, '.')));
    await expect(sa.mirror.append(new Uint8Array(4096))).rejects.toMatchObject({
      code: 'ERR_CCM_RECORD_TOO_LARGE',
    });
  });

  it('holds appends across a failed session and delivers each exactly once on the next session with the same boot', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1);
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    const [sa] = await Promise.all([a.node.waitForSession(2), b.node.waitForSession(1)]);
    const got: string[] = [];
    b.node.on('established', () =>
      b.node.session(1)!.mirror.on('record', (_s, payload) => got.push(payload.toString())),
    );
    b.node.session(1)!.mirror.on('record', (_s, payload) => got.push(payload.toString()));
    expect(await sa.mirror.append(Buffer.from('first'))).toBe(1n);
    const records = Array.from({ length: 60 }, (_, i) => `record-${i}`);
    // A is cut off as the records go: they land at B, whose acks are lost; the rest wait in A's queue.
    const appends = records.map((r) => sa.mirror.append(Buffer.from(r)));
    net.partition('10.0.0.1', true);
    await until(a.node, 'session-closed');
    expect(sa.mirror.acknowledged).toBe(1n);
    expect(got.length).toBeGreaterThan(1); // some arrived, unacknowledged
    await expect(sa.mirror.append(Buffer.from('late'))).rejects.toMatchObject({
      code: 'ERR_CCM_SESSION_CLOSED',
    });
    net.partition('10.0.0.1', false);
    const s2 = await until(a.node, 'established');
    expect(s2.partnerGeneration).toBe(b.node.generation.toString());
    const seqs = await Promise.all(appends);
    expect(seqs).toEqual(records.map((_, i) => BigInt(i + 2))); // numbered once, across both sessions
    expect(got).toEqual(['first', ...records]);
    expect(b.node.session(1)!.mirror.duplicates).toBeGreaterThan(0n);
    // The next record, on the new session, continues the stream.
    expect(await a.node.session(2)!.mirror.append(Buffer.from('next'))).toBe(62n);
    expect(got.at(-1)).toBe('next');
  });

  it('rejects held appends when the partner comes back with a new boot, and when the hold time runs out', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1, { mirrorHoldMs: 5000 });
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    const sa = await a.node.waitForSession(2);
    crash(net, b);
    const lost = sa.mirror.append(Buffer.from('to a partner about to reboot'));
    const settled = lost.catch((e) => e);
    await until(a.node, 'partner-down');
    const b2 = make(net, 2);
    await b2.node.start();
    await until(a.node, 'established');
    expect(await settled).toMatchObject({ code: 'ERR_CCM_PARTNER_REBOOTED' });

    const net2 = new MemoryNetwork();
    const c = make(net2, 1, { mirrorHoldMs: 50 });
    make(net2, 2);
    await Promise.all(nodes.slice(-2).map((n) => n.start()));
    const sc = await c.node.waitForSession(2);
    net2.partition('10.0.0.2', true);
    const t0 = Date.now();
    const held = sc.mirror.append(Buffer.from('held, then given up')).catch((e) => e);
    await until(c.node, 'partner-down');
    expect(await held).toMatchObject({ code: 'ERR_CCM_PARTNER_DOWN', maybeDelivered: true });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('declares partner-down when heartbeats stop, then sees the reboot as a new generation', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1);
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    await a.node.waitForSession(2);
    const oldGen = b.node.generation;
    crash(net, b);
    const down = await until(a.node, 'partner-down');
    expect(down.detectionMs).toBeGreaterThanOrEqual(0);
    expect(a.events.map((e) => e.type).slice(-2)).toEqual(['partner-down', 'session-closed']);
    const b2 = make(net, 2);
    await b2.node.start();
    const rb = await until(a.node, 'partner-rebooted');
    expect(rb.oldGeneration).toBe(oldGen.toString());
    expect(rb.newGeneration).toBe(b2.node.generation.toString());
    await until(a.node, 'established');
  });

  it('reports partner state changes read from the status block', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1);
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    await a.node.waitForSession(2);
    b.node.setState('active');
    const ev = await until(a.node, 'partner-state');
    expect(ev).toMatchObject({ from: 'BOOTING', to: 'ACTIVE', partner: 2 });
  });

  it('refuses a partner from another cluster, and one without the shared secret', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1, { clusterId: 5n });
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    const rej = await until(b.node, 'rejected');
    expect(rej.reason).toBe('WRONG_CLUSTER');
    await a.node.stop();
    await b.node.stop();

    const net2 = new MemoryNetwork();
    const c = make(net2, 1, { secret: 'the-cluster-secret' });
    const d = make(net2, 2, { secret: 'another-secret!!' });
    await Promise.all([c.node.start(), d.node.start()]);
    // Refused at the CM request, before any memory of the node is revealed.
    const pe = await until(d.node, 'protocol-error', (e) => e.code === 'ERR_CCM_AUTH');
    expect(pe.block).toBe('connect');
    const refused = await until(c.node, 'attempt-failed', (e) => e.code === 'REJECTED_NOT_AUTHENTICATED');
    expect(refused.step).toBe('connect');
    expect(c.node.session(2)).toBeNull();
  });

  it('checks its own encoding before it listens: exposed memory that does not hold what it published fails start()', async () => {
    const net = new MemoryNetwork();
    const inner = net.transport();
    // An endpoint whose status block memory drops every write: what partners would READ is not the block.
    const broken: CcmOptions['transport'] = async (o) => {
      const ep = await inner(o);
      return Object.defineProperty(Object.assign(Object.create(Object.getPrototypeOf(ep)), ep), 'status', {
        get: () => new Uint8Array(o.statusSize),
      });
    };
    const { node, events } = make(net, 1, { transport: broken });
    await expect(node.start()).rejects.toMatchObject({
      code: 'ERR_CCM_SELF_CHECK',
      message: expect.stringMatching(/status block/),
    });
    expect(events.some((e) => e.type === 'listening')).toBe(false);
    const ok = make(net, 2);
    await ok.node.start();
    expect(ok.events.some((e) => e.type === 'listening')).toBe(true);
  });

  it('waitForSession leaves nothing behind once it settles, and rejects with ERR_CCM_STOPPED when the node stops first', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1);
    await a.node.start();
    const ac = new AbortController();
    // Timed out: its abort listener is gone too.
    await expect(a.node.waitForSession(2, { timeoutMs: 20, signal: ac.signal })).rejects.toMatchObject({
      code: 'ERR_CCM_TIMEOUT',
    });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    // Aborted: rejects with the signal's reason.
    const aborted = a.node.waitForSession(2, { timeoutMs: 60_000, signal: ac.signal });
    ac.abort(new Error('no longer needed'));
    await expect(aborted).rejects.toThrow('no longer needed');
    // Pending when the node stops: rejected, with its listener removed.
    const ac2 = new AbortController();
    const pending = expect(a.node.waitForSession(2, { signal: ac2.signal })).rejects.toMatchObject({
      code: 'ERR_CCM_STOPPED',
    });
    await a.node.stop();
    await pending;
    expect(getEventListeners(ac2.signal, 'abort')).toHaveLength(0);
    await expect(a.node.waitForSession(2)).rejects.toMatchObject({ code: 'ERR_CCM_STOPPED' });
    // Resolved: once the session is up, many waits leave no listener on their signal.
    const net2 = new MemoryNetwork();
    const c = make(net2, 1);
    const d = make(net2, 2);
    await Promise.all([c.node.start(), d.node.start()]);
    const ac3 = new AbortController();
    const s = await c.node.waitForSession(2, { timeoutMs: 3000, signal: ac3.signal });
    for (let i = 0; i < 20; i++)
      expect(await c.node.waitForSession(2, { timeoutMs: 3000, signal: ac3.signal })).toBe(s);
    expect(getEventListeners(ac3.signal, 'abort')).toHaveLength(0);
  });

  it('a listener of its events that throws is reported and changes nothing: the session comes up, and stop() emits stopped', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1);
    const b = make(net, 2);
    a.node.on('established', () => {
      throw new Error('broken established listener');
    });
    await Promise.all([a.node.start(), b.node.start()]);
    const le = await until(a.node, 'listener-error');
    expect(le).toMatchObject({ event: 'established', message: 'broken established listener' });
    expect(a.node.session(2)).not.toBeNull();
    await a.node.stop();
    expect(a.events.at(-1)?.type).toBe('stopped');
  });

  it('advances the heartbeat in its status block every heartbeat period', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1);
    await a.node.start();
    const beat = () => decodeStatus(net.endpoints[0].status, 77n).heartbeat;
    const first = beat();
    await new Promise((r) => setTimeout(r, 80));
    expect(beat()).toBeGreaterThan(first + 3n); // heartbeatMs 10
  });

  it('the responder reads a torn status block of the initiator again instead of failing the handshake', async () => {
    const net = new MemoryNetwork();
    // Node 2 holds its first attempt (higher id), so node 1 initiates and node 2 responds: its first READ
    // of node 1's status block comes back torn (one byte off, as a READ during a publication would).
    const read = MemoryLink.prototype.read;
    let torn = 0;
    MemoryLink.prototype.read = async function (
      this: MemoryLink,
      addr: bigint,
      rkey: number,
      length: number,
    ) {
      const bytes = await read.call(this, addr, rkey, length);
      if (this.owner.address === '10.0.0.2' && length === 512 && torn++ === 0) bytes[100] ^= 0xff;
      return bytes;
    };
    try {
      const a = make(net, 1);
      const b = make(net, 2);
      await Promise.all([a.node.start(), b.node.start()]);
      await until(b.node, 'established');
      expect(torn).toBeGreaterThan(1);
      expect(b.events.filter((e) => e.type === 'attempt-failed')).toEqual([]);
      expect(a.events.filter((e) => e.type === 'established')).toHaveLength(1);
    } finally {
      MemoryLink.prototype.read = read;
    }
  });

  it('rejects bad configuration with one clear error', () => {
    expect(() => new ClusterNode({ clusterId: 1n, nodeId: 1, address: 'x', port: 1, partners: [] })).toThrow(
      /partners must list/,
    );
    expect(
      () =>
        new ClusterNode({
          clusterId: 1n,
          nodeId: 1,
          address: 'x',
          port: 70000,
          partners: [{ nodeId: 2, address: 'y', port: 1 }],
        }),
    ).toThrow(/port/);
    expect(
      () =>
        new ClusterNode({
          clusterId: 1n,
          nodeId: 1,
          address: 'x',
          port: 1,
          partners: [{ nodeId: 1, address: 'y', port: 1 }],
        }),
    ).toThrow(/own id/);
    const partners = [{ nodeId: 2, address: 'y', port: 1 }];
    expect(
      () => new ClusterNode({ clusterId: 1n, nodeId: 1, address: 'x', port: 1, partners, mirrorHoldMs: -1 }),
    ).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_CONFIG', message: expect.stringMatching(/mirrorHoldMs/) }),
    );
    expect(
      new ClusterNode({ clusterId: 1n, nodeId: 1, address: 'x', port: 1, partners, mirrorHoldMs: 0 }).config
        .mirrorHoldMs,
    ).toBe(0);
    expect(
      new ClusterNode({ clusterId: 1n, nodeId: 1, address: 'x', port: 1, partners }).config.mirrorHoldMs,
    ).toBe(30_000);
  });
});

describe('redundant links over an in-memory network', () => {
  const twoLinks = (id: 1 | 2, extra: Partial<CcmOptions> = {}) => {
    const other = id === 1 ? 2 : 1;
    return {
      address: [`10.0.0.${id}`, `10.1.0.${id}`],
      partners: [{ nodeId: other, address: [`10.0.0.${other}`, `10.1.0.${other}`], port: 7000 }],
      ...extra,
    };
  };

  it('joins the second link to the session; a link cut moves mirroring to the other with every record once, and the link rejoins', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1, twoLinks(1));
    const b = make(net, 2, twoLinks(2));
    const bothUp = Promise.all([
      until(a.node, 'link-up', (e) => e.linksUp === 2),
      until(b.node, 'link-up', (e) => e.linksUp === 2),
    ]);
    await Promise.all([a.node.start(), b.node.start()]);
    const sa = await a.node.waitForSession(2);
    await bothUp;
    expect(a.node.status().partners[0].session!.links.map((l) => l.state)).toEqual(['carrier', 'up']);
    const got: bigint[] = [];
    b.node.session(1)!.mirror.on('record', (s) => got.push(s));
    const appends = Array.from({ length: 200 }, (_, i) => sa.mirror.append(Buffer.from(`record ${i}`)));
    // Link 0 goes silent both ways (the carrier): its traffic is dropped, the nodes live on.
    net.partition('10.0.0.1', true);
    net.partition('10.0.0.2', true);
    const down = await until(a.node, 'link-down', (e) => e.link === 0);
    expect(down.linksUp).toBe(1);
    const seqs = await Promise.all(appends);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i + 1)));
    expect(got).toEqual(seqs);
    expect(
      a.events.some((e) => e.type === 'partner-down') || b.events.some((e) => e.type === 'partner-down'),
    ).toBe(false);
    expect(a.node.session(2)).toBe(sa);
    expect(a.node.status().partners[0].session!.links.map((l) => l.state)).toEqual(['down', 'carrier']);
    // The link comes back: the initiator joins it again by itself.
    const back = until(a.node, 'link-up', (e) => e.link === 0);
    net.partition('10.0.0.1', false);
    net.partition('10.0.0.2', false);
    expect((await back).linksUp).toBe(2);
    expect(await sa.mirror.append(Buffer.from('after'))).toBe(201n);
    expect(got.at(-1)).toBe(201n);
  });

  it('declares partner-down only when every link is silent, naming each link and no witness', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1, twoLinks(1));
    const b = make(net, 2, twoLinks(2));
    const bothUp = until(a.node, 'link-up', (e) => e.linksUp === 2);
    await Promise.all([a.node.start(), b.node.start()]);
    await bothUp;
    net.partition('10.1.0.2', true);
    await until(a.node, 'link-down', (e) => e.link === 1);
    expect(a.events.some((e) => e.type === 'partner-down')).toBe(false);
    net.crash('10.0.0.2');
    const down = await until(a.node, 'partner-down');
    expect(down.witness).toBe('none');
    expect(down.links.map((l) => l.link)).toEqual([0, 1]);
  });

  it('refuses a join that is not keyed with the session it names, and one for a link that does not exist', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1, twoLinks(1));
    const b = make(net, 2, twoLinks(2));
    const bothUp = until(a.node, 'link-up', (e) => e.linksUp === 2);
    await Promise.all([a.node.start(), b.node.start()]);
    await bothUp;
    const { encodeJoin, decodeReject, joinKey } = await import('../../lib/ccm/wire');
    const ep = await net.transport()({ addresses: ['10.9.0.9'], statusSize: 512, slots: 1, slotSize: 4096 });
    const tryJoin = async (key: Uint8Array, link = 1) => {
      const e = await ep
        .connect({
          address: '10.1.0.1',
          port: 7000,
          slot: 0,
          link: 0,
          timeoutMs: 1000,
          privateData: encodeJoin(
            { clusterId: 77n, nodeId: 2, link, attempt: 1 << 30, statusRkey: 1, slotRkey: 2 },
            key,
          ),
        })
        .then(
          () => null,
          (x: { privateData?: Uint8Array }) => x,
        );
      return decodeReject(e?.privateData)?.reason;
    };
    expect(await tryJoin(joinKey(undefined, 12345n))).toBe('NO_SESSION');
    expect(await tryJoin(new Uint8Array(32))).toBe('NO_SESSION');
    expect(a.node.session(2)!.upLinks.length).toBe(2);
    await ep.close();
  });
});

describe('fencing, takeover and giveback over an in-memory network', () => {
  it('fences a dead partner once, then takeover-safe; the partner reboots waiting for giveback and goes ACTIVE after it', async () => {
    const net = new MemoryNetwork();
    const fenced: number[] = [];
    const a = make(net, 1, { fence: async (p) => void fenced.push(p) });
    const b = make(net, 2, { durability: 'placed' });
    await Promise.all([a.node.start(), b.node.start()]);
    await a.node.waitForSession(2);
    await expect(a.node.takeover(2)).rejects.toMatchObject({ code: 'ERR_CCM_NOT_SAFE' });
    // B mirrors placed records to A before it dies; A replays them before it takes over.
    const sb = await b.node.waitForSession(1);
    const told = await Promise.all(
      Array.from({ length: 5 }, (_, i) => sb.mirror.append(Buffer.from(`b${i}`))),
    );
    const stream = (sb.mirror as unknown as { stream: { txStream: number } }).stream.txStream;
    crash(net, b);
    const safe = await until(a.node, 'takeover-safe');
    expect(safe).toMatchObject({ partner: 2, by: 'fence', generation: b.node.generation.toString() });
    expect(fenced).toEqual([2]);
    const order = a.events
      .map((e) => e.type)
      .filter((t) => ['partner-down', 'fencing', 'takeover-safe'].includes(t));
    expect(order).toEqual(['partner-down', 'fencing', 'takeover-safe']);
    const replayed: bigint[] = [];
    for await (const r of a.node.mirroredLog(2)) replayed.push(r.sequence);
    expect(replayed).toEqual(told);
    await a.node.takeover(2);
    expect(a.node.status().takeover).toEqual({ partner: 2, generation: b.node.generation.toString() });
    // The partner boots again: its handshake reads the takeover in A's status block.
    const b2 = make(net, 2);
    const waiting = until(b2.node, 'waiting-for-giveback');
    await b2.node.start();
    // It learns how far A replayed its previous boot's log, and again with the giveback.
    expect(await waiting).toMatchObject({ partner: 1, replayed: { stream, through: '5' } });
    expect(b2.node.waitingForGiveback).toEqual([1]);
    expect(() => b2.node.setState('ACTIVE')).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_WAITING_FOR_GIVEBACK' }),
    );
    b2.node.setState('READY');
    const received = until(b2.node, 'giveback');
    await a.node.giveback(2);
    expect(await received).toMatchObject({
      partner: 1,
      direction: 'received',
      replayed: { stream, through: '5' },
    });
    expect(a.node.status().takeover).toBeNull();
    b2.node.setState('ACTIVE');
    expect(b2.node.state).toBe('ACTIVE');
    await expect(a.node.giveback(2)).rejects.toMatchObject({ code: 'ERR_CCM_STATE' });
  });

  it('a fence hook that fails gives no takeover-safe: it is retried, and takeover() is refused', async () => {
    const net = new MemoryNetwork();
    let calls = 0;
    const a = make(net, 1, {
      fence: async () => {
        calls++;
        throw new Error('PDU unreachable');
      },
    });
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    await a.node.waitForSession(2);
    crash(net, b);
    const failed = await until(a.node, 'fence-failed');
    expect(failed).toMatchObject({ partner: 2, attempt: 1, error: 'PDU unreachable' });
    await until(a.node, 'fence-failed', (e) => e.attempt === 2);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(a.events.some((e) => e.type === 'takeover-safe')).toBe(false);
    await expect(a.node.takeover(2)).rejects.toMatchObject({ code: 'ERR_CCM_NOT_SAFE' });
  });

  it('in a race the higher id waits its fencing delay first; without fence or witness no takeover is ever safe', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1);
    const b = make(net, 2, { fence: async () => {}, fenceDelayMs: 300 });
    await Promise.all([a.node.start(), b.node.start()]);
    await b.node.waitForSession(1);
    crash(net, a);
    const down = await until(b.node, 'partner-down');
    const fencing = await until(b.node, 'fencing');
    expect(fencing.delayMs).toBe(300);
    expect(fencing.ms - down.ms).toBeGreaterThanOrEqual(290);
    await until(b.node, 'takeover-safe');

    const net2 = new MemoryNetwork();
    const c = make(net2, 1);
    const d = make(net2, 2);
    await Promise.all([c.node.start(), d.node.start()]);
    await c.node.waitForSession(2);
    crash(net2, d);
    await until(c.node, 'partner-down');
    await new Promise((r) => setTimeout(r, 300));
    expect(c.events.some((e) => e.type === 'takeover-safe' || e.type === 'fencing')).toBe(false);
  });
});

describe('one-sided mirroring and replay over an in-memory network', () => {
  it("leaves ACTIVE after a stall between an append's completion and its caller's callback, before the callback", async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1, { durability: 'placed' });
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    const sa = await a.node.waitForSession(2);
    a.node.setState('ACTIVE');
    const order: string[] = [];
    a.node.on('event', (e) => void (e.type === 'stalled' && order.push('stalled')));
    const real = performance.now.bind(performance);
    let stall = 0;
    // The fence completes, then the process stops for 10 s before anything else runs.
    const fence = MemoryLink.prototype.fence;
    const spyFence = vi.spyOn(MemoryLink.prototype, 'fence').mockImplementation(function (
      this: MemoryLink,
      ...args
    ) {
      return fence.apply(this, args).then((r) => {
        stall = 10_000;
        return r;
      });
    });
    const spyNow = vi.spyOn(performance, 'now').mockImplementation(() => real() + stall);
    try {
      await sa.mirror.append(Buffer.from('x'));
      order.push('resolved');
    } finally {
      spyNow.mockRestore();
      spyFence.mockRestore();
    }
    expect(order).toEqual(['stalled', 'resolved']);
    expect(a.node.state).toBe('READY');
  });

  it('resolves placed appends without the partner delivering them, and the survivor replays each once, in order, acknowledged', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1, { durability: 'placed' });
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    const [sa, sb] = await Promise.all([a.node.waitForSession(2), b.node.waitForSession(1)]);
    const delivered: bigint[] = [];
    sb.mirror.on('record', (seq) => delivered.push(seq));
    // 20 records of 168 ring bytes fill most of the 4 KiB ring: a checkpoint frees room for the rest.
    const first = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sa.mirror.append(Buffer.from(`p${i + 1}`.padEnd(100, '.')))),
    );
    expect(first).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
    sa.mirror.checkpoint(15n);
    const mixed = await Promise.all([
      sa.mirror.append(Buffer.from('d21'), { durability: 'delivered' }),
      ...Array.from({ length: 15 }, (_, i) => sa.mirror.append(Buffer.from(`p${22 + i}`.padEnd(100, '.')))),
    ]);
    expect(mixed).toEqual(Array.from({ length: 16 }, (_, i) => BigInt(21 + i)));
    // Only the delivered record reached the partner's application.
    expect(delivered).toEqual([21n]);
    await expect(sa.mirror.append(Buffer.from('x'), { durability: 'persisted' })).rejects.toMatchObject({
      code: 'ERR_CCM_NOT_PERSISTENT',
    });
    await expect(sa.mirror.append(Buffer.from('x'), { durability: 'nvram' as never })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
    });
    expect(() => sa.mirror.checkpoint(1000n)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));

    crash(net, a);
    await until(b.node, 'partner-down');
    const replayed: { sequence: bigint; payload: string; acknowledged: boolean }[] = [];
    for await (const r of b.node.mirroredLog(1))
      replayed.push({
        sequence: r.sequence,
        payload: r.payload.toString().replace(/\.+$/, ''),
        acknowledged: r.acknowledged,
      });
    // Released through 15 by the checkpoint; 21 was delivered already; every other one is here once.
    const expected = [16, 17, 18, 19, 20, ...Array.from({ length: 15 }, (_, i) => 22 + i)];
    expect(replayed.map((r) => Number(r.sequence))).toEqual(expected);
    expect(replayed.map((r) => r.payload)).toEqual(expected.map((n) => `p${n}`));
    expect(replayed.every((r) => r.acknowledged)).toBe(true);
    expect(() => b.node.mirroredLog(7)).toThrow(expect.objectContaining({ code: 'ERR_CCM_UNKNOWN_PARTNER' }));
  });

  it('refuses a persisted session with a partner whose log regions are not persistent memory, naming why', async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1, { durability: 'persisted' });
    const b = make(net, 2);
    await Promise.all([a.node.start(), b.node.start()]);
    const failed = await until(a.node, 'attempt-failed', (e) => e.code === 'ERR_CCM_NOT_PERSISTENT');
    expect(failed.reason).toMatch(/not persistent memory/);
    expect(a.node.session(2)).toBeNull();
  });
});
