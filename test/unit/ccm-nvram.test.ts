// The NVRAM region over an in-memory network, on a real mapped file: a node that crashes and starts
// again finds its partner's placed records in it, and a region that is not its own, torn or of another
// ring size is refused and cleared. Proven on rxe by test/integration/ccm-nvram.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CcmOptions, ClusterNode, MirroredRecord } from '../../lib/ccm';
import { decodeStatus, NVRAM, SLOT } from '../../lib/ccm/wire';
import { MemoryNetwork } from './support/memory-transport';
import { memoryNode, memoryNodes, stopMemoryNodes } from './support/memory-node';

const dir = mkdtempSync(join(tmpdir(), 'rdma-ccm-nvram-'));
const nodes = memoryNodes;
afterEach(stopMemoryNodes);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const make = (net: MemoryNetwork, id: 1 | 2, extra: Partial<CcmOptions> = {}) =>
  memoryNode(net, id, { logRingBytes: 8192, ...extra });

async function replay(
  it: AsyncIterable<MirroredRecord>,
): Promise<{ records: MirroredRecord[]; error: unknown }> {
  const records: MirroredRecord[] = [];
  try {
    for await (const r of it) records.push(r);
    return { records, error: null };
  } catch (error) {
    return { records, error };
  }
}

describe('NVRAM region', () => {
  it('keeps the placed records of a partner across this node crash, and the status block says whether it is persistent', async () => {
    const path = join(dir, 'crash.nv');
    const net = new MemoryNetwork();
    const a = make(net, 1, { durability: 'persisted' });
    let b = make(net, 2, { nvram: { path, persistent: true } });
    await Promise.all([a.node.start(), b.node.start()]);
    const sa = await a.node.waitForSession(2);
    const seqs = await Promise.all(
      Array.from({ length: 30 }, (_, i) => sa.mirror.append(Buffer.from(`n${i + 1}`.padEnd(50, '.')))),
    );
    expect(seqs.at(-1)).toBe(30n);
    // B dies without stopping; the file is all that is left of its memory. A new B maps it again.
    net.crash('10.0.0.2');
    nodes.splice(nodes.indexOf(b.node), 1);
    b = make(net, 2, { nvram: { path, persistent: true } });
    await b.node.start();
    const { records, error } = await replay(b.node.mirroredLog(1, { atStart: true }));
    expect(error).toBeNull();
    expect(records.map((r) => r.payload.toString().replace(/\.+$/, ''))).toEqual(
      Array.from({ length: 30 }, (_, i) => `n${i + 1}`),
    );
    expect(records.every((r) => r.acknowledged && r.durability === 'persisted')).toBe(true);
    // The region is persistent memory by its option: the status block says so, and A's persisted session comes back.
    const status = decodeStatus(readStatus(b.node), 77n);
    expect(status.persistent).toBe(true);
    expect((await a.node.waitForSession(2, { timeoutMs: 5000 })).closed).toBe(false);
    while (a.node.session(2)?.partnerGeneration !== b.node.generation)
      await new Promise((r) => setTimeout(r, 20));
    const again = a.node.session(2)!;
    // The log found at start stays what it was, whatever the new session writes: A keeps its stream,
    // writes its records again over the same bytes, and goes on after them.
    const tail = await Promise.all(
      Array.from({ length: 10 }, () => again.mirror.append(Buffer.alloc(50, 'x'))),
    );
    expect(tail.at(-1)).toBe(40n);
    expect(
      (await replay(b.node.mirroredLog(1, { atStart: true }))).records.map((r) =>
        r.payload.toString().replace(/\.+$/, ''),
      ),
    ).toEqual(Array.from({ length: 30 }, (_, i) => `n${i + 1}`));
  });

  it('refuses and clears a region that is another node, torn, or of another ring size, with a protocol-error', async () => {
    const path = join(dir, 'hostile.nv');
    const net = new MemoryNetwork();
    const first = make(net, 2, { nvram: { path } });
    await first.node.start();
    await first.node.stop();
    const good = readFileSync(path);
    const header = good.subarray(0, NVRAM.size);
    const cases: [string, (b: Buffer) => void, Partial<CcmOptions>, string][] = [
      ['torn', (b) => (b[NVRAM.generation] ^= 1), {}, 'ERR_CCM_CHECKSUM'],
      ['another ring size', () => {}, { logRingBytes: 16384 }, 'ERR_CCM_FIELD'],
      ['another cluster', () => {}, { clusterId: 78n }, 'ERR_CCM_CLUSTER'],
    ];
    for (const [what, damage, extra, code] of cases) {
      const bytes = Buffer.from(good);
      damage(bytes);
      writeFileSync(path, bytes);
      const n = make(new MemoryNetwork(), 2, { nvram: { path }, ...extra });
      await n.node.start();
      const e = n.events.find((x) => x.type === 'protocol-error' && x.block === 'nvram');
      expect(e, what).toMatchObject({ partner: 1, code });
      expect(await replay(n.node.mirroredLog(1, { atStart: true })), what).toMatchObject({
        records: [],
        error: { code: 'ERR_CCM_LOG_DAMAGED' },
      });
      await n.node.stop();
      // Started again before any partner wrote: the loss is still reported, not an empty log.
      const again = make(new MemoryNetwork(), 2, { nvram: { path }, ...extra });
      await again.node.start();
      expect(
        again.events.find((x) => x.type === 'protocol-error'),
        what,
      ).toMatchObject({
        block: 'nvram',
        code: 'ERR_CCM_LOG_DAMAGED',
      });
      await again.node.stop();
    }
    expect(header.readUInt32LE(0)).toBe(0x564e4352);
    // Not persistent by default for a plain file.
    const plain = make(new MemoryNetwork(), 2, { nvram: { path } });
    await plain.node.start();
    expect(decodeStatus(readStatus(plain.node), 77n).persistent).toBe(false);
    await expect(make(new MemoryNetwork(), 2, { nvram: { path: dir } }).node.start()).rejects.toMatchObject({
      code: 'ERR_CCM_NVRAM',
      message: expect.stringContaining('EISDIR'),
    });
  });

  // Where the tail word of partner 1's part lies in node 2's region file (the slot's control words end at the ring).
  const TAIL = NVRAM.slot + SLOT.tail;
  const damages: [string, (b: Buffer) => void, string][] = [
    ['a damaged tail word', (b) => (b[TAIL + 8] ^= 0x10), 'ERR_CCM_LOG_DAMAGED'],
    ['a zeroed header', (b) => b.fill(0, 0, NVRAM.size), 'ERR_CCM_MAGIC'],
  ];
  it.each(damages)(
    'reports %s found at start, and the writer, alive, writes its records again into the new boot',
    async (_what, damage, code) => {
      const path = join(dir, `damaged-${code}.nv`);
      const net = new MemoryNetwork();
      const a = make(net, 1, { durability: 'placed' });
      let b = make(net, 2, { nvram: { path, persistent: true } });
      await Promise.all([a.node.start(), b.node.start()]);
      const sa = await a.node.waitForSession(2);
      const payload = (i: number) => Buffer.from(`n${i}`.padEnd(50, '.'));
      // Mixed: every third record is for delivery (acknowledged by B's application, then released).
      const buffers = Array.from({ length: 30 }, (_, i) => payload(i + 1));
      await Promise.all(
        buffers.map((p, i) => sa.mirror.append(p, { durability: i % 3 === 2 ? 'delivered' : 'placed' })),
      );
      // Settled appends leave their buffers to their caller, who may reuse them at once.
      for (const p of buffers) p.fill('z');
      net.crash('10.0.0.2');
      nodes.splice(nodes.indexOf(b.node), 1);
      const bytes = readFileSync(path);
      damage(bytes);
      writeFileSync(path, bytes);
      b = make(net, 2, { nvram: { path, persistent: true } });
      await b.node.start();
      expect(b.events.find((x) => x.type === 'protocol-error' && x.block === 'nvram')).toMatchObject({
        partner: 1,
        code,
      });
      // What the region held is lost, and the start-up replay says so.
      expect(await replay(b.node.mirroredLog(1, { atStart: true }))).toMatchObject({
        records: [],
        error: { code: 'ERR_CCM_LOG_DAMAGED' },
      });
      while (a.node.session(2)?.partnerGeneration !== b.node.generation)
        await new Promise((r) => setTimeout(r, 20));
      expect(await a.node.session(2)!.mirror.append(payload(31))).toBe(31n);
      const delivered: bigint[] = [];
      b.node.session(1)?.mirror.on('record', (s) => delivered.push(s));
      // A dies: B's memory holds A's whole log again, each record once, none delivered a second time.
      net.crash('10.0.0.1');
      const { records, error } = await replay(b.node.mirroredLog(1));
      expect(error).toBeNull();
      const placed = records.filter((r) => r.durability === 'placed');
      expect(placed.map((r) => r.payload.toString().replace(/\.+$/, ''))).toEqual(
        Array.from({ length: 31 }, (_, i) => i + 1)
          .filter((i) => i % 3 !== 0)
          .map((i) => `n${i}`),
      );
      expect(records.every((r) => r.acknowledged)).toBe(true);
      expect(delivered).toEqual([]);
    },
  );
});

/** The node's own status block, as a partner would READ it. */
function readStatus(n: ClusterNode): Uint8Array {
  // The in-memory endpoint's status memory is reachable through the node's core (test only).
  return (n as unknown as { core: { endpoint: { status: Uint8Array } } }).core.endpoint.status.slice();
}
