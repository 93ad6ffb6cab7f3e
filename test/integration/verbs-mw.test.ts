// Memory windows on rxe: a window exposes part of a region to the partner and is revoked again, by a
// local invalidation, a rebind, or the partner's SEND_WITH_INV; the partner's NIC enforces each.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Access, type MemoryWindow, type QueuePair } from '../../lib/verbs';
import { closeSide, openSide, rcPair, type Side } from './verbs-pair';

const RW = Access.REMOTE_READ | Access.REMOTE_WRITE;
let a: Side;
let b: Side;
let qa: QueuePair;
let qb: QueuePair;
const windows: MemoryWindow[] = [];

beforeAll(() => {
  a = openSide(0);
  b = openSide(1, Access.LOCAL_WRITE | RW | Access.MW_BIND);
  b.mr.buffer.fill('w', 4096, 8192);
  b.mr.buffer.fill('x', 8192, 12288);
});

// An access refused on the wire moves the RC pair to ERR: every test gets a fresh pair.
let fresh: [QueuePair, QueuePair][] = [];
function pair(): void {
  [qa, qb] = rcPair(a, b);
  fresh.push([qa, qb]);
}
afterEach(() => {
  for (const [x, y] of fresh) {
    x.close();
    y.close();
  }
  fresh = [];
});

afterAll(() => {
  for (const w of windows) w.close();
  closeSide(a);
  closeSide(b);
});

function mw(type: 1 | 2): MemoryWindow {
  const w = b.pd.allocMw(type);
  windows.push(w);
  return w;
}

const readWindow = (rkey: number, offset: number, length = 64) =>
  qa.read({ local: { mr: a.mr, offset: 0, length }, remoteAddr: b.mr.addr + BigInt(offset), rkey });

describe('memory windows on rxe', () => {
  it('type 2: bound with BIND_MW, read through by the partner, refused outside, revoked by LOCAL_INV', async () => {
    pair();
    const w = mw(2);
    const rkey = await qb.bindWindow(w, { mr: b.mr, offset: 4096, length: 4096, access: RW });
    expect(rkey).toBe(w.rkey);
    expect(rkey).not.toBe(b.mr.rkey);
    await readWindow(rkey, 4096);
    expect(a.mr.buffer.toString('latin1', 0, 64)).toBe('w'.repeat(64));
    await qb.invalidateWindow(w);
    await expect(readWindow(rkey, 4096)).rejects.toMatchObject({ code: 'ERR_WC_REM_ACCESS_ERR' });
  });

  it('type 2: the window grants only what it was bound with: a READ through a write-only window fails on the wire', async () => {
    pair();
    const w = mw(2);
    const rkey = await qb.bindWindow(w, {
      mr: b.mr,
      offset: 4096,
      length: 4096,
      access: Access.REMOTE_WRITE,
    });
    a.mr.buffer.write('through the window', 0);
    await qa.write({ local: { mr: a.mr, offset: 0, length: 18 }, remoteAddr: b.mr.addr + 6000n, rkey });
    expect(b.mr.buffer.toString('latin1', 6000, 6018)).toBe('through the window');
    await expect(readWindow(rkey, 4096)).rejects.toMatchObject({ code: 'ERR_WC_REM_ACCESS_ERR' });
  });

  it('type 2: the partner revokes the window with SEND_WITH_INV, and the receive names it', async () => {
    pair();
    const w = mw(2);
    const rkey = await qb.bindWindow(w, {
      mr: b.mr,
      offset: 4096,
      length: 4096,
      access: Access.REMOTE_WRITE,
    });
    const got = qb.recv({ local: { mr: b.mr, offset: 0, length: 64 } });
    a.mr.buffer.write('done with it', 100);
    await qa.write({ local: { mr: a.mr, offset: 100, length: 12 }, remoteAddr: b.mr.addr + 5000n, rkey });
    expect(b.mr.buffer.toString('latin1', 5000, 5012)).toBe('done with it');
    await qa.sendWithInvalidate({ local: { mr: a.mr, offset: 100, length: 12 }, rkey });
    const wc = await got;
    expect(wc).toMatchObject({ status: 'SUCCESS', invalidatedRkey: rkey });
    await expect(
      qa.write({ local: { mr: a.mr, offset: 100, length: 12 }, remoteAddr: b.mr.addr + 5000n, rkey }),
    ).rejects.toMatchObject({ code: 'ERR_WC_REM_ACCESS_ERR' });
  });

  it('type 1: bound with ibv_bind_mw, read through, and revoked by a zero-length bind', async () => {
    pair();
    const w = mw(1);
    const rkey = await qb.bindWindow(w, { mr: b.mr, offset: 8192, length: 4096, access: Access.REMOTE_READ });
    expect(w.rkey).toBe(rkey);
    await readWindow(rkey, 8192);
    expect(a.mr.buffer.toString('latin1', 0, 64)).toBe('x'.repeat(64));
    await qb.bindWindow(w, { mr: b.mr, length: 0, access: 0 });
    await expect(readWindow(rkey, 8192)).rejects.toMatchObject({ code: 'ERR_WC_REM_ACCESS_ERR' });
  });

  it('refuses binds it cannot make: no MW_BIND on the region, access a window cannot grant, out of range', async () => {
    pair();
    const w = mw(2);
    const plain = b.pd.allocMemory(4096, Access.LOCAL_WRITE | RW);
    await expect(qb.bindWindow(w, { mr: plain, length: 4096, access: RW })).rejects.toMatchObject({
      code: 'ERR_INVALID_ACCESS',
    });
    await expect(
      qb.bindWindow(w, { mr: b.mr, length: 4096, access: Access.LOCAL_WRITE }),
    ).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(
      qb.bindWindow(w, { mr: b.mr, offset: 65000, length: 4096, access: RW }),
    ).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(() =>
      qb.prepareSend([{ wrId: 1n, opcode: 'BIND_MW', mw: w, bind: { mr: b.mr, length: 64, access: RW } }]),
    ).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED' }));
    // Unbinding a type 1 window still names the region: without one, rxe's provider would crash posting it.
    const w1 = mw(1);
    await expect(qb.bindWindow(w1, { length: 0, access: 0 } as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
    });
    expect(() => w1.native.bind(qb.native, { wrId: 1n, length: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    plain.close();
  });
});
