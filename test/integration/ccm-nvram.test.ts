// One-sided log mirroring on rxe: `placed` records go into the partner's ring with RDMA WRITEs and a
// fence (an RDMA FLUSH where both stacks place it, else a READ), without the partner's software; the
// writer (a real process) is killed hard under full-rate mirroring, and the survivor replays from its
// own memory every record the writer was told was placed, in order and once, with only records after
// them marked unacknowledged. A `persisted` session with a
// partner whose log regions are not persistent memory is refused at the handshake, on either side. A
// node that keeps its partner's log in an NVRAM region and is killed hard finds every persisted record
// in it (`rdma-ccm node --dump-log`), and damage in the region is reported, not believed: when it starts
// again over a damaged tail word, the writer, alive, writes its whole log into the new boot again.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { CcmOptions, MirroredRecord } from '../../lib/ccm';
import { contextFor } from '../../lib/cm';
import { NVRAM, SLOT } from '../../lib/ccm/wire';
import { cliNode, lab, recordFault, stopNodes, testNode, until } from './lab';

const env = lab();
const [addrA, addrB] = env.addrs;
const CLUSTER = 6161n;
let port = 7850;

afterEach(async () => {
  await stopNodes();
});

/** Node `id` (1 on addrA, 2 on addrB) listening on `p`, with the other as its partner on `partnerPort`. */
function pairNode(id: 1 | 2, p: number, partnerPort: number, extra: Partial<CcmOptions> = {}): CcmOptions {
  const [own, other] = id === 1 ? [addrA, addrB] : [addrB, addrA];
  return {
    clusterId: CLUSTER,
    nodeId: id,
    address: own,
    port: p,
    partners: [{ nodeId: 3 - id, address: other, port: partnerPort }],
    heartbeatMs: 100,
    partnerDownMs: 3000,
    ...extra,
  };
}

/** The writer as its own process (support/log-writer.js): node 2, mirroring to node 1 at full rate. */
function writer(p: number, durability: string, bytes: number, keep = 100) {
  const c = spawn(
    process.execPath,
    [
      resolve(__dirname, 'support', 'log-writer.js'),
      addrB,
      addrA,
      String(p),
      String(CLUSTER),
      durability,
      String(bytes),
      String(keep),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const seen = { acked: 0n, checkpointed: 0n, established: false };
  createInterface({ input: c.stdout! }).on('line', (l) => {
    const x = JSON.parse(l);
    if (x.established) seen.established = true;
    if (x.acked !== undefined) {
      seen.acked = BigInt(x.acked);
      seen.checkpointed = BigInt(x.checkpointed);
    }
  });
  return { c, seen, gone: new Promise((r) => c.once('close', r)) };
}

describe('one-sided log mirroring on rxe', () => {
  for (const bytes of [512, 4096]) {
    it(`a writer killed under full-rate placed mirroring (${bytes} B): the survivor replays every acknowledged record once, in order`, async () => {
      const p = port++;
      // Node 1 initiates; the writer's own attempts go to a port where nobody listens.
      const { n: a, events } = testNode(pairNode(1, p, p, { logRingBytes: 1 << 20 }));
      await a.start();
      const delivered: bigint[] = [];
      a.on('established', () => a.session(2)!.mirror.on('record', (seq) => delivered.push(seq)));
      const w = writer(p, 'placed', bytes);
      // Far more records than the 1 MiB ring holds: it wraps behind the writer's checkpoints (all but its last 100).
      await until(
        () => w.seen.acked >= 3000n,
        `3000 placed records acknowledged to the writer (at ${w.seen.acked})`,
        300_000,
      );
      w.c.kill('SIGKILL');
      await w.gone;
      const { acked, checkpointed } = w.seen;
      await until(() => events.some((e) => e.type === 'partner-down'), 'the writer declared down', 60_000);

      const records: MirroredRecord[] = [];
      let error: unknown = null;
      try {
        for await (const r of a.mirroredLog(2)) records.push(r);
      } catch (e) {
        error = e;
      }
      expect(error).toBeNull();
      // The partner's software took no part: no record reached node 1's application.
      expect(delivered).toEqual([]);
      const first = records[0].sequence;
      // The log starts after what the writer checkpointed (perhaps later: its last checkpoint may not be synced yet).
      expect(first).toBeLessThanOrEqual(checkpointed + 1n);
      expect(first).toBeGreaterThan(0n);
      // Consecutive, each once, each the payload written under it.
      records.forEach((r, i) => {
        expect(r.sequence).toBe(first + BigInt(i));
        expect(r.payload.byteLength).toBe(bytes);
        expect(r.payload.toString('latin1', 0, 20).replace(/\.+$/, '')).toBe(`record ${r.sequence - 1n}`);
        expect(r.durability).toBe('placed');
      });
      // Every record the writer was told was placed is there and marked acknowledged; unacknowledged ones only after them.
      const last = records[records.length - 1].sequence;
      expect(last).toBeGreaterThanOrEqual(acked);
      for (const r of records) if (r.sequence <= acked) expect(r.acknowledged).toBe(true);
      const firstUnacked = records.findIndex((r) => !r.acknowledged);
      if (firstUnacked >= 0) expect(records.slice(firstUnacked).every((r) => !r.acknowledged)).toBe(true);
      recordFault('log writer killed under placed mirroring', { records: records.length });
    }, 400_000);
  }

  it('an NVRAM owner killed hard right after persisted appends resolve finds every one of them in its region, or the writer writes them again', async () => {
    const p = port++;
    const path = join(tmpdir(), `rdma-ccm-nvram-${p}.nv`);
    rmSync(path, { force: true });
    // Node 1 keeps its partner's log in a file it declares persistent; the writer (node 2) appends persisted
    // records and checkpoints none, so each one it was told about must still be in the ring.
    const owner = cliNode([
      '--cluster-id',
      String(CLUSTER),
      '--node-id',
      '1',
      '--address',
      addrA,
      '--port',
      String(p + 100),
      '--partner',
      `2@${addrB}:${p}`,
      '--heartbeat-ms',
      '100',
      '--partner-down-ms',
      '3000',
      '--nvram',
      path,
      '--nvram-persistent',
      '--no-control',
    ]);
    const w = writer(p, 'persisted', 512, 1_000_000);
    await until(
      () => w.seen.acked >= 1000n,
      `1000 persisted records acknowledged to the writer (at ${w.seen.acked})`,
      300_000,
    );
    owner.c.kill('SIGKILL');
    await owner.gone;
    // The writer may see a few more resolve from fences already served: it goes on once the owner is back.
    await new Promise((r) => setTimeout(r, 500));
    const ackedFirst = w.seen.acked;
    // The owner's tail word is damaged while it is down: what the region held is lost to it, and it says so.
    const region = readFileSync(path);
    region[NVRAM.slot + SLOT.tail + 8] ^= 0x10;
    writeFileSync(path, region);
    const { n: back, events } = testNode(pairNode(1, p + 100, p, { nvram: { path, persistent: true } }));
    await back.start();
    expect(events.find((e) => e.type === 'protocol-error' && e.block === 'nvram')).toMatchObject({
      block: 'nvram',
      code: 'ERR_CCM_LOG_DAMAGED',
    });
    const atStart = back.mirroredLog(2, { atStart: true });
    await expect(atStart.next()).rejects.toMatchObject({ code: 'ERR_CCM_LOG_DAMAGED' });
    // The writer keeps its stream: it writes its log into the new boot again, then appends after it.
    await until(
      () => w.seen.acked > ackedFirst + 100n,
      `appends to the owner's new boot (at ${w.seen.acked})`,
      300_000,
    );
    w.c.kill('SIGKILL');
    await until(() => events.some((e) => e.type === 'partner-down'), 'the writer declared down', 60_000);
    const acked = w.seen.acked;
    const live: MirroredRecord[] = [];
    for await (const r of back.mirroredLog(2)) live.push(r);
    expect(live.length).toBeGreaterThanOrEqual(Number(acked));
    live.forEach((r, i) => {
      expect(r.sequence).toBe(BigInt(i + 1));
      if (r.sequence <= acked) expect(r.acknowledged).toBe(true);
      if (r.sequence <= ackedFirst)
        expect(r.payload.toString('latin1', 0, 20).replace(/\.+$/, '')).toBe(`record ${i}`);
    });
    await back.stop();

    const dump = spawnSync(
      process.execPath,
      [
        resolve(__dirname, '..', '..', 'dist', 'cli.js'),
        'node',
        '--cluster-id',
        String(CLUSTER),
        '--node-id',
        '1',
        '--address',
        addrA,
        '--port',
        String(p + 100),
        '--partner',
        `2@${addrB}:${p}`,
        '--nvram',
        path,
        '--dump-log',
        '2',
      ],
      { encoding: 'utf8', maxBuffer: 256 << 20 },
    );
    expect(dump.stderr).toBe('');
    expect(dump.status).toBe(0);
    const lines = dump.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const end = lines.pop();
    expect(end).toMatchObject({ type: 'log-end', partner: 2, released: '0', error: null });
    expect(lines.length).toBeGreaterThanOrEqual(Number(acked));
    lines.forEach((r, i) => {
      expect(r).toMatchObject({
        type: 'log-record',
        sequence: String(i + 1),
        durability: 'persisted',
        bytes: 512,
      });
      if (BigInt(r.sequence) <= ackedFirst)
        expect(Buffer.from(r.payload, 'base64').toString('latin1', 0, 20).replace(/\.+$/, '')).toBe(
          `record ${i}`,
        );
      if (BigInt(r.sequence) <= acked) expect(r.acknowledged).toBe(true);
    });
    expect(end.acknowledged).toBeGreaterThanOrEqual(Number(acked));

    // Damage the region's ring inside an acknowledged record: the dump reports it after the records before it.
    const bytes = readFileSync(path);
    bytes[NVRAM.ringOffset + 10 * 576 + 100] ^= 0xff;
    writeFileSync(path, bytes);
    const damaged = spawnSync(
      process.execPath,
      [
        resolve(__dirname, '..', '..', 'dist', 'cli.js'),
        'node',
        '--cluster-id',
        String(CLUSTER),
        '--node-id',
        '1',
        '--address',
        addrA,
        '--port',
        String(p + 100),
        '--partner',
        `2@${addrB}:${p}`,
        '--nvram',
        path,
        '--dump-log',
        '2',
      ],
      { encoding: 'utf8', maxBuffer: 256 << 20 },
    );
    expect(damaged.status).toBe(1);
    const out = damaged.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(out.length).toBe(11);
    expect(out.pop()).toMatchObject({
      type: 'log-end',
      records: 10,
      error: { code: 'ERR_CCM_LOG_DAMAGED', sequence: '11' },
    });
    rmSync(path, { force: true });
    recordFault('NVRAM owner killed after persisted appends', { records: lines.length });
  }, 400_000);

  it("fences with an RDMA FLUSH of the slot where both devices place FLUSH, else with a READ; the records are in the partner's memory either way", async () => {
    const p = port++;
    const caps = await Promise.all(
      [addrA, addrB].map(async (a) => (await contextFor(a)).queryDevice().capabilities),
    );
    // FLUSH needs the kernel's rxe (6.2 on) and an addon built with ibv_wr_flush (rdma-core 45 on): trixie's stack, not bookworm's.
    const expected = caps.every((c) => c.flushGlobal && c.flushInThisBuild) ? 'flush' : 'read';
    if (process.env.RDMA_CCM_LAB_STACK === 'trixie') expect(expected).toBe('flush');
    const path = join(tmpdir(), `rdma-ccm-flush-${p}.nv`);
    rmSync(path, { force: true });
    const { n: a } = testNode(pairNode(1, p, p));
    // Node 2 holds node 1's log in a region declared persistent (tmpfs memory is not pmem: its FLUSH is global).
    const { n: b } = testNode(pairNode(2, p, p, { nvram: { path, persistent: true } }));
    await Promise.all([a.start(), b.start()]);
    const s = await a.waitForSession(2);
    await b.waitForSession(1);
    expect(s.mirror.fence).toBe(expected);
    const levels = ['placed', 'persisted'] as const;
    for (let i = 0; i < 200; i++) {
      const payload = Buffer.alloc(4096);
      payload.write(`record ${i}`);
      payload[4095] = i;
      await s.mirror.append(payload, { durability: levels[i % 2] });
    }
    // Every sync of the session used the expected fence, and none the other.
    const other = expected === 'flush' ? 'read' : 'flush';
    expect(s.mirror.fences[expected]).toBeGreaterThan(0);
    expect(s.mirror.fences[other]).toBe(0);
    const records: MirroredRecord[] = [];
    for await (const r of b.mirroredLog(1)) records.push(r);
    expect(records.map((r) => Number(r.sequence))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    records.forEach((r, i) => {
      expect(r.acknowledged).toBe(true);
      expect(r.durability).toBe(levels[i % 2]);
      expect(r.payload.toString('latin1', 0, 20).replace(/\0+$/, '')).toBe(`record ${i}`);
      expect(r.payload[4095]).toBe(i);
    });
    await a.stop();
    await b.stop();
    rmSync(path, { force: true });
  });

  it('refuses a persisted session with a partner whose log regions are not persistent memory, as initiator and as responder', async () => {
    const p = port++;
    // Node 1 initiates and wants persisted: it refuses at step 1, having read the partner's status block.
    const { n: a, events } = testNode(
      pairNode(1, p + 100, p, { durability: 'persisted', backoff: { minMs: 100, maxMs: 300, jitter: 0.2 } }),
    );
    const b = cliNode([
      '--cluster-id',
      String(CLUSTER),
      '--node-id',
      '2',
      '--address',
      addrB,
      '--port',
      String(p),
      '--partner',
      `1@${addrA}:${p + 200}`,
      '--heartbeat-ms',
      '100',
    ]);
    await a.start();
    await until(
      () => events.some((e) => e.type === 'attempt-failed' && e.code === 'ERR_CCM_NOT_PERSISTENT'),
      'the initiator refused the partner',
    );
    const refused = events.find(
      (e) => e.type === 'attempt-failed' && e.code === 'ERR_CCM_NOT_PERSISTENT',
    ) as Extract<(typeof events)[number], { type: 'attempt-failed' }>;
    expect(refused.step).toBe('read-status');
    expect(refused.reason).toMatch(/partner 2's log regions are not persistent memory/);
    expect(events.some((e) => e.type === 'established')).toBe(false);
    await a.stop();
    b.c.kill('SIGKILL');
    await b.gone;

    // Now the partner wants persisted and node 1 initiates: its status block says so, and node 1 refuses at step 1.
    // The partner, as responder, would refuse too once it had read node 1's status block.
    const q = port++;
    const { n: c, events: cEvents } = testNode(
      pairNode(1, q + 100, q, { backoff: { minMs: 100, maxMs: 300, jitter: 0.2 } }),
    );
    const d = cliNode([
      '--cluster-id',
      String(CLUSTER),
      '--node-id',
      '2',
      '--address',
      addrB,
      '--port',
      String(q),
      '--partner',
      `1@${addrA}:${q + 200}`,
      '--heartbeat-ms',
      '100',
      '--durability',
      'persisted',
    ]);
    await c.start();
    await until(
      () => cEvents.some((e) => e.type === 'attempt-failed' && e.code === 'ERR_CCM_NOT_PERSISTENT'),
      `the initiator refused the partner; it saw ${cEvents.map((e) => e.type).join(' ')}`,
    );
    const ours = cEvents.find(
      (e) => e.type === 'attempt-failed' && e.code === 'ERR_CCM_NOT_PERSISTENT',
    ) as Extract<(typeof events)[number], { type: 'attempt-failed' }>;
    expect(ours.step).toBe('read-status');
    expect(ours.reason).toMatch(
      /partner 2 appends persisted records, and this node's log regions are not persistent memory/,
    );
    expect(cEvents.some((e) => e.type === 'established')).toBe(false);
    expect(d.events.some((e) => e.type === 'established')).toBe(false);
  });
});
