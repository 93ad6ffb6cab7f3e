// Closing verbs objects on rxe: close() takes an object out of use at once and the device call that
// destroys it runs on the addon's own thread, in the order of the closes (a QP before its CQ, PD and
// context). released() resolves once the kernel has let go of all of them; a destroy the device
// refuses is a process warning, not an exception (and memory still registered is kept).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Access, released } from '../../lib/verbs';
import { heldResources, lab, leakedSince } from './lab';
import { closeSide, openSide, rcPair } from './verbs-pair';

const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
process.on('warning', onWarning);
afterEach(() => {
  warnings.length = 0;
});

describe('releasing verbs objects on rxe', () => {
  it('closes a whole tree in one tick (QPs with work in flight, CQs, regions, PDs, contexts): destroyed in order, none refused, all gone after released()', async () => {
    await released();
    const before = heldResources();
    const a = openSide(0);
    const b = openSide(1);
    const [qa, qb] = rcPair(a, b);
    expect(leakedSince(before, heldResources())).toBeGreaterThanOrEqual(2 + 2 + 2 + 2); // QPs, CQs, MRs, PDs
    b.mr.buffer.fill('r', 0, 4096);
    // Work in flight while everything is closed: each READ settles (flushed or done), nothing hangs.
    const reads = Array.from({ length: 16 }, (_, i) =>
      qa
        .read({
          local: { mr: a.mr, offset: i * 256, length: 256 },
          remoteAddr: b.mr.addr + BigInt(i * 256),
          rkey: b.mr.rkey,
        })
        .then(
          () => 'done',
          (e) => e.code,
        ),
    );
    await Promise.resolve();
    qa.close();
    qb.close();
    closeSide(a);
    closeSide(b);
    expect([qa.closed, a.cq.closed, a.mr.closed, a.pd.closed]).toEqual([true, true, true, true]);
    const settled = await Promise.all(reads);
    for (const s of settled) expect(['done', 'ERR_CLOSED', 'ERR_WC_WR_FLUSH_ERR']).toContain(s);
    await released();
    expect(heldResources()).toEqual(before);
    expect(warnings.filter((w) => (w as { code?: string }).code === 'ERR_RDMA_DESTROY')).toEqual([]);
  });

  it('a region the device refuses to deregister (a type 2 window bound over it) is a warning naming the call and errno, not an exception', async () => {
    const a = openSide(0);
    const b = openSide(1, Access.LOCAL_WRITE | Access.REMOTE_READ | Access.REMOTE_WRITE | Access.MW_BIND);
    const [qa, qb] = rcPair(a, b);
    const w = b.pd.allocMw(2);
    await qb.bindWindow(w, { mr: b.mr, offset: 0, length: 4096, access: Access.REMOTE_READ });
    expect(() => b.mr.close()).not.toThrow();
    expect(b.mr.closed).toBe(true);
    await released();
    const refused = warnings.find((x) => (x as { code?: string }).code === 'ERR_RDMA_DESTROY');
    expect(refused?.message).toMatch(/^ibv_dereg_mr failed: .+ \(E[A-Z]+\)$/);
    w.close();
    qa.close();
    qb.close();
    a.mr.close();
    for (const s of [a, b]) {
      s.cq.close();
      s.pd.close();
      s.ctx.close();
    }
    await released();
  });

  it('closing a QP that a type 2 window is bound through deallocates the window first (the device cannot destroy the QP while the window holds it)', async () => {
    const a = openSide(0);
    const b = openSide(1, Access.LOCAL_WRITE | Access.REMOTE_READ | Access.REMOTE_WRITE | Access.MW_BIND);
    const [qa, qb] = rcPair(a, b);
    const bound = b.pd.allocMw(2);
    const idle = b.pd.allocMw(2);
    await qb.bindWindow(bound, { mr: b.mr, offset: 0, length: 4096, access: Access.REMOTE_READ });
    qb.close();
    expect([bound.closed, idle.closed]).toEqual([true, false]);
    expect(() => bound.rkey).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    bound.close(); // idempotent
    idle.close();
    qa.close();
    closeSide(a);
    closeSide(b);
    await released();
    expect(warnings.filter((w) => (w as { code?: string }).code === 'ERR_RDMA_DESTROY')).toEqual([]);
  });

  // A process or worker whose environment ends with destroys still queued, and objects never closed:
  // the reaper finishes its queue before the addon goes away, and finalizers after it destroy in place.
  const verbs = resolve(__dirname, '..', '..', 'dist', 'verbs');
  const openAndLeave = (device: string) => `
    const { Context } = require(${JSON.stringify(verbs)});
    const ctx = new Context(${JSON.stringify(device)});
    const pd = ctx.allocPd();
    const cq = ctx.createCq({ cqe: 64 });
    const qps = Array.from({ length: 8 }, () => pd.createQp({ type: 'RC', sendCq: cq, maxSendWr: 16, maxRecvWr: 16 }));
    const mrs = Array.from({ length: 8 }, () => pd.allocMemory(1 << 16, 1));
    for (const q of qps.slice(0, 4)) q.close();
    for (const m of mrs.slice(0, 4)) m.close();
  `;

  it('a process that exits with destroys still queued and objects never closed exits cleanly', () => {
    const device = lab().devices[0];
    for (const exit of ['process.exit(0)', '/* the event loop ends */']) {
      const r = spawnSync(process.execPath, ['-e', `${openAndLeave(device)}; ${exit}`], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({
        status: 0,
        signal: null,
        stderr: '',
      });
    }
  });

  it('a worker thread that uses the verbs and is terminated leaves the main thread working', async () => {
    const device = lab().devices[0];
    for (let i = 0; i < 3; i++) {
      const w = new Worker(
        `${openAndLeave(device)}; require('node:worker_threads').parentPort.postMessage('opened'); setInterval(() => {}, 1000);`,
        { eval: true },
      );
      await new Promise((r, j) => (w.once('message', r), w.once('error', j)));
      expect(await w.terminate()).toBe(1);
    }
    // The main thread's own objects and reaper are untouched.
    const s = openSide(0);
    closeSide(s);
    await released();
  });
});
