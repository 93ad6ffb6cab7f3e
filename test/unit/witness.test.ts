// The disk witness on a real file (O_DIRECT where the filesystem has it): two nodes see each other's
// heartbeat, a stopped node is seen stopped after the timeout, and a torn, forged or misplaced sector is
// refused and never taken for life. Then the CCM's decision over an in-memory network: every link cut
// while the partner's witness heartbeat advances is an interconnect-down, not a partner-down; once that
// heartbeat stops too, the partner is down.
import { mkdtempSync, openSync, closeSync, writeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterNode, DiskWitness, type CcmEvent, type CcmOptions } from '../../lib/ccm';
import { decodeWitness, encodeWitness, WITNESS } from '../../lib/ccm/wire';
import type { ProtocolError, WitnessSector } from '../../lib/ccm/wire';
import { native } from '../../lib/native';
import { MemoryNetwork } from './support/memory-transport';

const CLUSTER = 77n;
const secret = new TextEncoder().encode('witness secret');
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function disk(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-witness-')), 'witness.img');
  closeSync(openSync(path, 'w'));
  return path;
}

function witness(path: string, nodeId: number, refused: ProtocolError[] = []) {
  const w = new DiskWitness(
    {
      path,
      clusterId: CLUSTER,
      nodeId,
      generation: BigInt(nodeId) * 1000n,
      nodes: [1, 2],
      intervalMs: 20,
      timeoutMs: 200,
      secret,
      alignedBuffer: (n) => native.alignedBuffer(n),
    },
    { refused: (_p, e) => refused.push(e), ioError: () => {} },
  );
  open.push(w);
  return w;
}

/** Nodes 1 and 2 on one fresh disk, started, each having read the other a few times. */
async function running2() {
  const path = disk();
  const a = witness(path, 1);
  const b = witness(path, 2);
  await Promise.all([a.start(), b.start()]);
  await sleep(150);
  return { path, a, b };
}

describe('disk witness', () => {
  it('proves life after a moment only by a write made after it: an advance read later may be older', async () => {
    const { a, b } = await running2();
    const running = performance.now();
    await sleep(100);
    // b writes on: its heartbeat is known written after `running`.
    expect(a.view(2).writtenAfter).toBeGreaterThanOrEqual(running);
    await b.close();
    const stopped = performance.now();
    await sleep(100);
    // Until the timeout b still counts as alive by the age of its last advance, but nothing proves a write
    // after it stopped: what `interconnect-down` needs is not there.
    const v = a.view(2);
    expect(v.writtenAfter).not.toBeNull();
    expect(v.writtenAfter!).toBeLessThan(stopped);
  });

  it('each node sees the other alive; a node that stops writing is stopped after the timeout', async () => {
    const { path, a, b } = await running2();
    expect(a.view(2).verdict).toBe('alive');
    expect(b.view(1).verdict).toBe('alive');
    expect(a.view(2).sector).toMatchObject({ nodeId: 2, generation: 2000n, state: 'BOOTING' });
    b.publish('ACTIVE', { nodeId: 1, generation: 1000n });
    await b.flush();
    await sleep(60);
    expect(a.view(2).sector).toMatchObject({ state: 'ACTIVE', takeover: { nodeId: 1, generation: 1000n } });
    // Each slot is 4096 bytes: node 1's sector at 0, node 2's at 4096.
    const bytes = readFileSync(path);
    expect(bytes.byteLength).toBe(2 * WITNESS.slotSize);
    await b.close();
    await sleep(300);
    expect(a.view(2).verdict).toBe('stopped');
  });

  it('after a stall of its own (a blocked event loop) it calls nobody stopped until it has watched a whole timeout again', async () => {
    const { a } = await running2();
    expect(a.view(2).verdict).toBe('alive');
    // The whole process stalls for twice the timeout: B's writes stop too, but only because A's do.
    for (const end = performance.now() + 400; performance.now() < end; );
    expect(a.view(2).verdict).toBe('unavailable');
    await sleep(30);
    expect(a.view(2).verdict).not.toBe('stopped');
    await sleep(150);
    expect(a.view(2).verdict).toBe('alive');
  });

  it('refuses a torn, forged or misplaced sector and never takes it for life', async () => {
    const path = disk();
    const refused: ProtocolError[] = [];
    const a = witness(path, 1, refused);
    await a.start();
    await sleep(250);
    expect(a.view(2).verdict).toBe('stopped'); // nothing ever written there
    const put = (bytes: Uint8Array) => {
      const fd = openSync(path, 'r+');
      writeSync(fd, bytes, 0, bytes.byteLength, WITNESS.slotSize);
      closeSync(fd);
    };
    const sector = (heartbeat: bigint, key: Uint8Array | undefined, nodeId = 2) =>
      encodeWitness(
        { clusterId: CLUSTER, nodeId, state: 'ACTIVE', generation: 2000n, heartbeat, takeover: null },
        key,
      );
    for (let i = 1n; i < 8n; i++) {
      const torn = sector(i, secret);
      torn[40] ^= 0xff;
      put(
        i % 3n === 0n
          ? torn
          : i % 3n === 1n
            ? sector(i, new TextEncoder().encode('not the secret'))
            : sector(i, secret, 3),
      );
      await sleep(40);
    }
    expect(a.view(2).verdict).toBe('stopped');
    expect(new Set(refused.map((e) => e.code))).toEqual(
      new Set(['ERR_CCM_CHECKSUM', 'ERR_CCM_AUTH', 'ERR_CCM_WRONG_NODE']),
    );
    // A real sector whose heartbeat moves is life.
    for (let i = 10n; i < 14n; i++) {
      put(sector(i, secret));
      await sleep(40);
    }
    expect(a.view(2).verdict).toBe('alive');
  });
});

describe('the CCM with a witness, over an in-memory network', () => {
  const nodes: ClusterNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });
  function make(net: MemoryNetwork, id: 1 | 2, path: string, requirePartnerWatchdog?: boolean) {
    const other = id === 1 ? 2 : 1;
    const opts: CcmOptions = {
      clusterId: CLUSTER,
      nodeId: id,
      address: [`10.0.0.${id}`, `10.1.0.${id}`],
      port: 7000,
      partners: [{ nodeId: other, address: [`10.0.0.${other}`, `10.1.0.${other}`], port: 7000 }],
      heartbeatMs: 10,
      partnerDownMs: 100,
      backoff: { minMs: 5, maxMs: 40, jitter: 0.2 },
      logRingBytes: 4096,
      witness: { path, intervalMs: 20, timeoutMs: 300, requirePartnerWatchdog },
      secret,
      transport: net.transport(),
    };
    const node = new ClusterNode(opts);
    const events: CcmEvent[] = [];
    node.on('event', (e) => events.push(e));
    nodes.push(node);
    return { node, events };
  }
  /** Nodes 1 and 2 on one fresh disk, in session, each having written a few rounds. */
  async function inSession(requirePartnerWatchdog?: boolean) {
    const net = new MemoryNetwork();
    const path = disk();
    const a = make(net, 1, path, requirePartnerWatchdog);
    const b = make(net, 2, path);
    await Promise.all([a.node.start(), b.node.start()]);
    await a.node.waitForSession(2);
    await sleep(200);
    return { net, path, a, b };
  }

  /** The node's process "dies" as far as the disk can tell: its witness stops writing. */
  const stopWitness = (n: ClusterNode) =>
    (n as unknown as { core: { witness: { close(): Promise<void> } } }).core.witness.close();
  const until = async (events: CcmEvent[], type: CcmEvent['type'], ms = 3000) => {
    for (const end = Date.now() + ms; !events.some((e) => e.type === type); await sleep(10))
      if (Date.now() > end) throw new Error(`no ${type}; saw ${events.map((e) => e.type).join(' ')}`);
    return events.find((e) => e.type === type)!;
  };

  it('every link cut while the partner runs is interconnect-down; its witness heartbeat stopping too makes it partner-down', async () => {
    const { net, a, b } = await inSession();
    expect(a.node.status().partners[0].witness).toMatchObject({ verdict: 'alive' });
    for (const addr of ['10.0.0.1', '10.0.0.2', '10.1.0.1', '10.1.0.2']) net.partition(addr, true);
    const cut = await until(a.events, 'interconnect-down');
    expect(cut).toMatchObject({ witness: 'alive', partner: 2 });
    await sleep(500);
    expect(a.events.some((e) => e.type === 'partner-down' || e.type === 'takeover-safe')).toBe(false);
    await expect(a.node.takeover(2)).rejects.toMatchObject({ code: 'ERR_CCM_NOT_SAFE' });
    // B dies: its process stops, and with it its witness heartbeat.
    await stopWitness(b.node);
    const down = await until(a.events, 'partner-down');
    expect(down).toMatchObject({ witness: 'stopped', partner: 2 });
    expect(a.events.filter((e) => e.type === 'partner-down')).toHaveLength(1);
  });

  it('a partner that dies with its links is partner-down once its witness heartbeat has stopped, with no interconnect-down', async () => {
    const { net, a, b } = await inSession();
    await stopWitness(b.node);
    net.crash('10.0.0.2');
    const down = await until(a.events, 'partner-down');
    expect(down).toMatchObject({ witness: 'stopped' });
    expect(a.events.some((e) => e.type === 'interconnect-down')).toBe(false);
    // No fencing hook: the witness that saw the partner stop is what makes a takeover safe.
    expect(await until(a.events, 'takeover-safe')).toMatchObject({ partner: 2, by: 'witness' });
    await a.node.takeover(2);
    expect(a.node.status().takeover).toMatchObject({ partner: 2 });
  });

  /** Rewrites node `id`'s sector on the disk as `change` says, its heartbeat unchanged (no sign of life). */
  function rewrite(path: string, id: 1 | 2, change: (w: WitnessSector) => WitnessSector) {
    const at = (id - 1) * WITNESS.slotSize;
    const old = decodeWitness(readFileSync(path).subarray(at, at + WITNESS.size), CLUSTER, id, secret)!;
    const fd = openSync(path, 'r+');
    writeSync(fd, encodeWitness(change(old), secret), 0, WITNESS.size, at);
    closeSync(fd);
  }

  it('a partner whose sector says it arms a watchdog is safe to take over by the witness alone only msgwait after its last heartbeat', async () => {
    const { net, path, a, b } = await inSession();
    // B stops with its links; its last sector says a watchdog resets it within 1500 ms of that heartbeat.
    await stopWitness(b.node);
    rewrite(path, 2, (w) => ({ ...w, msgwaitMs: 1500 }));
    const stoppedAt = performance.now();
    net.crash('10.0.0.2');
    await until(a.events, 'partner-down');
    await expect(a.node.takeover(2)).rejects.toMatchObject({ code: 'ERR_CCM_NOT_SAFE' });
    const safe = await until(a.events, 'takeover-safe', 5000);
    // Its last heartbeat was written up to a round before it stopped.
    expect(performance.now() - stoppedAt).toBeGreaterThanOrEqual(1500 - 2 * 20);
    expect(safe).toMatchObject({ partner: 2, by: 'witness', msgwaitMs: 1500 });
    await a.node.takeover(2);
  });

  it('with requirePartnerWatchdog, a partner whose sector arms no watchdog is never safe by the witness alone: takeover-unsafe once, then one that does is', async () => {
    const { net, path, a, b } = await inSession(true);
    await stopWitness(b.node);
    net.crash('10.0.0.2');
    expect(await until(a.events, 'partner-down')).toMatchObject({ witness: 'stopped' });
    expect(await until(a.events, 'takeover-unsafe')).toMatchObject({
      partner: 2,
      reason: expect.stringMatching(/arms no kernel watchdog/),
    });
    await sleep(600);
    expect(a.events.filter((e) => e.type === 'takeover-unsafe')).toHaveLength(1);
    expect(a.events.some((e) => e.type === 'takeover-safe')).toBe(false);
    await expect(a.node.takeover(2)).rejects.toMatchObject({ code: 'ERR_CCM_NOT_SAFE' });
    // Its sector, read again, says it arms one: msgwait after its last heartbeat, the takeover is safe.
    rewrite(path, 2, (w) => ({ ...w, msgwaitMs: 200 }));
    expect(await until(a.events, 'takeover-safe')).toMatchObject({ by: 'witness', msgwaitMs: 200 });
  });

  it("a node whose own sector never lands (every write fails: /dev/full) leaves ACTIVE after half the witness's timeout, and may not go ACTIVE again", async () => {
    const net = new MemoryNetwork();
    const a = make(net, 1, '/dev/full');
    await a.node.start();
    a.node.setState('ACTIVE');
    const out = await until(a.events, 'stalled');
    expect(out).toMatchObject({ cause: 'witness', from: 'ACTIVE', to: 'READY' });
    expect((out as { stalledMs: number }).stalledMs).toBeGreaterThanOrEqual(150);
    expect(a.events.find((e) => e.type === 'witness-error')).toMatchObject({
      error: expect.stringMatching(/ENOSPC/),
    });
    expect(() => a.node.setState('ACTIVE')).toThrow(
      expect.objectContaining({
        code: 'ERR_CCM_STALLED',
        message: expect.stringMatching(/not reaching the disk/),
      }),
    );
  });

  it("the poison pill: a node that reads a takeover of its own boot in a partner's sector, with no session to it, leaves ACTIVE and waits for the giveback", async () => {
    const net = new MemoryNetwork();
    const path = disk();
    const a = make(net, 1, path);
    const b = make(net, 2, path);
    await Promise.all([a.node.start(), b.node.start()]);
    await Promise.all([a.node.waitForSession(2), b.node.waitForSession(1)]);
    b.node.setState('ACTIVE');
    for (const addr of ['10.0.0.1', '10.0.0.2', '10.1.0.1', '10.1.0.2']) net.partition(addr, true);
    await until(b.events, 'interconnect-down');
    // Node 1's sector names a takeover of node 2's boot (written as a survivor's takeover writes it).
    await stopWitness(a.node);
    const generation = BigInt(b.node.status().generation);
    rewrite(path, 1, (w) => ({ ...w, heartbeat: w.heartbeat + 1n, takeover: { nodeId: 2, generation } }));
    expect(await until(b.events, 'poison-pill')).toMatchObject({
      partner: 1,
      generation: String(generation),
    });
    await until(b.events, 'waiting-for-giveback');
    expect(b.node.state).toBe('READY');
    expect(() => b.node.setState('ACTIVE')).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_WAITING_FOR_GIVEBACK' }),
    );
  });

  it('a witness it cannot open fails start() with ERR_CCM_WITNESS naming the disk, and leaves nothing listening', async () => {
    const net = new MemoryNetwork();
    const missing = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-witness-')), 'no-such-dir', 'witness.img');
    const a = make(net, 1, missing);
    const err = await a.node.start().then(
      () => null,
      (e) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_CCM_WITNESS' });
    expect(err.message).toContain(`disk:${missing}`);
    expect(err.cause).toMatchObject({ code: 'ENOENT' });
    // Nothing of it stayed up: the address is free (the network refuses a second listener) for a node
    // started again with a witness it can open.
    const again = make(net, 1, disk());
    await again.node.start();
  });
});
